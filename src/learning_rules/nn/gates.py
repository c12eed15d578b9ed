r"""Input gates: hidden units switched by a frozen function of the network's *input*.

A gated layer multiplies each unit's activation by a gate that the network's input decides,
through weights of its own that never train:

.. math:: h_l = f_l(z_l) \odot g_l(X), \qquad
          \frac{\partial h_l}{\partial z_l} = f_l'(z_l) \odot g_l(X)

so every credit assignment forms its teaching signal as for an ungated layer and multiplies it by
the gate (:func:`learning_rules.credit.backprop.hidden_delta`). The gate does not depend on the
trained weights, so nothing flows back through it.

With :math:`f_l` the identity this is the neural-tangent-kernel (NTK) baseline of the DFA thesis
(section 2.1, after Daniely & Malach 2020): a unit :math:`\langle w, x\rangle\, g(x)` is linear in
its trained weights :math:`w`, its on/off pattern fixed by the frozen gate. Two gates, one
function each:

* ``"soft"`` (:func:`soft_gate`): :math:`\sigma(X W_g^\top)`, the sigmoid of a separate frozen
  layer, what the thesis code ran (``F.glu``, spec ``dfa-thesis.md`` sections 3 and 9 H);
* ``"hard"`` (:func:`hard_gate`): :math:`1[X W_1(0)^\top > 0]`, the ReLU pattern of the layer's
  own *initial* weights, Daniely & Malach's definition.

A ReLU layer is the hard gate of its *current* weights, :math:`\max(z, 0) = z \odot 1[z > 0]`;
the NTK net freezes that pattern at initialization.

Explained in: book/dfa/parity.ipynb (the lazy baselines of thesis Figs. 2.1 and 3.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._registry import Registry

__all__ = ["GATES", "InputGate", "hard_gate", "soft_gate"]


def soft_gate(X: np.ndarray, W_gate: np.ndarray) -> np.ndarray:
    r"""The soft NTK gate, the sigmoid of a frozen layer of the input:

    .. math:: g(X) = \sigma(X W_g^\top), \qquad
              \sigma(u) = \begin{cases} 1 / (1 + e^{-|u|}) & u \ge 0 \\
              e^{-|u|} / (1 + e^{-|u|}) & u < 0 \end{cases}

    (the overflow-free form of the logistic function).

    Parameters
    ----------
    X : (batch, n_0);  W_gate : (n_l, n_0), frozen, drawn independently of the layer's weights

    Returns
    -------
    (batch, n_l) gate in (0, 1), in ``X``'s dtype
    """
    u = X @ W_gate.T
    eu = np.exp(-np.abs(u))
    return np.where(u >= 0, 1 / (1 + eu), eu / (1 + eu)).astype(u.dtype, copy=False)


def hard_gate(X: np.ndarray, W0: np.ndarray) -> np.ndarray:
    r"""The hard NTK gate, the ReLU pattern of the layer's initial weights:

    .. math:: g(X) = 1[X W_l(0)^\top > 0]

    Parameters
    ----------
    X : (batch, n_0);  W0 : (n_l, n_0), a frozen copy of ``W_l`` at initialization

    Returns
    -------
    (batch, n_l) array of 0/1 in ``X``'s dtype
    """
    return (X @ W0.T > 0).astype(X.dtype)


#: Gate laws by name: ``law(X, W) -> g``.
GATES: Registry[Callable[[np.ndarray, np.ndarray], np.ndarray]] = Registry("input gate")
GATES.register("soft", soft_gate)
GATES.register("hard", hard_gate)


@dataclass(frozen=True, eq=False)
class InputGate:
    """One layer's gate: a law from :data:`GATES` and its frozen weights.

    Parameters
    ----------
    law : ``"soft"`` or ``"hard"``
    W : (n_l, n_0) ndarray, frozen (the network never updates it; :meth:`MLP.copy
        <learning_rules.nn.mlp.MLP.copy>` copies it)
    """

    law: str
    W: np.ndarray

    def __post_init__(self) -> None:
        GATES.lookup(self.law)  # an unknown law raises here, naming the valid ones
        if not isinstance(self.W, np.ndarray) or self.W.ndim != 2:
            raise ValueError(f"a gate's weights must be a 2-D array (n_l, n_0), got "
                             f"{getattr(self.W, 'shape', self.W)!r}")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The gate of a batch, ``(batch, n_l)``."""
        return GATES.lookup(self.law)(X, self.W)

    def copy(self) -> InputGate:
        return InputGate(self.law, self.W.copy())

    def __repr__(self) -> str:
        return f"InputGate({self.law!r}, W{self.W.shape})"
