r"""The first layer on an input that is mostly one background value (MNIST-parity images).

A normalized MNIST image is about 81% background: every zero pixel becomes the same value
:math:`x_0 = -\mu/\sigma = -0.4242`. Write the batch as that constant plus a sparse remainder,

.. math:: X = x_0\,\mathbf 1 \mathbf 1^\top + V, \qquad V_{ij} = X_{ij} - x_0
          \ \ (\text{zero on the background}),

and the two products of the first layer that dominate a step split the same way:

.. math::
    z_1 = X W_1^\top = V W_1^\top + x_0\,\mathbf 1\, s^\top, \qquad s = W_1 \mathbf 1
    \quad\text{(row sums of } W_1\text{)},

.. math::
    g_1 = \tfrac1B\,\delta_1^\top X = \tfrac1B\big(\delta_1^\top V + x_0\,(\delta_1^\top \mathbf 1)\,
    \mathbf 1^\top\big).

The identity is exact; only the rounding differs from the dense product (different summation
order, float32 or float64 as the weights). With about 450 non-background pixels in a
``28 x 84`` parity input (k = 3, 2352 pixels), the two sparse products do about a fifth of the
dense multiply-adds (measured: ``benchmarks/bench_sparse_input.py``).

Where the batches come from: a parity input is ``k`` digits side by side, so its sparse form
can be put together from the digits' own. :class:`ImagePool` keeps every source image's
non-background pixels once, per pixel row (each value a one-byte index into the table of the
pool's distinct values: the gather reads random images, so their size in bytes is its cost), and
:func:`tiled_rows` writes a batch's CSR form
straight from them (the same entries as compressing the assembled batch, bit for bit), so the
trainers never build the dense ``(batch, 784 k)`` input.

Layout: the kernels read and write rows of :math:`W_1^\top` (one contiguous row of ``n_hidden``
weights per input pixel), so the first weight matrix is kept in Fortran order, whose transpose
is C-contiguous. One function per equation below; :class:`~learning_rules.fast.MinibatchSGD`
does the plumbing (``input_background=x0``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["compress_rows", "rows_to_columns", "sparse_forward", "sparse_sgd_update",
           "sparse_gradient", "column_sums", "sparse_matmul", "image_rows", "tiled_rows",
           "ImagePool", "sparse_matmul_rows", "background_row", "sparse_average_update",
           "difference_and_sums", "PoolRows"]


def _njit(fn):
    import numba

    # "contract" lets LLVM fuse a*b + c into one FMA (deterministic on a given machine)
    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})(fn)


@_njit
def compress_rows(X, x0, ptr, ind, val):  # pragma: no cover - compiled
    r"""CSR form of :math:`V = X - x_0` (the entries where ``X != x0``), into given buffers.

    Row ``i`` gets columns ``ind[ptr[i]:ptr[i+1]]`` (ascending) with values ``X[i, j] - x0``.
    ``ptr`` has ``n_rows + 1`` entries; ``ind`` and ``val`` room for ``X.size`` (the worst case).
    Returns the number of non-zeros, ``ptr[n_rows]``.
    """
    n_rows, n_cols = X.shape
    c = 0
    ptr[0] = 0
    for i in range(n_rows):
        x = X[i]
        for j in range(n_cols):
            # written always, kept only when non-background (no branch: about 1.3x faster)
            xj = x[j]
            ind[c] = j
            val[c] = xj - x0
            c += xj != x0
        ptr[i + 1] = c
    return c


@_njit
def image_rows(images, x0, rptr, cols, vals):  # pragma: no cover - compiled
    r"""Per image row, the entries of :math:`V = X - x_0`: the CSR form of the ``(N H, W)`` matrix
    of the pool's pixel rows (image ``n``, pixel row ``r`` is row ``n H + r``), into given buffers.

    ``rptr`` has ``N H + 1`` entries; ``cols`` and ``vals`` room for the non-zeros plus one (every
    entry is written before it is known to be kept), at most ``images.size``. Values are
    ``images[n, r, c] - x0`` in the images' dtype, exactly as :func:`compress_rows` computes them
    on an assembled input. Returns the number of non-zeros.
    """
    n_img, height, width = images.shape
    c = 0
    rptr[0] = 0
    for n in range(n_img):
        for r in range(height):
            x = images[n, r]
            for j in range(width):
                xj = x[j]
                cols[c] = j
                vals[c] = xj - x0
                c += xj != x0
            rptr[n * height + r + 1] = c
    return c


@_njit
def tiled_rows(rptr, cols, codes, table, height, width, idx, ptr, ind, val):  # pragma: no cover
    r"""The CSR form of :math:`V` for a batch of inputs tiled side by side from pool images,
    without assembling them: sample ``i`` is the ``height x (k width)`` image whose slot ``s``
    (0 = left) is pool image ``idx[i, s]``, flattened row-major, so pixel ``(r, c)`` of slot ``s``
    is input column ``r k w + s w + c``.

    The pool's entries come as in :func:`image_rows` (``rptr``, ``cols``), their values coded:
    entry ``p`` is ``table[codes[p]]`` (:class:`ImagePool` keeps a few hundred distinct values in
    one byte each, so a random image's entries are a few cache lines).

    Columns come out ascending within each sample, so the result equals :func:`compress_rows` of
    the assembled batch entry for entry. ``ptr`` has ``batch + 1`` entries, ``ind``/``val`` room
    for the batch's non-zeros (at most ``batch k height width``). Returns that number.
    """
    n_rows, k = idx.shape
    row_len = k * width
    c = 0
    ptr[0] = 0
    for i in range(n_rows):
        for r in range(height):
            base = r * row_len
            for s in range(k):
                q = idx[i, s] * height + r
                off = base + s * width
                for p in range(rptr[q], rptr[q + 1]):
                    ind[c] = off + cols[p]
                    val[c] = table[codes[p]]
                    c += 1
        ptr[i + 1] = c
    return c


def _value_codes(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(table, codes)`` with ``table[codes]`` equal to ``vals`` bit for bit: ``table`` the
    distinct bit patterns of ``vals`` (as ``vals``' dtype), ``codes`` in the narrowest unsigned
    type. The table is taken from the first million entries when that covers them all (checked
    while coding), else from all."""
    bits = vals.view({4: np.uint32, 8: np.uint64}[vals.dtype.itemsize])
    table = np.unique(bits[:1 << 20])
    codes = np.empty(bits.shape[0], _smallest_uint(max(table.size, 1)))
    if not _encode(bits, table, codes):
        table = np.unique(bits)
        codes = np.empty(bits.shape[0], _smallest_uint(max(table.size, 1)))
        _encode(bits, table, codes)
    return table.view(vals.dtype), codes


@_njit
def _encode(bits, table, codes):  # pragma: no cover - compiled
    """``codes[p]`` = the index of ``bits[p]`` in the sorted ``table``; False if one is missing."""
    n = table.shape[0]
    for p in range(bits.shape[0]):
        b = bits[p]
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) >> 1
            if table[mid] < b:
                lo = mid + 1
            else:
                hi = mid
        if lo == n or table[lo] != b:
            return False
        codes[p] = lo
    return True


