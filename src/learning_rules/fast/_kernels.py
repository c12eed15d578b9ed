"""Numba kernels of the single-sample (batch 1) training loop.

Pure arithmetic on flat float64 buffers; validation, packing and unpacking live in
:mod:`learning_rules.fast.single`. One call runs a whole sequence of steps, so Python is entered
once per sequence instead of once per step.

The step loop allocates nothing and creates no array views: the caller allocates every scratch
buffer once per call, the loop addresses the flat buffers by **unsigned** offsets (numba then
emits no negative-index wraparound test, so the inner loops stay vectorisable; a view per row or
layer costs two reference-count updates and was most of a small net's step), and the input row
is read in place from ``X``. Each layer's nonzero inputs are listed once per step (branch-free),
and the forward pass and the SGD update both walk that list. The caller places the buffers:
every buffer and every layer's block in it on a 64-byte cache line, each buffer at a chosen
offset within a 4 KiB page (why, with measurements: :mod:`learning_rules.fast.single`).

Two memory layouts, each chosen for what its update touches (profiled on 784-64-32-10 MNIST):

* **Gradient methods** (sgd, L2 variants) store each weight matrix **transposed**, ``W_l^T`` of
  shape ``(n_{l-1}, n_l)``. Then the forward pass and the SGD step are ``axpy`` loops over a
  contiguous row ``W^T[i, :]``, which LLVM vectorises without ``fastmath`` (no reduction), and
  the rows of a zero input ``h_{l-1,i}`` (MNIST background, silent ReLU units) are skipped:

  .. math:: z_l = \\sum_{i: h_i \\ne 0} h_i\\, W_l^T[i,:] + b_l, \\qquad
            W_l^T[i,:] \\mathrel{-}= \\eta\\,(\\delta_l h_i) \\quad (h_i \\ne 0)

  The gradient loop is **pipelined**: layer ``l``'s forward pass of step ``t + 1`` runs right
  after its update of step ``t`` (it needs just that ``W_l``, ``b_l`` and ``h_{l-1}`` of step
  ``t + 1``, which layer ``l - 1`` has computed the moment before). When a layer's input has no
  zero entry (dense images, tanh/sigmoid units; SGD needs that at both steps, the ``l2_*``
  updates sweep every row anyway), one sweep over ``W_l^T`` updates each row and adds it to
  ``z_l`` while the row is in L1, instead of a second sweep through a matrix that may not fit in
  L2 (3072-64-32-10: a fifth to a third less time per step).
  Otherwise the update walks step ``t``'s list and the forward pass step ``t + 1``'s (one merged
  walk over two irregular lists mispredicts and was slower on MNIST). So ``h`` and the lists
  hold two steps (step ``t``'s at parity ``t % 2``). Only independent work moves; every product
  and sum is the unpipelined loop's, in the same order.

* **Dual-weight methods** store ``W1_l`` and ``W2_l`` **row-major**, ``(n_l, n_{l-1})`` as in the
  project notation. The update moves whole rows, only those of neurons with ``delta_j != 0``,
  and only one half per neuron (``a1_j a2_j = 0``), which is 4-6 times less memory traffic than
  sweeping both transposed halves. The forward pass then runs over the nonzero inputs only,
  eight rows at a time (eight independent sums), with ``W = W1 - W2`` formed on the fly.

Skipping a zero term is exact (``x + 0*w = x`` for finite ``w``). Every sum runs in ascending
index order in both layouts, so the two kernels and repeated calls agree bit for bit; they
differ from the BLAS summation order of the NumPy reference only by rounding (tests bound the
gap by 1e-12 after 1,000 steps).

Codes (kept in step with the name tables in :mod:`learning_rules.fast.single`)
------------------------------------------------------------------------------
activations: 0 identity, 1 relu, 2 leaky_relu (slope per layer), 3 sigmoid, 4 tanh
losses:      0 squared_error ``||y_hat - y||^2``, 1 mse ``1/2 ||y_hat - y||^2``,
             2 cce (softmax cross-entropy on the logits, one-hot targets),
             3 bce (sigmoid cross-entropy on the logits)
credit:      0 backprop, 1 dfa (``B_l`` of shape ``(n_L, n_l)``), 2 fa (``B_l`` shaped like ``W_l``,
             stored in the kernel's weight layout)
methods:     0 sgd, 1 l2_coded (``lam W/||W||_F``), 2 l2_decoupled (``W(1 - lr lam)``),
             3 l2_loss (``lam W``), 4 dual_weight, 5 dual_weight_stabilized
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ACT_IDENTITY, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH = 0, 1, 2, 3, 4
LOSS_SQUARED_ERROR, LOSS_MSE, LOSS_CCE, LOSS_BCE = 0, 1, 2, 3
CREDIT_BACKPROP, CREDIT_DFA, CREDIT_FA = 0, 1, 2
M_SGD, M_L2_CODED, M_L2_DECOUPLED, M_L2_LOSS, M_DUAL, M_DUAL_STAB = 0, 1, 2, 3, 4, 5
#: unsigned constants for offset arithmetic (numba types uint64 + int64 as float64)
U0, U1, U8 = np.uint64(0), np.uint64(1), np.uint64(8)


# ------------------------------------------------------------------------------------------------
# scalar building blocks (same formulas as learning_rules.nn.activations / nn.losses)
# ------------------------------------------------------------------------------------------------

@njit(cache=True)
def _sigmoid(z):
    ez = math.exp(-abs(z))
    return 1.0 / (1.0 + ez) if z >= 0.0 else ez / (1.0 + ez)


@njit(cache=True)
def _act(code, slope, z):
    """``f(z)`` for one scalar."""
    if code == ACT_RELU:
        return z if z > 0.0 else 0.0
    if code == ACT_LEAKY:
        return z if z > 0.0 else z * slope
    if code == ACT_SIGMOID:
        return _sigmoid(z)
    if code == ACT_TANH:
        return math.tanh(z)
    return z


@njit(cache=True)
def _dact(code, slope, z):
    """``f'(z)`` for one scalar (ReLU'(0) = 0, leaky'(0) = slope, as in the reference)."""
    if code == ACT_RELU:
        return 1.0 if z > 0.0 else 0.0
    if code == ACT_LEAKY:
        return 1.0 if z > 0.0 else slope
    if code == ACT_SIGMOID:
        s = _sigmoid(z)
        return s * (1.0 - s)
    if code == ACT_TANH:
        t = math.tanh(z)
        return 1.0 - t * t
    return 1.0


