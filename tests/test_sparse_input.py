"""The sparse first layer (learning_rules.fast.sparse_input): each kernel against its dense
equation, a finite-difference check of the gradient identity, the trainers with and without it,
and train_parity's three backends."""

from __future__ import annotations

import numpy as np
import pytest

from learning_rules.data import normalize_parity
from learning_rules.experiments import dfa as X
from learning_rules.fast import MinibatchOptimizer, MinibatchSGD
from learning_rules.fast import sparse_input as S
from learning_rules.nn import MLP

X0 = -0.4242


def sparse_batch(rng, n, m, density=0.2, dtype=np.float64, x0=X0):
    """A batch whose entries are ``x0`` except a ``density`` fraction (MNIST-like)."""
    Xb = np.full((n, m), x0, dtype)
    mask = rng.random((n, m)) < density
    Xb[mask] = rng.normal(size=int(mask.sum()))
    return Xb


def csr(Xb, x0):
    n, m = Xb.shape
    ptr, ind, val = np.empty(n + 1, np.int64), np.empty(n * m, np.int32), np.empty(n * m, Xb.dtype)
    nnz = S.compress_rows(Xb, Xb.dtype.type(x0), ptr, ind, val)
    return ptr, ind[:nnz], val[:nnz]


def csc(Xb, x0):
    ptr, ind, val = csr(Xb, x0)
    m = Xb.shape[1]
    cptr, rows, cval = np.empty(m + 1, np.int64), np.empty(ind.size, np.int32), np.empty(ind.size, Xb.dtype)
    S.rows_to_columns(ptr, ind, val, cptr, rows, cval)
    return cptr, rows, cval


@pytest.mark.parametrize("density", [0.0, 0.05, 0.2, 1.0])
def test_compressed_forms_rebuild_the_matrix(density):
    rng = np.random.default_rng(1)
    Xb = sparse_batch(rng, 7, 13, density)
    Xb[3] = X0  # one row of background only
    ptr, ind, val = csr(Xb, X0)
    dense = np.full_like(Xb, X0)
    for i in range(7):
        cols = ind[ptr[i]:ptr[i + 1]]
        assert np.all(np.diff(cols) > 0)
        dense[i, cols] += val[ptr[i]:ptr[i + 1]]
    np.testing.assert_array_equal(dense != X0, Xb != X0)
    np.testing.assert_allclose(dense, Xb, rtol=0, atol=1e-15)
    cptr, rows, cval = csc(Xb, X0)
    assert cptr[0] == 0 and cptr[-1] == ind.size
    dense2 = np.full_like(Xb, X0)
    for j in range(13):
        r = rows[cptr[j]:cptr[j + 1]]
        assert np.all(np.diff(r) > 0)
        dense2[r, j] += cval[cptr[j]:cptr[j + 1]]
    np.testing.assert_array_equal(dense2, dense)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("n, m, h", [(5, 600, 33), (128, 300, 64), (1, 1, 1)])
def test_forward_equals_the_dense_product(dtype, tol, n, m, h):
    """z = V W^T + x0 1 s^T with s = W 1 is X W^T (blocks of 256 inputs, tails of 1-3 non-zeros)."""
    rng = np.random.default_rng(2)
    Xb = sparse_batch(rng, n, m, dtype=dtype)
    W = np.asfortranarray(rng.normal(size=(h, m)).astype(dtype))
    s = np.empty(h, dtype)
    S.column_sums(W.T, s)
    w64 = W.astype(np.float64)  # float64 accumulation: within one rounding of the exact sum
    np.testing.assert_allclose(s, w64.sum(axis=1), rtol=0, atol=tol * np.abs(w64).sum(axis=1).max())
    out = np.empty((n, h), dtype)
    S.sparse_forward(*csr(Xb, X0), W.T, s, dtype(X0), out)
    ref = Xb.astype(np.float64) @ w64.T
    scale = np.abs(Xb).astype(np.float64) @ np.abs(w64).T  # the size of the summed terms
    np.testing.assert_array_less(np.abs(out - ref), tol * (scale + 1e-300))