def _smallest_uint(n: int):
    """The narrowest unsigned integer type that holds ``0..n-1``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(dt).max + 1:
            return dt
    return np.int64  # pragma: no cover - more entries than memory


class ImagePool:
    r"""A pool of images kept as the sparse remainder :math:`V = X - x_0` of each pixel row, from
    which batches of side-by-side tiled inputs (MNIST-parity: ``k`` digits in a ``28 x 28k``
    image) come straight out in CSR form (:func:`tiled_rows`), never assembled densely.

    Plumbing around :func:`image_rows` / :func:`tiled_rows`: validates the indices (the kernels
    do not check bounds) and keeps reusable batch buffers.

    Parameters
    ----------
    images : (N, height, width) float32 or float64 array
    x0 : the background value (MNIST-parity: a zero pixel after normalization)
    """

    def __init__(self, images: np.ndarray, x0: float) -> None:
        images = np.ascontiguousarray(images)
        if images.ndim != 3 or images.dtype not in (np.float32, np.float64):
            raise ValueError(f"ImagePool needs (N, height, width) float32/float64 images, got "
                             f"{images.dtype} {images.shape}")
        self.dtype = images.dtype
        self.x0 = self.dtype.type(x0)
        if not np.isfinite(self.x0):
            raise ValueError(f"x0 must be a finite number, got {x0!r}")
        self.n_images, self.height, self.width = images.shape
        # image_rows writes every entry before it knows whether to keep it: one spare slot
        nnz = int(np.count_nonzero(images != self.x0))
        rptr = np.empty(self.n_images * self.height + 1, np.int64)
        cols = np.empty(nnz + 1, np.int32)
        vals = np.empty(nnz + 1, self.dtype)
        image_rows(images, self.x0, rptr, cols, vals)
        # Compact storage (the batch gather reads random images, so their bytes are its cost):
        # pointers in the narrowest integer that holds nnz, columns in the narrowest that holds
        # the width, and each value as the index of its exact value in a table of the distinct
        # ones (MNIST: 255 values, one byte). Decoding is a table lookup, bit for bit.
        self.rptr = rptr.astype(_smallest_uint(nnz + 1))
        self.cols = cols[:nnz].astype(_smallest_uint(self.width))
        self.table, self.codes = _value_codes(vals[:nnz])
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def vals(self) -> np.ndarray:
        """The pool's non-background values, entry by entry (decoded; a new array)."""
        return self.table[self.codes]

    def n_features(self, k: int) -> int:
        """Input width of a batch of ``k`` tiled images, ``k height width``."""
        return int(k) * self.height * self.width

    def rows(self, idx: np.ndarray) -> "PoolRows":
        """CSR ``(ptr, ind, val)`` of :math:`V` for the batch whose sample ``i`` tiles pool images
        ``idx[i, 0..k-1]`` left to right (views of buffers reused by the next call), as a
        :class:`PoolRows` that knows its column bound ``k height width``."""
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        if idx.ndim != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise ValueError(f"idx must be (batch, k) image indices, got shape {idx.shape}")
        if idx.min() < 0 or idx.max() >= self.n_images:
            raise ValueError(f"image indices must lie in 0..{self.n_images - 1}, got "
                             f"{idx.min()}..{idx.max()}")
        n = idx.shape[0]
        most = idx.size * self.height * self.width
        buf = self._buffers.get(n)
        if buf is None or buf[1].size < most:
            buf = (np.empty(n + 1, np.int64), np.empty(most, np.int32), np.empty(most, self.dtype))
            self._buffers = {n: buf}
        ptr, ind, val = buf
        nnz = tiled_rows(self.rptr, self.cols, self.codes, self.table, self.height, self.width, idx,
                         ptr, ind, val)
        out = PoolRows((ptr, ind[:nnz], val[:nnz]))
        out.n_columns = self.n_features(idx.shape[1])
        return out


