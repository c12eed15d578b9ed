r"""Mini-batch SGD step with preallocated buffers, float32 or float64.

The same equations as the reference engine with ``update="gradient"``, ``optimizer="sgd"`` and
backprop, FA or DFA credit (``learning_rules.engine.Network._step``):

.. math::
    z_l = h_{l-1} W_l^\top + b_l,\quad h_l = f_l(z_l),\quad
    \delta_L = e,\quad \delta_l = (\delta_{l+1} W_{l+1}) \odot f_l'(z_l)\ \ (\text{FA: } (\delta_{l+1} B_{l+1}) \odot f_l'(z_l);
    \ \text{DFA: } (e B_l) \odot f_l'(z_l)),

.. math::
    W_l \leftarrow W_l - \frac{\eta}{B}\,\delta_l^\top h_{l-1}, \qquad
    b_l \leftarrow b_l - \frac{\eta}{B} \sum_i \delta_{l,i}

with every teaching signal computed before any update. What differs is only the plumbing: all
activations, signals and weight gradients live in buffers allocated once (``out=`` matmuls), so
no weight-sized temporary is created per step. The single scaling by ``-lr/B`` rounds differently
from the reference's ``lr * (grad * (1/B))``, so the two agree to rounding (tests: 1e-12 in
float64).

Used for the parity net of the DFA thesis (2352-512-1, no biases, ReLU, sigmoid + BCE, batch 128)
and the ablation net (784-128x4-10, leaky ReLU 0.1, softmax + CCE, batch 100); measured in
``benchmarks/bench_minibatch.py``.
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import get_activation
from ..nn.losses import get_loss
from .sparse_input import background_row, input_row

__all__ = ["FAST_MINIBATCH_OPTIMIZERS", "MinibatchDualWeight", "MinibatchOptimizer", "MinibatchSGD",
           "fused_step", "sparse_fused_step"]

_FUSED = {("bce", "sigmoid"), ("bce", "identity"), ("cce", "softmax"), ("cce", "identity"),
          ("mse", "identity")}


class MinibatchSGD:
    r"""Plain-SGD mini-batch trainer on preallocated buffers (weights updated in place).

    Parameters
    ----------
    weights : list of ndarray (n_l, n_{l-1}), all float32 or all float64, C-contiguous
        Trained **in place**.
    biases : list of (ndarray (n_l,) or None)
    activations : list of str
        Hidden: any element-wise activation; output with ``loss``: sigmoid/identity + ``bce``,
        softmax/identity + ``cce``, identity + ``mse``.
    loss : str
    lr : float
    batch_size : int
        The buffers' batch size; a smaller last batch uses views of them.
    feedback : list or None
        The reference's ``credit_state["B"]``: for DFA the matrices ``B[l-1]`` of shape
        ``(n_L, n_l)``, :math:`\delta_l = (e B_l) \odot f_l'(z_l)`; for FA (``credit="fa"``) the
        matrices ``B[l-1]`` shaped like ``W_l`` (``B[0]`` unused), :math:`\delta_l =
        (\delta_{l+1} B_{l+1}) \odot f_l'(z_l)`; ``None`` = backprop.
    credit : ``"dfa"`` (default) or ``"fa"``: how ``feedback`` is used (ignored without it).
    input_background : float or None
        The value most input entries take (MNIST-parity: a zero pixel after normalization). When
        given, the first layer's two products run on the sparse remainder ``X - x0``
        (:mod:`learning_rules.fast.sparse_input`: the same equations, other rounding), and
        ``weights[0]`` must be in Fortran order (``np.asfortranarray``), its transpose being the
        kernels' row layout. The first layer's row sums are cached between steps, so its weights
        must change only through :meth:`step`. ``None``: dense BLAS products.
    """

    def __init__(self, weights, biases, activations, loss: str, lr: float, batch_size: int,
                 feedback=None, input_background: float | None = None, credit: str = "dfa") -> None:
        if credit not in ("dfa", "fa"):
            raise ValueError(f"credit must be 'dfa' or 'fa' (feedback=None is backprop), got {credit!r}")
        self.credit = credit if feedback is not None else "backprop"
        self.weights = list(weights)
        self.biases = list(biases) if biases is not None else [None] * len(self.weights)
        dtype = self.weights[0].dtype
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"MinibatchSGD works in float32 or float64, got {dtype}")
        sparse = input_background is not None
        for l, W in enumerate(self.weights):
            if W.dtype != dtype:
                raise ValueError(f"weights[{l}] must be {dtype}, got {W.dtype}")
            if l == 0 and sparse:
                if not W.T.flags.c_contiguous:
                    raise ValueError("with input_background, weights[0] must be in Fortran order "
                                     "(pass np.asfortranarray(W1) and keep that array in the network)")
            elif not W.flags.c_contiguous:
                raise ValueError(f"weights[{l}] must be C-contiguous {dtype}")
        self.dtype = dtype
        self.acts = [get_activation(a) for a in activations]
        if len(self.acts) != len(self.weights) or any(not a.elementwise for a in self.acts[:-1]):
            raise ValueError("need one activation per layer, element-wise in the hidden layers")
        self.loss = get_loss(loss)
        if (self.loss.name, self.acts[-1].name) not in _FUSED:
            raise ValueError(f"output {self.acts[-1].name!r} with loss {loss!r} has no fused fast step; "
                             f"valid pairs: {sorted(_FUSED)}")
        self.lr = float(lr)
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {lr}")
        self.feedback = feedback
        if feedback is not None:
            L = len(self.weights)
            want = [(self.weights[-1].shape[0], W.shape[0]) for W in self.weights[:-1]]  # DFA
            if credit == "fa":
                want = [W.shape for W in self.weights[1:]]  # B_{l+1} shaped like W_{l+1}
            have = [getattr(feedback[l + (credit == "fa")], "shape", None) for l in range(L - 1)]
            if len(feedback) < L - 1 + (credit == "fa") or have != want:
                raise ValueError(f"{credit.upper()} feedback matrices must have shapes {want}, got {have}")
        B = int(batch_size)
        sizes = [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]
        self.sizes = sizes
        self.batch_size = B
        self._z = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._h = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._d = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._gw = [None] + [np.empty_like(W) for W in self.weights]
        # hidden ReLU layers take the compiled element-wise passes (_bias_relu, _relu_backward)
        self._relu = [False] + [a.name == "relu" for a in self.acts]
        # the softmax's row maxima and sums (cce), kept for the loss value (:meth:`loss_value`)
        self._zmax = np.empty((B, 1), dtype)
        self._zsum = np.empty((B, 1), dtype)
        self._lse = np.empty((B, 1), dtype)
        self._terms = np.empty((B, sizes[-1]), dtype)
        self._per_sample = np.empty(B, dtype)
        self._sparse = None
        if sparse:
            from .sparse_input import column_sums

            x0 = dtype.type(input_background)
            if not np.isfinite(x0):
                raise ValueError(f"input_background must be a finite number, got {input_background!r}")
            WT = self.weights[0].T  # (n_in, n_hidden), C-contiguous: one row per input entry
            s = np.empty(WT.shape[1], dtype)
            column_sums(WT, s)
            n_in, most = WT.shape[0], B * WT.shape[0]
            # x0, W1^T, its row sums s = W1 1, a row buffer, the batch's CSR and CSC forms
            self._sparse = {"x0": x0, "WT": WT, "s": s, "buf": np.empty(WT.shape[1], dtype),
                            "csr": (np.empty(B + 1, np.int64), np.empty(most, np.int32),
                                    np.empty(most, dtype)),
                            "csc": (np.empty(n_in + 1, np.int64), np.empty(most, np.int32),
                                    np.empty(most, dtype))}
            self._gw[1] = np.empty_like(WT)  # the gradient in W1^T's layout

    def step(self, X: np.ndarray | None, Y: np.ndarray, rows=None) -> None:
        """One SGD step on a batch ``X`` (batch, n_0) with encoded targets ``Y`` (batch, n_L).

        ``X`` and ``Y`` must already be validated and of the trainer's dtype (the engine's
        ``Network._check_xy`` gives that form). With ``input_background``, the batch may come as
        ``rows`` instead: the CSR form ``(ptr, ind, val)`` of ``X - x0``
        (:meth:`learning_rules.fast.sparse_input.ImagePool.rows`), and ``X`` may be ``None``.
        """
        Bn, h, d = self._signals(X, Y, rows)
        L = len(self.weights)
        scale = -self.lr / Bn
        for l in range(1, L + 1):
            if l == 1 and self._sparse is not None:
                from .sparse_input import rows_to_columns, sparse_sgd_update

                sp = self._sparse
                csr = self._batch_csr
                rows_to_columns(*csr, *sp["csc"])
                sparse_sgd_update(*sp["csc"], d[1], sp["x0"], self.dtype.type(scale),
                                  sp["WT"], sp["buf"], sp["s"])
                b = self.biases[0]
                if b is not None:
                    b += scale * d[1].sum(axis=0)
                continue
            W = self.weights[l - 1]
            gw = self._gw[l]
            np.matmul(d[l].T, h[l - 1], out=gw)  # delta^T h into a preallocated buffer
            gw *= scale
            W += gw
            b = self.biases[l - 1]
            if b is not None:
                b += scale * d[l].sum(axis=0)

    def _signals(self, X: np.ndarray | None, Y: np.ndarray, rows=None):
        """Forward pass and teaching signals of a batch into the buffers (no update).

        Returns ``(Bn, h, d)``: the batch size, the layer inputs ``h[l-1]`` and the signals
        ``d[l]`` (views of the buffers), every signal computed before any weight changes.
        ``rows``: the batch's CSR form of ``X - x0`` (sparse first layer only), used instead of
        compressing ``X``.
        """
        if rows is not None and self._sparse is None:
            raise ValueError("rows (a CSR batch) needs a trainer built with input_background")
        if X is None and rows is None:
            raise ValueError("step needs the batch X, or its CSR rows on the sparse path")
        Bn = X.shape[0] if rows is None else Y.shape[0]
        L = len(self.weights)
        if Bn == self.batch_size:  # the whole buffers (no views to make)
            z, h, d = self._z, [X] + self._h[1:], self._d
        else:
            z = [None] + [a[:Bn] for a in self._z[1:]]
            h = [X] + [a[:Bn] for a in self._h[1:]]
            d = [None] + [a[:Bn] for a in self._d[1:]]
        for l in range(1, L + 1):
            W, b = self.weights[l - 1], self.biases[l - 1]
            if l == 1 and self._sparse is not None:
                from .sparse_input import compress_rows, sparse_forward

                sp = self._sparse
                if rows is not None:
                    csr = _checked_rows(rows, Bn, self.batch_size, self.sizes[0], self.dtype)
                else:
                    if X.ndim != 2 or X.shape[1] != self.sizes[0] or not 1 <= Bn <= self.batch_size:
                        # the compiled kernels index without bounds checks: refuse here
                        raise ValueError(f"X must have shape (batch <= {self.batch_size}, "
                                         f"{self.sizes[0]}), got {X.shape}")
                    ptr, ind, val = sp["csr"]
                    ptr = ptr[:Bn + 1]
                    compress_rows(np.ascontiguousarray(X), sp["x0"], ptr, ind, val)
                    csr = (ptr, ind, val)
                self._batch_csr = csr
                sparse_forward(*csr, sp["WT"], sp["s"], sp["x0"], z[1])
            else:
                np.matmul(h[l - 1], W.T, out=z[l])
            if l < L and self._relu[l] and b is not None:
                _bias_relu(z[l], b, h[l])  # z += b, then h = max(z, 0), in one compiled pass
                continue
            if b is not None:
                z[l] += b
            if l < L:
                self.acts[l - 1].forward_into(z[l], h[l])
        # output error, fused forms as in nn.losses
        e = d[L]
        if self.loss.name == "bce":
            e[...] = _sigmoid(z[L])
            e -= Y
        elif self.loss.name == "cce":
            # z.max(axis=1, keepdims=True) and e.sum(axis=1, keepdims=True), the same reductions,
            # into buffers that keep them for loss_value
            zmax, zsum = self._zmax[:Bn], self._zsum[:Bn]
            np.maximum.reduce(z[L], axis=1, keepdims=True, out=zmax)
            np.subtract(z[L], zmax, out=e)
            np.exp(e, out=e)
            np.add.reduce(e, axis=1, keepdims=True, out=zsum)
            e /= zsum
            e -= Y
        else:
            np.subtract(z[L], Y, out=e)
        for l in range(L - 1, 0, -1):
            if self.feedback is None:  # backprop: delta_{l+1} W_{l+1}
                _product(d[l + 1], self.weights[l], d[l])
            elif self.credit == "fa":  # FA: delta_{l+1} B_{l+1}
                _product(d[l + 1], self.feedback[l], d[l])
            else:  # DFA: e B_l
                _product(e, self.feedback[l - 1], d[l])
            self._times_derivative(l, z[l], d[l])
        return Bn, h, d

    def _times_derivative(self, l: int, z: np.ndarray, d: np.ndarray) -> None:
        """``d *= f_l'(z)``; for ReLU in one compiled pass (:func:`_relu_backward`)."""
        if self._relu[l]:
            _relu_backward(z, d)
        else:
            d *= self.acts[l - 1].derivative(z)

    def loss_value(self, Y: np.ndarray) -> float:
        r"""The batch-mean loss of the last step's batch before its update: ``Y`` its encoded targets.

        Bit for bit :meth:`Loss.value <learning_rules.nn.losses.Loss.value>` on the pre-update
        logits ``_z[-1]``. For ``cce`` it reuses the step's own softmax reductions: the row maxima
        :math:`m` and the sums :math:`s = \sum_k e^{z_k - m}` that ``logsumexp(z)`` would compute
        again from the same ``z`` with the same operations (the same ufuncs and reductions on
        arrays of the same layout), then takes the rest of ``_value_logits`` as it is:
        :math:`\operatorname{mean}_i \sum_k y_{ik}\,((m_i + \log s_i) - z_{ik})`. Other losses
        call the loss itself.
        """
        Bn = Y.shape[0]
        z = self._z[-1][:Bn]
        if self.loss.name != "cce":
            return self.loss.value(z, Y, self.acts[-1])
        if Y.shape != z.shape or Y.dtype != z.dtype:  # what Loss.encode would raise or cast
            return self.loss.value(z, Y, self.acts[-1])
        # np.sum(Y * (logsumexp(z) - z), axis=1), each operation into a buffer of its result's layout
        lse = np.log(self._zsum[:Bn], out=self._lse[:Bn])
        np.add(self._zmax[:Bn], lse, out=lse)  # logsumexp: m + log(sum)
        t = np.subtract(lse, z, out=self._terms[:Bn])
        np.multiply(Y, t, out=t)
        per_sample = np.add.reduce(t, axis=1, out=self._per_sample[:Bn])
        # np.mean's own steps: the sum over the samples, divided in its dtype by their count
        return float(np.add.reduce(per_sample) / Bn)


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (into ``out`` when given); with one inner dimension (a single output unit: the
    parity net) the outer product by broadcasting, the same numbers about 5x faster than BLAS
    with ``K = 1`` (``benchmarks/bench_sparse_input.py``)."""
    if a.shape[1] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


def _checked_rows(rows, Bn: int, batch_size: int, n_in: int, dtype):
    """``rows`` = ``(ptr, ind, val)`` checked against the trainer before the compiled kernels
    (which index without bounds checks) read it."""
    try:
        ptr, ind, val = rows
    except (TypeError, ValueError):
        raise ValueError("rows must be a CSR triple (ptr, ind, val)") from None
    if not 1 <= Bn <= batch_size or ptr.shape != (Bn + 1,):
        raise ValueError(f"rows must describe 1..{batch_size} samples matching Y's {Bn} rows, "
                         f"got ptr of shape {ptr.shape}")
    nnz = int(ptr[-1])
    if ptr[0] != 0 or nnz > ind.shape[0] or nnz > val.shape[0] or np.any(np.diff(ptr) < 0):
        raise ValueError("rows: ptr must rise from 0 to at most the number of entries")
    if val.dtype != dtype or ind.dtype != np.int32 or ptr.dtype != np.int64:
        raise ValueError(f"rows must be (int64, int32, {dtype}) arrays, got "
                         f"({ptr.dtype}, {ind.dtype}, {val.dtype})")
    bound = getattr(rows, "n_columns", None)  # ImagePool.rows: in range by construction
    if bound is not None and bound > n_in:
        raise ValueError(f"rows: the pool's inputs have {bound} columns, the first layer {n_in}")
    if bound is None and nnz and (int(ind[:nnz].min()) < 0 or int(ind[:nnz].max()) >= n_in):
        raise ValueError(f"rows: column indices must lie in 0..{n_in - 1}")
    return ptr, ind, val


def _sigmoid(z: np.ndarray) -> np.ndarray:
    ez = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))


# --------------------------------------------------------------------------------------------------
# the thesis' adaptive optimizers on the same buffers (fused, in place, float32 or float64)
# --------------------------------------------------------------------------------------------------

#: Optimizers :class:`MinibatchOptimizer` fuses (the five of the DFA thesis, Fig. 3.4).
FAST_MINIBATCH_OPTIMIZERS = ("sgd", "adagrad", "adadelta", "rmsprop", "adam")


def _njit(fn):
    import numba

    # error_model="numpy": division follows IEEE (as NumPy) instead of raising, which lets LLVM
    # vectorize the loops (about 4x faster on the 2352 x 512 parity weights)
    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)


@_njit
def _bias_relu(z, b, h):  # pragma: no cover - compiled
    """``z += b`` (row-wise), then ``h = max(z, 0)`` as ``np.maximum(z, 0)`` takes it (``z`` itself
    where ``z >= 0`` or NaN, else 0): the same element-wise operations as the two NumPy calls,
    one pass. ``z``, ``h``: (batch, n) C-contiguous; ``b``: (n,)."""
    zero = z.dtype.type(0)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + b[j]
            z[i, j] = v
            h[i, j] = v if (v >= zero or v != v) else zero


@_njit
def _relu_backward(z, d):  # pragma: no cover - compiled
    """``d *= 1[z > 0]``: each signal times exactly 1 or 0 (as ``d * (z > 0)`` in NumPy, so
    ``-x * 0 = -0`` and ``nan * 0 = nan`` too), one pass."""
    one, zero = d.dtype.type(1), d.dtype.type(0)
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            d[i, j] = d[i, j] * (one if z[i, j] > zero else zero)


@_njit
def _sgd_kernel(W, g, lr):  # pragma: no cover - compiled
    for i in range(W.size):
        W[i] -= lr * g[i]


@_njit
def _adagrad_kernel(W, g, G, lr, eps, inside):  # pragma: no cover - compiled
    for i in range(W.size):
        gi = g[i]
        Gi = G[i] + gi * gi
        G[i] = Gi
        den = np.sqrt(Gi + eps) if inside else np.sqrt(Gi) + eps
        W[i] -= lr * gi / den


@_njit
def _rmsprop_kernel(W, g, E, lr, beta, one_minus_beta, eps, correction, inside):  # pragma: no cover
    for i in range(W.size):
        gi = g[i]
        Ei = beta * E[i] + one_minus_beta * (gi * gi)
        E[i] = Ei
        Eh = Ei * correction
        den = np.sqrt(Eh + eps) if inside else np.sqrt(Eh) + eps
        W[i] -= lr * gi / den


@_njit
def _adadelta_kernel(W, g, Eg, Edx, lr, rho, one_minus_rho, eps, lr_inside):  # pragma: no cover
    for i in range(W.size):
        gi = g[i]
        Egi = rho * Eg[i] + one_minus_rho * (gi * gi)
        Eg[i] = Egi
        if lr_inside:  # the thesis: lr is part of the accumulated delta
            dx = lr * (np.sqrt(Edx[i] + eps) / np.sqrt(Egi + eps)) * gi
            Edx[i] = rho * Edx[i] + one_minus_rho * (dx * dx)
            W[i] -= dx
        else:  # Zeiler / PyTorch: the unscaled delta is accumulated
            dx = np.sqrt(Edx[i] + eps) / np.sqrt(Egi + eps) * gi
            Edx[i] = rho * Edx[i] + one_minus_rho * (dx * dx)
            W[i] -= lr * dx


@_njit
def _adam_kernel(W, g, m, v, lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2,
                 eps):  # pragma: no cover - compiled
    for i in range(W.size):
        gi = g[i]
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        W[i] -= lr * (mi * c1) / (np.sqrt(vi * c2) + eps)


class MinibatchOptimizer(MinibatchSGD):
    r""":class:`MinibatchSGD`'s forward and backward pass with an adaptive optimizer, applied
    element-wise in fused compiled loops (no temporaries): one plan and one compiled call per step
    for all dense parameters (:meth:`step`).

    The gradient is the reference's (:func:`learning_rules.updates.gradient.weight_gradient`),
    :math:`g_l = \frac1B \delta_l^\top h_{l-1}`, and each optimizer follows the pure function of
    :mod:`learning_rules.updates.optimizers` of the same name (Adagrad, Adadelta in the Zeiler or
    the thesis form, RMSProp, Adam with step or epoch counting) with every scalar cast to the
    weights' dtype, so a float32 run stays in float32 and agrees with the reference engine to
    float32 rounding (tests: ``tests/test_dfa_fast_optimizers.py``).

    Parameters
    ----------
    weights, biases, activations, loss, lr, batch_size, feedback, input_background, credit
        As :class:`MinibatchSGD`.
    optimizer : one of :data:`FAST_MINIBATCH_OPTIMIZERS`
    optimizer_params : dict, optional
        Hyper-parameters, validated by the engine's optimizer class (unknown names raise).
    states : list, optional
        The engine's layer states (``Network.layer_states``) to step in place instead of fresh
        ones (dense inputs only), so that a network fitted by this trainer and by the reference
        engine in turn keeps one optimizer state.
    """

    def __init__(self, weights, biases, activations, loss: str, lr: float, batch_size: int,
                 feedback=None, optimizer: str = "sgd", optimizer_params=None,
                 input_background: float | None = None, credit: str = "dfa", states=None) -> None:
        super().__init__(weights, biases, activations, loss, lr, batch_size, feedback,
                         input_background, credit)
        from ..updates import OPTIMIZERS

        if optimizer not in FAST_MINIBATCH_OPTIMIZERS:
            raise ValueError(f"optimizer {optimizer!r} has no fused mini-batch kernel; valid: "
                             f"{', '.join(FAST_MINIBATCH_OPTIMIZERS)} (use the reference engine)")
        self.optimizer = OPTIMIZERS.lookup(optimizer)(lr, **dict(optimizer_params or {}))
        self.name = optimizer
        params = [p for p in self.weights + self.biases if p is not None]
        for p in params:
            if not self._kernel_view(p).flags.c_contiguous:
                raise ValueError("every parameter must be C-contiguous (updated through a flat view)")
        if states is None:
            # on the sparse path W1's state is laid out as W1^T (every update is element-wise)
            self._state = {id(p): self.optimizer.init_state(self._kernel_view(p)) for p in params}
        else:
            self._state = self._shared_state(states)
        self.t = 0
        self.epoch = 0
        # the bias gradients' buffers, and the flat views of one kernel call per step (_packed)
        self._gb = [None] + [None if b is None else np.empty(b.shape, self.dtype) for b in self.biases]
        self._pack = None

    def _shared_state(self, states) -> dict:
        """The engine's layer states (``{"W": state, "b": state}`` per layer, from
        :meth:`GradientUpdate.init_layer`) as this trainer's, so the network and the trainer step
        the same accumulators (dense inputs only)."""
        if self._sparse is not None:
            raise ValueError("shared optimizer states need dense inputs (input_background=None)")
        states = list(states)
        if len(states) != len(self.weights) or any(st is None for st in states):
            raise ValueError(f"need one layer state per layer ({len(self.weights)}), every layer trained")
        shared = {}
        for W, b, st in zip(self.weights, self.biases, states):
            for p, key in ((W, "W"), (b, "b")):
                if p is None:
                    continue
                s = st.get(key)
                if s is None or any(s[k].shape != p.shape or s[k].dtype != p.dtype
                                    or not s[k].flags.c_contiguous for k in _STATE_KEYS[self.name]):
                    raise ValueError(f"the layer state {key!r} does not fit its parameter {p.shape} "
                                     f"{p.dtype} (made by another optimizer?)")
                shared[id(p)] = s
        return shared

    def _kernel_view(self, p: np.ndarray) -> np.ndarray:
        """The array the fused kernels update for parameter ``p`` (``W1^T`` on the sparse path)."""
        return p.T if self._sparse is not None and p is self.weights[0] else p

    def set_epoch(self, epoch: int) -> None:
        """The 0-based epoch (used only by Adam's ``step_count="epoch"``, the thesis' form)."""
        self.optimizer.set_epoch(epoch)
        self.epoch = int(epoch)

    def step(self, X: np.ndarray | None, Y: np.ndarray, rows=None) -> None:
        """One optimizer step on a batch (same contract as :meth:`MinibatchSGD.step`).

        Every parameter's step is planned once (:func:`_plan` on the first parameter's state: its
        scalars depend only on the optimizer, the step count and the dtype, and every parameter
        has taken the same steps); the gradients go into buffers (the bias sums too) and the dense
        parameters are updated in one compiled call (:func:`_fused_steps`, which scales each
        gradient by :math:`1/B` and applies the optimizer's kernel, as ``gw *= inv`` and
        :func:`fused_step` per parameter did). Should the parameters' step counts differ (states
        stepped elsewhere), each is planned on its own (:meth:`_step_each`, the former loop).
        Either way the same operations on the same numbers: the parameters, accumulators and step
        counts are bit for bit those of the per-parameter loop (``tests/test_minibatch_plan.py``).
        """
        Bn, h, d = self._signals(X, Y, rows)
        inv = self.dtype.type(1.0 / Bn)
        pack = self._packed()
        if pack is None:
            self._step_each(Bn, h, d, inv)
            return
        states, Ps, Gs, As, Bs = pack
        t, code, sc, flag, _ = _plan(self.optimizer, states[0], self.dtype)
        sparse = self._sparse is not None
        for l in range(1 + sparse, len(self.weights) + 1):  # the unscaled gradients
            np.matmul(d[l].T, h[l - 1], out=self._gw[l])
        for l in range(1, len(self.weights) + 1):
            gb = self._gb[l]
            if gb is not None:
                np.add.reduce(d[l], axis=0, out=gb)  # d[l].sum(axis=0)
        if sparse:
            from .sparse_input import rows_to_columns

            sp = self._sparse
            rows_to_columns(*self._batch_csr, *sp["csc"])
            acc = [states[0][k] for k in _STATE_KEYS[self.name]] or [sp["WT"]]
            _sparse_update_kernel(*sp["csc"], d[1], sp["x0"], inv, sp["WT"], sp["s"], sp["buf"],
                                  code, acc[0], acc[-1], sc, flag)
        if Ps:
            _fused_steps(code, Ps, Gs, As, Bs, inv, sc, flag)
        for st in states:
            st["t"] = t
        self.t += 1

    def _packed(self):
        """``(states, Ps, Gs, As, Bs)`` for one plan and one kernel call per step, or ``None`` when
        the parameters' step counts differ.

        ``states``: every parameter's optimizer state (the sparse first layer's first);
        ``Ps, Gs, As, Bs``: tuples of flat views of the dense parameters, their gradient buffers and
        their two accumulators (the parameter itself standing in for an accumulator the optimizer
        lacks, as in :func:`fused_step`). Built once and rebuilt should a state's accumulator
        arrays be replaced. Also ``None`` for a bias of another dtype than the weights (one
        compiled call takes one dtype; :func:`fused_step` plans such a bias in its own).
        """
        pack = self._pack
        if pack is None or not all(st[k] is a for st, k, a in pack[1]):
            pack = self._pack = self._build_pack()
        if pack[0] is None:
            return None
        states = pack[0][0]
        t = states[0]["t"]
        for st in states:
            if st["t"] != t:
                return None
        return pack[0]

    def _build_pack(self):
        keys = _STATE_KEYS[self.name]
        states, Ps, Gs, As, Bs, held = [], [], [], [], [], []
        sparse = self._sparse is not None
        for l in range(1, len(self.weights) + 1):
            W, b = self.weights[l - 1], self.biases[l - 1]
            for p, g in ((W, self._gw[l]), (b, self._gb[l])):
                if p is None:
                    continue
                st = self._state[id(p)]
                states.append(st)
                held.extend((st, k, st[k]) for k in keys)
                if p.dtype != self.dtype:
                    return None, held
                if l == 1 and p is W and sparse:
                    continue  # the sparse first layer: its own kernel
                P = p.reshape(-1)
                flat = [st[k].reshape(-1) for k in keys] or [P]
                Ps.append(P)
                Gs.append(g.reshape(-1))
                As.append(flat[0])
                Bs.append(flat[-1])
        return (states, tuple(Ps), tuple(Gs), tuple(As), tuple(Bs)), held

    def _step_each(self, Bn, h, d, inv) -> None:
        """The step with each parameter planned on its own (:func:`fused_step`)."""
        for l in range(1, len(self.weights) + 1):
            gw = self._gw[l]
            W = self.weights[l - 1]
            if l == 1 and self._sparse is not None:
                from .sparse_input import rows_to_columns

                sp = self._sparse
                rows_to_columns(*self._batch_csr, *sp["csc"])
                sparse_fused_step(self.optimizer, sp["csc"], d[1], sp["x0"], inv, sp["WT"],
                                  sp["s"], sp["buf"], self._state[id(W)])
            else:
                np.matmul(d[l].T, h[l - 1], out=gw)
                gw *= inv
                fused_step(self.optimizer, W, gw, self._state[id(W)])
            b = self.biases[l - 1]
            if b is not None:
                fused_step(self.optimizer, b, d[l].sum(axis=0) * inv, self._state[id(b)])
        self.t += 1


#: Codes of the optimizers inside the compiled dispatcher :func:`_apply_update`.
_CODES = {"sgd": 0, "adagrad": 1, "rmsprop": 2, "adadelta": 3, "adam": 4}
_ADAM = _CODES["adam"]  # a module-level int: a compile-time constant in the kernels
#: Accumulators of each optimizer's state, in the kernels' argument order.
_STATE_KEYS = {"sgd": (), "adagrad": ("G",), "rmsprop": ("E",), "adadelta": ("Eg", "Edx"),
               "adam": ("m", "v")}


@_njit
def _apply_update(code, P, G, A, Bs, sc, flag):  # pragma: no cover - compiled
    """The element-wise kernel of optimizer ``code`` on one flat block (a whole parameter, or one
    row of ``W1^T``): ``A``/``Bs`` its accumulators (``Bs`` unused by one-state optimizers),
    ``sc`` its scalars in the parameter's dtype, ``flag`` its one switch."""
    if code == 0:
        _sgd_kernel(P, G, sc[0])
    elif code == 1:
        _adagrad_kernel(P, G, A, sc[0], sc[1], flag)
    elif code == 2:
        _rmsprop_kernel(P, G, A, sc[0], sc[1], sc[2], sc[3], sc[4], flag)
    elif code == 3:
        _adadelta_kernel(P, G, A, Bs, sc[0], sc[1], sc[2], sc[3], flag)
    else:
        _adam_kernel(P, G, A, Bs, sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7])