@njit(cache=True)
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@njit(cache=True)
def _loss_and_error(loss, out_act, out_slope, z, h, ho, T, s, e, o, n):
    """Write ``e = dE/dz_L`` of sample ``s`` to ``e[o:o+n]`` and return its loss ``E`` (measured
    before the step); ``z_L = z[o:o+n]``, ``y_hat = h[ho:ho+n]``, targets ``T[s]``."""
    if loss == LOSS_CCE:
        m = z[o]
        for k in range(U1, n):
            if z[o + k] > m:
                m = z[o + k]
        sm = 0.0
        for k in range(n):
            e[o + k] = math.exp(z[o + k] - m)
            sm += e[o + k]
        lse = m + math.log(sm)
        val = 0.0
        for k in range(n):
            t = T[s, k]
            e[o + k] = e[o + k] / sm - t
            if t != 0.0:
                val += t * (lse - z[o + k])
        return val
    if loss == LOSS_BCE:
        val = 0.0
        for k in range(n):
            zk = z[o + k]
            t = T[s, k]
            e[o + k] = _sigmoid(zk) - t
            val += _softplus(zk) - t * zk
        return val
    val = 0.0
    for k in range(n):
        r = h[ho + k] - T[s, k]
        val += r * r
        if loss == LOSS_SQUARED_ERROR:
            e[o + k] = (2.0 * r) * _dact(out_act, out_slope, z[o + k])
        else:
            e[o + k] = r * _dact(out_act, out_slope, z[o + k])
    return val if loss == LOSS_SQUARED_ERROR else 0.5 * val