class PoolRows(tuple):
    """The CSR triple ``(ptr, ind, val)`` of a batch made by :meth:`ImagePool.rows`, with
    ``n_columns``: every column index lies in ``0..n_columns - 1`` by construction (the pool
    checked the image indices), so a trainer need not scan the indices again. Unpacks as the
    triple; its arrays are the pool's buffers and must not be edited."""

    n_columns: int


@_njit
def rows_to_columns(ptr, ind, val, cptr, rows, cval):  # pragma: no cover - compiled
    """CSC form of a CSR matrix (counting sort; rows ascending within a column), into given
    buffers: ``cptr`` has ``n_cols + 1`` entries, ``rows``/``cval`` room for the non-zeros."""
    n_cols = cptr.shape[0] - 1
    nnz = ptr[ptr.shape[0] - 1]
    cptr[:] = 0
    for p in range(nnz):
        cptr[ind[p] + 1] += 1
    for j in range(n_cols):
        cptr[j + 1] += cptr[j]
    for i in range(ptr.shape[0] - 1):
        for p in range(ptr[i], ptr[i + 1]):
            j = ind[p]
            q = cptr[j]
            rows[q] = i
            cval[q] = val[p]
            cptr[j] = q + 1
    # cptr[j] now holds the end of column j: shift back by one column
    for j in range(n_cols, 0, -1):
        cptr[j] = cptr[j - 1]
    cptr[0] = 0


@_njit
def column_sums(WT, out):  # pragma: no cover - compiled
    r""":math:`s = W_1 \mathbf 1`, i.e. the column sums of :math:`W_1^\top` (float64 accumulation)."""
    n_in, n_out = WT.shape
    acc = np.zeros(n_out, np.float64)
    for j in range(n_in):
        w = WT[j]
        for q in range(n_out):
            acc[q] += w[q]
    for q in range(n_out):
        out[q] = acc[q]


