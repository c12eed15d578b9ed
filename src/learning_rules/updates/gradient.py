"""The "gradient" weight update: ordinary gradient steps through an optimizer, with optional L2/L1.

For one layer with teaching signal ``delta`` (batch, n_out) and input ``h_prev`` (batch, n_in):

1. data gradient of the batch-mean loss, :func:`weight_gradient` and :func:`bias_gradient`;
2. penalty gradients added to the weight gradient (``l2_form="loss"`` or ``"coded"``, and ``l1``),
   all evaluated at the weights *before* the step;
3. ``l2_form="decoupled"``: ``W <- W (1 - lr lambda)`` *before* the optimizer step, which then
   subtracts its step computed from the gradient at the old weights, so that with SGD the step is
   exactly the dual-weight paper's eq. 19, ``W := W(1 - eta lambda) - eta grad``;
4. the optimizer step on ``W``; the bias takes its own step with the same optimizer and a separate
   state, never regularized.

Explained in: book chapter "Optimizers" / "Regularization".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import WEIGHT_UPDATES, WeightUpdate
from .optimizers import OPTIMIZERS
from .regularizers import decoupled_decay, l1_gradient, l2_coded_gradient, l2_gradient

__all__ = ["GradientUpdate", "weight_gradient", "bias_gradient"]


def weight_gradient(delta: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
    r"""Gradient of the batch-mean loss with respect to ``W`` (CONTRIBUTING notation).

    .. math:: \nabla_W = \frac{1}{B}\,\delta^\top h_{l-1}, \qquad
              (\nabla_W)_{jk} = \frac{1}{B}\sum_i \delta_{ij}\, h_{ik}

    Parameters
    ----------
    delta : ndarray, shape (batch, n_out)
    h_prev : ndarray, shape (batch, n_in)

    Returns
    -------
    ndarray, shape (n_out, n_in)
    """
    return delta.T @ h_prev * (1.0 / delta.shape[0])


def bias_gradient(delta: np.ndarray) -> np.ndarray:
    r"""Gradient of the batch-mean loss with respect to ``b``.

    .. math:: \nabla_b = \frac{1}{B}\sum_i \delta_{i\cdot}

    Parameters
    ----------
    delta : ndarray, shape (batch, n_out)

    Returns
    -------
    ndarray, shape (n_out,)
    """
    return delta.mean(axis=0)


@WEIGHT_UPDATES.register("gradient")
class GradientUpdate(WeightUpdate):
    """Gradient step through a named optimizer, with optional L2 (three forms) and L1.

    Parameters
    ----------
    lr, optimizer, optimizer_params, l2, l2_form, l1, n_train
        See :class:`~learning_rules.updates.base.WeightUpdate`.

    State
    -----
    ``init_layer`` returns ``{"W": optimizer state of W, "b": optimizer state of b or None}``.
    """

    name = "gradient"

    def __init__(self, lr: float, **kwargs: Any) -> None:
        super().__init__(lr, **kwargs)
        self.optimizer = OPTIMIZERS[self.optimizer_name](self.lr, **self.optimizer_params)
        self._n = 1.0 if self.n_train is None else float(self.n_train)

    def __repr__(self) -> str:
        return (
            f"GradientUpdate(optimizer={self.optimizer!r}, l2={self.l2}, l2_form={self.l2_form!r}, "
            f"l1={self.l1}, n_train={self.n_train})"
        )

    def set_epoch(self, epoch: int) -> None:
        self.optimizer.set_epoch(epoch)

    def init_layer(self, W: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> dict:
        self._check_layer(W, b)
        return {
            "W": self.optimizer.init_state(W),
            "b": None if b is None else self.optimizer.init_state(b),
        }

    def regularization_gradient(self, W: np.ndarray) -> np.ndarray | None:
        """Sum of the penalty gradients at ``W`` (``None`` when no penalty applies)."""
        grad = None
        if self.l2 > 0.0 and self.l2_form == "loss":
            grad = l2_gradient(W, self.l2, self._n)
        elif self.l2 > 0.0 and self.l2_form == "coded":
            grad = l2_coded_gradient(W, self.l2)
        if self.l1 > 0.0:
            g1 = l1_gradient(W, self.l1, self._n)
            grad = g1 if grad is None else grad + g1
        return grad

    def apply(self, state, W, b, delta, h_prev) -> None:
        delta = np.asarray(delta, dtype=W.dtype)
        h_prev = np.asarray(h_prev, dtype=W.dtype)
        grad_W = weight_gradient(delta, h_prev)
        reg = self.regularization_gradient(W)
        if reg is not None:
            grad_W += reg
        if self.l2 > 0.0 and self.l2_form == "decoupled":
            decoupled_decay(W, self.lr, self.l2)
        self.optimizer.step(W, grad_W, state["W"])
        if b is not None:
            self.optimizer.step(b, bias_gradient(delta), state["b"])
