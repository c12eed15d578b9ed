r"""MNIST-parity with the lazy baselines, and the hidden representations of the k = 3 nets.

Thesis Figs. 2.1 and 3.1 (Demirbilek 2021, sections 2.1 and 3.1) compare fully trained networks
(backprop and DFA) with *lazy* methods, whose first layer stays at (or near) its random start. The
thesis code ran them with PyTorch autograd (spec ``../shared/specs/dfa-thesis.md`` section 3);
here every one of them is the same small model, a one-hidden-layer net whose hidden unit is a
*gated* linear unit

.. math:: a = X W_1^\top, \qquad h = a \odot g(X), \qquad \hat y = \sigma(h W_2^\top)

with no biases, mean BCE, and a gate :math:`g` that never depends on the trained :math:`W_1`:

========================  ==========================================  ===============  ==========
method                    gate :math:`g(X)`                           :math:`W_1` law  trains
========================  ==========================================  ===============  ==========
``bp``                    :math:`1[a > 0]` (ReLU)                     U(+-1/sqrt D)    W1, W2
``relu_features``         :math:`1[a > 0]` (ReLU)                     U(+-1/sqrt D)    W2
``gaussian_features``     :math:`1[a > 0]` (ReLU)                     N(0, sqrt(6/(D+H)))  W2
``linear_features``       :math:`1` (identity)                        U(+-1/sqrt D)    W2
``ntk_coded``             :math:`\sigma(X W_g^\top)`, W_g independent U(+-1/sqrt D)  W1, W2
``ntk_dm``                :math:`1[X W_1(0)^\top > 0]`, the initial W1 U(+-1/sqrt D)    W1, W2
========================  ==========================================  ===============  ==========

For ReLU the gate is a function of :math:`a` itself, but its derivative :math:`1[a > 0]` is the gate,
so one gradient formula serves every row (:func:`gated_gradients`). ``ntk_coded`` is what the thesis
coded (``F.glu`` of a separate frozen layer, spec 3 and 9 H); ``ntk_dm`` is Daniely & Malach's
definition, :math:`\langle w, x\rangle 1\{\langle w_0, x\rangle > 0\}` with :math:`w_0` the initial
weights. ``linear_features`` is described in the thesis but never run by its code (spec 9 I).

Every run follows :func:`learning_rules.experiments.dfa.train_parity`'s data protocol (same seed ->
same triplets), so a lazy curve and a backprop/DFA curve with the same seed see the same samples.

Explained in: book/dfa/parity.ipynb and book/dfa/representations.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._registry import Registry
from ..nn.gates import hard_gate as _hard_gate
from ..training import Batch, run_epoch
from . import one_blas_thread, register_experiment, register_planner

__all__ = [
    "CURVE_ORDER",
    "LAZY_METHODS",
    "PUBLISHED_KEYS",
    "final_parity_table",
    "parity_curves",
    "plot_figure_3_7",
    "plot_parity_curves",
    "plot_parity_examples",
    "plot_representations",
    "representations_result",
    "published_table",
    "PUBLISHED_LAZY_LR",
    "GatedNet",
    "LazyMethod",
    "LazyParityConfig",
    "RepresentationsConfig",
    "bce_value",
    "engine_network",
    "experiment_of",
    "gather_projection",
    "slot_projections",
    "slot_weights",
    "gated_forward",
    "gated_gradients",
    "hard_gate",
    "lazy_parity_run",
    "parity_curve_specs",
    "relu_gate",
    "representations_run",
    "run_curve_specs",
    "soft_gate",
    "train_lazy_parity",
]


# --------------------------------------------------------------------------------------------------
# the gates and the model's equations
# --------------------------------------------------------------------------------------------------


def relu_gate(a: np.ndarray) -> np.ndarray:
    r"""ReLU written as a gate: :math:`\mathrm{ReLU}(a) = a \odot 1[a > 0]`, and
    :math:`\mathrm{ReLU}'(a) = 1[a > 0]` is the same array.

    Parameters
    ----------
    a : (batch, H) pre-activations

    Returns
    -------
    (batch, H) array of 0/1 in ``a``'s dtype
    """
    return (a > 0).astype(a.dtype)


def soft_gate(X: np.ndarray, W_gate: np.ndarray) -> np.ndarray:
    r"""The thesis code's NTK gate, ``F.glu``'s sigmoid of a separate frozen layer (spec 3):
    :math:`g(X) = \sigma(X W_g^\top)`, the engine's :func:`learning_rules.nn.gates.soft_gate`
    computed without temporaries (:func:`_sigmoid`: the same operations, bit for bit; tested).

    Parameters
    ----------
    X : (batch, D);  W_gate : (H, D), frozen, drawn independently of ``W1``

    Returns
    -------
    (batch, H) gate in (0, 1)
    """
    u = X @ W_gate.T
    return _sigmoid(u)


#: Daniely & Malach's NTK gate, :math:`1[X W_1(0)^\top > 0]`: the engine's own definition.
hard_gate = _hard_gate


def bce_value(z: np.ndarray, y: np.ndarray) -> float:
    r"""Mean binary cross-entropy of logits, in the overflow-free form

    .. math:: E = \frac1B \sum_i \big[\log(1 + e^{z_i}) - y_i z_i\big]

    Parameters
    ----------
    z : (batch, 1) logits;  y : (batch, 1) targets in {0, 1}
    """
    z = z.astype(np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def gated_forward(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, gate: np.ndarray | None):
    r"""Forward pass of the gated net.

    .. math:: a = X W_1^\top, \quad h = a \odot g, \quad z = h W_2^\top

    ``gate=None`` means the ReLU gate :math:`g = 1[a > 0]`.

    Parameters
    ----------
    W1 : (H, D);  W2 : (1, H);  X : (batch, D);  gate : (batch, H) or None

    Returns
    -------
    a, g, h : (batch, H);  z : (batch, 1) logits
    """
    a = X @ W1.T
    g = relu_gate(a) if gate is None else gate
    h = a * g
    return a, g, h, h @ W2.T


def gated_gradients(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, y: np.ndarray,
                    gate: np.ndarray | None):
    r"""Loss and exact gradients of the mean BCE of the gated net (a gate that does not depend on
    :math:`W_1`; for ReLU the gate's derivative is zero almost everywhere).

    .. math::
        e = \sigma(z) - y, \qquad \nabla_{W_2} = \tfrac1B e^\top h, \qquad
        \delta_1 = (e W_2) \odot g, \qquad \nabla_{W_1} = \tfrac1B \delta_1^\top X

    Source: the backprop derivation of thesis App. A with the hidden derivative replaced by the
    gate (``\partial h / \partial a = g``).

    Parameters
    ----------
    W1 : (H, D);  W2 : (1, H);  X : (batch, D);  y : (batch, 1);  gate : (batch, H) or None

    Returns
    -------
    loss : float;  grad_W1 : (H, D);  grad_W2 : (1, H);  z : (batch, 1) logits
    """
    _, g, h, z = gated_forward(W1, W2, X, gate)
    B = X.shape[0]
    e = _sigmoid(z) - y
    grad_W2 = e.T @ h * (1.0 / B)
    delta1 = (e @ W2) * g
    grad_W1 = delta1.T @ X * (1.0 / B)
    return bce_value(z, y), grad_W1, grad_W2, z


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""The logistic function in the overflow-free form, in ``z``'s dtype,

    .. math:: \sigma(z) = \begin{cases} 1 / (1 + e^{-|z|}) & z \ge 0 \\
              e^{-|z|} / (1 + e^{-|z|}) & z < 0 \end{cases}

    into ``out`` (may be ``z`` itself; default a new array): :math:`e^{-|z|}` by NumPy's ``exp``,
    the rest by :func:`learning_rules.fast.slot_rows.logistic_from_exp` -- the same element-wise
    operations as ``np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))``, bit for bit, without its
    temporaries and masked passes."""
    from ..fast.slot_rows import logistic_from_exp

    if z.dtype not in (np.float32, np.float64):
        ez = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez)).astype(z.dtype, copy=False)
    if out is None:
        out = np.empty_like(z, order="C")
    elif out.shape != z.shape or out.dtype != z.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {z.dtype} array of shape {z.shape}")
    zf = z.reshape(-1) if z.flags.c_contiguous else np.ascontiguousarray(z).reshape(-1)
    if np.may_share_memory(zf, out):  # in place: keep z's signs before overwriting it
        zf = zf.copy()
    ez = out.reshape(-1)
    np.abs(zf, out=ez)
    np.negative(ez, out=ez)
    np.exp(ez, out=ez)  # e^{-|z|}
    logistic_from_exp(zf, ez, ez)
    return out


