r"""The dual-weight rule (Wang 2025) and its stabilizer (appendix B), as the authors' code runs them.

Each layer keeps two halves, ``W = W1 - W2`` (paper eq. 12). A neuron ``j`` whose teaching signal is
negative (``g_j < 0``: the loss falls if it fires more) moves its *excitatory* row ``W1_j`` towards the
input; one with ``g_j > 0`` moves its *inhibitory* row ``W2_j`` towards the input; ``g_j = 0`` leaves
both alone (eqs. 15-17)::

    a1_j = lr * max(-g_j, 0)          a2_j = lr * max(g_j, 0)
    W1_j <- (1 - a1_j) W1_j + a1_j x   W2_j <- (1 - a2_j) W2_j + a2_j x

so each row is an exponential moving average of the inputs that drove it (appendix C): with step
sizes ``a_t = 1/t`` it is exactly their running mean, and with ``a_t = w_t / sum_{s<=t} w_s`` it is
eq. 13's weighted average ``sum w_t x_t / sum w_t`` (without eq. 13's stray factor ``eta``, as the code
does; spec ``dual-weight-paper.md`` sec. 8 item 11).

**Batch > 1** (an extension; the paper and its code use one sample per step): the move of a row is
the mean over the batch of the per-sample moves,

.. math:: W1_j \leftarrow W1_j + \frac{1}{B}\sum_i a1_{ij} (x_i - W1_j)
          = \Bigl(1 - \tfrac{1}{B}\textstyle\sum_i a1_{ij}\Bigr) W1_j + \tfrac{1}{B}\sum_i a1_{ij} x_i ,

which for ``B = 1`` is the paper's rule exactly, and which keeps every row a convex combination of
its previous value and the inputs while all ``a <= 1``.

**Initial split** (``init_split``): ``"coded"`` (default) is the authors' code, ``W1 = W_init``,
``W2 = 0`` (``W1`` then holds negative entries); ``"positive_negative"`` splits
``W1 = max(W, 0)``, ``W2 = max(-W, 0)``. Both give ``W1 - W2 = W``.

**Bias**: plain SGD, ``b <- b - lr_bias * mean_i g_i`` (the code trains it with ``torch.optim.SGD``,
no momentum, same lr).

**Clipping**: the code does not clip ``a`` to ``[0, 1]`` (``clip=False``); ``clip=True`` does.

Stabilizer (appendix B; spec sec. 3): a per-neuron running mean ``G_j`` of ``|g_j|`` (initialised to
``G_init = 1``) sets the step,

.. math:: a1_j = \eta \min\bigl(\text{cap},\ \text{gain}\cdot\max(-g_j, 0) / G_j\bigr),\quad
          a2_j = \eta \min\bigl(\text{cap},\ \text{gain}\cdot\max(g_j, 0) / G_j\bigr)

with gain 0.1 and cap 1 (the cap acts before ``eta``, so ``a <= eta``); *after* the weight update,
and only where ``g_j != 0``, ``G_j <- (1 - eta_G) G_j + eta_G |g_j|`` with ``eta_G = eta``.

Sources: Wang (2025), "Revisiting gradient descent: a dual-weight method", eqs. 12-17 and
appendix B; spec ``../shared/specs/dual-weight-paper.md`` sections 2, 3 and 10.

Explained in: book chapter "The dual-weight rule".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import WEIGHT_UPDATES, WeightUpdate, _finite_nonneg
from .gradient import bias_gradient

__all__ = [
    "DualWeightUpdate",
    "DualWeightStabilizedUpdate",
    "INIT_SPLITS",
    "split_weights",
    "dual_weight_rates",
    "stabilized_rates",
    "move_rows_toward_inputs",
    "stabilizer_average_update",
]

INIT_SPLITS = ("coded", "positive_negative")


def split_weights(W: np.ndarray, init_split: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Initial halves with ``W1 - W2 = W`` (paper eq. 12).

    .. math::
        \text{coded: } W_1 = W,\ W_2 = 0; \qquad
        \text{positive\_negative: } W_1 = \max(W, 0),\ W_2 = \max(-W, 0)

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
    init_split : {"coded", "positive_negative"}

    Returns
    -------
    W1, W2 : ndarray, shape (n_out, n_in), new arrays
    """
    if init_split == "coded":
        return W.copy(), np.zeros_like(W)
    if init_split == "positive_negative":
        return np.maximum(W, 0.0).astype(W.dtype, copy=False), np.maximum(-W, 0.0).astype(W.dtype, copy=False)
    raise ValueError(f"unknown init_split {init_split!r}; valid choices: {', '.join(INIT_SPLITS)}")


