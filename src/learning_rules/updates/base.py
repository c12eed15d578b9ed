"""The weight-update contract and its registry.

A weight update answers *how a layer turns its teaching signal into new weights*; it never looks at
other layers. Every entry of :data:`WEIGHT_UPDATES` is a class built as ::

    rule = WEIGHT_UPDATES[name](lr=..., optimizer="sgd", optimizer_params={}, l2=0.0,
                                l2_form="loss", l1=0.0, n_train=None, **rule_specific)
    state = rule.init_layer(W, b, rng)          # once per layer
    rule.apply(state, W, b, delta, h_prev)      # every step, in place on W and b
    rule.set_epoch(e)                           # forwarded to epoch-counting optimizers

with ``W`` of shape ``(n_out, n_in)`` (row ``j`` = neuron ``j``), ``b`` of shape ``(n_out,)`` or
``None``, ``delta`` of shape ``(batch, n_out)`` (per-sample ``dE/dz`` or its stand-in) and ``h_prev``
of shape ``(batch, n_in)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .._registry import Registry

__all__ = ["WEIGHT_UPDATES", "WeightUpdate", "L2_FORMS"]

WEIGHT_UPDATES: Registry[type[WeightUpdate]] = Registry("weight update")

#: How an ``l2`` strength is applied: loss-term gradient ``lambda/n W``, decoupled multiplication
#: ``W (1 - lr lambda)``, or the dual-weight code's unsquared Frobenius norm ``lambda ||W||_F``.
L2_FORMS = ("loss", "decoupled", "coded")


def _finite_nonneg(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


class WeightUpdate:
    """Shared constructor arguments and their validation.

    Parameters
    ----------
    lr : float
        Learning rate ``eta`` (finite, >= 0).
    optimizer : str
        Name in ``OPTIMIZERS``.
    optimizer_params : dict or None
        Hyper-parameters for the optimizer (not ``lr``).
    l2 : float
        L2 strength ``lambda`` (0 = off).
    l2_form : {"loss", "decoupled", "coded"}
        See :data:`L2_FORMS` and :mod:`learning_rules.updates.regularizers`.
    l1 : float
        L1 strength (0 = off), penalty ``l1/n sum|W|``.
    n_train : int or None
        Number of training samples dividing the ``"loss"``-form L2 and the L1 penalty
        (``None`` = 1).
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        lr: float,
        optimizer: str = "sgd",
        optimizer_params: dict[str, Any] | None = None,
        l2: float = 0.0,
        l2_form: str = "loss",
        l1: float = 0.0,
        n_train: int | None = None,
    ) -> None:
        self.lr = _finite_nonneg("lr", lr)
        if optimizer_params is None:
            optimizer_params = {}
        if not isinstance(optimizer_params, dict):
            raise ValueError(f"optimizer_params must be a dict, got {type(optimizer_params).__name__}")
        if "lr" in optimizer_params:
            raise ValueError("pass lr to the weight update, not inside optimizer_params")
        self.optimizer_name = optimizer
        self.optimizer_params = dict(optimizer_params)
        self.l2 = _finite_nonneg("l2", l2)
        if l2_form not in L2_FORMS:
            raise ValueError(f"unknown l2_form {l2_form!r}; valid choices: {', '.join(L2_FORMS)}")
        self.l2_form = l2_form
        self.l1 = _finite_nonneg("l1", l1)
        if n_train is not None and (
            isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1
        ):
            raise ValueError(f"n_train must be a positive int or None, got {n_train!r}")
        self.n_train = None if n_train is None else int(n_train)

    @staticmethod
    def _check_layer(W: np.ndarray, b: np.ndarray | None) -> None:
        if not isinstance(W, np.ndarray) or W.ndim != 2:
            raise ValueError(f"W must be a 2-D ndarray of shape (n_out, n_in), got {getattr(W, 'shape', W)!r}")
        if not np.issubdtype(W.dtype, np.floating):
            raise ValueError(f"W must have a floating dtype, got {W.dtype}")
        if b is not None:
            if not isinstance(b, np.ndarray) or b.shape != (W.shape[0],):
                raise ValueError(
                    f"b must be None or an ndarray of shape (n_out,) = ({W.shape[0]},), "
                    f"got {getattr(b, 'shape', b)!r}"
                )

    def set_epoch(self, epoch: int) -> None:
        """Tell the rule the current 0-based epoch (used only by epoch-counting optimizers)."""

    def init_layer(self, W: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def apply(
        self,
        state: dict,
        W: np.ndarray,
        b: np.ndarray | None,
        delta: np.ndarray,
        h_prev: np.ndarray,
    ) -> None:
        raise NotImplementedError