# --------------------------------------------------------------------------------------------------
# the methods
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LazyMethod:
    """One row of the module docstring's table.

    Attributes
    ----------
    gate : ``"relu"``, ``"identity"``, ``"soft"`` (independent frozen layer) or ``"hard"``
        (initial weights)
    w1_init : ``"pytorch"`` (U(+-1/sqrt D)) or ``"glorot_std_normal"`` (N(0, sqrt(6/(D+H))),
        spec 9 J)
    train_first : whether W1 trains
    label : name in figures
    """

    gate: str
    w1_init: str
    train_first: bool
    label: str


LAZY_METHODS: Registry[LazyMethod] = Registry("parity method")
LAZY_METHODS.register("bp", LazyMethod("relu", "pytorch", True, "BP (torch reproduction)"))
LAZY_METHODS.register("relu_features", LazyMethod("relu", "pytorch", False, "ReLU features"))
LAZY_METHODS.register("gaussian_features",
                      LazyMethod("relu", "glorot_std_normal", False, "Gaussian features"))
LAZY_METHODS.register("linear_features", LazyMethod("identity", "pytorch", False, "linear features"))
LAZY_METHODS.register("ntk_coded", LazyMethod("soft", "pytorch", True, "NTK, as coded (soft gate)"))
LAZY_METHODS.register("ntk_dm", LazyMethod("hard", "pytorch", True, "NTK, Daniely-Malach (hard gate)"))

#: Learning rates of the thesis' PyTorch reproduction (spec 3 and 4.3): torch Adadelta 0.05 for the
#: lazy methods; BP with torch SGD 0.13 and torch Adadelta 0.18.
PUBLISHED_LAZY_LR: dict[tuple[str, str], float] = {
    ("bp", "sgd"): 0.13, ("bp", "adadelta"): 0.18,
    ("relu_features", "adadelta"): 0.05, ("gaussian_features", "adadelta"): 0.05,
    ("linear_features", "adadelta"): 0.05, ("ntk_coded", "adadelta"): 0.05,
    ("ntk_dm", "adadelta"): 0.05,
}


