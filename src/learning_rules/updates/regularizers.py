"""Weight penalties: value and gradient side by side, plus decoupled weight decay.

Penalties act on a layer's weight matrix ``W`` of shape ``(n_out, n_in)`` only, never on biases.
Conventions (``n`` is the number of training samples, ``n_train``; ``n = 1`` when it is not given):

========== ============================================ ================================================
name       value                                         gradient
========== ============================================ ================================================
``"l2"``   ``lambda / (2 n) * sum(W**2)``                ``lambda / n * W``
``"l2_coded"`` ``lambda * ||W||_F`` (unsquared)          ``lambda * W / ||W||_F`` (0 at ``W = 0``)
``"l1"``   ``lambda / n * sum(|W|)``                     ``lambda / n * sign(W)`` (subgradient 0 at 0)
========== ============================================ ================================================

* ``"l2"`` is the ablation paper's cost term (sec. 3.2, ``lambda/(2n) sum w^2``, gradient
  ``lambda/n w``); with ``n = 1`` it is the dual-weight paper's eq. 18, ``lambda/2 ||W||^2``.
* ``"l2_coded"`` is what the dual-weight authors' code actually adds to the loss
  (``lambda * torch.norm(W)`` per layer; spec ``dual-weight-paper.md`` sec. 4 and 10): each SGD step
  then shrinks ``||W||_F`` by exactly ``lr * lambda`` (when the data gradient is zero).
  Unlike the others it ignores ``n``.
* ``"l1"`` follows the ablation paper's aside ``lambda/n sum|w|``; with ``n = 1`` it is the
  lecture notes' eq. 2.8 (sparsity regularization).
* Decoupled weight decay, :func:`decoupled_decay`, is not a penalty gradient but a multiplication,
  ``W <- W (1 - lr lambda)`` (the dual-weight paper's eq. 19; lecture 5 eq. 2.6 with its ``2 lambda``
  written as ``lambda``). For plain SGD it equals ``"l2"`` with ``n = 1``.

Explained in: book chapter "Regularization" (the updates part of the book).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from .._registry import Registry

__all__ = [
    "REGULARIZERS",
    "Regularizer",
    "L2",
    "L2Coded",
    "L1",
    "l2_value",
    "l2_gradient",
    "l2_coded_value",
    "l2_coded_gradient",
    "l1_value",
    "l1_gradient",
    "decoupled_decay",
]

REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer")


# --- L2, loss-term form ----------------------------------------------------------------------


def l2_value(W: np.ndarray, lam: float, n: float = 1.0) -> float:
    r"""Squared-norm penalty [ablation sec. 3.2; dual-weight eq. 18 with ``n = 1``].

    .. math:: R(W) = \frac{\lambda}{2n} \sum_{jk} W_{jk}^2

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
    lam : float
        ``lambda``.
    n : float
        Number of training samples ``n`` (1 for the per-sample form).
    """
    return float(lam / (2.0 * n) * np.sum(W * W))


def l2_gradient(W: np.ndarray, lam: float, n: float = 1.0) -> np.ndarray:
    r"""Gradient of :func:`l2_value` [ablation sec. 5.2].

    .. math:: \frac{\partial R}{\partial W} = \frac{\lambda}{n} W

    Returns an array shaped and typed like ``W``.
    """
    return (lam / n) * W


# --- L2 as coded by the dual-weight authors: unsquared Frobenius norm ------------------------


def l2_coded_value(W: np.ndarray, lam: float) -> float:
    r"""Unsquared Frobenius-norm penalty of the dual-weight code [spec dual-weight-paper sec. 4].

    .. math:: R(W) = \lambda \lVert W \rVert_F = \lambda \sqrt{\textstyle\sum_{jk} W_{jk}^2}

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
    lam : float
    """
    return float(lam * np.sqrt(np.sum(W * W)))


def l2_coded_gradient(W: np.ndarray, lam: float) -> np.ndarray:
    r"""Gradient of :func:`l2_coded_value`; at ``W = 0`` the (sub)gradient 0 is returned.

    .. math:: \frac{\partial R}{\partial W} = \lambda \frac{W}{\lVert W \rVert_F}

    A gradient step of size ``lr`` therefore moves ``W`` towards 0 by exactly ``lr * lambda`` in
    Frobenius norm (as long as ``lr * lambda <= ||W||_F``).
    """
    norm = float(np.sqrt(np.sum(W * W)))
    if norm == 0.0:
        return np.zeros_like(W)
    return (lam / norm) * W


# --- L1 ----------------------------------------------------------------------------------------


def l1_value(W: np.ndarray, lam: float, n: float = 1.0) -> float:
    r"""Absolute-value (sparsity) penalty [ablation sec. 3.2 aside; lecture 5 eq. 2.8 with n = 1].

    .. math:: R(W) = \frac{\lambda}{n} \sum_{jk} \lvert W_{jk} \rvert
    """
    return float(lam / n * np.sum(np.abs(W)))


def l1_gradient(W: np.ndarray, lam: float, n: float = 1.0) -> np.ndarray:
    r"""Subgradient of :func:`l1_value` (0 at ``W_jk = 0``).

    .. math:: \frac{\partial R}{\partial W} = \frac{\lambda}{n}\operatorname{sign}(W)
    """
    return (lam / n) * np.sign(W)


# --- Decoupled weight decay ---------------------------------------------------------------------


def decoupled_decay(W: np.ndarray, lr: float, lam: float) -> None:
    r"""Multiply ``W`` in place by ``1 - lr * lambda`` [dual-weight eq. 19; lecture 5 eq. 2.6].

    .. math:: W \leftarrow W (1 - \eta\lambda)

    Together with a gradient step on the *old* weights this is eq. 19,
    ``W := W(1 - eta lambda) - eta grad X``.
    """
    W *= 1.0 - lr * lam


# --- Registry of penalties --------------------------------------------------------------------


class Regularizer:
    """A weight penalty with its value and gradient.

    Parameters
    ----------
    lam : float
        Strength ``lambda`` (finite, >= 0).
    n_train : int or None
        Number of training samples ``n`` dividing the penalty; ``None`` means ``n = 1``.
        Ignored by ``"l2_coded"``.
    """

    name: ClassVar[str] = ""

    def __init__(self, lam: float, n_train: int | None = None) -> None:
        lam = float(lam)
        if not (lam >= 0.0 and math.isfinite(lam)):
            raise ValueError(f"regularization strength must be a finite number >= 0, got {lam}")
        if n_train is None:
            n = 1.0
        else:
            if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1:
                raise ValueError(f"n_train must be a positive int or None, got {n_train!r}")
            n = float(n_train)
        self.lam = lam
        self.n = n

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lam={self.lam!r}, n={self.n!r})"

    def value(self, W: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, W: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@REGULARIZERS.register("l2")
class L2(Regularizer):
    """``lambda/(2n) sum W^2`` (:func:`l2_value`, :func:`l2_gradient`)."""

    name = "l2"

    def value(self, W):
        return l2_value(W, self.lam, self.n)

    def gradient(self, W):
        return l2_gradient(W, self.lam, self.n)


@REGULARIZERS.register("l2_coded")
class L2Coded(Regularizer):
    """``lambda ||W||_F`` (:func:`l2_coded_value`, :func:`l2_coded_gradient`)."""

    name = "l2_coded"

    def value(self, W):
        return l2_coded_value(W, self.lam)

    def gradient(self, W):
        return l2_coded_gradient(W, self.lam)


@REGULARIZERS.register("l1")
class L1(Regularizer):
    """``lambda/n sum |W|`` (:func:`l1_value`, :func:`l1_gradient`)."""

    name = "l1"

    def value(self, W):
        return l1_value(W, self.lam, self.n)

    def gradient(self, W):
        return l1_gradient(W, self.lam, self.n)