@_njit
def _adam_scaled_kernel(W, g, m, v, inv, lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2,
                        eps):  # pragma: no cover - compiled
    """:func:`_adam_kernel` on the gradient ``g * inv``: each element scaled as it is read (the
    same product ``g[i] * inv`` that ``gw *= inv`` stored), one pass over the arrays less; ``g``
    is left unscaled."""
    for i in range(W.size):
        gi = g[i] * inv
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        W[i] -= lr * (mi * c1) / (np.sqrt(vi * c2) + eps)


@_njit
def _fused_steps(code, Ps, Gs, As, Bs, inv, sc, flag):  # pragma: no cover - compiled
    """The step of optimizer ``code`` on each parameter ``Ps[k]`` with the gradient ``Gs[k] * inv``
    (``inv`` = :math:`1/B` in the parameter's dtype), one parameter after the other in one call:
    what ``gw *= inv`` followed by :func:`fused_step` did. Adam scales each element as it reads
    it (:func:`_adam_scaled_kernel`, ``Gs[k]`` left unscaled); the other optimizers scale
    ``Gs[k]`` in place, then run :func:`_apply_update`."""
    for k in range(len(Ps)):
        G = Gs[k]
        if code == _ADAM:
            _adam_scaled_kernel(Ps[k], G, As[k], Bs[k], inv, sc[0], sc[1], sc[2], sc[3], sc[4],
                                sc[5], sc[6], sc[7])
            continue
        for i in range(G.size):
            G[i] = G[i] * inv
        _apply_update(code, Ps[k], G, As[k], Bs[k], sc, flag)