@_njit
def sparse_forward(ptr, ind, val, WT, s, x0, out):  # pragma: no cover - compiled
    r""":math:`z_1 = V W_1^\top + x_0\,\mathbf 1 s^\top` into ``out`` (batch, n_hidden).

    Blocked over 256 input pixels so the block of :math:`W_1^\top` rows stays in cache, four
    non-zeros per pass over an output row.
    """
    n_rows = ptr.shape[0] - 1
    n_in, n_out = WT.shape
    for i in range(n_rows):
        o = out[i]
        for q in range(n_out):
            o[q] = x0 * s[q]
    pos = ptr[:-1].copy()
    for j0 in range(0, n_in, 256):
        j1 = j0 + 256
        for i in range(n_rows):
            start = pos[i]
            end = start
            stop = ptr[i + 1]
            while end < stop and ind[end] < j1:
                end += 1
            o = out[i]
            p = start
            while p + 4 <= end:
                v0, v1, v2, v3 = val[p], val[p + 1], val[p + 2], val[p + 3]
                w0, w1, w2, w3 = WT[ind[p]], WT[ind[p + 1]], WT[ind[p + 2]], WT[ind[p + 3]]
                for q in range(n_out):
                    o[q] += (v0 * w0[q] + v1 * w1[q]) + (v2 * w2[q] + v3 * w3[q])
                p += 4
            while p < end:
                v0 = val[p]
                w0 = WT[ind[p]]
                for q in range(n_out):
                    o[q] += v0 * w0[q]
                p += 1
            pos[i] = end


@_njit
def _accumulate_column(cptr, rows, cval, D, j, row):  # pragma: no cover - compiled
    r"""``row += sum_p cval[p] * D[rows[p]]`` over column ``j``'s non-zeros (four at a time)."""
    n_out = row.shape[0]
    p = cptr[j]
    end = cptr[j + 1]
    while p + 4 <= end:
        v0, v1, v2, v3 = cval[p], cval[p + 1], cval[p + 2], cval[p + 3]
        d0, d1, d2, d3 = D[rows[p]], D[rows[p + 1]], D[rows[p + 2]], D[rows[p + 3]]
        for q in range(n_out):
            row[q] += (v0 * d0[q] + v1 * d1[q]) + (v2 * d2[q] + v3 * d3[q])
        p += 4
    while p < end:
        v0 = cval[p]
        d0 = D[rows[p]]
        for q in range(n_out):
            row[q] += v0 * d0[q]
        p += 1


@_njit
def background_row(D, x0, dtype):  # pragma: no cover - compiled
    r"""The background's share of every gradient row, :math:`x_0\,(\delta_1^\top \mathbf 1)`
    (the same for all inputs; summed over the batch in ``dtype``, then scaled)."""
    n_out = D.shape[1]
    col = np.zeros(n_out, dtype)
    for i in range(D.shape[0]):
        d = D[i]
        for q in range(n_out):
            col[q] += d[q]
    for q in range(n_out):
        col[q] *= x0
    return col


@_njit
def input_row(cptr, rows, cval, D, col, j, buf):  # pragma: no cover - compiled
    r"""Row ``j`` of :math:`V^\top D + x_0 \mathbf 1 (D^\top \mathbf 1)` into ``buf``: the background
    share ``col`` (:func:`background_row`) plus column ``j``'s non-zeros."""
    for q in range(buf.shape[0]):
        buf[q] = col[q]
    _accumulate_column(cptr, rows, cval, D, j, buf)


@_njit
def sparse_gradient(cptr, rows, cval, D, x0, inv_batch, GT):  # pragma: no cover - compiled
    r""":math:`g_1^\top = \tfrac1B\big(V^\top \delta_1 + x_0\,\mathbf 1 (\delta_1^\top \mathbf 1)\big)`
    into ``GT`` (n_in, n_hidden), every row written."""
    n_in, n_out = GT.shape
    col = background_row(D, x0, GT.dtype)
    for j in range(n_in):
        row = GT[j]
        input_row(cptr, rows, cval, D, col, j, row)
        for q in range(n_out):
            row[q] *= inv_batch