def test_gradient_and_sgd_update_equal_the_dense_formulas():
    rng = np.random.default_rng(3)
    Xb = sparse_batch(rng, 40, 300)
    D = rng.normal(size=(40, 24))
    GT = np.empty((300, 24))
    S.sparse_gradient(*csc(Xb, X0), D, X0, 1 / 40, GT)
    np.testing.assert_allclose(GT, (D.T @ Xb / 40).T, rtol=0, atol=1e-13)

    W = np.asfortranarray(rng.normal(size=(24, 300)))
    W_ref = W - 0.3 / 40 * (D.T @ Xb)
    s = np.empty(24)
    S.sparse_sgd_update(*csc(Xb, X0), D, X0, -0.3 / 40, W.T, np.empty(24), s)
    np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(s, W.sum(axis=1), rtol=1e-13)  # the row sums follow the update


def test_gradient_identity_by_finite_differences():
    """d/dW of f(W) = 1/2 ||z(W) - T||^2 / B, z from the sparse forward, is sparse_gradient's g."""
    rng = np.random.default_rng(4)
    Xb = sparse_batch(rng, 6, 20, density=0.3)
    T = rng.normal(size=(6, 5))
    W = np.asfortranarray(rng.normal(size=(5, 20)))
    forms = csr(Xb, X0)

    def z_of(W):
        W = np.asfortranarray(W)
        s = np.empty(5)
        S.column_sums(W.T, s)
        out = np.empty((6, 5))
        S.sparse_forward(*forms, W.T, s, X0, out)
        return out

    def f(W):
        return 0.5 * np.sum((z_of(W) - T) ** 2) / 6

    GT = np.empty((20, 5))
    S.sparse_gradient(*csc(Xb, X0), z_of(W) - T, X0, 1 / 6, GT)
    num = np.zeros_like(W)
    eps = 1e-6
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        num[idx] = (f(Wp) - f(Wm)) / (2 * eps)
    np.testing.assert_allclose(GT.T, num, rtol=1e-7, atol=1e-8)


def _net(sizes, bias, seed=0):
    mlp = MLP.create(sizes, ["relu"] * (len(sizes) - 2) + ["sigmoid"], init="pytorch", bias=bias,
                     rng=np.random.default_rng(seed), dtype=np.float64)
    return mlp


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "adadelta", "rmsprop", "adam"])
@pytest.mark.parametrize("sizes, bias, dfa", [([300, 32, 1], False, False), ([300, 32, 32, 1], True, True)])
def test_trainer_with_sparse_input_equals_the_dense_trainer(optimizer, sizes, bias, dfa):
    rng = np.random.default_rng(5)
    feedback = ([rng.normal(size=(1, n)) for n in sizes[1:-1]] if dfa else None)
    runs = []
    for background in (None, X0):
        mlp = _net(sizes, bias)
        if background is not None:
            mlp.weights[0] = np.asfortranarray(mlp.weights[0])
        cls = MinibatchSGD if optimizer == "sgd" else MinibatchOptimizer
        kw = {} if optimizer == "sgd" else {"optimizer": optimizer}
        tr = cls(mlp.weights, mlp.biases, mlp.activations, "bce", 0.05, 32, feedback=feedback,
                 input_background=background, **kw)
        data = np.random.default_rng(6)
        for step in range(6):
            n = 32 if step < 5 else 17  # a short last batch
            Xb = sparse_batch(data, n, sizes[0])
            Y = (data.random((n, 1)) < 0.5).astype(np.float64)
            tr.step(Xb, Y)
        runs.append(mlp)
    dense, sparse = runs
    for a, b in zip(dense.weights, sparse.weights):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    for a, b in zip(dense.biases, sparse.biases):
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)


def test_trainer_rejects_bad_layouts_and_inputs():
    mlp = _net([300, 8, 1], False)
    with pytest.raises(ValueError, match="Fortran order"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, input_background=X0)
    mlp.weights[0] = np.asfortranarray(mlp.weights[0])
    with pytest.raises(ValueError, match="finite"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, input_background=np.nan)
    tr = MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, input_background=X0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"shape \(batch <= 16, 300\)"):
        tr.step(sparse_batch(rng, 17, 300), np.zeros((17, 1)))  # larger than the buffers
    with pytest.raises(ValueError, match="shape"):
        tr.step(sparse_batch(rng, 4, 299), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="C-contiguous"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16)  # dense needs C order