def _plan(optimizer, state: dict, dtype):
    """Step ``t`` and the kernel arguments of ``optimizer``'s next step on a parameter whose
    state is ``state``: ``(t, code, scalars, flag, accumulators)``, every scalar computed as a
    Python float and rounded once to ``dtype`` by the array that holds them (so a float32 run
    stays float32), the bias corrections computed for that ``t``."""
    name = optimizer.name
    t = int(state["t"]) + 1
    lr = float(optimizer.lr)
    flag = False
    if name == "sgd":
        sc = (lr,)
    elif name == "adagrad":
        sc, flag = (lr, optimizer.eps), optimizer.eps_inside
    elif name == "rmsprop":
        beta = optimizer.beta
        corr = 1.0 / (1.0 - beta ** t) if optimizer.bias_correction else 1.0
        sc, flag = (lr, beta, 1.0 - beta, optimizer.eps, corr), optimizer.eps_inside
    elif name == "adadelta":
        rho = optimizer.rho
        sc, flag = (lr, rho, 1.0 - rho, optimizer.eps), optimizer.variant == "thesis"
    else:  # adam
        tau = t if optimizer.step_count == "step" else optimizer.epoch + 1
        b1, b2 = optimizer.beta1, optimizer.beta2
        sc = (lr, b1, 1.0 - b1, b2, 1.0 - b2, 1.0 / (1.0 - b1 ** tau), 1.0 / (1.0 - b2 ** tau),
              optimizer.eps)
    acc = [state[k] for k in _STATE_KEYS[name]]
    return t, _CODES[name], np.array(sc, dtype=dtype), bool(flag), acc