@njit(cache=True)
def _activate(code, slope, z, zo, h, ho, n):
    """``h[ho:ho+n] = f(z[zo:zo+n])``."""
    for j in range(n):
        h[ho + j] = _act(code, slope, z[zo + j])


@njit(cache=True)
def _dfa_signal(B, boff, nL, n_l, d, eo, o):
    """``d[o:o+n_l] = e B_l`` with ``e = d[eo:eo+nL]`` and ``B_l`` (n_L, n_l) row-major from
    ``B[boff:]``: rows of B added in ascending order."""
    for i in range(n_l):
        d[o + i] = 0.0
    for k in range(nL):
        ek = d[eo + k]
        if ek != 0.0:
            r = boff + k * n_l
            for i in range(n_l):
                d[o + i] += ek * B[r + i]


@njit(cache=True)
def _times_derivative(code, slope, z, d, o, n):
    """``d[o:o+n] *= f'(z[o:o+n])`` (0 where ``f' = 0``)."""
    for i in range(n):
        fp = _dact(code, slope, z[o + i])
        d[o + i] = d[o + i] * fp if fp != 0.0 else 0.0


@njit(cache=True)
def _sumsq(w):
    """Sum of squares with 8 interleaved partial sums (a fixed order, so reproducible)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    n = w.shape[0]
    n8 = n - n % 8
    for i in range(0, n8, 8):
        a0 += w[i] * w[i]
        a1 += w[i + 1] * w[i + 1]
        a2 += w[i + 2] * w[i + 2]
        a3 += w[i + 3] * w[i + 3]
        a4 += w[i + 4] * w[i + 4]
        a5 += w[i + 5] * w[i + 5]
        a6 += w[i + 6] * w[i + 6]
        a7 += w[i + 7] * w[i + 7]
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for i in range(n8, n):
        s += w[i] * w[i]
    return s


@njit(cache=True)
def _nonzeros(v, vo, n, nzi, nzv, o):
    """List the nonzero entries of ``v[vo:vo+n]``, ascending: indices (relative to ``vo``) to
    ``nzi[o:]``, values to ``nzv[o:]``; return their count. Branch-free (every entry is written,
    the count advances on a nonzero only), so an irregular zero pattern such as MNIST's costs no
    branch mispredictions; ``nzi``/``nzv`` need ``n`` free slots from ``o``."""
    m = U0
    for i in range(n):
        x = v[vo + i]
        nzi[o + m] = i
        nzv[o + m] = x
        m += np.uint64(x != 0.0)
    return m


# ------------------------------------------------------------------------------------------------
# gradient methods: transposed layout
# ------------------------------------------------------------------------------------------------

@njit(cache=True)
def _prologue(sizes, w_off, b_off, u_off, B_off, X):
    """The kernels' shared set-up: the layer count ``L``; sizes and offsets as uint64 (weights,
    biases, units, feedback); the output's size and unit offset; the input size; ``X`` flattened
    (a view; row ``s`` starts at ``s * n0``)."""
    L = sizes.shape[0] - 1
    sz = sizes.astype(np.uint64)
    uo = u_off.astype(np.uint64)
    return (L, sz, w_off.astype(np.uint64), b_off.astype(np.uint64), uo, B_off.astype(np.uint64),
            sz[L], uo[L], sz[0], X.reshape(X.shape[0] * X.shape[1]))


@njit(cache=True)
def _forward_rows(wT, base, n_out, nzi, nzv, o, m, z, zo):
    """``z[zo:zo+n_out] = sum_k nzv[o+k] W^T[nzi[o+k], :]`` over the ``m`` listed inputs, ascending."""
    for j in range(n_out):
        z[zo + j] = 0.0
    for k in range(m):
        v = nzv[o + k]
        r = base + nzi[o + k] * n_out
        for j in range(n_out):
            z[zo + j] += v * wT[r + j]


@njit(cache=True)
def _sgd_rows(wT, base, n_out, lr, d, go, nzi, nzv, o, m):
    """``W^T[i, :] -= lr (delta h_i)`` for the ``m`` listed inputs (rows of zero inputs do not move)."""
    for k in range(m):
        hi = nzv[o + k]
        r = base + nzi[o + k] * n_out
        for j in range(n_out):
            wT[r + j] = wT[r + j] - lr * (d[go + j] * hi)


@njit(cache=True)
def _sgd_rows_forward(wT, base, n_in, n_out, lr, d, go, nzv, o, o_next, z, zo):
    """Both inputs dense: row ``i`` gets the SGD step with ``h_i = nzv[o+i]``, then adds
    ``nzv[o_next+i]`` times its new value to ``z`` (the next step's forward pass), in one sweep."""
    for j in range(n_out):
        z[zo + j] = 0.0
    for i in range(n_in):
        hi = nzv[o + i]
        v = nzv[o_next + i]
        r = base + i * n_out
        for j in range(n_out):
            w = wT[r + j] - lr * (d[go + j] * hi)
            wT[r + j] = w
            z[zo + j] += v * w


@njit(cache=True)
def _l2_rows(method, wT, base, n_in, n_out, lr, lam, coef, d, go, src, so, colacc,
             fused, nzv, o_next, z, zo):
    """The ``l2_*`` step of every row (``h_i = src[so+i]``, zero or not); ``l2_coded`` sums the new
    squares per column into ``colacc``. ``fused`` (the next input is dense): each new weight is
    also added, times ``nzv[o_next+i]``, to ``z`` (the next step's forward pass) in the same loop
    (a second loop over the row was up to 15% slower on 8-20-1)."""
    if fused:
        for j in range(n_out):
            z[zo + j] = 0.0
    if method == M_L2_CODED:
        for j in range(n_out):
            colacc[j] = 0.0
    keep = 1.0 - lr * lam
    v = 0.0
    for i in range(n_in):
        hi = src[so + i]
        r = base + i * n_out
        if fused:
            v = nzv[o_next + i]
        if method == M_L2_DECOUPLED:
            if fused:
                for j in range(n_out):
                    w = wT[r + j] * keep - lr * (d[go + j] * hi)
                    wT[r + j] = w
                    z[zo + j] += v * w
            else:
                for j in range(n_out):
                    wT[r + j] = wT[r + j] * keep - lr * (d[go + j] * hi)
        elif method == M_L2_LOSS:
            if fused:
                for j in range(n_out):
                    w = wT[r + j] - lr * (d[go + j] * hi + lam * wT[r + j])
                    wT[r + j] = w
                    z[zo + j] += v * w
            else:
                for j in range(n_out):
                    wT[r + j] = wT[r + j] - lr * (d[go + j] * hi + lam * wT[r + j])
        else:  # M_L2_CODED: gradient of lam ||W||_F at the pre-update W
            if fused:
                for j in range(n_out):
                    w = wT[r + j] - lr * (d[go + j] * hi + coef * wT[r + j])
                    wT[r + j] = w
                    colacc[j] += w * w
                    z[zo + j] += v * w
            else:
                for j in range(n_out):
                    w = wT[r + j] - lr * (d[go + j] * hi + coef * wT[r + j])
                    wT[r + j] = w
                    colacc[j] += w * w


@njit(cache=True)
def train_gradient_kernel(wT, b, sizes, w_off, b_off, u_off, has_bias, trainable, acts, slopes,
                          X, T, indices, loss, credit, B, B_off, method, lr, lam,
                          h, z, d, nzi, nzv, nnz, colacc, sumsq, losses):
    """Run ``len(indices)`` single-sample gradient steps in place on ``wT`` (transposed) and ``b``.

    Step ``t``: forward on ``X[indices[t]]``, ``e = dE/dz_L`` (its loss goes to ``losses[t]``),
    every teaching signal from the pre-update weights, then per trainable layer
    ``W <- W - lr (delta h^T + R(W))`` (``R`` per ``method``; ``l2_decoupled`` multiplies by
    ``1 - lr lam`` first) and ``b <- b - lr delta``. The forward pass of step ``t + 1`` runs layer
    by layer right after layer ``l``'s update of step ``t`` (see the module docstring). Scratch,
    allocated once by the caller: ``z, d`` indexed by the unit offsets ``u_off``; ``h`` and the
    nonzero lists ``nzi`` (uint64), ``nzv`` hold two steps, step ``t``'s at
    ``(t % 2) * u_off[-1] + u_off``; ``nnz`` (uint64, one count per layer); ``colacc`` of length
    ``max(sizes)``; ``sumsq`` holds ``||W_l||_F^2``.
    """
    L, sz, wo, bo, uo, Bo, nL, oL, n0, Xf = _prologue(sizes, w_off, b_off, u_off, B_off, X)
    M = B if credit == CREDIT_FA else wT  # backward matrix; FA's B_{l+1} is stored like W_{l+1}
    if method == M_L2_CODED:
        for l in range(L):
            sumsq[l] = _sumsq(wT[w_off[l]:w_off[l] + sizes[l] * sizes[l + 1]])
    n = indices.shape[0]
    half = uo[L + 1]  # offset of the odd steps' half of h, nzi, nzv
    xo = U0
    for step in range(-1, n):  # step -1 only runs the forward pass of step 0
        cur = half if step % 2 == 1 else U0
        nxt = half - cur
        if step >= 0:
            # ---- output error and teaching signals (pre-update weights) ----
            s = np.uint64(indices[step])
            losses[step] = _loss_and_error(loss, acts[L - 1], slopes[L - 1], z, h, cur + oL, T, s,
                                           d, oL, nL)
            for l in range(L - 1, 0, -1):
                n_l = sz[l]
                n_up = sz[l + 1]
                o = uo[l]
                ou = uo[l + 1]
                code = acts[l - 1]
                slope = slopes[l - 1]
                if credit == CREDIT_DFA:
                    _dfa_signal(B, Bo[l - 1], nL, n_l, d, oL, o)
                    _times_derivative(code, slope, z, d, o, n_l)
                    continue
                base = wo[l]
                for i in range(n_l):
                    fp = _dact(code, slope, z[o + i])
                    if fp == 0.0:
                        d[o + i] = 0.0
                        continue
                    r = base + i * n_up
                    acc = 0.0
                    for j in range(n_up):
                        acc += M[r + j] * d[ou + j]
                    d[o + i] = acc * fp
        more = step + 1 < n
        xo_next = np.uint64(indices[step + 1]) * n0 if more else U0
        # ---- per layer: the update of step `step`, then the forward pass of step `step + 1` ----
        for l in range(L):
            n_in = sz[l]
            n_out = sz[l + 1]
            ho = uo[l]
            go = uo[l + 1]
            base = wo[l]
            m = U0  # nonzero inputs of step + 1, listed (branch-free) at nxt + ho
            if more:
                if l == 0:
                    m = _nonzeros(Xf, xo_next, n_in, nzi, nzv, nxt + ho)
                else:
                    m = _nonzeros(h, nxt + ho, n_in, nzi, nzv, nxt + ho)
            fused = False
            if step >= 0 and trainable[l]:
                if method == M_SGD:
                    fused = more and nnz[l] == n_in and m == n_in
                    if fused:
                        _sgd_rows_forward(wT, base, n_in, n_out, lr, d, go, nzv, cur + ho, nxt + ho,
                                          z, go)
                    else:
                        _sgd_rows(wT, base, n_out, lr, d, go, nzi, nzv, cur + ho, nnz[l])
                else:
                    fused = more and m == n_in
                    coef = 0.0
                    if method == M_L2_CODED:  # norm at the pre-update W, kept up to date
                        nrm = math.sqrt(sumsq[l])
                        coef = lam / nrm if nrm > 0.0 else 0.0
                    if l == 0:
                        src, so = Xf, xo
                    else:
                        src, so = h, cur + ho
                    _l2_rows(method, wT, base, n_in, n_out, lr, lam, coef, d, go, src, so, colacc,
                             fused, nzv, nxt + ho, z, go)
                    if method == M_L2_CODED:
                        acc = 0.0
                        for j in range(n_out):
                            acc += colacc[j]
                        sumsq[l] = acc
                if has_bias[l]:
                    bb = bo[l]
                    for j in range(n_out):
                        b[bb + j] = b[bb + j] - lr * d[go + j]
            nnz[l] = m
            if more:
                if not fused:
                    _forward_rows(wT, base, n_out, nzi, nzv, nxt + ho, m, z, go)
                if has_bias[l]:
                    bb = bo[l]
                    for j in range(n_out):
                        z[go + j] += b[bb + j]
                _activate(acts[l], slopes[l], z, go, h, nxt + go, n_out)
        xo = xo_next


# ------------------------------------------------------------------------------------------------
# dual-weight methods: row-major layout
# ------------------------------------------------------------------------------------------------

@njit(cache=True)
def _dual_layer_forward(w1, w2, base, n_in, n_out, z, zo, nzi, nzv, m):
    """``z[zo:zo+n_out] = (W1 - W2) h`` over the ``m`` listed nonzero entries of ``h``
    (``nzi``/``nzv``), eight rows at a time (eight independent sums, each in ascending order)."""
    j = U0
    while j + U8 <= n_out:
        r0 = base + j * n_in
        r1 = r0 + n_in
        r2 = r1 + n_in
        r3 = r2 + n_in
        r4 = r3 + n_in
        r5 = r4 + n_in
        r6 = r5 + n_in
        r7 = r6 + n_in
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for k in range(m):
            i = nzi[k]
            v = nzv[k]
            a0 += v * (w1[r0 + i] - w2[r0 + i])
            a1 += v * (w1[r1 + i] - w2[r1 + i])
            a2 += v * (w1[r2 + i] - w2[r2 + i])
            a3 += v * (w1[r3 + i] - w2[r3 + i])
            a4 += v * (w1[r4 + i] - w2[r4 + i])
            a5 += v * (w1[r5 + i] - w2[r5 + i])
            a6 += v * (w1[r6 + i] - w2[r6 + i])
            a7 += v * (w1[r7 + i] - w2[r7 + i])
        o = zo + j
        z[o] = a0
        z[o + U1] = a1
        z[o + np.uint64(2)] = a2
        z[o + np.uint64(3)] = a3
        z[o + np.uint64(4)] = a4
        z[o + np.uint64(5)] = a5
        z[o + np.uint64(6)] = a6
        z[o + np.uint64(7)] = a7
        j += U8
    while j < n_out:
        r0 = base + j * n_in
        a0 = 0.0
        for k in range(m):
            i = nzi[k]
            a0 += nzv[k] * (w1[r0 + i] - w2[r0 + i])
        z[zo + j] = a0
        j += U1


@njit(cache=True)
def train_dual_kernel(w1, w2, b, G, sizes, w_off, b_off, u_off, has_bias, trainable, acts, slopes,
                      X, T, indices, loss, credit, B, B_off, stabilized, lr, lr_bias, gain, cap,
                      G_lr, clip, h, z, d, nzi, nzv, losses):
    """Run ``len(indices)`` single-sample dual-weight steps in place on ``w1``, ``w2``, ``b``, ``G``.

    Forward through ``W = W1 - W2``, signals from the pre-update ``W``, then per trainable layer
    and neuron ``j``: ``a1 = lr max(-g, 0)``, ``a2 = lr max(g, 0)`` (stabilized:
    ``lr min(cap, gain max(-+g, 0)/G)``; ``clip``: ``min(a, 1)``), row ``j`` of ``W1`` (``W2``)
    moved towards ``h_{l-1}`` (eqs. 15-16) when ``a1`` (``a2``) is nonzero, ``b <- b - lr_bias g``
    and (stabilized) ``G <- (1 - G_lr) G + G_lr |g|`` where ``g != 0``: each neuron's values depend
    on its own ``g_j`` and ``G_j`` only, so one pass over the neurons does all four. Scratch,
    allocated once by the caller: ``h, z, d`` (by ``u_off``), ``nzi`` (uint64), ``nzv`` of length
    ``max(sizes)``.
    """
    L, sz, wo, bo, uo, Bo, nL, oL, n0, Xf = _prologue(sizes, w_off, b_off, u_off, B_off, X)
    for step in range(indices.shape[0]):
        s = np.uint64(indices[step])
        xo = s * n0
        for l in range(L):
            n_in = sz[l]
            n_out = sz[l + 1]
            ho = uo[l]
            zo = uo[l + 1]
            if l == 0:
                m = _nonzeros(Xf, xo, n_in, nzi, nzv, U0)
            else:
                m = _nonzeros(h, ho, n_in, nzi, nzv, U0)
            _dual_layer_forward(w1, w2, wo[l], n_in, n_out, z, zo, nzi, nzv, m)
            if has_bias[l]:
                bb = bo[l]
                for j in range(n_out):
                    z[zo + j] += b[bb + j]
            _activate(acts[l], slopes[l], z, zo, h, zo, n_out)
        losses[step] = _loss_and_error(loss, acts[L - 1], slopes[L - 1], z, h, oL, T, s, d, oL, nL)
        for l in range(L - 1, 0, -1):
            n_l = sz[l]
            n_up = sz[l + 1]
            o = uo[l]
            ou = uo[l + 1]
            if credit == CREDIT_DFA:
                _dfa_signal(B, Bo[l - 1], nL, n_l, d, oL, o)
            else:  # d_l = sum_j g_j W[j, :] (FA: B[j, :]), rows in ascending order
                for i in range(n_l):
                    d[o + i] = 0.0
                base = wo[l]
                for j in range(n_up):
                    gj = d[ou + j]
                    if gj != 0.0:
                        r = base + j * n_l
                        if credit == CREDIT_FA:
                            for i in range(n_l):
                                d[o + i] += gj * B[r + i]
                        else:
                            for i in range(n_l):
                                d[o + i] += gj * (w1[r + i] - w2[r + i])
            _times_derivative(acts[l - 1], slopes[l - 1], z, d, o, n_l)
        for l in range(L):
            if not trainable[l]:
                continue
            n_in = sz[l]
            n_out = sz[l + 1]
            go = uo[l + 1]
            bb = bo[l]
            base = wo[l]
            bias = has_bias[l]
            if l == 0:
                src, so = Xf, xo
            else:
                src, so = h, uo[l]
            for j in range(n_out):
                gj = d[go + j]
                if stabilized:
                    scale = gain / G[bb + j]
                    a1 = lr * min(cap, max(-gj, 0.0) * scale)
                    a2 = lr * min(cap, max(gj, 0.0) * scale)
                else:
                    a1 = lr * max(-gj, 0.0)
                    a2 = lr * max(gj, 0.0)
                if clip:
                    a1 = min(a1, 1.0)
                    a2 = min(a2, 1.0)
                r = base + j * n_in
                if a1 != 0.0:  # W1_j <- W1_j (1 - a1) + a1 h
                    keep = 1.0 - a1
                    for i in range(n_in):
                        w1[r + i] = w1[r + i] * keep + a1 * src[so + i]
                if a2 != 0.0:  # W2_j <- W2_j (1 - a2) + a2 h
                    keep = 1.0 - a2
                    for i in range(n_in):
                        w2[r + i] = w2[r + i] * keep + a2 * src[so + i]
                if stabilized and gj != 0.0:
                    G[bb + j] = (1.0 - G_lr) * G[bb + j] + G_lr * abs(gj)
                if bias:
                    b[bb + j] = b[bb + j] - lr_bias * gj