def mnist_like(n, rng):
    """28 x 28 uint8 'digits': background 0 except a blob of ink (about 20% of the pixels)."""
    img = np.zeros((n, 28, 28), np.uint8)
    ink = rng.random((n, 28, 28)) < 0.45
    ink[:, :6] = ink[:, -6:] = False
    ink[:, :, :6] = ink[:, :, -6:] = False
    img[ink] = rng.integers(1, 256, int(ink.sum()))
    return img


def parity_data(dtype):
    rng = np.random.default_rng(7)
    tr, te = mnist_like(300, rng), mnist_like(120, rng)
    return X.ParityData(normalize_parity(tr, dtype), rng.integers(0, 10, 300),
                        normalize_parity(te, dtype), rng.integers(0, 10, 120), "test")


def test_background_is_the_normalized_zero_pixel():
    for dt in (np.float32, np.float64):
        assert X.parity_background(dt) == float(normalize_parity(np.zeros(1, np.uint8), dt)[0])
    data = parity_data(np.float32)
    assert 0.6 < np.mean(data.train_images == np.float32(X.parity_background(np.float32))) < 0.95


@pytest.mark.parametrize("credit, optimizer", [("backprop", "sgd"), ("dfa", "sgd"), ("dfa", "adam"),
                                               ("backprop", "adadelta")])
def test_train_parity_backends_agree(credit, optimizer):
    data = parity_data(np.float64)
    cfg = X.ParityConfig(k=3, credit=credit, optimizer=optimizer, lr=X.published_lr(credit, optimizer),
                         num_epochs=2, batch_size=64, n_hidden=16, dtype="float64")
    out = {b: X.train_parity(cfg, data, backend=b) for b in ("auto", "dense", "reference")}
    for b in ("auto", "dense"):
        for W, W_ref in zip(out[b][1].mlp.weights, out["reference"][1].mlp.weights):
            assert W.flags.c_contiguous  # handed back in C order
            np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-12)
        cols = ["train_loss", "test_loss", "test_acc"]
        np.testing.assert_allclose(out[b][0][cols].to_numpy(float), out["reference"][0][cols].to_numpy(float),
                                   rtol=0, atol=1e-10, equal_nan=True)


def test_train_parity_sparse_path_is_deterministic_in_float32():
    data = parity_data(np.float32)
    cfg = X.ParityConfig(k=3, credit="dfa", lr=0.05, num_epochs=2, batch_size=64, n_hidden=16)
    (a, net_a), (b, net_b) = X.train_parity(cfg, data), X.train_parity(cfg, data)
    assert a.equals(b)
    np.testing.assert_array_equal(net_a.mlp.weights[0], net_b.mlp.weights[0])
    dense, _ = X.train_parity(cfg, data, backend="dense")
    np.testing.assert_allclose(a["test_loss"], dense["test_loss"], rtol=1e-4)


def test_train_parity_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="'auto', 'dense' or 'reference'"):
        X.train_parity(X.ParityConfig(k=1, num_epochs=1), parity_data(np.float32), backend="sparse")