def fused_step(optimizer, param: np.ndarray, grad: np.ndarray, state: dict) -> None:
    r"""In-place ``optimizer.step(param, grad, state)`` through one compiled loop.

    Same contract and state layout as :meth:`learning_rules.updates.optimizers.Optimizer.step`
    (``state["t"]`` is the step count, the accumulators are arrays shaped like ``param``); every
    scalar is cast to ``param``'s dtype, so the result equals the reference to rounding.
    Optimizers outside :data:`FAST_MINIBATCH_OPTIMIZERS`, or a parameter that is not a
    C-contiguous float32/float64 array, fall back to ``optimizer.step``.

    Parameters
    ----------
    optimizer : an :data:`learning_rules.updates.OPTIMIZERS` instance
    param : ndarray, updated in place;  grad : ndarray, same shape;  state : dict
    """
    if (optimizer.name not in FAST_MINIBATCH_OPTIMIZERS or param.dtype not in (np.float32, np.float64)
            or not param.flags.c_contiguous):
        optimizer.step(param, grad, state)
        return
    t, code, sc, flag, acc = _plan(optimizer, state, param.dtype)
    P = param.reshape(-1)
    G = np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)
    flat = [a.reshape(-1) for a in acc] or [P]
    _apply_update(code, P, G, flat[0], flat[-1], sc, flag)
    state["t"] = t