@_njit
def sparse_sgd_update(cptr, rows, cval, D, x0, scale, WT, buf, s):  # pragma: no cover - compiled
    r"""The SGD step :math:`W_1 \leftarrow W_1 - \tfrac{\eta}{B}\big(\delta_1^\top V + x_0
    (\delta_1^\top \mathbf 1)\mathbf 1^\top\big)` on :math:`W_1^\top` (``scale = -eta / B``), in
    one pass that also refreshes the row sums ``s`` of the new :math:`W_1`.

    Each row's step is summed in ``buf`` first and then added, as the dense path adds
    :math:`-\tfrac{\eta}{B}\delta^\top X` to the weights.
    """
    n_in, n_out = WT.shape
    col = background_row(D, x0, WT.dtype)
    acc = np.zeros(n_out, np.float64)
    for j in range(n_in):
        input_row(cptr, rows, cval, D, col, j, buf)
        w = WT[j]
        for q in range(n_out):
            w[q] += scale * buf[q]
            acc[q] += w[q]
    for q in range(n_out):
        s[q] = acc[q]


@_njit
def sparse_average_update(cptr, rows, cval, A, x0, inv_batch, keep, HT, buf):  # pragma: no cover
    r"""The dual-weight rule's moving average of inputs (eqs. 15/16 over a batch) for one half of
    the first layer, on :math:`H^\top` (``HT``, one row per input pixel, updated in place):

    .. math:: H_j \leftarrow k_j H_j + \tfrac1B \sum_i a_{ij} x_i, \qquad
              \sum_i a_{ij} x_i = x_0 \sum_i a_{ij} + (A^\top V)_j ,

    ``A`` (batch, n_hidden) the rates, ``keep`` :math:`k_j = 1 - \tfrac1B\sum_i a_{ij}`. A neuron
    whose rates are all zero keeps its row exactly (:math:`k_j = 1`, nothing added)."""
    n_in, n_out = HT.shape
    col = background_row(A, x0, HT.dtype)
    for j in range(n_in):
        input_row(cptr, rows, cval, A, col, j, buf)
        h = HT[j]
        for q in range(n_out):
            h[q] = h[q] * keep[q] + buf[q] * inv_batch


@_njit
def difference_and_sums(AT, BT, WT, s):  # pragma: no cover - compiled
    r""":math:`W = W_1 - W_2` (paper eq. 12) written into ``WT`` row by row, with its row sums
    :math:`s = W \mathbf 1` (float64 accumulation, as :func:`column_sums`)."""
    n_in, n_out = WT.shape
    acc = np.zeros(n_out, np.float64)
    for j in range(n_in):
        a, b, w = AT[j], BT[j], WT[j]
        for q in range(n_out):
            w[q] = a[q] - b[q]
            acc[q] += w[q]
    for q in range(n_out):
        s[q] = acc[q]


def sparse_matmul(X: np.ndarray, W: np.ndarray, x0: float) -> np.ndarray:
    r""":math:`X W^\top` for a Fortran-ordered ``W`` (n_out, n_in) through the sparse forward
    (evaluation batches of any size; allocates its buffers). Equals ``X @ W.T`` to rounding."""
    X = np.ascontiguousarray(X, dtype=W.dtype)
    if X.ndim != 2 or X.shape[1] != W.shape[1] or not W.T.flags.c_contiguous:
        raise ValueError(f"need X (batch, {W.shape[1]}) and a Fortran-ordered W, got X {X.shape}")
    n = X.shape[0]
    x0 = W.dtype.type(x0)
    ptr, ind, val = np.empty(n + 1, np.int64), np.empty(X.size, np.int32), np.empty(X.size, W.dtype)
    compress_rows(X, x0, ptr, ind, val)
    return sparse_matmul_rows((ptr, ind, val), W, x0)


def sparse_matmul_rows(csr, W: np.ndarray, x0: float) -> np.ndarray:
    r""":math:`X W^\top` from the CSR form ``(ptr, ind, val)`` of :math:`V = X - x_0`
    (:func:`compress_rows`, :meth:`ImagePool.rows`) for a Fortran-ordered ``W`` (n_out, n_in)."""
    ptr, ind, val = csr
    if not W.T.flags.c_contiguous:
        raise ValueError("W must be in Fortran order (np.asfortranarray)")
    if val.dtype != W.dtype:
        raise ValueError(f"the CSR values are {val.dtype}, W is {W.dtype}")
    if ptr[-1] > 0 and int(ind[:ptr[-1]].max()) >= W.shape[1]:
        raise ValueError(f"the CSR has a column >= W's {W.shape[1]} inputs")
    x0 = W.dtype.type(x0)
    s = np.empty(W.shape[0], W.dtype)
    column_sums(W.T, s)
    out = np.empty((ptr.shape[0] - 1, W.shape[0]), W.dtype)
    sparse_forward(ptr, ind, val, W.T, s, x0, out)
    return out