def test_sparse_matmul_for_evaluation_batches():
    rng = np.random.default_rng(8)
    Xb = sparse_batch(rng, 301, 70)  # larger than any training buffer
    W = np.asfortranarray(rng.normal(size=(9, 70)))
    np.testing.assert_allclose(S.sparse_matmul(Xb, W, X0), Xb @ W.T, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        S.sparse_matmul(Xb, np.ascontiguousarray(W), X0)
    with pytest.raises(ValueError, match=r"need X \(batch, 70\)"):
        S.sparse_matmul(Xb[:, :69], W, X0)


@pytest.mark.parametrize("method, optimizer", [("bp", "sgd"), ("bp", "adadelta"), ("ntk_coded", "adadelta"),
                                               ("ntk_dm", "adadelta"), ("relu_features", "adadelta")])
def test_lazy_parity_sparse_equals_dense(method, optimizer):
    from learning_rules.experiments import dfa_parity as P

    data = parity_data(np.float64)
    cfg = P.LazyParityConfig(method=method, optimizer=optimizer, lr=P.PUBLISHED_LAZY_LR[(method, optimizer)],
                             k=3, num_epochs=2, batch_size=64, n_hidden=16, dtype="float64")
    (a, net_a), (b, net_b) = P.train_lazy_parity(cfg, data), P.train_lazy_parity(cfg, data, sparse=False)
    assert (net_a.background is not None) == P.LAZY_METHODS.lookup(method).train_first
    assert net_a.W1.shape == net_b.W1.shape
    np.testing.assert_allclose(net_a.W1, net_b.W1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(net_a.W2, net_b.W2, rtol=0, atol=1e-12)
    if P.LAZY_METHODS.lookup(method).train_first:  # W1 moved, so the comparison is not vacuous
        W1_0 = P.GatedNet(method, 3 * 784, 16, optimizer, 0.1,
                          np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(3)[0]),
                          dtype=np.float64).W1
        assert np.abs(net_a.W1 - W1_0).max() > 1e-6
    cols = ["train_loss", "test_loss", "test_acc"]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=0, atol=1e-10,
                               equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_image_pool_rows_equal_compressing_the_assembled_batch(dtype, k):
    """ImagePool.rows(idx) is compress_rows(parity_batch(idx)) entry for entry (same columns in
    the same order, same values bit for bit), for repeated images, an all-background image and a
    batch of one."""
    rng = np.random.default_rng(9)
    raw = mnist_like(40, rng)
    raw[5] = 0  # an image of background only
    images = normalize_parity(raw, dtype)
    labels = rng.integers(0, 10, 40)
    x0 = X.parity_background(dtype)
    pool = S.ImagePool(images, x0)
    assert pool.n_features(k) == 784 * k
    for idx in (rng.integers(0, 40, size=(33, k)), np.full((1, k), 5), np.array([[7] * k, [5] * k])):
        Xb, _ = X.parity_batch(images, labels, idx)
        ptr, ind, val = csr(Xb, x0)
        p2, i2, v2 = pool.rows(idx)
        np.testing.assert_array_equal(p2, ptr)
        np.testing.assert_array_equal(i2, ind)
        assert v2.dtype == dtype
        np.testing.assert_array_equal(v2, val)


def test_image_pool_stores_values_as_codes_into_a_table_of_exact_values():
    """The pool keeps each value as a one-byte index into the table of distinct values (MNIST:
    at most 256), and decoding gives the values bit for bit."""
    rng = np.random.default_rng(4)
    images = normalize_parity(mnist_like(30, rng), np.float32)
    x0 = X.parity_background(np.float32)
    pool = S.ImagePool(images, x0)
    kept = images[images != np.float32(x0)]  # row-major order, as the pool's entries
    np.testing.assert_array_equal(pool.vals.view(np.uint32), (kept - np.float32(x0)).view(np.uint32))
    assert pool.codes.dtype == np.uint8 and pool.cols.dtype == np.uint8
    assert pool.table.size <= 256


@pytest.mark.parametrize("vals", [
    np.array([], np.float32),
    np.array([0.0, -0.0, 1.0, np.nan, -np.inf], np.float32),  # distinct bit patterns stay distinct
    np.r_[np.ones(1 << 20), 2.0, 3.0],  # the first million miss two values: full table
    np.random.default_rng(0).standard_normal(70_000),  # more than 65,536 values: 32-bit codes
])
def test_value_codes_decode_bit_for_bit(vals):
    table, codes = S._value_codes(vals)
    assert table.dtype == vals.dtype
    np.testing.assert_array_equal(table[codes].view(np.uint8), vals.view(np.uint8))
    assert np.iinfo(codes.dtype).max + 1 >= table.size  # the narrowest type that holds them
    if table.size <= 256:
        assert codes.dtype == np.uint8


def test_image_pool_rejects_bad_input():
    images = normalize_parity(mnist_like(4, np.random.default_rng(0)), np.float32)
    with pytest.raises(ValueError, match=r"\(N, height, width\)"):
        S.ImagePool(images.reshape(4, -1), X0)
    with pytest.raises(ValueError, match=r"\(N, height, width\) float32/float64"):
        S.ImagePool(images.astype(np.int16), X0)
    with pytest.raises(ValueError, match="finite"):
        S.ImagePool(images, np.inf)
    pool = S.ImagePool(images, X.parity_background(np.float32))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        pool.rows(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        pool.rows(np.array([[-1]]))
    with pytest.raises(ValueError, match=r"\(batch, k\)"):
        pool.rows(np.array([1, 2]))


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adam"])
def test_trainer_step_on_pool_rows_equals_the_step_on_the_assembled_batch(optimizer):
    """The two ways into the sparse first layer give the same weights bit for bit (float32)."""
    rng = np.random.default_rng(10)
    images = normalize_parity(mnist_like(60, rng), np.float32)
    labels = rng.integers(0, 10, 60)
    x0 = X.parity_background(np.float32)
    pool = S.ImagePool(images, x0)
    batches = [rng.integers(0, 60, size=(n, 3)) for n in (32, 32, 32, 9)]
    runs = []
    for use_pool in (False, True):
        mlp = MLP.create([3 * 784, 24, 1], ["relu", "sigmoid"], init="pytorch", bias=False,
                         rng=np.random.default_rng(0), dtype=np.float32)
        mlp.weights[0] = np.asfortranarray(mlp.weights[0])
        cls = MinibatchSGD if optimizer == "sgd" else MinibatchOptimizer
        kw = {} if optimizer == "sgd" else {"optimizer": optimizer}
        tr = cls(mlp.weights, mlp.biases, mlp.activations, "bce", 0.01, 32,
                 feedback=[np.random.default_rng(1).normal(size=(1, 24)).astype(np.float32)],
                 input_background=x0, **kw)
        for idx in batches:
            Xb, y = X.parity_batch(images, labels, idx)
            Y = y[:, None].astype(np.float32)
            if use_pool:
                tr.step(None, Y, rows=pool.rows(idx))
            else:
                tr.step(Xb, Y)
        runs.append([W.copy() for W in mlp.weights])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert np.abs(runs[0][0] - np.asfortranarray(MLP.create(
        [3 * 784, 24, 1], ["relu", "sigmoid"], init="pytorch", bias=False,
        rng=np.random.default_rng(0), dtype=np.float32).weights[0])).max() > 0  # it trained


def test_trainer_rejects_bad_rows():
    mlp = _net([300, 8, 1], False)
    dense = MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16)
    Xb = sparse_batch(np.random.default_rng(0), 4, 300)
    rows = csr(Xb, X0)
    Y = np.zeros((4, 1))
    with pytest.raises(ValueError, match="needs a trainer built with input_background"):
        dense.step(None, Y, rows=rows)
    mlp.weights[0] = np.asfortranarray(mlp.weights[0])
    tr = MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, input_background=X0)
    with pytest.raises(ValueError, match="needs the batch X"):
        tr.step(None, Y)
    with pytest.raises(ValueError, match="matching Y's 3 rows"):
        tr.step(None, Y[:3], rows=rows)
    ptr, ind, val = rows
    with pytest.raises(ValueError, match=r"column indices must lie in 0\.\.299"):
        tr.step(None, Y, rows=(ptr, ind + 300, val))
    with pytest.raises(ValueError, match=r"\(int64, int32, float64\)"):
        tr.step(None, Y, rows=(ptr, ind, val.astype(np.float32)))
    with pytest.raises(ValueError, match="ptr must rise"):
        tr.step(None, Y, rows=(ptr[::-1].copy(), ind, val))
    with pytest.raises(ValueError, match="CSR triple"):
        tr.step(None, Y, rows=(ptr, ind))
    tr.step(None, Y, rows=rows)  # the good form goes through


