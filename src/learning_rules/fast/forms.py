"""The compiled forms of the rules: credit assignment x weight update, as the fast paths see them.

A rule's readable definition lives in :mod:`learning_rules.credit` or :mod:`learning_rules.updates`
(one function per equation, registered by name). Its *compiled form* is one entry here, under the
same name, saying what each fast backend runs for it:

===============  ===============================  =============================================
registry         entry                            read by
===============  ===============================  =============================================
COMPILED_CREDIT  the single-sample kernels' code  ``fast/single.py`` (``_kernels.CREDIT_*``),
                 (``kernel``), the buffer         ``training.MinibatchStepper`` (``signal``,
                 trainers' signal (``signal``),   ``feedback``)
                 whether it reads feedback
COMPILED_UPDATE  the single-sample method family  ``fast/single.py``, ``training.MinibatchStepper``
                 (``single``), the buffer trainer
                 (``buffers``)
===============  ===============================  =============================================

A network takes a fast path only when its credit assignment and its weight update are *exactly*
the classes registered under their names (:func:`credit_form`, :func:`update_form`): a subclass
may compute something else, which the compiled form would not follow. So adding a rule to the
fast paths touches its reference (credit/ or updates/), one entry here and its kernel branch
(``_kernels.py`` for batch 1, ``minibatch.py`` for mini-batches); the tests prove every
registered form equal to its reference (``tests/test_fast_single.py``, ``tests/test_training.py``).

Explained in: ``CONTRIBUTING.md`` ("Where to add things").
"""

from __future__ import annotations

from dataclasses import dataclass

from .._registry import Registry
from . import _kernels as K

__all__ = ["COMPILED_CREDIT", "COMPILED_UPDATE", "CreditForm", "UpdateForm", "credit_form", "update_form"]


@dataclass(frozen=True)
class CreditForm:
    """How the fast paths compute one credit assignment's teaching signals.

    Attributes
    ----------
    kernel : the single-sample kernels' credit code (``_kernels.CREDIT_*``)
    signal : the buffer trainers' signal: ``"backprop"`` (:math:`\\delta_{l+1} W_{l+1}`), ``"fa"``
        (:math:`\\delta_{l+1} B_{l+1}`) or ``"dfa"`` (:math:`e B_l`)
    feedback : whether it reads the fixed feedback matrices ``credit_state["B"]``
    """

    kernel: int
    signal: str
    feedback: bool


@dataclass(frozen=True)
class UpdateForm:
    """How the fast paths apply one weight update.

    Attributes
    ----------
    single : the single-sample kernel family: ``"gradient"`` (SGD, with an L2 form) or ``"dual"``
    buffers : the mini-batch buffer trainer: ``"gradient"`` (``MinibatchSGD`` /
        ``MinibatchOptimizer``) or ``"dual"`` (``MinibatchDualWeight``)
    stabilized : the dual rule's stabilizer (per-neuron rates from the running mean ``G``)
    """

    single: str
    buffers: str
    stabilized: bool = False


COMPILED_CREDIT: Registry[CreditForm] = Registry("compiled credit assignment")
COMPILED_CREDIT.register("backprop", CreditForm(K.CREDIT_BACKPROP, "backprop", False))
COMPILED_CREDIT.register("fa", CreditForm(K.CREDIT_FA, "fa", True))
COMPILED_CREDIT.register("dfa", CreditForm(K.CREDIT_DFA, "dfa", True))

COMPILED_UPDATE: Registry[UpdateForm] = Registry("compiled weight update")
COMPILED_UPDATE.register("gradient", UpdateForm("gradient", "gradient"))
COMPILED_UPDATE.register("dual_weight", UpdateForm("dual", "dual"))
COMPILED_UPDATE.register("dual_weight_stabilized", UpdateForm("dual", "dual", stabilized=True))


def _form(obj, rules, forms, what: str):
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or name not in forms or name not in rules or type(obj) is not rules[name]:
        raise ValueError(f"{what} {obj!r} has no compiled form; the fast paths run exactly the "
                         f"registered {', '.join(forms)}")
    return forms[name]


def credit_form(credit) -> CreditForm:
    """The compiled form of a credit-assignment instance (``ValueError`` if it has none)."""
    from ..credit import CREDIT_ASSIGNMENT

    return _form(credit, CREDIT_ASSIGNMENT, COMPILED_CREDIT, "credit assignment")


def update_form(rule) -> UpdateForm:
    """The compiled form of a weight-update instance (``ValueError`` if it has none)."""
    from ..updates import WEIGHT_UPDATES

    return _form(rule, WEIGHT_UPDATES, COMPILED_UPDATE, "weight update")