@_njit
def _sparse_update_kernel(cptr, rows, cval, D, x0, inv_batch, WT, s, buf, code, A, Bs, sc,
                          flag):  # pragma: no cover - compiled
    r"""Row by row of :math:`W_1^\top`: the gradient row of
    :func:`~learning_rules.fast.sparse_input.sparse_gradient`, the optimizer's update of that row
    (:func:`_apply_update`), and the new row sums :math:`s = W_1 \mathbf 1`
    (as :func:`~learning_rules.fast.sparse_input.column_sums`), in one pass over the weights."""
    n_in, n_out = WT.shape
    col = background_row(D, x0, WT.dtype)
    acc = np.zeros(n_out, np.float64)
    for j in range(n_in):
        input_row(cptr, rows, cval, D, col, j, buf)
        for q in range(n_out):
            buf[q] *= inv_batch
        w = WT[j]
        _apply_update(code, w, buf, A[j], Bs[j], sc, flag)
        for q in range(n_out):
            acc[q] += w[q]
    for q in range(n_out):
        s[q] = acc[q]


def sparse_fused_step(optimizer, csc, D: np.ndarray, x0, inv_batch, WT: np.ndarray, s: np.ndarray,
                      buf: np.ndarray, state: dict) -> None:
    r"""One optimizer step of the sparse first layer without the dense gradient:
    :math:`g_1^\top = \tfrac1B\big(V^\top \delta_1 + x_0 \mathbf 1 (\delta_1^\top \mathbf 1)\big)`
    made one row at a time and applied at once (the same numbers, bit for bit, as
    :func:`~learning_rules.fast.sparse_input.sparse_gradient` followed by :func:`fused_step` and
    :func:`~learning_rules.fast.sparse_input.column_sums`, without writing and re-reading a
    weight-sized gradient).

    Parameters
    ----------
    optimizer : one of :data:`FAST_MINIBATCH_OPTIMIZERS`
    csc : ``(cptr, rows, cval)``, the batch's CSC form of :math:`V`
    D : (batch, n_hidden) C-contiguous signals :math:`\delta_1`
    x0, inv_batch : the background value and :math:`1/B`, in ``WT``'s dtype
    WT : (n_in, n_hidden) C-contiguous, :math:`W_1^\top`, updated in place
    s : (n_hidden,) the row sums of :math:`W_1`, rewritten;  buf : (n_hidden,) scratch
    state : the optimizer state of ``WT`` (accumulators shaped like it)
    """
    if optimizer.name not in FAST_MINIBATCH_OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer.name!r} has no fused kernel; valid: "
                         f"{', '.join(FAST_MINIBATCH_OPTIMIZERS)}")
    t, code, sc, flag, acc = _plan(optimizer, state, WT.dtype)
    acc = acc or [WT]
    _sparse_update_kernel(*csc, D, x0, inv_batch, WT, s, buf, code, acc[0], acc[-1], sc, flag)
    state["t"] = t


