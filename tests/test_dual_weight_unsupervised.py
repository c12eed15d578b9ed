"""The unsupervised dual-weight page (book/dual-weight/unsupervised.ipynb): its measures and verdict
against hand-worked numbers and independent computations, its configs and planner, and a tiny run
against a hand-written training loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import learning_rules
from learning_rules.experiments import PLANNERS
from learning_rules.experiments import dual_weight as E
from learning_rules.experiments import dual_weight_unsupervised as U
from conftest import executed_and_closure

PKG = Path(learning_rules.__file__).resolve().parent

SMALL = dict(datasets=["mnist", "fashion"], readings=["active", "all"], layers=3, n=100, steps=300, lr=1e-3,
             quantile=0.5, other_quantiles=[0.25], block=100, checkpoints=[100], n_test=500, seeds=[0, 1],
             n_jobs=1)

# ------------------------------------------------------------------------------------------ measures


def test_layer_features_threshold_and_unit_activity_hand_worked():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    b = np.array([0.0, -0.5, 0.0])
    X = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    H = U.layer_features(W, b, X)
    assert H.tolist() == [[1.0, 0.5, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    # totals 1.5, 2, 0: the median is 1.5, the 0.25-quantile 0.75 (linear interpolation)
    assert U.initial_threshold(W, b, X, 0.5) == 1.5
    assert U.initial_threshold(W, b, X, 0.25) == 0.75
    assert U.unit_activity(W, b, X).tolist() == [2 / 3, 1 / 3, 0.0]


def test_row_cosine_hand_worked():
    assert U.row_cosine(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])) == pytest.approx(1.0)
    assert U.row_cosine(np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.0
    # pairs: (a,b) cos 0, (a,c) cos -1, (b,c) cos 0 -> mean -1/3
    assert U.row_cosine(np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])) == pytest.approx(-1 / 3)
    assert U.row_cosine(np.array([[0.0, 0.0], [1.0, 0.0]])) == 0.0  # a zero row counts as 0


def test_contrast_and_halves_cosines_hand_worked():
    X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    S = np.array([0.0, 1.0, 5.0])  # quiet: rows 0 and 1 (mean [2, 0]); loud: row 2 ([0, 2])
    c = np.array([2.0, -2.0])  # the contrast
    W = np.array([[1.0, -1.0], [1.0, 0.0]])
    expected = np.mean(W @ c / (np.linalg.norm(W, axis=1) * np.linalg.norm(c)))
    assert U.contrast_cosine(W, X, S, 2.0) == pytest.approx(expected)
    assert np.isnan(U.contrast_cosine(W, X, S, 10.0))  # nothing above the threshold
    W1 = np.array([[1.0, 0.0], [1.0, 1.0]])
    W2 = np.array([[2.0, 0.0], [-1.0, 1.0]])
    assert U.halves_cosine(W1, W2) == pytest.approx((1.0 + 0.0) / 2)


def _cells(gains: dict) -> pd.DataFrame:
    """A cell frame with read-outs: random at 50 %, the trained layer 50 + gain, per seed."""
    rows = []
    for (ds, reading), values in gains.items():
        for seed, g in enumerate(values):
            for features, acc in (("random", 50.0), ("unsupervised", 50.0 + g), ("pixels", 80.0)):
                rows.append((ds, reading, 0.5, seed, 10, "readout", features, 10, acc))
            rows.append((ds, reading, 0.5, seed, 10, "readout", "unsupervised", 5, 99.0))  # a checkpoint
    return pd.DataFrame(rows, columns=["dataset", "reading", "quantile", "seed", "steps", "measure", "features",
                                       "step", "value"])


def test_paired_gains_use_the_final_layer_and_pair_seeds():
    frame = _cells({("mnist", "active"): [1.0, 2.0, 3.0]})
    g = U.paired_gains(frame)
    assert g["gain"].tolist() == [1.0, 2.0, 3.0] and g["seed"].tolist() == [0, 1, 2]
    s = U.readout_summary(frame)
    row = s[s["features"] == "unsupervised"].iloc[0]
    half = stats.t.ppf(0.975, 2) * np.std([51.0, 52.0, 53.0], ddof=1) / np.sqrt(3)
    assert row["accuracy"] == 52.0 and row["high"] - 52.0 == pytest.approx(half) and row["seeds"] == 3


@pytest.mark.parametrize("gains, verdict, statuses", [
    ({("mnist", "active"): [2.0, 2.5, 3.0], ("fashion", "active"): [2.0, 2.5, 3.0]}, "useful", ["useful", "useful"]),
    ({("mnist", "active"): [2.0, 2.5, 3.0], ("fashion", "active"): [-2.0, -2.5, -3.0]}, "harmful",
     ["useful", "harmful"]),
    ({("mnist", "active"): [2.0, 2.5, 3.0], ("fashion", "active"): [-2.0, 2.5, 0.0]}, "not shown",
     ["useful", "not shown"]),
    ({("mnist", "active"): [1.0], ("fashion", "active"): [2.0, 2.5, 3.0]}, "undecided", ["undecided", "useful"]),
    ({("mnist", "active"): [2.0, 2.5, 3.0], ("mnist", "all"): [-5.0, -6.0, -7.0]}, "useful", ["useful", "harmful"]),
])
def test_verdict_branches(gains, verdict, statuses):
    table, got = U.usefulness_verdict(U.paired_gains(_cells(gains)), judged={"reading": "active"})
    assert got == verdict
    assert table["status"].tolist() == statuses


def test_verdict_interval_is_the_student_t_interval_and_judges_what_it_is_asked():
    g = [0.5, 1.0, 4.0, -0.5]
    table, verdict = U.usefulness_verdict(U.paired_gains(_cells({("mnist", "active"): g})))
    lo, hi = stats.t.interval(0.95, len(g) - 1, loc=np.mean(g), scale=stats.sem(g))
    assert table[["low", "high"]].iloc[0].tolist() == pytest.approx([lo, hi])
    assert verdict == "not shown"
    assert U.usefulness_verdict(U.paired_gains(_cells({("mnist", "all"): g})), judged={"reading": "active"})[1] \
        == "undecided"  # nothing judged
    assert U.gain_status(np.array([1.0]))[3] == "undecided"  # one seed: no interval


# ------------------------------------------------------------------------------------ configs, plan


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="wine"), "regression"),
    (dict(reading="some"), "reading"),
    (dict(layers=4), "layers"),
    (dict(steps=0), "steps"),
    (dict(lr=1.5), "lr"),
    (dict(quantile=1.5), "quantile"),
    (dict(checkpoints=(200, 100)), "checkpoints"),
    (dict(steps=100, checkpoints=(100,)), "checkpoints"),
    (dict(n_test=0), "n_test"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        U.UnsupervisedConfig(**kwargs)


def test_configs_cover_the_design():
    cells = U.unsupervised_configs(SMALL, ["mnist"])
    assert [(c.reading, c.seed) for c in cells] == [("active", 0), ("active", 1), ("all", 0), ("all", 1)]
    assert all(c.checkpoints == (100,) and c.n_test == 500 and c.supervised for c in cells)
    q = U.quantile_configs(SMALL, ["mnist"])
    assert [(c.reading, c.quantile, c.seed, c.checkpoints, c.supervised) for c in q] == [
        ("active", 0.25, 0, (), False), ("active", 0.25, 1, (), False)]
    assert [(c.reading, c.seed) for c in U.fields_configs(SMALL, ["mnist"])] == [("active", 0), ("all", 0)]
    assert U.UnsupervisedConfig().cell() == E.CellConfig("corrected", "mnist", 3, 1000, 0, 60000, 60000, 1e-3, ("our",))


def test_planner_lists_the_pages_runs(shared_data):
    plan = PLANNERS[U.NOTEBOOK](SMALL, store=None)
    cells = [t.config for t in plan if t.name == "dual_weight_unsupervised_cell"]
    assert cells == U.unsupervised_configs(SMALL, ["mnist", "fashion"]) + U.quantile_configs(SMALL, ["mnist", "fashion"])
    assert [t.config for t in plan if t.name == "dual_weight_unsupervised_fields"] == \
        U.fields_configs(SMALL, ["mnist", "fashion"])
    assert all(t.cost > 0 for t in plan)


def test_planner_skips_a_missing_dataset(monkeypatch):
    monkeypatch.setattr(U, "dataset_status", lambda d: "not here" if d == "fashion" else None)
    plan = PLANNERS[U.NOTEBOOK](SMALL, store=None)
    assert plan and {t.config.dataset for t in plan} == {"mnist"}


# --------------------------------------------------------------------------------- end to end (tiny)


def hand_loop(X, order, W0, lr, theta, rows, lr_bias):
    """The rule written as a plain loop over the steps (no engine, no package update code)."""
    W1, W2, b = W0.copy(), np.zeros_like(W0), np.zeros(W0.shape[0])
    for i in order:
        x = X[i]
        z = (W1 - W2) @ x + b
        s = np.sign(np.maximum(z, 0).sum() - theta)
        g = s * (z > 0) if rows == "active" else np.full(z.shape, s)
        a1, a2 = lr * np.maximum(-g, 0)[:, None], lr * np.maximum(g, 0)[:, None]
        W1 = (1 - a1) * W1 + a1 * x
        W2 = (1 - a2) * W2 + a2 * x
        b = b - lr_bias * g
    return W1, W2, b


@pytest.mark.parametrize("reading", list(U.READINGS))
def test_training_is_the_hand_written_loop_on_the_cells_pool_and_order(reading, shared_data):
    cfg = U.UnsupervisedConfig("mnist", reading, 3, 60, 1, 250, 0.05, 0.5, 100, (30, 100))
    t = U.train_unsupervised(cfg)
    prep = E.prepare("corrected", "mnist", 60, 1, 250, ("our",))
    W0 = E.he_normal_init(E.architecture("mnist", 3, 784), E._cell_rng(cfg.cell(), 0))[0]
    theta = float(np.median(np.maximum(prep.X_pool @ W0.T, 0).sum(axis=1)))
    assert t.threshold == pytest.approx(theta)
    rows, with_bias = U.READINGS[reading]
    W1, W2, b = hand_loop(prep.X_pool, prep.orders["our"], W0, 0.05, theta, rows, 0.05 if with_bias else 0.0)
    np.testing.assert_allclose(t.W1, W1, atol=1e-12)
    np.testing.assert_allclose(t.W2, W2, atol=1e-12)
    np.testing.assert_allclose(t.b, b, atol=1e-12)
    assert np.array_equal(t.W, t.W1 - t.W2)
    # the checkpoints are the same run stopped early
    W1c, W2c, bc = hand_loop(prep.X_pool, prep.orders["our"][:30], W0, 0.05, theta, rows, 0.05 if with_bias else 0.0)
    np.testing.assert_allclose(t.snapshots[30][0], W1c - W2c, atol=1e-12)
    assert sorted(t.snapshots) == [30, 100]
    # the trace: blocks of 100 steps and the last, partial one; loud shares in [0, 1]
    assert t.trace["step"].tolist() == [100, 200, 250]
    assert t.trace["loud_share"].between(0, 1).all() and (t.trace["activity"] > 0).all()


def test_cell_and_fields_end_to_end(shared_data, tmp_path, monkeypatch):
    """A tiny page through the store: every measure is there, the read-outs are accuracies, and the
    page's chain of frames reaches a verdict; the fields hold W = W1 - W2."""
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(SMALL, datasets=["mnist"], steps=200, seeds=[0, 1])
    frame = U.run_unsupervised(U.unsupervised_configs(params, ["mnist"]) + U.quantile_configs(params, ["mnist"]),
                               n_jobs=1)
    assert set(frame["measure"]) == {"activity", "loud_share", "readout", "dead", "always_on", "row_cosine",
                                     "contrast_cosine", "halves_cosine", "threshold"}
    readout = frame[frame["measure"] == "readout"]
    assert readout["value"].between(0, 100).all()
    main = frame[frame["quantile"] == 0.5]
    assert set(main.loc[main["measure"] == "readout", "features"]) == set(U.FEATURES)
    random = readout[readout["features"] == "random"].groupby("seed")["value"].nunique()
    assert (random == 1).all()  # the untrained layer does not depend on the reading or the threshold
    course = U.course_frame(main)
    assert sorted(course["step"].unique()) == [0, 100, 200]
    table, verdict = U.usefulness_verdict(U.paired_gains(main), judged={"reading": "active"})
    assert verdict in U.STATUSES and len(table) == 2 and set(table["seeds"]) == {2}
    act = U.activity_frame(main)
    assert np.allclose(act["ratio"] * act["threshold"], act["activity"])
    fields = U.run_unsupervised_fields(U.UnsupervisedConfig("mnist", "active", 3, 100, 0, 200, block=100))
    M = {h: g.sort_values(["neuron", "pixel"])["weight"].to_numpy() for h, g in fields.groupby("half")}
    assert set(M) == {"init", "W1", "W2", "W"} and len(M["W"]) == 64 * 784
    assert np.array_equal(M["W"], M["W1"] - M["W2"])
    rf = U.field_frame(fields.assign(reading="active"), ["active"])
    assert list(dict.fromkeys(rf["method"])) == ["init", "active: W1", "active: W2", "active: W"]


def test_the_rule_is_not_registered():
    from learning_rules.updates import WEIGHT_UPDATES

    assert "dual_weight_unsupervised" not in WEIGHT_UPDATES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dual_weight_unsupervised_cell", "dual_weight_unsupervised_fields"])
def test_every_function_the_runs_execute_is_in_their_key(name, shared_data):
    """As tests/test_fingerprint.py does for the other runs: a trace of a small run must stay inside
    the static closure its store key covers."""

    config = U.UnsupervisedConfig("mnist", "active+bias", 3, 100, 0, 200, block=100, checkpoints=(100,), n_test=300)
    executed, closure = executed_and_closure(name, config)
    assert executed and executed <= closure, sorted(executed - closure)
