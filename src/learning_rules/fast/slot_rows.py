r"""Compiled helpers of MNIST-parity's lazy baselines (:mod:`learning_rules.experiments.dfa_parity`):
batches of a frozen first layer's pre-activations from per-slot projections
(:func:`~learning_rules.experiments.dfa_parity.slot_projections`), and the select-and-divide step
of the soft gate's logistic function (:func:`logistic_from_exp`).

A parity sample is ``k`` pool images side by side, so a frozen matrix's pre-activation of sample
``i`` is a sum of ``k`` precomputed rows,

.. math:: a_i = \sum_{s=0}^{k-1} P_s[\mathrm{idx}_{i,s}], \qquad h_i = a_i \odot 1[a_i > 0]
          \ \ (\text{ReLU features}),

written here straight into a reused buffer, one slot after the other (slot 0 copied, the next ones
added in slot order: the same float additions, bit for bit, as
``P[0][idx[:, 0]] + P[1][idx[:, 1]] + ...`` in NumPy), with the ReLU gate applied in the same pass
as the last slot's addition (:math:`a \cdot 1` or :math:`a \cdot 0`, as the NumPy
``a * (a > 0)``, signed zeros and NaN included). No temporaries per batch; the callers check the
indices (the kernel does not).
"""

from __future__ import annotations

import numpy as np

__all__ = ["logistic_from_exp", "slot_rows_sum"]


def _njit(fn):
    import numba

    # no fastmath: additions and the 0/1 products only, bit for bit as NumPy
    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)


@_njit
def slot_rows_sum(P, idx, slot, out, accumulate, relu):  # pragma: no cover - compiled
    r"""``out[i] (+)= P[idx[i, slot]]`` for every row ``i`` of ``out``; then, when ``relu``,
    ``out[i] = out[i] * 1[out[i] > 0]``.

    Parameters
    ----------
    P : (N, H) projections of slot ``slot``;  idx : (batch, k) int64 pool indices (``0 <= idx < N``,
        not checked);  slot : which column of ``idx``
    out : (batch, H) C-contiguous, same dtype as ``P``; written (``accumulate=False``) or added to
    relu : apply the ReLU gate after this slot (pass it with the last slot)
    """
    n, H = out.shape
    for i in range(n):
        src = P[idx[i, slot]]
        o = out[i]
        if accumulate:
            for q in range(H):
                o[q] += src[q]
        else:
            for q in range(H):
                o[q] = src[q]
        if relu:
            for q in range(H):
                x = o[q]
                if not x > 0:
                    o[q] = x * np.float32(0.0)  # exact 0 in any dtype: x * 0


@_njit
def logistic_from_exp(z, ez, out):  # pragma: no cover - compiled
    r"""The last step of the overflow-free logistic function, given :math:`e^{-|z|}` (``ez``,
    computed by NumPy's ``exp``):

    .. math:: \sigma(z) = \frac{1}{1 + e^{-|z|}} \ (z \ge 0), \qquad
              \frac{e^{-|z|}}{1 + e^{-|z|}} \ (z < 0 \text{ or NaN})

    element by element in the arrays' dtype (one correctly rounded addition and division: the
    same numbers as NumPy's ``np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))``, without its masked
    passes). ``out`` may be ``ez``; all three flat, same length and dtype.
    """
    one = np.float32(1.0)
    for i in range(z.size):
        e = ez[i]
        d = e + one
        if z[i] >= 0:
            out[i] = one / d
        else:
            out[i] = e / d
