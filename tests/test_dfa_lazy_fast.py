"""Frozen-layer projections and fused optimizer steps of the lazy parity baselines equal the
direct computation (oracles: the full matmul, the engine optimizer's step, a run without the
precomputation)."""

from __future__ import annotations

import numpy as np
import pytest

from learning_rules.experiments import dfa_parity as P


def test_slot_weights_pick_the_columns_of_each_digit():
    k = 3
    W = np.tile(np.arange(784 * k, dtype=np.float64), (2, 1))  # W[:, j] = j
    for s in range(k):
        Ws = P.slot_weights(W, k, s)
        for r, c in [(0, 0), (5, 7), (27, 27)]:
            assert Ws[1, 28 * r + c] == 28 * k * r + 28 * s + c
    with pytest.raises(ValueError, match="784\\*k"):
        P.slot_weights(W, 2, 0)


@pytest.mark.parametrize("k", [1, 3])
def test_slot_projections_sum_to_the_full_product(k):
    from learning_rules.experiments.dfa import parity_batch

    rng = np.random.default_rng(0)
    images = rng.standard_normal((40, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 40)
    W = (rng.uniform(-1, 1, (16, 784 * k)) / 28).astype(np.float32)
    idx = np.stack([rng.permutation(40) for _ in range(k)], axis=1)
    X, _ = parity_batch(images, labels, idx)
    got = P.gather_projection(P.slot_projections(images, W, k), idx)
    np.testing.assert_allclose(got, X @ W.T, rtol=0, atol=2e-5 * np.abs(X @ W.T).max())


@pytest.mark.parametrize("method, optimizer", [("ntk_coded", "adadelta"), ("bp", "sgd"),
                                               ("relu_features", "adadelta")])
def test_fused_gated_net_equals_engine_optimizer(method, optimizer):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((24, 30)).astype(np.float32)
    Y = (rng.random((24, 1)) < 0.5).astype(np.float32)
    params = {"variant": "zeiler", "rho": 0.9, "eps": 1e-6} if optimizer == "adadelta" else {}
    nets = [P.GatedNet(method, 30, 12, optimizer, 0.5, np.random.default_rng(5), params,
                       np.float32, fused=f) for f in (True, False)]
    W0 = nets[0].W2.copy()
    for _ in range(6):
        for net in nets:
            net.step(X, Y)
    assert np.max(np.abs(nets[1].W2 - W0)) > 1e-3
    for a, b in ((nets[0].W1, nets[1].W1), (nets[0].W2, nets[1].W2)):
        assert np.max(np.abs(a - b)) <= 3e-5 * max(1.0, float(np.abs(b).max()))


@pytest.mark.parametrize("method", ["gaussian_features", "linear_features", "ntk_coded", "ntk_dm"])
def test_lazy_run_with_projections_equals_direct_run(method, monkeypatch):
    """A whole (tiny) run: precomputed projections vs. the frozen layer applied every batch."""
    cfg = P.LazyParityConfig(k=3, method=method, num_epochs=2, n_hidden=12, n_train=300, n_test=120,
                             batch_size=64)
    fast, _ = P.train_lazy_parity(cfg)

    # no precomputation: the frozen layer is applied to every batch (the previous code path)
    monkeypatch.setattr(P, "slot_projections", lambda images, W, k: None)
    ref, _ = P.train_lazy_parity(cfg)
    for col in ("train_loss", "test_loss"):
        a, b = fast[col].to_numpy()[1:], ref[col].to_numpy()[1:]
        np.testing.assert_allclose(a, b, rtol=1e-4)
    assert np.max(np.abs(fast["test_acc"] - ref["test_acc"])) <= 2 / 120  # a gate may flip at u = 0


def test_run_curve_specs_in_two_processes_equals_sequential(tmp_path):
    """Parallel runs give the same frame as sequential ones, and share the store entries."""
    from learning_rules.store import Store

    specs = [spec for spec in P.parity_curve_specs(1, [0], 1, 120, 60)
             if spec[0] in ("BP SGD", "ReLU features", "NTK, as coded (soft gate)")]
    specs = [(label, cfg.replace(n_hidden=8)) for label, cfg in specs]
    store = Store(tmp_path / "store")
    par = P.run_curve_specs(specs, store, n_jobs=2)
    seq = P.run_curve_specs(specs, None, n_jobs=1)
    assert len(store.list()) == 3
    cols = ["method", "epoch", "test_acc", "test_loss", "train_loss"]
    import pandas as pd

    pd.testing.assert_frame_equal(par[cols], seq[cols])


# --------------------------------------------------------------------------------------------------
# the compiled helpers of the lazy runs equal the NumPy formulas they replace, bit for bit
# --------------------------------------------------------------------------------------------------


def _numpy_gather(P_list, idx, relu):
    out = P_list[0][idx[:, 0]]
    for s in range(1, len(P_list)):
        out += P_list[s][idx[:, s]]
    return out * P.relu_gate(out) if relu else out


def _numpy_sigmoid(z):
    ez = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez)).astype(z.dtype, copy=False)


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # NaN where NaN
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))  # signed zeros too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("relu", [False, True])
def test_gather_projection_equals_the_numpy_sum_bit_for_bit(dtype, k, relu):
    rng = np.random.default_rng(k)
    P_list = [rng.standard_normal((30, 17)).astype(dtype) for _ in range(k)]
    P_list[0][4, :5] = [np.inf, -np.inf, np.nan, -0.0, 0.0]
    idx = np.concatenate([rng.integers(0, 30, (25, k)), np.full((1, k), 4)])
    with np.errstate(invalid="ignore"):  # inf * 0
        ref = _numpy_gather(P_list, idx, relu)
    _same_bits(P.gather_projection(P_list, idx, relu=relu), ref)
    buf = np.full((40, 17), 7.0, dtype)
    got = P.gather_projection(P_list, idx, out=buf[:26], relu=relu)
    assert got.base is buf or got is buf[:26] or np.shares_memory(got, buf)
    _same_bits(got, ref)


