r"""The dual-weight rule without labels: a layer-activity threshold in place of the gradient's sign.

Wang (2025), Appendix A ("Flexibility in supervised and unsupervised settings"), sketches an
unsupervised variant of the rule in words only (no equation, no experiment):

    "if we aim to maintain a consistent total activation within a layer, we can set a threshold
    for the layer's total output. When the total output exceeds this threshold, neurons may treat
    the current input as negative to reduce activation; when it is below the threshold, they may
    treat it as positive to increase activation."

In the supervised rule (eqs. 15-17, :mod:`learning_rules.updates.dual_weight`) the sign of a
neuron's teaching signal :math:`g_j = \partial E/\partial a_j \cdot f'(z_j)` (eq. 10) decides which
half of its row moves toward the input: ``W1`` when :math:`g_j < 0` (the input is *positive*), ``W2``
when :math:`g_j > 0` (*negative*), neither when :math:`g_j = 0`. This module replaces
:math:`\partial E/\partial a_j`, the one factor that needs a label, by the sign of the layer's total
output against the threshold, and keeps everything else of eqs. 15-17. For one sample ``x`` (a row
of the layer input :math:`h_{l-1}`), with :math:`z = W x + b`, :math:`h = f(z)` and :math:`W = W_1 - W_2`
(eq. 12) taken before the step::

    S = sum_j h_j                            the layer's total output        (layer_activity)
    s = sign(S - theta)                      +1 too loud, -1 too quiet, 0    (threshold_sign)
    g_j = s f'(z_j)       rows = "active"    the pseudo teaching signal      (pseudo_signal)
    g_j = s               rows = "all"
    a1_j = lr max(-g_j, 0),  a2_j = lr max(g_j, 0)                           (dual_weight_rates, eqs. 15-16)
    W1_j <- (1 - a1_j) W1_j + a1_j x,   W2_j <- (1 - a2_j) W2_j + a2_j x     (move_rows_toward_inputs)

**The readings this module fixes** (the appendix leaves them open):

* *Activity*: the sum of the layer's post-activation outputs, the appendix's "total output".
* *Threshold*: a fixed number ``threshold`` (the experiment derives it from the data once, before
  training: :mod:`learning_rules.experiments.dual_weight_unsupervised`).
* *Step size*: the threshold decides the sign only, so a moving row moves by ``lr`` for ReLU
  (:math:`|g_j| = f'(z_j) = 1`); the supervised rule's :math:`|g_j|` has no label-free counterpart.
* *Which rows move* -- two readings, both kept (``rows``):
  ``"active"`` keeps eq. 10's factor :math:`f'(z_j)`: as in the supervised rule, a silent ReLU unit
  gets :math:`g_j = 0` and neither half moves (eq. 17); ``"all"`` takes the appendix's "neurons
  treat the current input as negative" for every neuron of the layer, silent ones included.
* *Bias*: the appendix describes the halves only. ``lr_bias = 0`` (default) leaves the bias where
  it is; ``lr_bias > 0`` trains it by SGD on the pseudo signal, :math:`b \leftarrow b - \eta_b
  \bar g`, as the paper's code trains every bias on the true one.

With a batch of ``B`` samples the moves are averaged over the batch exactly as in the supervised
rule (:func:`~learning_rules.updates.dual_weight.move_rows_toward_inputs`); the papers' protocol is
``B = 1``. Each half stays a convex combination of its initial value and the inputs it moved
toward: every rate lies in ``[0, lr]`` with ``lr <= 1`` for ReLU (and for any activation with
:math:`0 \le f' \le 1`).

The teaching signal ``delta`` that the engine passes to :meth:`DualWeightUnsupervisedUpdate.apply`
is **ignored**: the rule reads only the layer's input and its own weights, so the network may be
given any targets (the experiment gives zeros and never a label).

Not a registered update (``WEIGHT_UPDATES``): a registered name would make every stored result
depend on this file (:mod:`learning_rules.fingerprint`); pass an instance,
``Network(mlp, update=DualWeightUnsupervisedUpdate(lr, threshold))``.

Sources: Wang (2025), "Revisiting gradient descent: a dual-weight method", Appendix A (the
threshold), eqs. 10, 12 and 15-17 (the signal and the moves it replaces).

Explained in: book/dual-weight/unsupervised.ipynb.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.activations import get_activation
from .base import WeightUpdate, _finite_nonneg
from .dual_weight import INIT_SPLITS, dual_weight_rates, move_rows_toward_inputs, split_weights
from .gradient import bias_gradient

__all__ = [
    "ROWS",
    "DualWeightUnsupervisedUpdate",
    "layer_activity",
    "pseudo_signal",
    "threshold_sign",
]

#: Which rows a threshold crossing moves: the active units only (eq. 10's ``f'(z)`` kept), or all.
ROWS = ("active", "all")


def layer_activity(h: np.ndarray) -> np.ndarray:
    r"""The layer's total output per sample (Wang 2025, Appendix A: "the layer's total output").

    .. math:: S_i = \sum_j h_{ij}

    Parameters
    ----------
    h : ndarray, shape (batch, n_out)
        Post-activations :math:`h_l = f(z_l)` of the layer.

    Returns
    -------
    ndarray, shape (batch,)
    """
    return h.sum(axis=1)


def threshold_sign(S: np.ndarray, threshold: float) -> np.ndarray:
    r"""Which state the sample puts the layer in (Wang 2025, Appendix A).

    .. math:: s_i = \operatorname{sign}(S_i - \theta) =
              \begin{cases} +1 & S_i > \theta \text{ (too loud: the input is negative)} \\
                            -1 & S_i < \theta \text{ (too quiet: the input is positive)} \\
                             0 & S_i = \theta \end{cases}

    The sign convention is that of the supervised signal (eq. 10): positive moves ``W2``, negative
    moves ``W1``.

    Parameters
    ----------
    S : ndarray, shape (batch,)
        Total outputs (:func:`layer_activity`).
    threshold : float
        :math:`\theta`.

    Returns
    -------
    ndarray, shape (batch,), entries in {-1, 0, +1}, ``S``'s dtype
    """
    return np.sign(S - threshold)


def pseudo_signal(s: np.ndarray, fprime: np.ndarray, rows: str) -> np.ndarray:
    r"""The label-free teaching signal: eq. 10 with :math:`\partial E/\partial a` replaced by the
    threshold's sign (Wang 2025, eq. 10 and Appendix A).

    .. math:: g_{ij} = s_i\, f'(z_{ij}) \quad (\text{rows} = \text{"active"}), \qquad
              g_{ij} = s_i \quad (\text{rows} = \text{"all"})

    For ReLU, ``"active"`` gives :math:`g_{ij} = s_i` on the units that fire and 0 on the silent
    ones, which then keep both halves (eq. 17).

    Parameters
    ----------
    s : ndarray, shape (batch,)
        Threshold signs (:func:`threshold_sign`).
    fprime : ndarray, shape (batch, n_out)
        :math:`f'(z)` of the layer (unused for ``"all"`` except for its shape).
    rows : {"active", "all"}

    Returns
    -------
    ndarray, shape (batch, n_out)
    """
    if rows == "active":
        return s[:, None] * fprime
    if rows == "all":
        return np.broadcast_to(s[:, None], fprime.shape).copy()
    raise ValueError(f"unknown rows {rows!r}; valid choices: {', '.join(ROWS)}")


class DualWeightUnsupervisedUpdate(WeightUpdate):
    """The dual-weight rule driven by a layer-activity threshold (see the module docstring).

    Parameters
    ----------
    lr : float
        The averaging rate :math:`\\eta` of eqs. 15-16, in ``[0, 1]`` (each move is a convex
        combination only then).
    threshold : float
        :math:`\\theta`, in units of the layer's total output (finite).
    rows : {"active", "all"}
        Which neurons' rows a crossing moves (:func:`pseudo_signal`).
    activation : str
        The layer's activation (the rule recomputes :math:`h = f(z)` and :math:`f'(z)`); element-wise
        only, e.g. ``"relu"``. It must be the one the network uses for this layer.
    lr_bias : float
        SGD rate of the bias on the pseudo signal (``0``: the bias stays where it is).
    init_split : {"coded", "positive_negative"}
        Initial halves, as in :class:`~learning_rules.updates.dual_weight.DualWeightUpdate`.

    State
    -----
    ``init_layer`` returns ``{"W1", "W2"}`` (shape ``(n_out, n_in)``) and the counters
    ``"samples"``, ``"loud"``, ``"quiet"`` (samples seen, above and below the threshold) and
    ``"activity"`` (the sum of their total outputs), which the experiment reads between blocks;
    ``W`` is overwritten with ``W1 - W2`` after every step.
    """

    name = "dual_weight_unsupervised"

    def __init__(self, lr: float, threshold: float, rows: str = "active", activation: str = "relu",
                 lr_bias: float = 0.0, init_split: str = "coded") -> None:
        super().__init__(lr)
        if self.lr > 1.0:
            raise ValueError(f"lr must lie in [0, 1] (a move is a convex combination only then), got {lr}")
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise ValueError(f"threshold must be a number, got {threshold!r}") from None
        if not math.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        self.threshold = threshold
        if rows not in ROWS:
            raise ValueError(f"unknown rows {rows!r}; valid choices: {', '.join(ROWS)}")
        self.rows = rows
        act = get_activation(activation)  # ValueError listing the valid names
        if not act.elementwise:
            raise ValueError(f"activation {activation!r} is not element-wise; the rule needs f'(z) per unit")
        self.activation, self._act = activation, act
        self.lr_bias = _finite_nonneg("lr_bias", lr_bias)
        if init_split not in INIT_SPLITS:
            raise ValueError(f"unknown init_split {init_split!r}; valid choices: {', '.join(INIT_SPLITS)}")
        self.init_split = init_split

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, threshold={self.threshold}, rows={self.rows!r}, "
                f"activation={self.activation!r}, lr_bias={self.lr_bias}, init_split={self.init_split!r})")

    def init_layer(self, W: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> dict:
        """Split ``W`` into halves (and write ``W1 - W2`` back into ``W``); ``rng`` is unused."""
        self._check_layer(W, b)
        W1, W2 = split_weights(W, self.init_split)
        np.subtract(W1, W2, out=W)
        return {"W1": W1, "W2": W2, "samples": 0, "loud": 0, "quiet": 0, "activity": 0.0}

    def signal(self, W: np.ndarray, b: np.ndarray | None, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The total outputs ``S`` (batch,) and the pseudo signal ``g`` (batch, n_out) of a batch."""
        z = X @ W.T
        if b is not None:
            z += b
        S = layer_activity(self._act.forward(z))
        return S, pseudo_signal(threshold_sign(S, self.threshold), self._act.derivative(z), self.rows)

    def apply(self, state, W, b, delta, h_prev) -> None:
        """One step on the batch ``h_prev``; ``delta`` (the engine's teaching signal) is ignored."""
        X = np.asarray(h_prev, dtype=W.dtype)
        S, g = self.signal(W, b, X)
        a1, a2 = dual_weight_rates(g, self.lr)
        for W_half, a in ((state["W1"], a1), (state["W2"], a2)):
            rows = np.flatnonzero(a.any(axis=0))  # rows without a move stay bit-identical (eq. 17)
            if rows.size == W_half.shape[0]:
                W_half[...] = move_rows_toward_inputs(W_half, a, X)
            elif rows.size:
                W_half[rows] = move_rows_toward_inputs(W_half[rows], a[:, rows], X)
        np.subtract(state["W1"], state["W2"], out=W)
        if b is not None and self.lr_bias:
            b -= self.lr_bias * bias_gradient(g)
        state["samples"] += int(S.shape[0])
        state["loud"] += int(np.count_nonzero(S > self.threshold))
        state["quiet"] += int(np.count_nonzero(S < self.threshold))
        state["activity"] += float(S.sum())