def test_pool_rows_carry_their_column_bound_to_the_trainer():
    """Rows from an ImagePool are in range by construction (no index scan in the step); rows of
    a wider input than the first layer are refused by that bound."""
    rng = np.random.default_rng(2)
    images = normalize_parity(mnist_like(10, rng), np.float64)
    pool = S.ImagePool(images, X0)
    rows = pool.rows(rng.integers(0, 10, size=(4, 2)))
    assert isinstance(rows, S.PoolRows) and rows.n_columns == 2 * 784
    ptr, ind, val = rows
    assert ind.max() < rows.n_columns
    Y = np.zeros((4, 1))
    for n_in, ok in ((2 * 784, True), (784, False)):
        mlp = _net([n_in, 8, 1], False)
        mlp.weights[0] = np.asfortranarray(mlp.weights[0])
        tr = MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, input_background=X0)
        if ok:
            tr.step(None, Y, rows=rows)
        else:
            with pytest.raises(ValueError, match="the pool's inputs have 1568 columns, the first layer 784"):
                tr.step(None, Y, rows=rows)


def test_sparse_matmul_rows_checks_its_input():
    rng = np.random.default_rng(11)
    Xb = sparse_batch(rng, 12, 70)
    W = np.asfortranarray(rng.normal(size=(9, 70)))
    rows = csr(Xb, X0)
    np.testing.assert_allclose(S.sparse_matmul_rows(rows, W, X0), Xb @ W.T, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="Fortran order"):
        S.sparse_matmul_rows(rows, np.ascontiguousarray(W), X0)
    with pytest.raises(ValueError, match="float32, W is float64"):
        S.sparse_matmul_rows((rows[0], rows[1], rows[2].astype(np.float32)), W, X0)
    with pytest.raises(ValueError, match="column >= W's 60 inputs"):
        S.sparse_matmul_rows(rows, np.asfortranarray(W[:, :60]), X0)