# --------------------------------------------------------------------------------------------------
# the dual-weight rule on the same buffers
# --------------------------------------------------------------------------------------------------


class MinibatchDualWeight(MinibatchSGD):
    r""":class:`MinibatchSGD`'s forward pass and teaching signals (backprop, FA or DFA) with the
    dual-weight update (:mod:`learning_rules.updates.dual_weight`, plain or stabilized) instead
    of a gradient step.

    Each trained layer keeps the engine's halves ``state["W1"]``, ``state["W2"]`` and
    :math:`W = W_1 - W_2`; per batch every half moves towards the inputs that drove it,

    .. math:: H_j \leftarrow \Bigl(1 - \tfrac1B \textstyle\sum_i a_{ij}\Bigr) H_j
              + \tfrac1B \textstyle\sum_i a_{ij}\, h_{i}, \qquad
              a^{(1)}_{ij} = \eta \max(-\delta_{ij}, 0),\ \ a^{(2)}_{ij} = \eta \max(\delta_{ij}, 0)

    (or the stabilizer's rates). The rates, the stabilizer's running mean and the bias step are
    the rule's own functions; with ``input_background`` the first layer's two averages are taken
    on the sparse remainder of the input
    (:func:`~learning_rules.fast.sparse_input.sparse_average_update`, the same sums to rounding),
    and the other layers go through the rule's :meth:`apply` itself.

    Parameters
    ----------
    weights, biases, activations, loss, batch_size, feedback, input_background, credit
        As :class:`MinibatchSGD` (with ``input_background`` the first layer's halves are switched
        to Fortran order in place in ``states[0]``).
    rule : a :class:`~learning_rules.updates.dual_weight.DualWeightUpdate` (or its stabilized form)
    states : list, one per layer: the rule's layer state (``None`` = frozen layer)
    """

    def __init__(self, weights, biases, activations, loss: str, rule, states, batch_size: int,
                 feedback=None, input_background: float | None = None, credit: str = "dfa") -> None:
        from ..updates.dual_weight import DualWeightUpdate

        if not isinstance(rule, DualWeightUpdate):
            raise ValueError(f"MinibatchDualWeight needs a dual-weight rule, got {type(rule).__name__}")
        super().__init__(weights, biases, activations, loss, rule.lr, batch_size, feedback,
                         input_background, credit)
        states = list(states)
        if len(states) != len(self.weights):
            raise ValueError(f"need one layer state per layer ({len(self.weights)}), got {len(states)}")
        for l, st in enumerate(states):
            if st is not None and (st["W1"].shape != self.weights[l].shape or st["W2"].shape != self.weights[l].shape):
                raise ValueError(f"layer {l + 1}: the halves W1, W2 must have W's shape {self.weights[l].shape}")
        if self._sparse is not None and states[0] is not None:
            for key in ("W1", "W2"):  # rows of W1^T / W2^T are the kernels' rows
                states[0][key] = np.asfortranarray(states[0][key])
        self.rule = rule
        self.states = states

    def step(self, X: np.ndarray | None, Y: np.ndarray, rows=None) -> None:
        """One dual-weight step on a batch (same contract as :meth:`MinibatchSGD.step`)."""
        from ..updates.gradient import bias_gradient
        from .sparse_input import difference_and_sums, rows_to_columns, sparse_average_update

        Bn, h, d = self._signals(X, Y, rows)
        rule = self.rule
        for l in range(1, len(self.weights) + 1):
            st = self.states[l - 1]
            if st is None:
                continue
            W, b = self.weights[l - 1], self.biases[l - 1]
            if l > 1 or self._sparse is None:
                rule.apply(st, W, b, d[l], h[l - 1])
                continue
            sp = self._sparse
            rows_to_columns(*self._batch_csr, *sp["csc"])
            delta = d[1]
            a1, a2 = rule.rates(st, delta)
            if rule.clip:
                a1, a2 = np.minimum(a1, 1.0), np.minimum(a2, 1.0)
            inv_b = 1.0 / Bn
            for half, a in ((st["W1"], a1), (st["W2"], a2)):
                a = np.ascontiguousarray(a, dtype=self.dtype)
                keep = (1.0 - a.sum(axis=0) * inv_b).astype(self.dtype)
                sparse_average_update(*sp["csc"], a, sp["x0"], self.dtype.type(inv_b), keep, half.T,
                                      sp["buf"])
            difference_and_sums(st["W1"].T, st["W2"].T, sp["WT"], sp["s"])
            rule._after_weights(st, delta)
            if b is not None:
                b -= rule.lr_bias * bias_gradient(delta)
