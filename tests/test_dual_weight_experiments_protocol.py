"""Protocols of the dual-weight experiments: the as-coded sample sequence, the corrected splits,
the five methods' starting point and update forms, and a tiny end-to-end cell."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import dual_weight as E
from learning_rules.experiments import dual_weight_fields, dual_weight_tables

# spec sec. 5: unique training samples of the seed-5 draw (n = 100 / 500 / 1000)
UNIQUE = {"house": (20433, (100, 492, 979)), "wine": (4898, (99, 483, 909)),
          "mnist": (55000, (100, 498, 988)), "fashion": (60000, (100, 498, 989)),
          "cifar10": (10000, (100, 489, 953))}


@pytest.mark.parametrize("dataset", sorted(UNIQUE))
def test_as_coded_pool_has_the_specs_unique_counts(dataset):
    rows, expected = UNIQUE[dataset]
    got = tuple(int(np.unique(E.as_coded_pool(rows, n)[1]).size) for n in (100, 500, 1000))
    assert got == expected


def test_as_coded_orders_replay_the_codes_shared_generator():
    # the original: np.random.seed(5); numlist = randint(...); then per block, per model in order,
    # 10k times np.random.choice(numlist). Replay it literally (small sizes) and compare.
    n, blocks, block = 37, 2, 50
    rs = np.random.RandomState(5)
    pool = rs.randint(0, 500, size=n)
    literal = {m: [] for m in E.METHODS}
    for _ in range(blocks):
        for m in E.METHODS:
            literal[m] += [rs.choice(pool) for _ in range(block)]
    rs2, pool2 = E.as_coded_pool(500, n)
    orders = E.as_coded_orders(rs2, n, blocks, block)
    assert np.array_equal(pool, pool2)
    for m in E.METHODS:
        assert np.array_equal(pool2[orders[m]], np.array(literal[m]))
    assert not np.array_equal(orders["our"], orders["GD"])  # each method its own order


def test_corrected_order_is_reshuffled_passes():
    o = E.corrected_order(np.random.default_rng(3), 10, 35)
    assert o.shape == (35,)
    for k in range(3):
        assert sorted(o[10 * k:10 * k + 10]) == list(range(10))
    assert np.array_equal(o, E.corrected_order(np.random.default_rng(3), 10, 35))


def test_zscore_matches_pandas_ddof1():
    A = np.random.default_rng(0).normal(3, 2, size=(20, 3))
    df = pd.DataFrame(A)
    assert np.allclose(E.zscore(A), ((df - df.mean()) / df.std()).to_numpy())
    ref = A[:5]
    assert np.allclose(E.zscore(A, ref)[:5].mean(axis=0), 0.0)


def test_prepare_as_coded_wine(shared_data):
    p = E.prepare("as_coded", "wine", 100, seed=0, steps=20000)
    assert p.X_pool.shape == (100, 11) and p.X_test.shape == (4799, 11)  # spec: test size 4799
    assert p.n_unique == 99
    assert set(p.orders) == set(E.METHODS) and all(len(o) == 20000 for o in p.orders.values())
    y_all = np.concatenate([p.y_pool, p.y_test])
    assert 0.08 < y_all.std() < 0.12  # z-scored target x 0.1 (pool rows may repeat)


def test_prepare_corrected_is_disjoint_and_seeded(shared_data):
    a = E.prepare("corrected", "house", 200, seed=4, steps=1000)
    b = E.prepare("corrected", "house", 200, seed=4, steps=1000)
    c = E.prepare("corrected", "house", 200, seed=5, steps=1000)
    assert a.n_unique == 200 and a.X_test.shape[0] == 20433 - 200
    assert np.array_equal(a.X_pool, b.X_pool) and not np.array_equal(a.X_pool, c.X_pool)
    assert np.allclose(a.X_pool.mean(axis=0), 0.0) and np.allclose(a.X_pool.std(axis=0, ddof=1), 1.0)
    assert len({id(o) for o in a.orders.values()}) == 1  # one order for every method
    rows_pool = {tuple(r) for r in a.X_pool.round(9)}
    assert not rows_pool & {tuple(r) for r in a.X_test.round(9)}


def test_mnist_coded_split_is_the_tf_readers_55k(shared_data):
    from learning_rules import data

    Xc, yc = E.load_raw("mnist", "coded")
    X, y = data.load("mnist", "train", dtype=np.float32)
    assert Xc.shape == (55000, 784)
    assert np.array_equal(yc, y[5000:]) and np.array_equal(Xc[:3], X[5000:5003])


def test_every_method_starts_as_the_same_function():
    rng = np.random.default_rng(0)
    sizes = [5, 4, 3, 1]
    W = E.he_normal_init(sizes, rng)
    X = rng.normal(size=(7, 5))
    outs = []
    for m in E.METHODS:
        net = E.build_network(m, "as_coded", sizes, "regression", 1e-3, W)
        outs.append(net.mlp.forward(X).z[-1])
        if m.startswith("our"):
            assert np.array_equal(net.layer_states[0]["W1"], W[0])
            assert not net.layer_states[0]["W2"].any()
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


@pytest.mark.parametrize("protocol", E.PROTOCOLS)
def test_l2_forms_by_protocol(protocol):
    rng = np.random.default_rng(1)
    sizes = [3, 2, 1]
    W = E.he_normal_init(sizes, rng)
    lr, lam = 0.1, 0.1
    net = E.build_network("L2 0.1", protocol, sizes, "regression", lr, W)
    x, y = rng.normal(size=(1, 3)), np.array([0.5])
    cache = net.mlp.forward(x)
    _, e, deltas = net.signals(x, y)
    W2 = W[1].copy()
    grad = deltas[1].T @ cache.h[1]
    if protocol == "as_coded":  # W - lr (grad + lam W / ||W||_F)
        expect = W2 - lr * (grad + lam * W2 / np.linalg.norm(W2))
    else:  # W (1 - lr lam) - lr grad  (paper eq. 19)
        expect = W2 * (1 - lr * lam) - lr * grad
    net.train_step(x, y)
    assert np.allclose(net.mlp.weights[1], expect, atol=1e-12)


def test_run_cell_structure_and_determinism(shared_data):
    cfg = E.CellConfig("as_coded", "wine", 2, 100, seed=3, steps=300, eval_every=100)
    a = E.run_cell(cfg)
    b = E.run_cell(cfg)
    pd.testing.assert_frame_equal(a.drop(columns="cpu_s"), b.drop(columns="cpu_s"))  # bit for bit
    assert (a["cpu_s"] >= 0).all()
    assert sorted(a.loc[a.condition == "normal", "step"].unique()) == [0, 100, 200, 300]
    assert (a[a.condition == "noise"]["step"] == 300).all()
    start = a[(a.step == 0)]["value"]
    assert np.allclose(start, start.iloc[0])  # one shared W_init
    other = E.run_cell(dataclasses.replace(cfg, seed=4))
    assert not np.allclose(other["value"], a["value"])


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="protocol"):
        E.CellConfig(protocol="paper")
    with pytest.raises(ValueError, match="dual-weight dataset"):
        E.CellConfig(dataset="iris")
    with pytest.raises(ValueError, match="method"):
        E.CellConfig(methods=("adam",))
    with pytest.raises(ValueError, match="layers"):
        E.architecture("wine", 4, 11)
    with pytest.raises(ValueError, match="lr_scaling"):
        E.BatchConfig(lr_scaling="sqrt")


def test_missing_dataset_is_reported_not_replaced():
    reasons = E.missing_reasons(list(E.DATASETS))
    for name, reason in reasons.items():
        assert name in reason or E.DATASETS[name].loader in reason
        assert "Fix" in reason or "Error" in reason


def test_a_diverging_run_gives_nan_not_an_error(shared_data):
    cfg = E.CellConfig("corrected", "house", 3, 100, seed=0, steps=2000, eval_every=1000, lr=0.5,
                       methods=("GD",))
    f = E.run_cell(cfg)
    assert np.isfinite(f[f.step == 0]["value"]).all()
    assert f[f.step == 2000]["value"].isna().all()


def test_reproduced_cells_for_the_ledger(shared_data, tmp_path, monkeypatch):
    from learning_rules.report import validate_reproduced

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path))
    cells = dual_weight_tables.reproduced_cells("smoke")
    validate_reproduced(cells)
    from learning_rules.analysis.dual_weight import published

    assert len(cells) == len(published())  # one row per published cell
    run = cells.dropna(subset=["reproduced"])
    assert len(run) > 0 and set(run["source"]) == {"dual_weight"}
    cifar = cells[cells["row"].str.startswith("cifar10")]
    if E.dataset_status("cifar10") is not None:
        assert cifar["reproduced"].isna().all()
        assert cifar["note"].str.contains("cifar").all()


def _toy_fields(moved: set[int], n_neurons: int = 4) -> pd.DataFrame:
    """A receptive-field frame with an ``init`` method and one trained method moving ``moved`` units."""
    rng = np.random.default_rng(3)
    W0 = rng.normal(size=(n_neurons, 784))
    W = W0.copy()
    for j in moved:
        W[j] += 0.5 * rng.normal(size=784)
    rows = []
    for method, M in (("init", W0), ("GD", W)):
        for j in range(n_neurons):
            rows.append(pd.DataFrame({"seed": 0, "method": method, "neuron": j,
                                      "pixel": np.arange(784), "weight": M[j]}))
    return pd.concat(rows, ignore_index=True)


def test_silent_neurons_are_the_unmoved_fields():
    rf = _toy_fields(moved={0, 2})
    assert dual_weight_fields.silent_neurons(rf, "GD") == [1, 3]
    assert dual_weight_fields.silent_neurons(rf, "init") == [0, 1, 2, 3]
    assert dual_weight_fields.silent_neurons(rf, "GD", rtol=0.0) == [1, 3]  # exactly unchanged
    assert dual_weight_fields.silent_neurons(rf, "GD", rtol=0.9) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="rtol"):
        dual_weight_fields.silent_neurons(rf, "GD", rtol=1.5)


def test_plot_fields_scales():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rf = _toy_fields(moved={0})
    for scale in dual_weight_fields.FIELD_SCALES:
        fig = dual_weight_fields.plot_fields(rf, ["init", "GD"], range(4), scale=scale)
        images = [ax.images[0] for ax in fig.axes if ax.images]
        assert len(images) == 8
        if scale != "image":  # centred at zero
            assert all(np.isclose(im.get_clim()[0], -im.get_clim()[1]) for im in images)
        if scale == "shared":  # one scale for every row
            assert len({im.get_clim() for im in images}) == 1
        plt.close(fig)
    with pytest.raises(ValueError, match="scale"):
        dual_weight_fields.plot_fields(rf, ["GD"], scale="per-pixel")