class GatedNet:
    """The gated one-hidden-layer net of the module docstring, trained with an engine optimizer.

    Parameters
    ----------
    method : name in :data:`LAZY_METHODS`
    n_in, n_hidden : D and H
    optimizer : name in ``learning_rules.updates.OPTIMIZERS``; ``optimizer_params`` its
        hyper-parameters (Adadelta: ``{"variant": "zeiler"}`` is PyTorch's, eps 1e-6)
    lr : learning rate
    rng : numpy.random.Generator; draws W1, then W2, then (``ntk_coded``) the gate layer
    dtype : float32 or float64
    fused : apply the optimizer with :func:`learning_rules.fast.fused_step` (one compiled loop,
        equal to the engine optimizer's ``step`` to rounding) instead of ``optimizer.step``
    background : float, optional
        The value most inputs take (a zero pixel after normalization). When given (with
        ``fused``), a method that trains ``W1`` computes :math:`a = X W_1^\top` and
        :math:`\nabla_{W_1}` on the sparse remainder of the input
        (:mod:`learning_rules.fast.sparse_input`; the same equations, other rounding) and keeps
        ``W1`` in Fortran order. The row sums of ``W1`` are then carried from one
        step to the next (each update rewrites them), so ``W1`` must change only through
        :meth:`step`, or be replaced by a new array (which triggers a recount).

    Attributes
    ----------
    W1 : (H, D);  W2 : (1, H);  W_gate : (H, D) or None (frozen)
    """

    def __init__(self, method: str, n_in: int, n_hidden: int, optimizer: str, lr: float,
                 rng: np.random.Generator, optimizer_params: dict | None = None,
                 dtype=np.float32, fused: bool = True, background: float | None = None) -> None:
        from ..nn.init import pytorch_uniform
        from ..updates import OPTIMIZERS

        self.method = method
        self.fused = bool(fused)
        self.spec = LAZY_METHODS.lookup(method)
        dtype = np.dtype(dtype)
        if self.spec.w1_init == "glorot_std_normal":
            std = math.sqrt(6.0 / (n_in + n_hidden))
            self.W1 = (std * rng.standard_normal((n_hidden, n_in))).astype(dtype)
        else:
            self.W1 = pytorch_uniform(rng, n_in, n_hidden, dtype)
        self.W2 = pytorch_uniform(rng, n_hidden, 1, dtype)
        if self.spec.gate == "soft":
            self.W_gate = pytorch_uniform(rng, n_in, n_hidden, dtype)
        elif self.spec.gate == "hard":
            self.W_gate = self.W1.copy()
        else:
            self.W_gate = None
        self.optimizer = OPTIMIZERS.lookup(optimizer)(lr, **dict(optimizer_params or {}))
        self.background = None
        self._row_sums: np.ndarray | None = None  # s = W1 1 of the sparse path, and of which W1
        self._row_sums_of: np.ndarray | None = None
        if background is not None and self.fused and self.spec.train_first:
            self.background = dtype.type(background)
            self.W1 = np.asfortranarray(self.W1)  # W1^T is C-contiguous: the kernels' rows
        # W1's optimizer state is laid out as the array the kernel updates (W1^T when sparse)
        self.state_W1 = self.optimizer.init_state(self._w1_view()) if self.spec.train_first else None
        self.state_W2 = self.optimizer.init_state(self.W2)

    def _w1_view(self) -> np.ndarray:
        return self.W1.T if self.background is not None else self.W1

    def gate(self, X: np.ndarray) -> np.ndarray | None:
        """The gate of a batch (``None``: ReLU gate computed from ``a``)."""
        if self.spec.gate == "soft":
            return soft_gate(X, self.W_gate)
        if self.spec.gate == "hard":
            return hard_gate(X, self.W_gate)
        if self.spec.gate == "identity":
            return np.ones((X.shape[0], self.W1.shape[0]), dtype=X.dtype)
        return None

    def features(self, X: np.ndarray) -> np.ndarray:
        """Hidden layer ``h`` (batch, H)."""
        return gated_forward(self.W1, self.W2, X, self.gate(X))[2]

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Output logits ``z`` (batch, 1)."""
        return gated_forward(self.W1, self.W2, X, self.gate(X))[3]

    def _opt_step(self, W: np.ndarray, g: np.ndarray, state: dict) -> None:
        if self.fused:
            from ..fast import fused_step

            fused_step(self.optimizer, W, g, state)
        else:
            self.optimizer.step(W, g, state)

    def step(self, X: np.ndarray | None, Y: np.ndarray, gate: np.ndarray | None = None,
             rows=None) -> tuple[float, np.ndarray]:
        """One optimizer step on a batch; returns the pre-update loss and logits.

        ``gate`` : the batch's gate when already known (precomputed from the frozen gate layer,
        :func:`slot_projections`); default: :meth:`gate` of ``X``.
        ``rows`` : with ``background``, the batch as the CSR form of ``X - x0``
        (:meth:`learning_rules.fast.sparse_input.ImagePool.rows`) instead of ``X`` (then ``None``)."""
        if rows is not None:
            if self.background is None:
                raise ValueError("rows (a CSR batch) needs a GatedNet with background, training W1")
            return self._sparse_step(None, Y, gate, rows)
        gate = self.gate(X) if gate is None else gate
        if self.background is not None:
            return self._sparse_step(X, Y, gate)
        loss, gW1, gW2, z = gated_gradients(self.W1, self.W2, X, Y, gate)
        if self.state_W1 is not None:
            self._opt_step(self.W1, gW1, self.state_W1)
        self._opt_step(self.W2, gW2, self.state_W2)
        return loss, z

    def _sparse_step(self, X: np.ndarray | None, Y: np.ndarray, gate: np.ndarray | None,
                     rows=None) -> tuple[float, np.ndarray]:
        r""":meth:`step` with the first layer on :math:`V = X - x_0` (:func:`gated_gradients`'
        equations; :math:`a = V W_1^\top + x_0 \mathbf 1 (W_1 \mathbf 1)^\top` and
        :math:`\nabla_{W_1} = \tfrac1B(\delta_1^\top V + x_0 (\delta_1^\top \mathbf 1) \mathbf 1^\top)`);
        ``rows``: that CSR form of ``V`` already made (``X`` unused)."""
        from ..fast.minibatch import _checked_rows, _product, sparse_fused_step
        from ..fast.sparse_input import column_sums, compress_rows, rows_to_columns, sparse_forward

        x0, WT = self.background, self.W1.T
        D = self.W1.shape[1]
        dt = self.W1.dtype
        if rows is None:
            X = np.ascontiguousarray(X, dtype=dt)
            B = X.shape[0]
            if X.ndim != 2 or X.shape[1] != D:
                raise ValueError(f"X must have {D} columns, got shape {X.shape}")
            ptr, ind, val = np.empty(B + 1, np.int64), np.empty(X.size, np.int32), np.empty(X.size, dt)
            nnz = compress_rows(X, x0, ptr, ind, val)
        else:
            B = Y.shape[0]
            ptr, ind, val = _checked_rows(rows, B, B, D, dt)
            nnz = int(ptr[-1])
        if gate is None and self.spec.gate not in (None, "relu"):
            raise ValueError(f"method {self.method!r} needs its gate passed with rows")
        # s = W1 1: kept from the previous step, whose update kernel rewrote it for the new W1
        # (column_sums' own float64 sums, bit for bit); recomputed for a new W1 array
        s = self._row_sums
        if s is None or self._row_sums_of is not self.W1:
            s = np.empty(WT.shape[1], dt)
            column_sums(WT, s)
            self._row_sums, self._row_sums_of = s, self.W1
        a = np.empty((B, WT.shape[1]), dt)
        sparse_forward(ptr, ind, val, WT, s, x0, a)
        g = relu_gate(a) if gate is None else gate
        h = a * g
        z = h @ self.W2.T
        e = _sigmoid(z) - Y
        inv = dt.type(1.0 / B)
        gW2 = e.T @ h * inv
        delta1 = _product(e, self.W2) * g  # e W2 (one output: an outer product)
        cptr, crow, cval = np.empty(D + 1, np.int64), np.empty(nnz, np.int32), np.empty(nnz, dt)
        rows_to_columns(ptr, ind, val, cptr, crow, cval)
        # gradient rows made and applied one at a time (no weight-sized gradient); s is rewritten
        sparse_fused_step(self.optimizer, (cptr, crow, cval), np.ascontiguousarray(delta1), x0, inv,
                          WT, s, np.empty(WT.shape[1], dt), self.state_W1)
        self._opt_step(self.W2, gW2, self.state_W2)
        return bce_value(z, Y), z

    def step_output_only(self, H: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        r"""One step of a frozen-``W1`` method on precomputed features ``H = h(X)``: logistic
        regression on H, the same update as :meth:`step` without recomputing the first layer.

        .. math:: z = H W_2^\top, \quad \nabla_{W_2} = \tfrac1B (\sigma(z) - y)^\top H
        """
        z = H @ self.W2.T
        e = _sigmoid(z) - Y
        self._opt_step(self.W2, e.T @ H * (1.0 / H.shape[0]), self.state_W2)
        return bce_value(z, Y), z

    def features_from_preactivation(self, a: np.ndarray) -> np.ndarray:
        """``h = a * g(a)`` for a frozen-``W1`` method whose gate is a function of ``a``
        (ReLU or identity), from precomputed pre-activations ``a`` (batch, H)."""
        if self.spec.gate == "identity":
            return a
        if self.spec.gate != "relu":
            raise ValueError(f"method {self.method!r} has an external gate; use gate_from_preactivation")
        return a * relu_gate(a)

    def gate_from_preactivation(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The soft or hard gate from its precomputed pre-activation ``u = X W_g^T`` (into ``out``
        when given, which may be ``u`` itself)."""
        if self.spec.gate == "soft":
            return _sigmoid(u, out)
        if self.spec.gate == "hard":
            if out is None:
                return (u > 0).astype(u.dtype)
            return np.greater(u, 0, out=out)  # 1.0 / 0.0 in out's dtype
        raise ValueError(f"method {self.method!r} has no frozen gate layer")