@pytest.mark.parametrize("method", ["bp", "ntk_coded", "ntk_dm"])
def test_gated_net_step_on_pool_rows_equals_the_step_on_the_assembled_batch(method):
    from learning_rules.experiments import dfa_parity as P

    rng = np.random.default_rng(12)
    images = normalize_parity(mnist_like(50, rng), np.float32)
    labels = rng.integers(0, 10, 50)
    x0 = X.parity_background(np.float32)
    pool = S.ImagePool(images, x0)
    nets = [P.GatedNet(method, 3 * 784, 16, "adadelta", 0.1, np.random.default_rng(3),
                       dtype=np.float32, background=x0) for _ in range(2)]
    for idx in (rng.integers(0, 50, size=(32, 3)), rng.integers(0, 50, size=(7, 3))):
        Xb, y = X.parity_batch(images, labels, idx)
        Y = y[:, None].astype(np.float32)
        gate = nets[0].gate(Xb)
        la, za = nets[0].step(Xb, Y, gate)
        lb, zb = nets[1].step(None, Y, gate, rows=pool.rows(idx))
        assert la == lb
        np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(nets[0].W1, nets[1].W1)
    np.testing.assert_array_equal(nets[0].W2, nets[1].W2)
    if method != "bp":
        with pytest.raises(ValueError, match="needs its gate passed with rows"):
            nets[1].step(None, Y, None, rows=pool.rows(idx))
    dense = P.GatedNet(method, 3 * 784, 16, "adadelta", 0.1, np.random.default_rng(3), dtype=np.float32)
    with pytest.raises(ValueError, match="needs a GatedNet with background"):
        dense.step(None, Y, gate, rows=pool.rows(idx))


