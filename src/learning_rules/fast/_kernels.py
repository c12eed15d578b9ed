"""Numba kernels of the single-sample (batch 1) training loop.

Pure arithmetic on flat float64 buffers; validation, packing and unpacking live in
:mod:`learning_rules.fast.single`. One call runs a whole sequence of steps, so Python is entered
once per sequence instead of once per step, and nothing is allocated inside the step loop.

Two memory layouts, each chosen for what its update touches (profiled on 784-64-32-10 MNIST):

* **Gradient methods** (sgd, L2 variants) store each weight matrix **transposed**, ``W_l^T`` of
  shape ``(n_{l-1}, n_l)``. Then the forward pass and the SGD step are ``axpy`` loops over a
  contiguous row ``W^T[i, :]``, which LLVM vectorises without ``fastmath`` (no reduction), and
  the rows of a zero input ``h_{l-1,i}`` (MNIST background, silent ReLU units) are skipped:

  .. math:: z_l = \\sum_{i: h_i \\ne 0} h_i\\, W_l^T[i,:] + b_l, \\qquad
            W_l^T[i,:] \\mathrel{-}= \\eta\\,(\\delta_l h_i) \\quad (h_i \\ne 0)

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
def _loss_and_error(loss, out_act, out_slope, zL, yhat, t, e):
    """Write ``e = dE/dz_L`` of one sample and return its loss ``E`` (measured before the step)."""
    n = zL.shape[0]
    if loss == LOSS_CCE:
        m = zL[0]
        for k in range(1, n):
            if zL[k] > m:
                m = zL[k]
        s = 0.0
        for k in range(n):
            e[k] = math.exp(zL[k] - m)
            s += e[k]
        lse = m + math.log(s)
        val = 0.0
        for k in range(n):
            e[k] = e[k] / s - t[k]
            if t[k] != 0.0:
                val += t[k] * (lse - zL[k])
        return val
    if loss == LOSS_BCE:
        val = 0.0
        for k in range(n):
            e[k] = _sigmoid(zL[k]) - t[k]
            val += _softplus(zL[k]) - t[k] * zL[k]
        return val
    val = 0.0
    for k in range(n):
        r = yhat[k] - t[k]
        val += r * r
        if loss == LOSS_SQUARED_ERROR:
            e[k] = (2.0 * r) * _dact(out_act, out_slope, zL[k])
        else:
            e[k] = r * _dact(out_act, out_slope, zL[k])
    return val if loss == LOSS_SQUARED_ERROR else 0.5 * val


@njit(cache=True)
def _activate(code, slope, zl, hl):
    for j in range(zl.shape[0]):
        hl[j] = _act(code, slope, zl[j])


@njit(cache=True)
def _dfa_signal(B, boff, nL, n_l, eL, dl):
    """``dl = e B_l`` with ``B_l`` (n_L, n_l) row-major: rows of B added in ascending order."""
    for i in range(n_l):
        dl[i] = 0.0
    for k in range(nL):
        ek = eL[k]
        if ek != 0.0:
            row = B[boff + k * n_l:boff + (k + 1) * n_l]
            for i in range(n_l):
                dl[i] += ek * row[i]


@njit(cache=True)
def _times_derivative(code, slope, zl, dl):
    for i in range(dl.shape[0]):
        fp = _dact(code, slope, zl[i])
        dl[i] = dl[i] * fp if fp != 0.0 else 0.0


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


# ------------------------------------------------------------------------------------------------
# gradient methods: transposed layout
# ------------------------------------------------------------------------------------------------

@njit(cache=True)
def train_gradient_kernel(wT, b, sizes, w_off, b_off, u_off, has_bias, trainable, acts, slopes,
                          X, T, indices, loss, credit, B, B_off, method, lr, lam,
                          h, z, d, colacc, sumsq, losses):
    """Run ``len(indices)`` single-sample gradient steps in place on ``wT`` (transposed) and ``b``.

    Step ``t``: forward on ``X[indices[t]]``, ``e = dE/dz_L`` (its loss goes to ``losses[t]``),
    every teaching signal from the pre-update weights, then per trainable layer
    ``W <- W - lr (delta h^T + R(W))`` (``R`` per ``method``; ``l2_decoupled`` multiplies by
    ``1 - lr lam`` first) and ``b <- b - lr delta``. ``h, z, d`` are scratch indexed by the unit
    offsets ``u_off``; ``colacc`` scratch of length ``max(sizes)``; ``sumsq`` holds ``||W_l||_F^2``.
    """
    L = sizes.shape[0] - 1
    nL = sizes[L]
    if method == M_L2_CODED:
        for l in range(L):
            sumsq[l] = _sumsq(wT[w_off[l]:w_off[l + 1]])
    for step in range(indices.shape[0]):
        s_idx = indices[step]
        x = X[s_idx]
        for i in range(sizes[0]):
            h[i] = x[i]
        # ---- forward ----
        for l in range(L):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            hin = h[u_off[l]:u_off[l] + n_in]
            zl = z[u_off[l + 1]:u_off[l + 1] + n_out]
            for j in range(n_out):
                zl[j] = 0.0
            base = w_off[l]
            for i in range(n_in):
                xi = hin[i]
                if xi != 0.0:
                    w = wT[base + i * n_out:base + (i + 1) * n_out]
                    for j in range(n_out):
                        zl[j] += xi * w[j]
            if has_bias[l]:
                bl = b[b_off[l]:b_off[l] + n_out]
                for j in range(n_out):
                    zl[j] += bl[j]
            _activate(acts[l], slopes[l], zl, h[u_off[l + 1]:u_off[l + 1] + n_out])
        # ---- output error and teaching signals (pre-update weights) ----
        eL = d[u_off[L]:u_off[L] + nL]
        losses[step] = _loss_and_error(loss, acts[L - 1], slopes[L - 1], z[u_off[L]:u_off[L] + nL],
                                       h[u_off[L]:u_off[L] + nL], T[s_idx], eL)
        for l in range(L - 1, 0, -1):
            n_l = sizes[l]
            n_up = sizes[l + 1]
            dl = d[u_off[l]:u_off[l] + n_l]
            zl = z[u_off[l]:u_off[l] + n_l]
            if credit == CREDIT_DFA:
                _dfa_signal(B, B_off[l - 1], nL, n_l, eL, dl)
                _times_derivative(acts[l - 1], slopes[l - 1], zl, dl)
                continue
            dup = d[u_off[l + 1]:u_off[l + 1] + n_up]
            M = B if credit == CREDIT_FA else wT  # FA's B_{l+1} is stored like W_{l+1}
            base = w_off[l]
            for i in range(n_l):
                fp = _dact(acts[l - 1], slopes[l - 1], zl[i])
                if fp == 0.0:
                    dl[i] = 0.0
                    continue
                row = M[base + i * n_up:base + (i + 1) * n_up]
                acc = 0.0
                for j in range(n_up):
                    acc += row[j] * dup[j]
                dl[i] = acc * fp
        # ---- updates ----
        for l in range(L):
            if not trainable[l]:
                continue
            n_in = sizes[l]
            n_out = sizes[l + 1]
            hin = h[u_off[l]:u_off[l] + n_in]
            g = d[u_off[l + 1]:u_off[l + 1] + n_out]
            base = w_off[l]
            if method == M_SGD:
                for i in range(n_in):
                    hi = hin[i]
                    if hi != 0.0:
                        w = wT[base + i * n_out:base + (i + 1) * n_out]
                        for j in range(n_out):
                            w[j] = w[j] - lr * (g[j] * hi)
            elif method == M_L2_DECOUPLED:
                keep = 1.0 - lr * lam
                for i in range(n_in):
                    hi = hin[i]
                    w = wT[base + i * n_out:base + (i + 1) * n_out]
                    for j in range(n_out):
                        w[j] = w[j] * keep - lr * (g[j] * hi)
            elif method == M_L2_LOSS:
                for i in range(n_in):
                    hi = hin[i]
                    w = wT[base + i * n_out:base + (i + 1) * n_out]
                    for j in range(n_out):
                        w[j] = w[j] - lr * (g[j] * hi + lam * w[j])
            else:  # M_L2_CODED: gradient of lam ||W||_F at the pre-update W, norm kept up to date
                nrm = math.sqrt(sumsq[l])
                coef = lam / nrm if nrm > 0.0 else 0.0
                for j in range(n_out):
                    colacc[j] = 0.0
                for i in range(n_in):
                    hi = hin[i]
                    w = wT[base + i * n_out:base + (i + 1) * n_out]
                    for j in range(n_out):
                        wn = w[j] - lr * (g[j] * hi + coef * w[j])
                        w[j] = wn
                        colacc[j] += wn * wn
                acc = 0.0
                for j in range(n_out):
                    acc += colacc[j]
                sumsq[l] = acc
            if has_bias[l]:
                bl = b[b_off[l]:b_off[l] + n_out]
                for j in range(n_out):
                    bl[j] = bl[j] - lr * g[j]


# ------------------------------------------------------------------------------------------------
# dual-weight methods: row-major layout
# ------------------------------------------------------------------------------------------------

@njit(cache=True)
def _dual_layer_forward(w1, w2, base, n_in, n_out, hin, zl, nzi, nzv):
    """``z = (W1 - W2) h`` over the nonzero entries of ``h``, eight rows at a time."""
    m = 0
    for i in range(n_in):
        v = hin[i]
        if v != 0.0:
            nzi[m] = np.uint64(i)
            nzv[m] = v
            m += 1
    # unsigned offsets: numba then emits no negative-index wraparound test in the gather loop
    nin = np.uint64(n_in)
    j = 0
    while j + 8 <= n_out:
        r0 = np.uint64(base + j * n_in)
        r1 = r0 + nin
        r2 = r1 + nin
        r3 = r2 + nin
        r4 = r3 + nin
        r5 = r4 + nin
        r6 = r5 + nin
        r7 = r6 + nin
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
        zl[j] = a0
        zl[j + 1] = a1
        zl[j + 2] = a2
        zl[j + 3] = a3
        zl[j + 4] = a4
        zl[j + 5] = a5
        zl[j + 6] = a6
        zl[j + 7] = a7
        j += 8
    while j < n_out:
        r0 = np.uint64(base + j * n_in)
        a0 = 0.0
        for k in range(m):
            i = nzi[k]
            a0 += nzv[k] * (w1[r0 + i] - w2[r0 + i])
        zl[j] = a0
        j += 1


@njit(cache=True)
def _move_rows(w, base, n_in, n_out, a, hin):
    """``W_j <- W_j (1 - a_j) + a_j h`` for every row with ``a_j != 0`` (eqs. 15-16)."""
    for j in range(n_out):
        aj = a[j]
        if aj != 0.0:
            keep = 1.0 - aj
            row = w[base + j * n_in:base + (j + 1) * n_in]
            for i in range(n_in):
                row[i] = row[i] * keep + aj * hin[i]


@njit(cache=True)
def train_dual_kernel(w1, w2, b, G, sizes, w_off, b_off, u_off, has_bias, trainable, acts, slopes,
                      X, T, indices, loss, credit, B, B_off, stabilized, lr, lr_bias, gain, cap,
                      G_lr, clip, h, z, d, ap, am, nzi, nzv, losses):
    """Run ``len(indices)`` single-sample dual-weight steps in place on ``w1``, ``w2``, ``b``, ``G``.

    Forward through ``W = W1 - W2``, signals from the pre-update ``W``, then per trainable layer
    ``a1 = lr max(-g, 0)``, ``a2 = lr max(g, 0)`` (stabilized: ``lr min(cap, gain max(-+g, 0)/G)``;
    ``clip``: ``min(a, 1)``), rows moved towards ``h_{l-1}``, ``b <- b - lr_bias g`` and (stabilized)
    ``G <- (1 - G_lr) G + G_lr |g|`` where ``g != 0``. Scratch: ``h, z, d`` (by ``u_off``),
    ``ap, am, nzi, nzv`` of length ``max(sizes)``.
    """
    L = sizes.shape[0] - 1
    nL = sizes[L]
    for step in range(indices.shape[0]):
        s_idx = indices[step]
        x = X[s_idx]
        for i in range(sizes[0]):
            h[i] = x[i]
        for l in range(L):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            zl = z[u_off[l + 1]:u_off[l + 1] + n_out]
            _dual_layer_forward(w1, w2, w_off[l], n_in, n_out, h[u_off[l]:u_off[l] + n_in], zl, nzi, nzv)
            if has_bias[l]:
                bl = b[b_off[l]:b_off[l] + n_out]
                for j in range(n_out):
                    zl[j] += bl[j]
            _activate(acts[l], slopes[l], zl, h[u_off[l + 1]:u_off[l + 1] + n_out])
        eL = d[u_off[L]:u_off[L] + nL]
        losses[step] = _loss_and_error(loss, acts[L - 1], slopes[L - 1], z[u_off[L]:u_off[L] + nL],
                                       h[u_off[L]:u_off[L] + nL], T[s_idx], eL)
        for l in range(L - 1, 0, -1):
            n_l = sizes[l]
            n_up = sizes[l + 1]
            dl = d[u_off[l]:u_off[l] + n_l]
            if credit == CREDIT_DFA:
                _dfa_signal(B, B_off[l - 1], nL, n_l, eL, dl)
            else:
                dup = d[u_off[l + 1]:u_off[l + 1] + n_up]
                for i in range(n_l):
                    dl[i] = 0.0
                base = w_off[l]
                for j in range(n_up):  # dl = sum_j g_j W[j, :], rows in ascending order
                    gj = dup[j]
                    if gj != 0.0:
                        r = base + j * n_l
                        if credit == CREDIT_FA:
                            row = B[r:r + n_l]
                            for i in range(n_l):
                                dl[i] += gj * row[i]
                        else:
                            row1 = w1[r:r + n_l]
                            row2 = w2[r:r + n_l]
                            for i in range(n_l):
                                dl[i] += gj * (row1[i] - row2[i])
            _times_derivative(acts[l - 1], slopes[l - 1], z[u_off[l]:u_off[l] + n_l], dl)
        for l in range(L):
            if not trainable[l]:
                continue
            n_in = sizes[l]
            n_out = sizes[l + 1]
            g = d[u_off[l + 1]:u_off[l + 1] + n_out]
            hin = h[u_off[l]:u_off[l] + n_in]
            Gl = G[b_off[l]:b_off[l] + n_out]
            for j in range(n_out):
                if stabilized:
                    scale = gain / Gl[j]
                    ap[j] = lr * min(cap, max(-g[j], 0.0) * scale)
                    am[j] = lr * min(cap, max(g[j], 0.0) * scale)
                else:
                    ap[j] = lr * max(-g[j], 0.0)
                    am[j] = lr * max(g[j], 0.0)
                if clip:
                    ap[j] = min(ap[j], 1.0)
                    am[j] = min(am[j], 1.0)
            _move_rows(w1, w_off[l], n_in, n_out, ap, hin)
            _move_rows(w2, w_off[l], n_in, n_out, am, hin)
            if stabilized:
                for j in range(n_out):
                    if g[j] != 0.0:
                        Gl[j] = (1.0 - G_lr) * Gl[j] + G_lr * abs(g[j])
            if has_bias[l]:
                bl = b[b_off[l]:b_off[l] + n_out]
                for j in range(n_out):
                    bl[j] = bl[j] - lr_bias * g[j]