# --------------------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LazyParityConfig:
    """One MNIST-parity run of a :data:`LAZY_METHODS` model (thesis Fig. 2.1 protocol by default).

    Attributes
    ----------
    k : digits per sample;  method : name in :data:`LAZY_METHODS`
    optimizer : ``"adadelta"`` (PyTorch/Zeiler form, as ``torch.optim.Adadelta``) or ``"sgd"``
    lr : learning rate (:data:`PUBLISHED_LAZY_LR`)
    num_epochs, batch_size, seed, n_hidden, n_train, n_test, validation :
        as :class:`learning_rules.experiments.dfa.ParityConfig` (same data protocol and streams)
    dtype : ``"float32"`` or ``"float64"``
    """

    k: int = 3
    method: str = "relu_features"
    optimizer: str = "adadelta"
    lr: float = 0.05
    num_epochs: int = 20
    batch_size: int = 128
    seed: int = 0
    n_hidden: int = 512
    n_train: int | None = None
    n_test: int | None = None
    validation: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        LAZY_METHODS.lookup(self.method)
        if self.optimizer not in ("adadelta", "sgd"):
            raise ValueError(f"LazyParityConfig.optimizer must be 'adadelta' or 'sgd' (the thesis' "
                             f"torch optimizers), got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"LazyParityConfig.lr must be a finite number > 0, got {self.lr!r}")
        for name, lo in (("k", 1), ("num_epochs", 0), ("batch_size", 1), ("seed", 0),
                         ("n_hidden", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"LazyParityConfig.{name} must be an int >= {lo}, got {v!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def replace(self, **changes: Any) -> LazyParityConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def data_config(self):
        """The :class:`~learning_rules.experiments.dfa.ParityConfig` naming the same data."""
        from .dfa import ParityConfig

        return ParityConfig(k=self.k, n_train=self.n_train, n_test=self.n_test,
                            validation=self.validation, dtype=self.dtype, seed=self.seed)


def slot_weights(W: np.ndarray, k: int, slot: int) -> np.ndarray:
    r"""The columns of a first-layer matrix that see digit ``slot`` of a ``28 x 28k`` sample.

    The sample is flattened row-major, so pixel ``(r, c)`` of slot ``s`` has input index
    ``28 k r + 28 s + c``; this returns those 784 columns in the digit's own row-major order.

    Parameters
    ----------
    W : (H, 784 k);  k : digits per sample;  slot : 0 .. k-1

    Returns
    -------
    (H, 784) array (a copy)
    """
    H = W.shape[0]
    if W.shape[1] != 784 * k or not 0 <= slot < k:
        raise ValueError(f"W must have 784*k = {784 * k} columns and 0 <= slot < {k}; got "
                         f"{W.shape} and slot {slot}")
    return np.ascontiguousarray(W.reshape(H, 28, k, 28)[:, :, slot, :].reshape(H, 784))


def slot_projections(images: np.ndarray, W: np.ndarray, k: int) -> list[np.ndarray]:
    r"""Per-slot projections of every source image through a *frozen* first-layer matrix.

    A parity sample is ``k`` images side by side, so its pre-activation splits over the slots,

    .. math:: X W^\top = \sum_{s=0}^{k-1} x_{i_s} W_s^\top = \sum_s P_s[i_s],
        \qquad P_s = \mathrm{images}\, W_s^\top

    and for a matrix that never changes the ``P_s`` are computed once per run instead of once per
    epoch (lazy baselines' features, the NTK nets' gates). Equal to the direct product up to
    float rounding (summation order).

    Parameters
    ----------
    images : (N, 28, 28) normalized images;  W : (H, 784 k) frozen weights;  k : digits per sample

    Returns
    -------
    list of k arrays (N, H)
    """
    flat = images.reshape(images.shape[0], 784)
    return [flat @ slot_weights(W, k, s).T for s in range(k)]


def gather_projection(P: list[np.ndarray], idx: np.ndarray, out: np.ndarray | None = None,
                      relu: bool = False) -> np.ndarray:
    r"""The pre-activation of the samples ``idx`` from the per-slot projections,

    .. math:: a_i = \sum_{s=0}^{k-1} P_s[\mathrm{idx}_{i,s}] \quad(\text{slot order}), \qquad
              \text{with } ``relu``: \ h_i = a_i \odot 1[a_i > 0],

    bit for bit ``P[0][idx[:, 0]] + P[1][idx[:, 1]] + ...`` (then ``a * relu_gate(a)``), written
    by one compiled pass per slot (:func:`learning_rules.fast.slot_rows.slot_rows_sum`) into
    ``out`` (a reused buffer) without temporaries.

    Parameters
    ----------
    P : k arrays (N, H), one dtype;  idx : (batch, k) indices in ``0..N-1``
    out : (batch, H) C-contiguous array of ``P``'s dtype, optional (default: a new one)
    relu : return the ReLU features ``h`` instead of ``a``

    Returns
    -------
    (batch, H) array (``out`` when given)
    """
    from ..fast.slot_rows import slot_rows_sum

    idx = np.ascontiguousarray(idx, dtype=np.int64)
    k = len(P)
    N, H = P[0].shape
    if idx.ndim != 2 or idx.shape[1] != k:
        raise ValueError(f"idx must be (batch, {k}) indices, got shape {idx.shape}")
    if any(p.shape != (N, H) or p.dtype != P[0].dtype for p in P):
        raise ValueError("the projections must share one shape and dtype")
    if idx.size and (idx.min() < 0 or idx.max() >= N):
        raise ValueError(f"indices must lie in 0..{N - 1}, got {idx.min()}..{idx.max()}")
    if out is None:
        out = np.empty((idx.shape[0], H), P[0].dtype)
    elif out.shape != (idx.shape[0], H) or out.dtype != P[0].dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {P[0].dtype} array of shape "
                         f"{(idx.shape[0], H)}, got {out.dtype} {out.shape}")
    for s in range(k):
        slot_rows_sum(np.ascontiguousarray(P[s]), idx, s, out, s > 0, relu and s == k - 1)
    return out


def _optimizer_params(optimizer: str) -> dict[str, Any]:
    # torch.optim.Adadelta: rho 0.9, eps 1e-6, lr scales the unscaled (accumulated) delta.
    return {"variant": "zeiler", "rho": 0.9, "eps": 1e-6} if optimizer == "adadelta" else {}


def train_lazy_parity(config: LazyParityConfig, data=None, sparse: bool = True):
    """Train one :class:`GatedNet` on MNIST-parity, one row per epoch.

    ``sparse``: methods that train ``W1`` compute it on the sparse remainder of the input
    (:class:`GatedNet`'s ``background``); ``False`` gives the dense products (equal to rounding).

    The streams are those of :func:`~learning_rules.experiments.dfa.train_parity`:
    ``SeedSequence(seed).spawn(3)`` = (weights, training triplets, evaluation triplets). Frozen-W1
    methods compute the epoch's features once (in chunks) and then take the same mini-batch
    steps on them (:meth:`GatedNet.step_output_only`). Frozen matrices (the feature methods'
    ``W1``, the NTK nets' gate layer) are projected once per run per source image and slot
    (:func:`slot_projections`), not once per epoch.

    Returns
    -------
    frame : DataFrame with ``epoch`` (0 = initial net), ``train_acc`` (running, before each
        update), ``train_loss``, ``test_acc``, ``test_loss``, ``eval_set``, ``diverged`` (as
        :func:`~learning_rules.experiments.dfa.train_parity`: once the weights are no longer
        finite no more steps are taken, the train columns are NaN, the evaluation goes on)
    net : GatedNet
    """
    from ..data.generators import parity_indices, parity_label
    from .dfa import EVAL_CHUNK, load_parity_data, parity_background, parity_batch

    if not isinstance(config, LazyParityConfig):
        raise ValueError(f"train_lazy_parity needs a LazyParityConfig, got {type(config).__name__}")
    dtype = np.dtype(config.dtype)
    if data is None:
        data = load_parity_data(config.data_config(), dtype)
    init_rng, train_rng, eval_rng = (np.random.default_rng(s)
                                     for s in np.random.SeedSequence(config.seed).spawn(3))
    k = config.k
    net = GatedNet(config.method, 784 * k, config.n_hidden, config.optimizer, config.lr, init_rng,
                   _optimizer_params(config.optimizer), dtype,
                   background=parity_background(dtype) if sparse else None)
    n_tr, n_ev = data.train_images.shape[0], data.eval_images.shape[0]
    eval_fixed = parity_indices(n_ev, k, eval_rng) if k == 1 else None
    # frozen layers are projected once per run (slot_projections): W1 of the feature methods,
    # the gate layer of the NTK nets
    frozen = None if net.spec.train_first else net.W1
    if net.spec.gate in ("soft", "hard"):
        frozen = net.W_gate
    P_tr = slot_projections(data.train_images, frozen, k) if frozen is not None else None
    P_ev = slot_projections(data.eval_images, frozen, k) if frozen is not None else None
    pool = eval_pool = None
    if net.background is not None:  # batches in sparse form, never assembled densely
        pool, eval_pool = data.pool("train", net.background), data.pool("eval", net.background)

    # the frozen-W1 methods' features h = a g(a), straight from the projections (ReLU or identity)
    relu_features = not net.spec.train_first and net.spec.gate == "relu"
    H_dim = config.n_hidden
    chunk = EVAL_CHUNK
    # reused buffers of the gathered projections: evaluation chunks, training batches
    ev_buf = np.empty((min(chunk, n_ev), H_dim), dtype) if P_ev is not None else None
    tr_buf = np.empty((min(config.batch_size, n_tr), H_dim), dtype) if P_tr is not None else None

    def logits_of(images, labels, P, idx):
        u = None if P is None else gather_projection(P, idx, out=ev_buf[:idx.shape[0]], relu=relu_features)
        if u is not None and not net.spec.train_first:
            return u @ net.W2.T  # u is already h (features_from_preactivation)
        if eval_pool is not None and net.spec.train_first and (u is not None or net.spec.gate == "relu"):
            # a = X W1^T on the sparse remainder of the input (as train_parity's evaluation), then
            # gated_forward's h = a g and z = h W2^T
            from ..fast.sparse_input import sparse_matmul_rows

            a = sparse_matmul_rows(eval_pool.rows(idx), net.W1, net.background)
            g = relu_gate(a) if u is None else net.gate_from_preactivation(u, out=u)
            return (a * g) @ net.W2.T
        X = parity_batch(images, labels, idx)[0]
        if u is None:
            return net.logits(X)
        return gated_forward(net.W1, net.W2, X, net.gate_from_preactivation(u, out=u))[3]

    def evaluate() -> tuple[float, float]:
        idx = eval_fixed if k == 1 else parity_indices(n_ev, k, eval_rng)
        total, correct = 0.0, 0
        for s in range(0, n_ev, chunk):
            sl = idx[s:s + chunk]
            y = parity_label(data.eval_labels[sl])
            z = logits_of(data.eval_images, data.eval_labels, P_ev, sl)
            total += bce_value(z, y[:, None].astype(dtype)) * sl.shape[0]
            correct += int(np.sum((z[:, 0] > 0) == (y == 1)))
        return total / n_ev, correct / n_ev

    loss0, acc0 = evaluate()
    rows = [{"epoch": 0, "train_acc": np.nan, "train_loss": np.nan, "test_acc": acc0,
             "test_loss": loss0, "eval_set": data.eval_name, "diverged": False}]
    bs = config.batch_size

    def batches(idx, H):
        """The epoch's batches: for the feature methods the frozen layer's output (precomputed
        rows of ``H``, or this batch's features gathered into the reused buffer), for the gated
        nets the input (its CSR rows from the pool when the gate does not need the dense batch)."""
        for s in range(0, n_tr, bs):
            sl = idx[s:s + bs]
            if not net.spec.train_first:
                y = parity_label(data.train_labels[sl])
                h = (H[s:s + bs] if H is not None
                     else gather_projection(P_tr, sl, out=tr_buf[:sl.shape[0]], relu=relu_features))
                yield Batch(h, y[:, None].astype(dtype), labels=y, index=sl)
            elif pool is not None and (P_tr is not None or net.spec.gate == "relu"):
                # the gate does not need the dense batch: it never gets assembled
                y = parity_label(data.train_labels[sl])
                yield Batch(None, y[:, None].astype(dtype), pool.rows(sl), y, sl)
            else:
                X, y = parity_batch(data.train_images, data.train_labels, sl)
                yield Batch(X, y[:, None].astype(dtype), None, y, sl)

    def step(batch):
        if not net.spec.train_first:
            return net.step_output_only(batch.X, batch.Y)
        gate = None
        if P_tr is not None:  # the gate computed in place in the reused buffer
            u = gather_projection(P_tr, batch.index, out=tr_buf[:batch.index.shape[0]])
            gate = net.gate_from_preactivation(u, out=u)
        if batch.rows is not None:
            return net.step(None, batch.Y, gate, rows=batch.rows)
        return net.step(batch.X, batch.Y, gate)

    def score(z, batch):
        return int(np.sum((z[:, 0] > 0) == (batch.labels == 1)))

    diverged = False
    H_once = None
    for epoch in range(config.num_epochs):
        idx = parity_indices(n_tr, k, train_rng)
        if diverged:  # no more steps; the evaluation still draws its triplets (as train_parity)
            with np.errstate(over="ignore", invalid="ignore"):
                test_loss, test_acc = evaluate()
            rows.append({"epoch": epoch + 1, "train_acc": np.nan, "train_loss": np.nan,
                         "test_acc": test_acc, "test_loss": test_loss, "eval_set": data.eval_name,
                         "diverged": True})
            continue
        H = None
        if not net.spec.train_first and P_tr is None:  # the frozen layer applied to every sample
            H = np.empty((n_tr, config.n_hidden), dtype)
            for s in range(0, n_tr, 2048):
                sl = idx[s:s + 2048]
                H[s:s + 2048] = net.features(parity_batch(data.train_images, data.train_labels, sl)[0])
        elif not net.spec.train_first and k == 1:
            # k = 1 has no permutation (idx = 0..n-1 every epoch): the same samples every epoch,
            # so their features are gathered once per run
            if H_once is None or not np.array_equal(H_once[0], idx):
                H_once = (idx, gather_projection(P_tr, idx, relu=relu_features))
            H = H_once[1]
        # a rate too large overflows on the way: recorded in ``diverged``, not warned per batch
        with np.errstate(over="ignore", invalid="ignore"):
            stats = run_epoch(step, batches(idx, H), score=score)
            test_loss, test_acc = evaluate()
        loss_sum, correct = stats.loss_sum, stats.correct
        diverged = not (np.isfinite(net.W1).all() and np.isfinite(net.W2).all())
        rows.append({"epoch": epoch + 1, "train_acc": correct / n_tr, "train_loss": loss_sum / n_tr,
                     "test_acc": test_acc, "test_loss": test_loss, "eval_set": data.eval_name,
                     "diverged": diverged})
    return pd.DataFrame(rows), net


@register_experiment("dfa_parity_lazy", LazyParityConfig,
                     "one MNIST-parity run of a lazy baseline or the torch-style BP net, per epoch")
@one_blas_thread
def lazy_parity_run(config: LazyParityConfig) -> pd.DataFrame:
    """:func:`train_lazy_parity` without the network (for the store and sweeps)."""
    return train_lazy_parity(config)[0]


# --------------------------------------------------------------------------------------------------
# the readable definition: the engine configurations
# --------------------------------------------------------------------------------------------------


#: The engine's hidden activation for a gate that is a function of the unit's own pre-activation.
ENGINE_GATES = {"relu": "relu", "identity": "identity"}


def engine_network(method: str, n_in: int, n_hidden: int, optimizer: str, lr: float,
                   rng: np.random.Generator, optimizer_params: dict | None = None, dtype=np.float32):
    r"""The lazy baseline ``method`` as an engine configuration: the readable definition that
    :class:`GatedNet` computes faster.

    Every method is a plain two-layer :class:`~learning_rules.engine.Network`: no biases, a
    sigmoid output with mean BCE, backprop with the gradient update and ``optimizer``, and the
    weights drawn from ``rng`` as :class:`GatedNet` draws them (``W1``, then ``W2``, then the
    soft gate's layer). What differs is the hidden layer:

    * ``bp`` and the feature methods: hidden activation ReLU or identity (its gate
      :math:`g = f'(a)`), the first layer frozen (``trainable=[False, True]``) for the feature
      methods;
    * the two NTK nets: identity hidden activation times an input gate
      (:class:`~learning_rules.nn.gates.InputGate`), :math:`h = a \odot g(X)`: ``ntk_coded`` the
      soft gate of an independent frozen layer, ``ntk_dm`` the hard gate of a frozen copy of the
      initial ``W1``.

    ``tests/test_dfa_lazy_engine.py`` proves :class:`GatedNet`'s steps (dense, fused, sparse, and
    the feature methods' output-only steps) equal to this network's reference step.
    """
    from ..engine import Network
    from ..nn.gates import GATES, InputGate
    from ..nn.init import pytorch_uniform
    from ..nn.mlp import MLP

    spec = LAZY_METHODS.lookup(method)
    dtype = np.dtype(dtype)
    if spec.w1_init == "glorot_std_normal":
        W1 = (math.sqrt(6.0 / (n_in + n_hidden)) * rng.standard_normal((n_hidden, n_in))).astype(dtype)
    else:
        W1 = pytorch_uniform(rng, n_in, n_hidden, dtype)
    W2 = pytorch_uniform(rng, n_hidden, 1, dtype)
    if spec.gate in GATES:  # "soft" or "hard": a gate computed from the input, under its own name
        W_gate = pytorch_uniform(rng, n_in, n_hidden, dtype) if spec.gate == "soft" else W1.copy()
        gates = [InputGate(spec.gate, W_gate), None]
        hidden = "identity"
    else:
        gates = [None, None]
        hidden = ENGINE_GATES[spec.gate]
    mlp = MLP(weights=[W1, W2], biases=[None, None], activations=[hidden, "sigmoid"], gates=gates)
    return Network(mlp, credit="backprop", update="gradient", loss="bce", lr=lr, optimizer=optimizer,
                   optimizer_params=dict(optimizer_params or {}), trainable=[spec.train_first, True],
                   rng=rng)


# --------------------------------------------------------------------------------------------------
# the curves of Figs. 2.1 / 3.1
# --------------------------------------------------------------------------------------------------


def parity_curve_specs(k: int, seeds: Sequence[int], num_epochs: int, n_train: int | None,
                       n_test: int | None, lrs: dict[str, float] | None = None) -> list[tuple[str, Any]]:
    """Every curve of thesis Figs. 2.1 and 3.1 for one ``k``: ``(label, config)`` pairs.

    Curves: BP + SGD (0.12) and DFA + SGD (0.018) on the engine (Fig. 3.1), the torch
    reproduction's BP + SGD (0.13) and BP + Adadelta (0.18), and the five lazy methods with
    Adadelta 0.05 (Fig. 2.1; linear features and the Daniely-Malach NTK are additions).
    ``lrs`` overrides a learning rate by label (for the tuned runs).
    """
    from .dfa import ParityConfig

    lrs = dict(lrs or {})
    specs: list[tuple[str, Any]] = []
    for seed in seeds:
        common = dict(k=k, num_epochs=num_epochs, n_train=n_train, n_test=n_test, seed=int(seed))
        for label, credit, lr in (("BP SGD", "backprop", 0.12), ("DFA SGD", "dfa", 0.018)):
            specs.append((label, ParityConfig(credit=credit, optimizer="sgd",
                                              lr=lrs.get(label, lr), **common)))
        for (method, opt), lr in PUBLISHED_LAZY_LR.items():
            label = (f"BP {'Adadelta' if opt == 'adadelta' else 'SGD'} (torch)" if method == "bp"
                     else LAZY_METHODS[method].label)
            specs.append((label, LazyParityConfig(method=method, optimizer=opt,
                                                  lr=lrs.get(label, lr), **common)))
    return specs


def experiment_of(config: Any) -> str:
    """Store name of a parity config: ``"dfa_parity"`` (engine) or ``"dfa_parity_lazy"``."""
    from .dfa import ParityConfig

    if isinstance(config, ParityConfig):
        return "dfa_parity"
    if isinstance(config, LazyParityConfig):
        return "dfa_parity_lazy"
    raise ValueError(f"not a parity config: {type(config).__name__}")


def run_curve_specs(specs: Sequence[tuple[str, Any]], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Run (or fetch from ``store``) every ``(label, config)``; one frame with ``method``, ``seed``,
    ``k``, ``lr`` columns added.

    ``n_jobs > 1`` runs the missing configs in that many worker processes, each with one BLAS
    thread (:func:`learning_rules.sweep.run_sweep`, loky): on 2 cores two single-threaded runs
    side by side beat one run with two BLAS threads, and do not collapse when the machine is
    shared. Engine runs are stored under ``"dfa_parity"``, lazy ones under ``"dfa_parity_lazy"``
    (the names every page uses, so an identical run is computed once for the whole chapter).
    """
    from ..sweep import run_sweep
    from .dfa import parity_run

    groups: dict[str, list[int]] = {"dfa_parity": [], "dfa_parity_lazy": []}
    for i, (_, cfg) in enumerate(specs):
        groups[experiment_of(cfg)].append(i)
    results: dict[int, pd.DataFrame] = {}
    for name, members in groups.items():
        if not members:
            continue
        fn = parity_run if name == "dfa_parity" else lazy_parity_run
        configs = [specs[i][1] for i in members]
        if n_jobs == 1:
            for i, cfg in zip(members, configs):
                results[i] = store.get_or_compute(name, cfg, fn) if store is not None else fn(cfg)
            continue
        # one sweep per experiment; split its (config-ordered) rows back per config
        frame = run_sweep(fn, configs, n_jobs=n_jobs, store=store, name=name, backend="loky")
        counts = [cfg.num_epochs + 1 for cfg in configs]
        starts = np.concatenate([[0], np.cumsum(counts)])
        fields = {f.name for f in dataclasses.fields(configs[0])}
        for j, i in enumerate(members):
            part = frame.iloc[starts[j]:starts[j + 1]]
            results[i] = part.drop(columns=[c for c in part.columns if c in fields])
    frames = []
    for i, (label, cfg) in enumerate(specs):
        frame = results[i].reset_index(drop=True).copy()
        frame["method"], frame["seed"], frame["k"], frame["lr"] = label, cfg.seed, cfg.k, cfg.lr
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def parity_curves(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Every curve of thesis Figs. 2.1 and 3.1 at the published rates, for each ``k`` of the parity
    page's ``params`` (``seeds``, ``num_epochs``, ``n_train``, ``n_test``, ``ks``: the page's own,
    or ``profiles.page_parameters``): :func:`parity_curve_specs` run through :func:`run_curve_specs`.
    The frame that the page's Figure 2 and Table 1, their artifacts (``dfa-parity-figure``,
    ``dfa-parity-table``) and the ledger cells (:func:`reproduced_cells`) all read."""
    p = dict(params)
    specs = [s for k in p["ks"] for s in parity_curve_specs(
        int(k), p["seeds"], int(p["num_epochs"]), p["n_train"], p["n_test"])]
    return run_curve_specs(specs, store, n_jobs=n_jobs)


# --------------------------------------------------------------------------------------------------
# hidden representations (thesis Figs. 3.6, 3.7; spec 7 and 9 A-B)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RepresentationsConfig:
    """Per-digit representations of the k = 3 nets, their t-SNE maps and their 10-NN accuracy.

    Attributes
    ----------
    num_epochs, n_train, n_test, seed : training of the BP (lr 0.12) and DFA (lr 0.018) SGD nets,
        as :class:`~learning_rules.experiments.dfa.ParityConfig`
    n_triplets : triplets whose 3 digits are represented (thesis: 7500 -> 22,500 points)
    n_tsne : points embedded by t-SNE (the first ones; thesis: all 22,500)
    n_knn : points used for the nearest-neighbour accuracy (the first ones)
    knn_neighbors, knn_folds : the k of k-NN and the cross-validation folds
    perplexity, tsne_seed : t-SNE settings (thesis: 30 and random_state 123)
    """

    num_epochs: int = 20
    n_train: int | None = None
    n_test: int | None = None
    seed: int = 0
    n_triplets: int = 7500
    n_tsne: int = 22500
    n_knn: int = 9000
    knn_neighbors: int = 10
    knn_folds: int = 3
    perplexity: float = 30.0
    tsne_seed: int = 123


REPRESENTATION_MODELS = ("BP trained", "DFA trained", "untrained")


@register_experiment("dfa_representations", RepresentationsConfig,
                     "per-digit hidden representations of the k=3 nets: t-SNE maps and 10-NN accuracy")
@one_blas_thread
def representations_run(config: RepresentationsConfig) -> pd.DataFrame:
    """Train BP and DFA (k = 3, SGD, the thesis' rates), draw one untrained net, and compute the
    per-digit representations of ``n_triplets`` fresh training triplets.

    Returns
    -------
    DataFrame with a ``record`` column:
        ``"tsne"`` rows: ``model``, ``point``, ``tsne_x``, ``tsne_y``, ``digit`` (the true digit of
        the point), ``digit_thesis_order`` (the label the original notebook gave it, spec 9 B),
        ``slot`` (0 = left, 1 = middle, 2 = right);
        ``"knn"`` rows: ``model``, ``labels`` (``"correct"`` / ``"thesis order"``), ``accuracy``;
        ``"train"`` rows: ``model``, ``test_acc`` (final test accuracy of the trained nets).
    """
    from ..analysis.representations import (
        knn_digit_accuracy,
        per_digit_representations,
        thesis_label_order,
        tsne_embed,
    )
    from ..data.generators import parity_indices
    from .dfa import ParityConfig, build_network, load_parity_data, parity_batch, train_parity

    common = dict(k=3, num_epochs=config.num_epochs, n_train=config.n_train, n_test=config.n_test,
                  seed=config.seed, optimizer="sgd")
    data = load_parity_data(ParityConfig(**common))
    W1s, rows = {}, []
    for model, credit, lr in (("BP trained", "backprop", 0.12), ("DFA trained", "dfa", 0.018)):
        frame, net = train_parity(ParityConfig(credit=credit, lr=lr, **common), data)
        W1s[model] = net.mlp.weights[0].copy()
        rows.append({"record": "train", "model": model, "test_acc": float(frame["test_acc"].iloc[-1])})
    # the untrained net: what the original figure showed (its weights had been re-drawn, spec 9 A)
    untrained_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
    W1s["untrained"] = build_network(ParityConfig(**common), untrained_rng).mlp.weights[0].copy()

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    n = min(config.n_triplets, data.train_images.shape[0])
    idx = parity_indices(data.train_images.shape[0], 3, rng)[:n]
    X, _ = parity_batch(data.train_images, data.train_labels, idx)
    digits = data.train_labels[idx]  # (n, 3)
    correct = digits.reshape(-1)
    scrambled = thesis_label_order(digits)
    for model in REPRESENTATION_MODELS:
        R = per_digit_representations(W1s[model], X, k=3)
        m = min(config.n_knn, R.shape[0])
        for labels, lab in (("correct", correct), ("thesis order", scrambled)):
            acc = knn_digit_accuracy(R[:m], lab[:m], n_neighbors=config.knn_neighbors,
                                     n_folds=config.knn_folds, seed=config.seed)
            rows.append({"record": "knn", "model": model, "labels": labels, "accuracy": acc})
        t = min(config.n_tsne, R.shape[0])
        emb = tsne_embed(R[:t], perplexity=config.perplexity, seed=config.tsne_seed)
        rows.extend({"record": "tsne", "model": model, "point": i, "tsne_x": float(emb[i, 0]),
                     "tsne_y": float(emb[i, 1]), "digit": int(correct[i]),
                     "digit_thesis_order": int(scrambled[i]), "slot": i % 3} for i in range(t))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# tables and figures for the pages
# --------------------------------------------------------------------------------------------------

#: Order and colours of the curves (one colour-blind palette entry each).
CURVE_ORDER = ("BP SGD", "DFA SGD", "BP SGD (torch)", "BP Adadelta (torch)", "ReLU features",
               "Gaussian features", "linear features", "NTK, as coded (soft gate)",
               "NTK, Daniely-Malach (hard gate)")

#: Reference-CSV row of each curve: (table, row template with {k}).
PUBLISHED_KEYS: dict[str, tuple[str, str]] = {
    "BP SGD": ("Fig. 3.1", "k={k}|SGD|BP"),
    "DFA SGD": ("Fig. 3.1", "k={k}|SGD|DFA"),
    "BP SGD (torch)": ("Fig. 2.1", "k={k}|SGD lr 0.13|BP (torch)"),
    "BP Adadelta (torch)": ("Fig. 2.1", "k={k}|Adadelta lr 0.18|BP (torch)"),
    "ReLU features": ("Fig. 2.1", "k={k}|Adadelta lr 0.05|ReLU features"),
    "Gaussian features": ("Fig. 2.1", "k={k}|Adadelta lr 0.05|Gaussian features"),
    "NTK, as coded (soft gate)": ("Fig. 2.1", "k={k}|Adadelta lr 0.05|NTK (coded)"),
}


def published_table(source: str = "dfa_thesis") -> pd.DataFrame:
    """The published numbers of ``learning_rules/reference/<source>.csv``, with
    ``printed_half_unit`` (:func:`learning_rules.cells.printed_half_unit`: how far the printed
    number was rounded, read from its text before it becomes a float)."""
    from pathlib import Path

    from ..cells import printed_half_unit

    frame = pd.read_csv(Path(__file__).resolve().parent.parent / "reference" / f"{source}.csv",
                        dtype={"published": str})
    frame["printed_half_unit"] = frame["published"].map(printed_half_unit)
    frame["published"] = frame["published"].astype(float)
    return frame


def final_parity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Final-epoch test accuracy per (k, method): mean, sample sd and seeds, next to the thesis'
    epoch-20 value (``published``; empty where the thesis has none) and ``mean - published``."""
    last = frame[frame["epoch"] == frame.groupby(["k", "method", "seed"])["epoch"].transform("max")]
    out = (last.groupby(["k", "method"], sort=False)
           .agg(epochs=("epoch", "max"), seeds=("seed", "nunique"), lr=("lr", "first"),
                mean=("test_acc", "mean"), sd=("test_acc", "std")).reset_index())
    pub = published_table()
    values = []
    for k, method in zip(out["k"], out["method"]):
        key = PUBLISHED_KEYS.get(method)
        match = pub.iloc[0:0] if key is None else pub[
            (pub["table"] == key[0]) & (pub["row"] == key[1].format(k=k))
            & (pub["column"] == "test accuracy epoch 20")]
        values.append(float(match["published"].iloc[0]) if len(match) else np.nan)
    out["published (epoch 20)"] = values
    out["difference"] = out["mean"] - out["published (epoch 20)"]
    order = {m: i for i, m in enumerate(CURVE_ORDER)}
    return out.sort_values(["k", "method"], key=lambda s: s.map(order) if s.name == "method" else s
                           ).reset_index(drop=True)


def plot_parity_examples(ks=(1, 3), n: int = 4, seed: int = 0):
    """Fig. 2.1's bottom panel: ``n`` random training samples per ``k``, each the ``k`` MNIST digits
    side by side (one 28 x 28k image, as the network sees it before flattening), titled with the
    digits and the label :math:`y = (\\sum_s t_s) \\bmod 2` (:func:`learning_rules.data.parity_label`).
    The images are the raw files' pixels (0-255), drawn black on white."""
    import matplotlib.pyplot as plt

    from ..data import parity_label
    from .dfa import _mnist

    X, y = _mnist("train")
    rng = np.random.default_rng(seed)
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or n < 1:
        raise ValueError(f"need at least one k >= 1 and n >= 1, got ks={ks}, n={n}")
    fig, axes = plt.subplots(len(ks), n, figsize=(2.1 * n * max(ks) / 2 + 1, 2.0 * len(ks)),
                             squeeze=False)
    for row, k in zip(axes, ks):
        idx = rng.integers(0, len(X), size=(n, k))
        labels = parity_label(y[idx])
        for ax, i, label in zip(row, idx, labels):
            ax.imshow(np.concatenate([X[j] for j in i], axis=1), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(f"{' + '.join(str(int(y[j])) for j in i)}: y = {int(label)}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(f"k = {k}")
    fig.tight_layout()
    return fig


def plot_parity_curves(frame: pd.DataFrame, title: str = ""):
    """Test accuracy against epoch, one panel per k, every method with a 95% bootstrap band
    over seeds (seaborn's default, as the thesis' figures)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ks = sorted(frame["k"].unique())
    methods = [m for m in CURVE_ORDER if m in set(frame["method"])]
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    fig, axes = plt.subplots(1, len(ks), figsize=(6.2 * len(ks), 4.4), squeeze=False)
    for ax, k in zip(axes[0], ks):
        sub = frame[frame["k"] == k]  # epoch 0 = the initial network
        sns.lineplot(data=sub, x="epoch", y="test_acc", hue="method", hue_order=methods,
                     palette=palette, errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax, marker="o",
                     markersize=4,
                     legend=ax is axes[0][-1])
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="epoch", ylabel="test accuracy (fraction)", title=f"k = {k}")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="method")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_representations(frame: pd.DataFrame, panels: Sequence[tuple[str, str, str]]):
    """t-SNE maps: ``panels`` = (model, colour column, panel title); the colour column is a digit
    column (10 colours) or ``"slot"`` (3 colours); one legend per colour column, on the right."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    tsne = frame[frame["record"] == "tsne"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    last_of = {column: i for i, (_, column, _) in enumerate(panels)}
    for i, (ax, (model, column, title)) in enumerate(zip(axes[0], panels)):
        sub = tsne[tsne["model"] == model]
        levels = list(range(3)) if column == "slot" else list(range(10))
        sns.scatterplot(data=sub, x="tsne_x", y="tsne_y", hue=column, hue_order=levels,
                        palette=sns.color_palette("colorblind", len(levels)), s=4, linewidth=0,
                        ax=ax, legend=last_of[column] == i)
        ax.set(xlabel="t-SNE 1 (a.u.)", ylabel="t-SNE 2 (a.u.)", title=title)
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), markerscale=3,
                            title="slot (0 = left)" if column == "slot" else "digit")
    fig.tight_layout()
    return fig


#: Panels of thesis Fig. 3.7 as its code made it (spec 9 A-B: untrained weights, the notebook's
#: label order), between the same map coloured by slot and by each point's own digit.
FIG_3_7_AS_PUBLISHED = (("untrained", "slot", "untrained, coloured by slot"),
                        ("untrained", "digit_thesis_order",
                         "as in the thesis: untrained,\nnotebook's label order"),
                        ("untrained", "digit", "untrained, correct labels"))
#: Panels of the corrected thesis Fig. 3.7: the trained nets, and an untrained one, correct labels.
FIG_3_7_CORRECTED = (("BP trained", "digit", "BP + SGD, trained"),
                     ("DFA trained", "digit", "DFA + SGD, trained"),
                     ("untrained", "digit", "untrained"))


def plot_figure_3_7(frame: pd.DataFrame, as_published: bool = False):
    """Thesis Fig. 3.7 from a :func:`representations_run` result: corrected (trained BP and DFA
    nets and an untrained one, each point coloured by its own digit; Figure 2 of
    ``book/dfa/representations.ipynb``, artifact ``dfa-figure-3-7``) or, with ``as_published``,
    the figure as the thesis' code made it next to two other colourings of the same map (Figure 1,
    artifact ``dfa-figure-3-7-as-published``)."""
    return plot_representations(frame, FIG_3_7_AS_PUBLISHED if as_published else FIG_3_7_CORRECTED)


# --------------------------------------------------------------------------------------------------
# reproduction ledger (learning_rules.report)
# --------------------------------------------------------------------------------------------------

NOTEBOOK = "book/dfa/parity.ipynb"
REPRODUCES = {"sources": ["dfa_thesis"], "chapter": NOTEBOOK,
              "description": "Demirbilek (2021) Figs. 2.1 and 3.1: MNIST-parity test accuracy"}


def representations_config(params: Mapping[str, Any]) -> RepresentationsConfig:
    """The run of ``book/dfa/representations.ipynb`` from its parameters (page and planner)."""
    return RepresentationsConfig(num_epochs=int(params["num_epochs"]), n_train=params["n_train"],
                                 n_test=params["n_test"], n_triplets=int(params["n_triplets"]),
                                 n_tsne=int(params["n_tsne"]), n_knn=int(params["n_knn"]),
                                 seed=int(params["seed"]))


def representations_result(params: Mapping[str, Any], store=None) -> pd.DataFrame:
    """The representations page's run (:func:`representations_run` of
    :func:`representations_config`), through ``store`` when given: what the page and its
    artifacts draw from."""
    config = representations_config(params)
    if store is None:
        return representations_run(config)
    return store.get_or_compute("dfa_representations", config, representations_run)


@register_planner("book/dfa/representations.ipynb")
def _plan_representations_page(params: Mapping[str, Any], store) -> list:
    """One long run (two k = 3 nets, then t-SNE): listed so the build starts it first, beside the
    other pages' runs, instead of inside its page's kernel."""
    from . import Task

    config = representations_config(params)
    share = 1.0 if config.n_train is None else config.n_train / 60_000
    # in k = 3 parity epochs: two nets, then t-SNE, which dominates at paper (the paper build's run
    # took 1,694 s, about 390 units at the parity runs' 4.35 s per unit beside it)
    cost = 2 * config.num_epochs * share + config.n_tsne / 22_500 * 350 + 0.1
    return [Task("dfa_representations", config, cost=float(cost))]


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Figs. 2.1 and 3.1 cells of ``reference/dfa_thesis.csv`` regenerated with ``profile``'s
    parameters of the parity page (through the store: a cache hit after the book build). A cell
    at an epoch the profile does not reach is given at its last epoch, with a note."""
    from ..cells import mean_interval, record
    from ..profiles import page_parameters
    from ..store import Store

    params = page_parameters(profile, NOTEBOOK)
    curves = parity_curves(params, Store())
    pub = published_table()
    pub = pub[pub["table"].isin(["Fig. 2.1", "Fig. 3.1"])]
    rows = []
    for method, (table, template) in PUBLISHED_KEYS.items():
        for k in params["ks"]:
            row = template.format(k=k)
            for rec in pub[(pub["table"] == table) & (pub["row"] == row)].itertuples(index=False):
                epoch = int(rec.column.rsplit(" ", 1)[-1])
                sub = curves[(curves["method"] == method) & (curves["k"] == k)]
                at = min(epoch, int(sub["epoch"].max()))
                values = sub[sub["epoch"] == at]["test_acc"].to_numpy()
                mean, low, high = mean_interval(values)
                note = None if at == epoch else f"profile {profile} stops at epoch {at}"
                rows.append(record("dfa_thesis", table, row, rec.column, mean, low, high,
                                   profile=profile, seeds=params["seeds"], note=note))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# artifacts (learning-rules make NAME): the pages' figures and tables, drawn by the pages' functions
# --------------------------------------------------------------------------------------------------

REPRESENTATIONS_NOTEBOOK = "book/dfa/representations.ipynb"


def _register_artifacts() -> None:
    from ..store import Store, atomic_write_text
    from . import register_artifact, save_book_figure

    def jobs(params: Mapping[str, Any]) -> int:
        return int(params.get("n_jobs", 1) or 1)

    @register_artifact("dfa-figure-2-1-samples", "thesis Fig. 2.1 (bottom): four MNIST-parity "
                       "training samples per k, titled with their digits and label (PNG)",
                       notebook=NOTEBOOK)
    def make_samples(params, out_path):
        return save_book_figure(lambda: plot_parity_examples(params["ks"], n=4, seed=0), out_path)

    @register_artifact("dfa-parity-figure", "thesis Figs. 2.1 (top) and 3.1: MNIST-parity test "
                       "accuracy per epoch, k = 1 and 3, BP and DFA with SGD and the lazy baselines (PNG)",
                       notebook=NOTEBOOK)
    def make_curves(params, out_path):
        curves = parity_curves(params, Store(), n_jobs=jobs(params))
        return save_book_figure(lambda: plot_parity_curves(curves), out_path)

    @register_artifact("dfa-parity-table", "thesis Figs. 2.1 and 3.1: final MNIST-parity test "
                       "accuracy per k and method next to the thesis' epoch-20 values (CSV)",
                       notebook=NOTEBOOK, suffix=".csv")
    def make_table(params, out_path):
        curves = parity_curves(params, Store(), n_jobs=jobs(params))
        atomic_write_text(out_path, final_parity_table(curves).to_csv(index=False))
        return out_path

    for name, as_published, what in (
            ("dfa-figure-3-7", False, "thesis Fig. 3.7, corrected: t-SNE maps of the per-digit "
             "representations of the trained BP and DFA nets and of an untrained net, each point "
             "coloured by its own digit (PNG)"),
            ("dfa-figure-3-7-as-published", True, "thesis Fig. 3.7 as its code made it (untrained "
             "weights, the notebook's label order), between the same t-SNE map coloured by slot "
             "and by the correct digits (PNG)")):
        def make_representations(params, out_path, as_published=as_published):
            result = representations_result(params, Store())
            return save_book_figure(lambda: plot_figure_3_7(result, as_published), out_path)

        register_artifact(name, what, notebook=REPRESENTATIONS_NOTEBOOK)(make_representations)


_register_artifacts()
