"""Python side of the compiled single-sample loop: validation, packing, write-back.

The rule it runs is the dual-weight paper's single-sample protocol (spec ``dual-weight-paper.md``
sec. 10, applied to any depth): per step one sample ``x = X[indices[t]]``, forward through ``W_l``
(``W_l = W1_l - W2_l`` for the dual methods), the output error ``e = dE/dz_L``, every teaching
signal ``delta_l`` from the *pre-update* weights (backprop, FA or DFA), then per layer

=========================== ====================================================================
method                      update of layer ``l`` (``g = delta_l``, ``h = h_{l-1}``, ``eta = lr``)
=========================== ====================================================================
``sgd``                     ``W <- W - eta (g h^T)``
``l2_loss``                 ``W <- W - eta (g h^T + lam W)``
``l2_coded``                ``W <- W - eta (g h^T + lam W / ||W||_F)`` (the code's unsquared norm)
``l2_decoupled``            ``W <- W (1 - eta lam) - eta (g h^T)`` (paper eq. 19)
``dual_weight``             ``a+ = eta max(-g, 0)``, ``a- = eta max(g, 0)``;
                            ``W1_j <- (1 - a+_j) W1_j + a+_j h``, ``W2_j <- (1 - a-_j) W2_j + a-_j h``
``dual_weight_stabilized``  as ``dual_weight`` with ``a+- = eta min(cap, gain max(-+g, 0) / G_j)``,
                            then ``G_j <- (1 - G_lr) G_j + G_lr |g_j|`` where ``g_j != 0``
=========================== ====================================================================

and every method moves the biases by ``b <- b - lr_bias g`` (``lr_bias = lr`` unless given).
These are the equations of :mod:`learning_rules.updates` (``GradientUpdate`` with SGD and
``DualWeightUpdate`` / ``DualWeightStabilizedUpdate``) at batch size 1; the tests prove the two
paths equal within 1e-12 after 1,000 steps.

Explained in: book chapter on the dual-weight method (speed section) and ``benchmarks/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as K
from .forms import COMPILED_CREDIT, credit_form, update_form

__all__ = [
    "FAST_ACTIVATIONS",
    "FAST_CREDIT",
    "FAST_LOSSES",
    "FAST_METHODS",
    "FastResult",
    "fit_steps",
    "supports",
    "train_single_sample",
    "unsupported_reason",
]

#: names accepted by the compiled loop -> kernel codes
FAST_ACTIVATIONS = {"identity": K.ACT_IDENTITY, "relu": K.ACT_RELU, "leaky_relu": K.ACT_LEAKY,
                    "sigmoid": K.ACT_SIGMOID, "tanh": K.ACT_TANH}
FAST_LOSSES = {"squared_error": K.LOSS_SQUARED_ERROR, "mse": K.LOSS_MSE, "cce": K.LOSS_CCE,
               "bce": K.LOSS_BCE}
#: credit name -> kernel code, from the compiled forms (``fast/forms.py``)
FAST_CREDIT = {name: COMPILED_CREDIT[name].kernel for name in sorted(COMPILED_CREDIT)}
FAST_METHODS = {"sgd": K.M_SGD, "l2_coded": K.M_L2_CODED, "l2_decoupled": K.M_L2_DECOUPLED,
                "l2_loss": K.M_L2_LOSS, "dual_weight": K.M_DUAL,
                "dual_weight_stabilized": K.M_DUAL_STAB}
DUAL_METHODS = ("dual_weight", "dual_weight_stabilized")
#: output activations the logit losses accept (softmax/sigmoid = their own link, applied in the loss)
_LOGIT_OUTPUTS = {"cce": ("identity", "softmax"), "bce": ("identity", "sigmoid")}


@dataclass
class FastResult:
    """Parameters after a compiled run, in the project's notation (new arrays).

    Attributes
    ----------
    weights : list of ndarray, shape (n_l, n_{l-1})
        ``W_l`` (for the dual methods ``W1_l - W2_l``).
    biases : list of (ndarray (n_l,) or None)
    losses : ndarray, shape (n_steps,)
        Each step's loss, measured before its update.
    W1, W2 : list of ndarray (n_l, n_{l-1}) or None
        The dual halves (dual methods only).
    G : list of ndarray (n_l,) or None
        The stabilizer's running mean of ``|delta|`` (``dual_weight_stabilized`` only).
    """

    weights: list
    biases: list
    losses: np.ndarray
    W1: list | None = None
    W2: list | None = None
    G: list | None = None
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------------

def _lookup(table: dict, kind: str, name) -> int:
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"unknown {kind} {name!r} for the fast path; valid names: {', '.join(table)}")
    return table[name]


def _parse_activation(spec) -> tuple[str, int, float]:
    """``"relu"`` / ``"leaky_relu:0.1"`` / an ``Activation`` instance -> (base name, code, slope)."""
    if not isinstance(spec, str):
        name = getattr(spec, "name", None)
        if name == "leaky_relu":
            return name, K.ACT_LEAKY, float(spec.slope)
        if name == "softmax":
            return name, K.ACT_IDENTITY, 0.0
        return name, _lookup(FAST_ACTIVATIONS, "activation", name), 0.0
    base, sep, param = spec.partition(":")
    if base == "softmax" and not sep:
        return base, K.ACT_IDENTITY, 0.0  # only valid as a cce output (checked by the caller)
    code = _lookup(FAST_ACTIVATIONS, "activation", base)
    if base == "leaky_relu":
        try:
            slope = float(param) if sep else 0.01
        except ValueError:
            raise ValueError(f"cannot read the slope of activation {spec!r} as a number") from None
        if not math.isfinite(slope):
            raise ValueError(f"leaky_relu slope must be finite, got {spec!r}")
        return base, code, slope
    if sep:
        raise ValueError(f"activation {base!r} takes no parameter (got {spec!r})")
    return base, code, 0.0


def _as_matrix(name: str, A, shape=None) -> np.ndarray:
    """A finite, C-contiguous float64 2-D copy-or-view of ``A`` (``ValueError`` otherwise)."""
    A = np.asarray(A)
    if A.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
    if shape is not None and A.shape != tuple(shape):
        raise ValueError(f"{name} has shape {A.shape}, expected {tuple(shape)}")
    A = np.ascontiguousarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or inf; clean it before training")
    return A


def _finite(name: str, value, positive: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _encode_targets(loss: str, Y, n: int, n_out: int) -> np.ndarray:
    """Targets as a C-contiguous float64 ``(n, n_out)`` array (cce labels -> one-hot rows)."""
    Y = np.asarray(Y)
    if Y.ndim == 0 or Y.shape[0] != n:
        raise ValueError(f"Y has {Y.shape[0] if Y.ndim else 0} rows but X has {n}")
    if loss == "cce" and Y.ndim == 1:
        if Y.dtype.kind == "f":
            if not np.all(np.isfinite(Y)) or np.any(Y != np.round(Y)):
                raise ValueError("cce labels must be integers 0..n_out-1")
        elif Y.dtype.kind not in "iu":
            raise ValueError(f"cce labels must be integers, got dtype {Y.dtype}")
        lab = Y.astype(np.int64)
        if n and (lab.min() < 0 or lab.max() >= n_out):
            raise ValueError(f"cce labels must lie in 0..{n_out - 1}, got [{lab.min()}, {lab.max()}]")
        T = np.zeros((n, n_out))
        T[np.arange(n), lab] = 1.0
        return T
    if Y.ndim == 1:
        if n_out != 1:
            raise ValueError(f"1-D targets need one output unit; the network has {n_out}: pass (n, {n_out})")
        Y = Y.reshape(-1, 1)
    return _as_matrix("Y", Y, (n, n_out))


def _check_indices(indices, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
        raise ValueError(f"indices must be a 1-D integer array, got dtype {indices.dtype} shape {indices.shape}")
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"indices must lie in 0..{n - 1} (rows of X), got [{indices.min()}, {indices.max()}]")
    return indices


# ------------------------------------------------------------------------------------------------
# the public entry point on plain arrays
# ------------------------------------------------------------------------------------------------

def train_single_sample(weights, biases, X, Y, indices, *, method: str, lr: float, loss: str,
                        activations=None, credit: str = "backprop", feedback=None,
                        lam: float = 0.0, W1=None, W2=None, G=None, lr_bias: float | None = None,
                        gain: float = 0.1, rate_cap: float = 1.0, G_lr: float | None = None,
                        clip: bool = False, trainable=None) -> FastResult:
    r"""Run ``len(indices)`` single-sample training steps in one compiled call.

    Parameters
    ----------
    weights : list of ndarray, shape (n_l, n_{l-1})
        ``W_1 .. W_L`` (row ``j`` = neuron ``j``). For the dual methods used only when ``W1`` is
        not given: then ``W1 = weights`` and ``W2 = 0`` (the authors' initialisation).
    biases : list of (ndarray (n_l,) or None), or None
        ``None`` entries (or ``biases=None``) mean "no bias" for that layer.
    X : ndarray, shape (n_samples, n_0)
    Y : ndarray
        Targets: ``(n_samples, n_L)`` (or ``(n_samples,)`` when ``n_L = 1``) for
        ``squared_error``/``mse``/``bce``; integer labels ``(n_samples,)`` or one-hot rows for ``cce``.
    indices : ndarray of int, shape (n_steps,)
        Step ``t`` trains on sample ``indices[t]``.
    method : str
        One of :data:`FAST_METHODS` (see the module docstring).
    lr : float
        ``eta`` > 0.
    loss : str
        One of :data:`FAST_LOSSES`. ``cce``/``bce`` take logits: output ``identity`` (or their
        own link, softmax/sigmoid, which the loss applies).
    activations : list of str, optional
        One per layer; default ReLU hidden layers and an identity output.
    credit : {"backprop", "dfa", "fa"}
    feedback : list, optional
        FA/DFA's fixed matrices, as the reference's ``credit_state["B"]``: DFA ``B[l-1]`` of shape
        ``(n_L, n_l)`` for ``l < L`` (``delta_l = (e B_l) * f'(z_l)``); FA ``B[l-1]`` shaped like
        ``W_l`` for ``l >= 2`` (``delta_{l-1} = (delta_l B_l) * f'``). Unused entries may be ``None``.
    lam : float
        ``lambda`` of the ``l2_*`` methods.
    W1, W2, G : lists of arrays, optional
        Dual-weight state to resume from (``G`` defaults to ones).
    lr_bias, gain, rate_cap, G_lr, clip
        Dual-weight options as in ``DualWeightUpdate`` / ``DualWeightStabilizedUpdate``.
    trainable : list of bool, optional
        Layers to update (default all).

    Returns
    -------
    FastResult
        New arrays and the per-step losses; the inputs are not modified.

    Raises
    ------
    ValueError
        On unknown names, mismatched shapes, non-finite values or out-of-range indices.
    """
    method_code = _lookup(FAST_METHODS, "method", method)
    _lookup(FAST_LOSSES, "loss", loss)
    credit_code = _lookup(FAST_CREDIT, "credit assignment", credit)
    dual = method in DUAL_METHODS

    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise ValueError("weights must be a non-empty list of (n_out, n_in) arrays")
    L = len(weights)
    Ws = [_as_matrix(f"weights[{l}]", W) for l, W in enumerate(weights)]
    sizes = [Ws[0].shape[1]] + [W.shape[0] for W in Ws]
    for l in range(1, L):
        if Ws[l].shape[1] != sizes[l]:
            raise ValueError(
                f"weights[{l}] has shape {Ws[l].shape} but layer {l} has {sizes[l]} units; "
                f"expected ({Ws[l].shape[0]}, {sizes[l]}) (shapes are (n_out, n_in))"
            )
    lay = _Layout(sizes)

    if biases is None:
        biases = [None] * L
    if not isinstance(biases, (list, tuple)) or len(biases) != L:
        raise ValueError(f"biases must be a list of {L} entries (arrays or None)")
    has_bias = np.zeros(L, dtype=np.bool_)
    bbuf = np.zeros(lay.n_units)
    for l, bl in enumerate(biases):
        if bl is None:
            continue
        bl = np.asarray(bl)
        if bl.shape != (sizes[l + 1],) or bl.dtype.kind not in "fiu":
            raise ValueError(f"biases[{l}] must be a real vector of shape ({sizes[l + 1]},), got {bl.shape}")
        if not np.all(np.isfinite(bl)):
            raise ValueError(f"biases[{l}] contains NaN or inf")
        has_bias[l] = True
        bbuf[lay.b_off[l]:lay.b_off[l + 1]] = bl

    if activations is None:
        activations = ["relu"] * (L - 1) + ["identity"]
    if len(activations) != L:
        raise ValueError(f"need one activation per layer ({L}), got {len(activations)}")
    parsed = [_parse_activation(a) for a in activations]
    for l, (name, _, _) in enumerate(parsed):
        if name == "softmax" and not (l == L - 1 and loss == "cce"):
            raise ValueError("the fast path takes softmax only as the output of a 'cce' network")
    if loss in _LOGIT_OUTPUTS and parsed[-1][0] not in _LOGIT_OUTPUTS[loss]:
        raise ValueError(f"loss {loss!r} takes logits: the output activation must be one of "
                         f"{', '.join(_LOGIT_OUTPUTS[loss])} (got {parsed[-1][0]!r})")
    acts = np.asarray([c for _, c, _ in parsed], dtype=np.int64)
    slopes = np.asarray([s for _, _, s in parsed], dtype=np.float64)

    lr = _finite("lr", lr, positive=True)
    lam = _finite("lam", lam)
    lr_bias = lr if lr_bias is None else _finite("lr_bias", lr_bias)
    gain = _finite("gain", gain)
    rate_cap = _finite("rate_cap", rate_cap)
    G_lr = lr if G_lr is None else _finite("G_lr", G_lr)
    if trainable is None:
        trainable = [True] * L
    if len(trainable) != L:
        raise ValueError(f"trainable needs one flag per layer ({L})")
    train_mask = np.asarray([bool(t) for t in trainable], dtype=np.bool_)

    X = _as_matrix("X", X)
    if X.shape[1] != sizes[0]:
        raise ValueError(f"X has {X.shape[1]} features but the network expects {sizes[0]}")
    T = _encode_targets(loss, Y, X.shape[0], sizes[-1])
    indices = _check_indices(indices, X.shape[0])

    Bbuf, B_off = _pack_feedback(credit, feedback, sizes, lay, transposed=not dual)

    if dual:
        if W1 is None and W2 is None:
            W1s, W2s = Ws, [np.zeros_like(W) for W in Ws]
        else:
            if W1 is None or W2 is None or len(W1) != L or len(W2) != L:
                raise ValueError(f"give both W1 and W2 as lists of {L} matrices (or neither)")
            W1s = [_as_matrix(f"W1[{l}]", A, Ws[l].shape) for l, A in enumerate(W1)]
            W2s = [_as_matrix(f"W2[{l}]", A, Ws[l].shape) for l, A in enumerate(W2)]
        Gbuf = np.ones(lay.n_units)
        if G is not None:
            if len(G) != L:
                raise ValueError(f"G must be a list of {L} vectors")
            for l, g in enumerate(G):
                if g is None:
                    continue
                g = np.asarray(g, dtype=np.float64)
                if g.shape != (sizes[l + 1],) or not np.all(np.isfinite(g)) or np.any(g <= 0):
                    raise ValueError(f"G[{l}] must be a finite positive vector of shape ({sizes[l + 1]},)")
                Gbuf[lay.b_off[l]:lay.b_off[l + 1]] = g
        w1 = lay.pack(W1s, transposed=False)
        w2 = lay.pack(W2s, transposed=False, at=_AT_W2)
        losses = _run_dual(lay, w1, w2, bbuf, Gbuf, has_bias, train_mask, acts, slopes, X, T, indices,
                           loss, credit_code, Bbuf, B_off, method == "dual_weight_stabilized", lr,
                           lr_bias, gain, rate_cap, G_lr, bool(clip))
        W1n = lay.unpack(w1, transposed=False)
        W2n = lay.unpack(w2, transposed=False)
        Gn = ([Gbuf[lay.b_off[l]:lay.b_off[l + 1]].copy() for l in range(L)]
              if method == "dual_weight_stabilized" else None)
        out_b = [bbuf[lay.b_off[l]:lay.b_off[l + 1]].copy() if has_bias[l] else None for l in range(L)]
        return FastResult([a - b for a, b in zip(W1n, W2n)], out_b, losses, W1n, W2n, Gn)

    if lr_bias != lr:
        raise ValueError("lr_bias is a dual-weight option; gradient methods move the bias with lr")
    wT = lay.pack(Ws, transposed=True)
    losses = _run_gradient(lay, wT, bbuf, has_bias, train_mask, acts, slopes, X, T, indices, loss,
                           credit_code, Bbuf, B_off, method_code, lr, lam)
    out_b = [bbuf[lay.b_off[l]:lay.b_off[l + 1]].copy() if has_bias[l] else None for l in range(L)]
    return FastResult(lay.unpack(wT, transposed=True), out_b, losses)


# Placement of the kernels' buffers (measured on 3072-64-32-10, dense inputs; NumPy's own
# placement is chance). Every buffer, and every layer's block in it, starts on a 64-byte cache
# line: a vector load across two lines costs two, and all buffers 16 bytes off a line made the
# gradient loop up to 1.6 times slower. Each buffer starts at a chosen offset within a 4 KiB
# page: the dual forward pass reads eight rows of W1 and eight of W2 at once, rows 3072 doubles
# apart fall into one set of the 8-way L1 cache, so W1, W2 and the nonzero lists read alongside
# must sit at different page offsets (at one offset the dual loop was 2.7-3.8 times slower).
_LINE = 8  # doubles per cache line
_AT_W2, _AT_NZI, _AT_NZV = 2048, 1024, 3072  # bytes past a page boundary (W1 and the rest: 0)


def _lines(n: int) -> int:
    """``n`` doubles rounded up to whole cache lines."""
    return -(-n // _LINE) * _LINE


def _buffers(*specs) -> list:
    """Zeroed float64 vectors, one per ``(length, at)``, each starting ``at`` bytes past a 4 KiB
    page boundary: views into one allocation (allocations and address queries cost microseconds,
    which a tiny net's call feels)."""
    raw = np.zeros(sum(n for n, _ in specs) + 512 * len(specs))
    addr = raw.ctypes.data
    out, k = [], 0
    for n, at in specs:
        k += ((at - addr) // 8 - k) % 512
        out.append(raw[k:k + n])
        k += n
    return out


def _zeros(n: int, at: int = 0) -> np.ndarray:
    """A zeroed float64 vector of ``n`` entries starting ``at`` bytes past a page boundary."""
    return _buffers((n, at))[0]


class _Layout:
    """Offsets of the flat buffers: weights (``w_off``: layer ``l`` at ``w_off[l]``, its
    ``n_l n_{l-1}`` entries; ``w_off[L]`` the length), biases (``b_off``, packed) and per-unit
    scratch (``u_off``: layer ``l``'s units at ``u_off[l]``, ``u_off[L+1]`` the length). The
    ``w_off`` and ``u_off`` starts are padded to whole cache lines."""

    def __init__(self, sizes) -> None:
        sizes = [int(n) for n in sizes]
        L = len(sizes) - 1
        w_off, b_off, u_off = [0], [0], [0]
        for l in range(L):
            w_off.append(_lines(w_off[l] + sizes[l] * sizes[l + 1]))
            b_off.append(b_off[l] + sizes[l + 1])
        for n in sizes:
            u_off.append(_lines(u_off[-1] + n))
        self.L = L
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.w_off = np.asarray(w_off, dtype=np.int64)
        self.b_off = np.asarray(b_off, dtype=np.int64)
        self.u_off = np.asarray(u_off, dtype=np.int64)
        self.n_units = b_off[-1]
        #: layer ``l``'s weights in a packed buffer
        self.blocks = [slice(w_off[l], w_off[l] + sizes[l] * sizes[l + 1]) for l in range(L)]

    def pack(self, mats, transposed: bool, at: int = 0) -> np.ndarray:
        buf = _zeros(int(self.w_off[-1]), at=at)
        for l, M in enumerate(mats):
            if M is not None:
                buf[self.blocks[l]] = (M.T if transposed else M).ravel()
        return buf

    def unpack(self, buf, transposed: bool) -> list:
        s = self.sizes
        out = []
        for l in range(self.L):
            flat = buf[self.blocks[l]]
            if transposed:
                out.append(np.ascontiguousarray(flat.reshape(s[l], s[l + 1]).T))
            else:
                out.append(flat.reshape(s[l + 1], s[l]).copy())
        return out


def _pack_feedback(credit, feedback, sizes, lay: _Layout, transposed: bool):
    """FA: ``B_l`` (shaped like ``W_l``) in the kernel's weight layout; DFA: ``B_l`` (n_L, n_l) row-major."""
    L = len(sizes) - 1
    if credit == "backprop":
        return np.zeros(1), np.zeros(1, dtype=np.int64)
    if feedback is None or len(feedback) not in (L - 1, L):
        raise ValueError(f"credit {credit!r} needs feedback: the list credit_state['B'] of {L} entries")
    fb = list(feedback)
    if credit == "dfa":
        fb = fb[:L - 1]
        Bs = [_as_matrix(f"feedback[{l}]", B, (sizes[-1], sizes[l + 1])) for l, B in enumerate(fb)]
        B_off = np.zeros(max(L - 1, 1), dtype=np.int64)
        for l in range(1, L - 1):
            B_off[l] = B_off[l - 1] + sizes[-1] * sizes[l]
        return (np.concatenate([B.ravel() for B in Bs]) if Bs else np.zeros(1)), B_off
    if len(fb) == L - 1:
        fb = [None] + fb
    Bs = [None] + [_as_matrix(f"feedback[{l}]", fb[l], (sizes[l + 1], sizes[l])) for l in range(1, L)]
    return lay.pack(Bs, transposed=transposed), np.zeros(1, dtype=np.int64)


def _run_gradient(lay, wT, b, has_bias, trainable, acts, slopes, X, T, indices, loss, credit, B,
                  B_off, method_code, lr, lam):
    """Allocate the scratch once and call the compiled gradient loop (buffers change in place);
    ``h`` and the nonzero lists hold two steps (the kernel overlaps step ``t``'s update with step
    ``t + 1``'s forward pass)."""
    tot = int(lay.u_off[-1])
    h, z, d, nzi, nzv, colacc = _buffers((2 * tot, 0), (tot, 0), (tot, 0), (2 * tot, _AT_NZI),
                                         (2 * tot, _AT_NZV), (int(lay.sizes.max()), 0))
    losses = np.empty(indices.shape[0])
    K.train_gradient_kernel(wT, b, lay.sizes, lay.w_off, lay.b_off, lay.u_off, has_bias, trainable,
                            acts, slopes, X, T, indices, FAST_LOSSES[loss], credit, B, B_off,
                            method_code, lr, lam, h, z, d, nzi.view(np.uint64), nzv,
                            np.zeros(lay.L, dtype=np.uint64), colacc, np.zeros(lay.L), losses)
    return losses


def _run_dual(lay, w1, w2, b, G, has_bias, trainable, acts, slopes, X, T, indices, loss, credit, B,
              B_off, stabilized, lr, lr_bias, gain, cap, G_lr, clip):
    """Allocate the scratch once and call the compiled dual-weight loop (buffers change in place)."""
    tot = int(lay.u_off[-1])
    mx = int(lay.sizes.max())
    h, z, d, nzi, nzv = _buffers((tot, 0), (tot, 0), (tot, 0), (mx, _AT_NZI), (mx, _AT_NZV))
    losses = np.empty(indices.shape[0])
    K.train_dual_kernel(w1, w2, b, G, lay.sizes, lay.w_off, lay.b_off, lay.u_off, has_bias, trainable,
                        acts, slopes, X, T, indices, FAST_LOSSES[loss], credit, B, B_off, stabilized,
                        lr, lr_bias, gain, cap, G_lr, clip, h, z, d, nzi.view(np.uint64), nzv, losses)
    return losses


# ------------------------------------------------------------------------------------------------
# the project's Network
# ------------------------------------------------------------------------------------------------

def _network_config(net) -> dict:
    """Translate a ``learning_rules.engine.Network`` into keyword arguments of the kernels.

    Raises ``ValueError`` (with the reason) when the network uses something the fast path lacks.
    """
    mlp = net.mlp
    if mlp.dtype != np.float64:
        raise ValueError(f"the fast path computes in float64; the network is {mlp.dtype}")
    if mlp.gated:
        raise ValueError("a layer gated by the input (learning_rules.nn.gates) has no fast path")
    # the compiled forms (fast/forms.py): the instances must be exactly the registered classes (a
    # subclass or a look-alike object may compute other signals or updates than the kernels)
    try:
        credit_form(net.credit)
    except ValueError:
        raise ValueError(f"credit assignment {net.credit!r} has no fast path; "
                         f"valid: {', '.join(FAST_CREDIT)}") from None
    credit_name = net.credit.name
    loss = net.loss.name
    if loss not in FAST_LOSSES:
        raise ValueError(f"loss {loss!r} has no fast path; valid: {', '.join(FAST_LOSSES)}")
    rule = net.rule
    cfg = dict(loss=loss, credit=credit_name, activations=list(mlp.activations),
               trainable=list(net.trainable), lr=rule.lr,
               feedback=net.credit_state.get("B") if credit_name != "backprop" else None)
    try:
        form = update_form(rule)
    except ValueError:
        raise ValueError(f"weight update {rule!r} has no fast path") from None
    if form.single == "gradient":
        opt = rule.optimizer
        if opt.name != "sgd":
            raise ValueError(f"optimizer {opt.name!r} has no fast path (only plain 'sgd')")
        if rule.l1 != 0.0:
            raise ValueError("L1 has no fast path")
        if rule.l2 == 0.0:
            cfg["method"] = "sgd"
        else:
            cfg["method"] = {"loss": "l2_loss", "decoupled": "l2_decoupled", "coded": "l2_coded"}[rule.l2_form]
            cfg["lam"] = rule.l2 / rule._n if rule.l2_form == "loss" else rule.l2
    else:  # the dual family
        stab = form.stabilized
        cfg.update(method="dual_weight_stabilized" if stab else "dual_weight", lr_bias=rule.lr_bias,
                   clip=rule.clip)
        if stab:
            cfg.update(gain=rule.gain, rate_cap=rule.rate_cap, G_lr=rule.G_lr)
    if cfg["lr"] <= 0:
        raise ValueError("the fast path needs lr > 0")
    for a in cfg["activations"][:-1]:
        base = a.partition(":")[0]
        if base not in FAST_ACTIVATIONS:
            raise ValueError(f"hidden activation {a!r} has no fast path; valid: {', '.join(FAST_ACTIVATIONS)}")
    out = cfg["activations"][-1].partition(":")[0]
    if loss in _LOGIT_OUTPUTS:
        if out not in _LOGIT_OUTPUTS[loss]:
            raise ValueError(f"{loss!r} with output {out!r} has no fast path")
    elif out not in FAST_ACTIVATIONS:
        raise ValueError(f"output activation {out!r} has no fast path for loss {loss!r}")
    return cfg


def unsupported_reason(config) -> str | None:
    """Why ``config`` cannot take the fast path, or ``None`` when it can.

    ``config`` is a ``learning_rules.engine.Network`` or a dict with keys ``method``, ``loss``,
    ``activations`` and optionally ``credit``, ``dtype`` and ``batch_size`` (must be 1).
    """
    if isinstance(config, dict):
        try:
            _lookup(FAST_METHODS, "method", config.get("method"))
            loss = config.get("loss")
            _lookup(FAST_LOSSES, "loss", loss)
            _lookup(FAST_CREDIT, "credit assignment", config.get("credit", "backprop"))
            acts = config.get("activations")
            if acts is not None:
                parsed = [_parse_activation(a) for a in acts]
                if loss in _LOGIT_OUTPUTS and parsed[-1][0] not in _LOGIT_OUTPUTS[loss]:
                    raise ValueError(f"{loss!r} with output {parsed[-1][0]!r} has no fast path")
                if any(p[0] == "softmax" for p in parsed[:-1]):
                    raise ValueError("softmax hidden layers have no fast path")
            if np.dtype(config.get("dtype", np.float64)) != np.float64:
                raise ValueError("the fast path computes in float64")
            if config.get("batch_size", 1) != 1:
                raise ValueError("the fast path is the single-sample (batch 1) protocol")
        except ValueError as exc:
            return str(exc)
        return None
    try:
        _network_config(config)
    except ValueError as exc:
        return str(exc)
    except AttributeError:
        return f"{type(config).__name__} is neither a Network nor a config dict"
    return None


def supports(config) -> bool:
    """``True`` when :func:`fit_steps` can run ``config`` (a Network or a config dict) compiled."""
    return unsupported_reason(config) is None


def fit_steps(network_or_params, X, Y, indices, **kwargs):
    """Single-sample steps through the compiled loop.

    Parameters
    ----------
    network_or_params : Network, or (weights, biases)
        A ``learning_rules.engine.Network``: trained **in place** exactly as
        ``Network.fit_steps(X, Y, indices)`` would (weights, biases, dual halves, ``G`` and the
        step counters), and the per-step losses are returned. A pair ``(weights, biases)``: passed
        to :func:`train_single_sample` with ``kwargs`` (``method``, ``lr``, ``loss``, ...), and its
        :class:`FastResult` is returned.
    X, Y, indices
        As ``Network.fit_steps``.

    Raises
    ------
    ValueError
        If the network uses a piece the fast path lacks (see :func:`unsupported_reason`), or on
        bad inputs.
    """
    if isinstance(network_or_params, (tuple, list)):
        weights, biases = network_or_params
        return train_single_sample(weights, biases, X, Y, indices, **kwargs)
    net = network_or_params
    if kwargs:
        raise ValueError(f"a Network carries its own configuration; unexpected arguments {sorted(kwargs)}")
    cfg = _network_config(net)
    Xv, Yv = net._check_xy(X, Y)  # the reference's own validation and target encoding
    mlp = net.mlp
    L = mlp.n_layers
    dual = cfg["method"] in DUAL_METHODS
    if dual:
        st = net.layer_states
        cfg["W1"] = [s["W1"] if s is not None else W for s, W in zip(st, mlp.weights)]
        cfg["W2"] = [s["W2"] if s is not None else np.zeros_like(W) for s, W in zip(st, mlp.weights)]
        if cfg["method"] == "dual_weight_stabilized":
            cfg["G"] = [s["G"] if s is not None else None for s in st]
    res = train_single_sample(mlp.weights, mlp.biases, Xv, Yv, indices, **cfg)
    for l in range(L):
        if not net.trainable[l]:
            continue
        mlp.weights[l][...] = res.weights[l]
        if mlp.biases[l] is not None:
            mlp.biases[l][...] = res.biases[l]
        state = net.layer_states[l]
        if dual:
            state["W1"][...] = res.W1[l]
            state["W2"][...] = res.W2[l]
            if res.G is not None:
                state["G"][...] = res.G[l]
        else:
            for key in ("W", "b"):
                if state.get(key) is not None:
                    state[key]["t"] = int(state[key]["t"]) + len(res.losses)
    net.steps_done += len(res.losses)
    return res.losses