def test_gather_projection_rejects_bad_input():
    P_list = [np.zeros((5, 3), np.float32)] * 2
    with pytest.raises(ValueError, match="indices must lie"):
        P.gather_projection(P_list, np.array([[0, 5]]))
    with pytest.raises(ValueError, match="indices must lie"):
        P.gather_projection(P_list, np.array([[-1, 0]]))
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        P.gather_projection(P_list, np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="C-contiguous"):
        P.gather_projection(P_list, np.array([[0, 1]]), out=np.zeros((1, 3), np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_equals_the_numpy_select_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((64, 33)) * rng.choice([0.01, 1, 30, 300], (64, 33))).astype(dtype)
    z.reshape(-1)[:7] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40]
    with np.errstate(all="ignore"):
        ref = _numpy_sigmoid(z)
        _same_bits(P._sigmoid(z), ref)
        _same_bits(P._sigmoid(z.T), ref.T)  # not C-contiguous
        out = np.empty_like(z)
        _same_bits(P._sigmoid(z, out), ref)
        buf = z.copy()
        _same_bits(P._sigmoid(buf[:], out=buf[:]), ref)  # in place through another view
        _same_bits(buf, ref)
    with pytest.raises(ValueError, match="C-contiguous"):
        P._sigmoid(z, out=np.empty((33, 64), dtype).T)


@pytest.mark.parametrize("method", ["ntk_coded", "ntk_dm"])
def test_gate_from_preactivation_in_place_equals_the_new_array(method):
    rng = np.random.default_rng(4)
    net = P.GatedNet(method, 6, 5, "sgd", 0.1, rng, dtype=np.float32)
    u = rng.standard_normal((9, 5)).astype(np.float32)
    u[0, :2] = [0.0, -0.0]
    ref = net.gate_from_preactivation(u)
    buf = u.copy()
    _same_bits(net.gate_from_preactivation(buf, out=buf), ref)


@pytest.mark.parametrize("method, optimizer", [("bp", "adadelta"), ("ntk_dm", "sgd")])
def test_sparse_steps_keep_the_row_sums_of_w1(method, optimizer):
    """The row sums s = W1 1 carried from one sparse step to the next equal column_sums of the
    new W1 (oracle: a twin net that recomputes them before every step); a new W1 array is
    summed again."""
    from learning_rules.fast.sparse_input import ImagePool, column_sums

    rng = np.random.default_rng(8)
    images = rng.standard_normal((30, 28, 28)).astype(np.float32)
    images[images < 0.5] = -0.25  # mostly background
    pool = ImagePool(images, -0.25)
    params = {"variant": "zeiler", "rho": 0.9, "eps": 1e-6} if optimizer == "adadelta" else {}
    nets = [P.GatedNet(method, 3 * 784, 12, optimizer, 0.3, np.random.default_rng(1), params,
                       np.float32, background=-0.25) for _ in range(2)]
    for _ in range(4):
        idx = rng.integers(0, 30, (16, 3))
        Y = (rng.random((16, 1)) < 0.5).astype(np.float32)
        gate = None if method == "bp" else nets[0].gate_from_preactivation(
            rng.standard_normal((16, 12)).astype(np.float32))
        nets[1]._row_sums = None  # the oracle: summed afresh every step
        za = nets[0].step(None, Y, gate, rows=pool.rows(idx))[1]
        zb = nets[1].step(None, Y, gate, rows=pool.rows(idx))[1]
        np.testing.assert_array_equal(za, zb)
        s = np.empty(12, np.float32)
        column_sums(nets[0].W1.T, s)
        np.testing.assert_array_equal(nets[0]._row_sums, s)
    np.testing.assert_array_equal(nets[0].W1, nets[1].W1)
    nets[0].W1 = np.asfortranarray(nets[0].W1 * 2)  # a new array: its sums are recomputed
    nets[0].step(None, Y, gate, rows=pool.rows(idx))
    assert nets[0]._row_sums_of is nets[0].W1


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("method", ["relu_features", "linear_features", "ntk_coded", "ntk_dm"])
def test_lazy_run_with_compiled_gathers_equals_the_numpy_gathers(method, k, monkeypatch):
    """A whole run (float32 and float64 weights and frame) is bit for bit the run whose gathers
    are the NumPy sum and whose gates are new arrays (the code before the buffers)."""
    cfg = P.LazyParityConfig(k=k, method=method, num_epochs=2, n_hidden=12, n_train=300,
                             n_test=120, batch_size=64, dtype="float32")
    fast, net_fast = P.train_lazy_parity(cfg)
    real_gate = P.GatedNet.gate_from_preactivation
    monkeypatch.setattr(P, "gather_projection",
                        lambda P_list, idx, out=None, relu=False: _numpy_gather(P_list, idx, relu))
    monkeypatch.setattr(P.GatedNet, "gate_from_preactivation",
                        lambda self, u, out=None: real_gate(self, u))
    monkeypatch.setattr(P, "_sigmoid", lambda z, out=None: _numpy_sigmoid(z))
    ref, net_ref = P.train_lazy_parity(cfg)
    import pandas as pd

    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    np.testing.assert_array_equal(net_fast.W1, net_ref.W1)
    np.testing.assert_array_equal(net_fast.W2, net_ref.W2)