OPTIMIZER_FORMS = [("sgd", {}), ("adagrad", {"eps": 1e-8, "eps_placement": "inside"}),
                   ("adagrad", {}), ("rmsprop", {"beta": 0.9, "eps": 1e-8, "bias_correction": False,
                                                 "eps_placement": "inside"}),
                   ("rmsprop", {}), ("adadelta", {"variant": "thesis", "rho": 0.9}),
                   ("adadelta", {}), ("adam", {}), ("adam", {"step_count": "epoch"})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params", OPTIMIZER_FORMS)
def test_sparse_fused_step_equals_gradient_then_optimizer_then_row_sums(name, params, dtype):
    """One pass over W1^T gives bit for bit what the three passes give (dense gradient,
    fused_step, column_sums), step after step (the accumulators and t carried)."""
    from learning_rules.fast.minibatch import fused_step, sparse_fused_step
    from learning_rules.updates import OPTIMIZERS

    rng = np.random.default_rng(13)
    n_in, n_out, B = 300, 24, 17
    WT0 = rng.normal(size=(n_in, n_out)).astype(dtype)
    runs = []
    for fused in (False, True):
        opt = OPTIMIZERS.lookup(name)(0.01, **params)
        WT = WT0.copy()
        state = opt.init_state(WT)
        s, buf, GT = np.empty(n_out, dtype), np.empty(n_out, dtype), np.empty_like(WT)
        data = np.random.default_rng(14)
        for step in range(4):
            opt.set_epoch(step // 2)
            Xb = sparse_batch(data, B, n_in, dtype=dtype)
            D = data.normal(size=(B, n_out)).astype(dtype)
            forms = csc(Xb, X0)
            inv = dtype(1.0 / B)
            if fused:
                sparse_fused_step(opt, forms, D, dtype(X0), inv, WT, s, buf, state)
            else:
                S.sparse_gradient(*forms, D, dtype(X0), inv, GT)
                fused_step(opt, WT, GT, state)
                S.column_sums(WT, s)
        runs.append((WT, s.copy(), state))
    (W_a, s_a, st_a), (W_b, s_b, st_b) = runs
    np.testing.assert_array_equal(W_b, W_a)
    np.testing.assert_array_equal(s_b, s_a)
    assert st_a["t"] == st_b["t"] == 4
    for key in st_a:
        np.testing.assert_array_equal(st_b[key], st_a[key])
    assert np.abs(W_b - WT0).max() > 0  # it moved


def test_sparse_fused_step_refuses_an_optimizer_without_a_kernel():
    from learning_rules.fast.minibatch import sparse_fused_step
    from learning_rules.updates import OPTIMIZERS

    opt = OPTIMIZERS.lookup("momentum")(0.01)
    WT = np.zeros((5, 3))
    with pytest.raises(ValueError, match="has no fused kernel; valid: sgd, adagrad"):
        sparse_fused_step(opt, csc(np.full((2, 5), X0), X0), np.zeros((2, 3)), X0, 0.5, WT,
                          np.empty(3), np.empty(3), opt.init_state(WT))


@pytest.mark.parametrize("update", ["dual_weight", "dual_weight_stabilized"])
@pytest.mark.parametrize("credit, layers", [("dfa", 1), ("backprop", 1), ("fa", 2), ("dfa", 2)])
def test_train_parity_dual_weight_fast_path_equals_the_reference(update, credit, layers):
    """MinibatchDualWeight (sparse first layer, the rule's own apply above it) follows the
    reference engine's dual-weight steps to rounding, halves included, and keeps W = W1 - W2."""
    data = parity_data(np.float64)
    cfg = X.ParityConfig(k=3, credit=credit, update=update, lr=0.2, num_epochs=2, batch_size=64,
                         n_hidden=16, n_hidden_layers=layers, dtype="float64")
    assert X.uses_buffers(cfg)
    fast, net_f = X.train_parity(cfg, data, backend="auto")
    ref, net_r = X.train_parity(cfg, data, backend="reference")
    for l, (W_f, W_r) in enumerate(zip(net_f.mlp.weights, net_r.mlp.weights)):
        np.testing.assert_allclose(W_f, W_r, rtol=0, atol=1e-12)
        st_f, st_r = net_f.layer_states[l], net_r.layer_states[l]
        for key in st_r:
            np.testing.assert_allclose(st_f[key], st_r[key], rtol=0, atol=1e-12)
        assert st_f["W1"].flags.c_contiguous and W_f.flags.c_contiguous  # handed back in C order
        np.testing.assert_array_equal(W_f, st_f["W1"] - st_f["W2"])
    assert np.abs(net_f.layer_states[0]["W2"]).max() > 0  # the inhibitory half moved
    cols = ["train_loss", "test_loss", "test_acc"]
    np.testing.assert_allclose(fast[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=0, atol=1e-10,
                               equal_nan=True)


def test_sparse_average_update_equals_the_rule_and_keeps_silent_rows():
    from learning_rules.updates.dual_weight import move_rows_toward_inputs

    rng = np.random.default_rng(15)
    Xb = sparse_batch(rng, 9, 40)
    A = np.maximum(rng.normal(size=(9, 6)), 0) * 0.1
    A[:, 2] = 0.0  # a silent neuron
    H = np.asfortranarray(rng.normal(size=(6, 40)))
    H0 = H.copy()
    ref = move_rows_toward_inputs(H, A, Xb)
    keep = 1.0 - A.sum(axis=0) / 9
    S.sparse_average_update(*csc(Xb, X0), A, X0, 1 / 9, keep, H.T, np.empty(6))
    np.testing.assert_allclose(H, ref, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(H[2], H0[2])
    W = np.empty_like(H)
    s = np.empty(6)
    S.difference_and_sums(H.T, H0.T, W.T, s)
    np.testing.assert_array_equal(W, H - H0)
    np.testing.assert_allclose(s, W.sum(axis=1), rtol=1e-13)


def test_dual_weight_trainer_rejects_a_gradient_rule():
    from learning_rules.fast import MinibatchDualWeight
    from learning_rules.engine import make_weight_update

    mlp = _net([300, 8, 1], False)
    rule = make_weight_update("gradient", 0.1)
    with pytest.raises(ValueError, match="needs a dual-weight rule, got GradientUpdate"):
        MinibatchDualWeight(mlp.weights, mlp.biases, mlp.activations, "bce", rule, [None, None], 16)