def dual_weight_rates(delta: np.ndarray, lr: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-sample, per-neuron averaging rates of eqs. 15-16.

    .. math:: a1_{ij} = \eta \max(-g_{ij}, 0), \qquad a2_{ij} = \eta \max(g_{ij}, 0)

    Parameters
    ----------
    delta : ndarray, shape (batch, n_out)
        Teaching signals ``g = dE/dz``.
    lr : float

    Returns
    -------
    a1, a2 : ndarray, shape (batch, n_out), both >= 0, never both nonzero for one entry
    """
    return lr * np.maximum(-delta, 0.0), lr * np.maximum(delta, 0.0)


def stabilized_rates(
    delta: np.ndarray, G: np.ndarray, lr: float, gain: float, cap: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""Averaging rates of the stabilizer (appendix B), using the *current* ``G``.

    .. math:: a1_{ij} = \eta \min\Bigl(\text{cap}, \frac{\text{gain}\,\max(-g_{ij}, 0)}{G_j}\Bigr),\qquad
              a2_{ij} = \eta \min\Bigl(\text{cap}, \frac{\text{gain}\,\max(g_{ij}, 0)}{G_j}\Bigr)

    Parameters
    ----------
    delta : ndarray, shape (batch, n_out)
    G : ndarray, shape (n_out,), > 0
    lr, gain, cap : float

    Returns
    -------
    a1, a2 : ndarray, shape (batch, n_out), in ``[0, lr * cap]``
    """
    scale = gain / G
    a1 = lr * np.minimum(cap, np.maximum(-delta, 0.0) * scale)
    a2 = lr * np.minimum(cap, np.maximum(delta, 0.0) * scale)
    return a1, a2


def move_rows_toward_inputs(W_half: np.ndarray, a: np.ndarray, X: np.ndarray) -> np.ndarray:
    r"""Moving-average update of eqs. 15/16, averaged over a batch.

    .. math:: W_j^{new} = \Bigl(1 - \frac{1}{B}\sum_i a_{ij}\Bigr) W_j + \frac{1}{B}\sum_i a_{ij} x_i

    For ``B = 1``: ``W_j (1 - a_j) + a_j x`` (eq. 15 for ``W1``, eq. 16 for ``W2``).

    Parameters
    ----------
    W_half : ndarray, shape (n_rows, n_in)
        Rows of ``W1`` or ``W2`` (any subset of neurons).
    a : ndarray, shape (batch, n_rows)
        Their rates.
    X : ndarray, shape (batch, n_in)
        The layer input ``h_{l-1}``.

    Returns
    -------
    ndarray, shape (n_rows, n_in), a new array
    """
    inv_b = 1.0 / a.shape[0]
    keep = 1.0 - a.sum(axis=0) * inv_b
    return W_half * keep[:, None] + (a.T @ X) * inv_b


def stabilizer_average_update(G: np.ndarray, delta: np.ndarray, rate: float) -> np.ndarray:
    r"""Running mean of ``|g|`` per neuron, only where the signal is nonzero (appendix B).

    .. math:: G_j \leftarrow (1 - \eta_G) G_j + \eta_G\, \overline{|g_j|}
              \quad\text{if some } g_{ij} \ne 0, \text{ else unchanged}

    where ``mean |g_j|`` averages over the batch samples with ``g_ij != 0`` (for ``B = 1`` this is
    the paper's ``|grad_i|``).

    Parameters
    ----------
    G : ndarray, shape (n_out,)
    delta : ndarray, shape (batch, n_out)
    rate : float
        ``eta_G`` (the code uses the weight learning rate).

    Returns
    -------
    ndarray, shape (n_out,), a new array; entries of silent neurons are bit-identical to ``G``.
    """
    nonzero = delta != 0
    count = nonzero.sum(axis=0)
    mean_abs = np.abs(delta).sum(axis=0) / np.maximum(count, 1).astype(delta.dtype)
    return np.where(count > 0, (1.0 - rate) * G + rate * mean_abs, G)


@WEIGHT_UPDATES.register("dual_weight")
class DualWeightUpdate(WeightUpdate):
    """Dual-weight rule, eqs. 12-17 (see the module docstring).

    Parameters
    ----------
    lr : float
        ``eta`` for the W1/W2 averaging.
    optimizer, optimizer_params, l2, l2_form, l1, n_train
        Accepted for the common interface; the rule has no optimizer and no penalty, so only the
        defaults (``"sgd"``, ``{}``, 0, any, 0, any) are allowed.
    lr_bias : float or None
        Bias SGD rate; ``None`` means ``lr``.
    init_split : {"coded", "positive_negative"}
    clip : bool
        Clip each rate ``a`` to ``[0, 1]`` (off in the authors' code).

    State
    -----
    ``init_layer`` returns ``{"W1": (n_out, n_in), "W2": (n_out, n_in)}`` (plus ``"G": (n_out,)``
    for the stabilized rule); ``W`` is overwritten with ``W1 - W2`` after every step.
    """

    name = "dual_weight"

    def __init__(
        self,
        lr: float,
        optimizer: str = "sgd",
        optimizer_params: dict[str, Any] | None = None,
        l2: float = 0.0,
        l2_form: str = "loss",
        l1: float = 0.0,
        n_train: int | None = None,
        lr_bias: float | None = None,
        init_split: str = "coded",
        clip: bool = False,
    ) -> None:
        super().__init__(
            lr, optimizer=optimizer, optimizer_params=optimizer_params, l2=l2, l2_form=l2_form, l1=l1,
            n_train=n_train,
        )
        if self.optimizer_name != "sgd" or self.optimizer_params:
            raise ValueError(
                f"{self.name} moves W1/W2 by running averages and trains the bias by plain SGD; it "
                f"takes no optimizer (got optimizer={self.optimizer_name!r}, "
                f"optimizer_params={self.optimizer_params!r}); use optimizer='sgd' and no params"
            )
        if self.l2 != 0.0 or self.l1 != 0.0:
            raise ValueError(
                f"{self.name} has no weight penalty (its averaging is the paper's built-in "
                f"regularization); set l2=0 and l1=0"
            )
        self.lr_bias = self.lr if lr_bias is None else _finite_nonneg("lr_bias", lr_bias)
        if init_split not in INIT_SPLITS:
            raise ValueError(f"unknown init_split {init_split!r}; valid choices: {', '.join(INIT_SPLITS)}")
        self.init_split = init_split
        if not isinstance(clip, (bool, np.bool_)):
            raise ValueError(f"clip must be True or False, got {clip!r}")
        self.clip = bool(clip)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lr={self.lr}, lr_bias={self.lr_bias}, "
            f"init_split={self.init_split!r}, clip={self.clip})"
        )

    def init_layer(self, W: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> dict:
        """Split ``W`` into halves (and write ``W1 - W2`` back into ``W``); ``rng`` is unused."""
        self._check_layer(W, b)
        W1, W2 = split_weights(W, self.init_split)
        np.subtract(W1, W2, out=W)
        return {"W1": W1, "W2": W2}

    def rates(self, state: dict, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rates ``(a1, a2)``, shape (batch, n_out), for this step."""
        return dual_weight_rates(delta, self.lr)

    def _after_weights(self, state: dict, delta: np.ndarray) -> None:
        """Hook run after W1/W2 moved (the stabilizer's G update)."""

    def apply(self, state, W, b, delta, h_prev) -> None:
        delta = np.asarray(delta, dtype=W.dtype)
        X = np.asarray(h_prev, dtype=W.dtype)
        a1, a2 = self.rates(state, delta)
        if self.clip:
            a1 = np.minimum(a1, 1.0)
            a2 = np.minimum(a2, 1.0)
        for W_half, a in ((state["W1"], a1), (state["W2"], a2)):
            rows = np.flatnonzero(a.any(axis=0))  # silent neurons are skipped: bit-exact eq. 17
            if rows.size == W_half.shape[0]:
                W_half[...] = move_rows_toward_inputs(W_half, a, X)
            elif rows.size:
                W_half[rows] = move_rows_toward_inputs(W_half[rows], a[:, rows], X)
        np.subtract(state["W1"], state["W2"], out=W)
        self._after_weights(state, delta)
        if b is not None:
            b -= self.lr_bias * bias_gradient(delta)


@WEIGHT_UPDATES.register("dual_weight_stabilized")
class DualWeightStabilizedUpdate(DualWeightUpdate):
    """Dual-weight rule with the appendix-B stabilizer (see the module docstring).

    Parameters
    ----------
    lr, lr_bias, init_split, clip, (common arguments)
        As :class:`DualWeightUpdate`.
    gain : float
        Factor on ``|g| / G`` (0.1 in the paper).
    rate_cap : float
        Cap on ``gain |g| / G`` before multiplying by ``lr`` (1 in the paper).
    G_init : float
        Initial running mean of ``|g|`` per neuron (1 in the code), > 0.
    G_lr : float or None
        Rate of the running mean; ``None`` means ``lr`` (the paper). Must lie in ``[0, 1]``.
    """

    name = "dual_weight_stabilized"

    def __init__(
        self,
        lr: float,
        gain: float = 0.1,
        rate_cap: float = 1.0,
        G_init: float = 1.0,
        G_lr: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr, **kwargs)
        self.gain = _finite_nonneg("gain", gain)
        self.rate_cap = _finite_nonneg("rate_cap", rate_cap)
        self.G_init = _finite_nonneg("G_init", G_init)
        if self.G_init == 0.0:
            raise ValueError("G_init must be > 0 (it divides |g|)")
        self.G_lr = self.lr if G_lr is None else _finite_nonneg("G_lr", G_lr)
        if self.G_lr > 1.0:
            raise ValueError(
                f"the stabilizer's running-mean rate G_lr (= lr unless given) must be <= 1, got "
                f"{self.G_lr}; pass G_lr explicitly or use a smaller lr"
            )

    def __repr__(self) -> str:
        return (
            f"{super().__repr__()[:-1]}, gain={self.gain}, rate_cap={self.rate_cap}, "
            f"G_init={self.G_init}, G_lr={self.G_lr})"
        )

    def init_layer(self, W, b, rng) -> dict:
        state = super().init_layer(W, b, rng)
        state["G"] = np.full(W.shape[0], self.G_init, dtype=W.dtype)
        return state

    def rates(self, state, delta):
        return stabilized_rates(delta, state["G"], self.lr, self.gain, self.rate_cap)

    def _after_weights(self, state, delta):
        state["G"][...] = stabilizer_average_update(state["G"], delta, self.G_lr)
