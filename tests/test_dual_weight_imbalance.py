"""The class-imbalance test of the dual-weight rule (book/dual-weight/imbalance.ipynb): the cut of the
pool, the per-class scores, the output template and the verdict, against hand-worked numbers and
independent computations; a tiny end-to-end run against the corrected cell it is cut from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import learning_rules
from learning_rules.experiments import PLANNERS
from learning_rules.experiments import dual_weight as E
from learning_rules.experiments import dual_weight_imbalance as I
from conftest import executed_and_closure

PKG = Path(learning_rules.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------- the cut


def test_cut_keeps_the_rounded_fraction_of_each_rare_class_and_everything_else():
    y = np.array([0] * 10 + [1] * 4 + [2] * 3 + [0] * 10)  # class 0: 20 samples, split in two runs
    keep = I.cut_classes(y, [0], 0.25, np.random.default_rng(0))
    assert np.all(np.diff(keep) > 0)  # sorted positions, each once
    kept = y[keep]
    assert (kept == 0).sum() == 5  # floor(0.25 * 20 + 1/2)
    assert (kept == 1).sum() == 4 and (kept == 2).sum() == 3  # the other classes untouched
    # half-way cases round up, and a rare class keeps at least one sample
    assert (y[I.cut_classes(y, [2], 0.5, np.random.default_rng(0))] == 2).sum() == 2  # 1.5 -> 2
    assert (y[I.cut_classes(y, [1, 2], 0.01, np.random.default_rng(0))] == 1).sum() == 1
    assert np.array_equal(I.cut_classes(y, [0], 1.0, np.random.default_rng(0)), np.arange(y.size))


def test_cut_is_nested_across_fractions_and_drawn_from_the_generator():
    y = np.random.default_rng(5).integers(0, 10, 1000)
    small = set(I.cut_classes(y, [3, 7], 0.1, np.random.default_rng(42)))
    large = set(I.cut_classes(y, [3, 7], 0.5, np.random.default_rng(42)))
    assert small < large  # same generator state: the 10 % pool is inside the 50 % pool
    other = set(I.cut_classes(y, [3, 7], 0.1, np.random.default_rng(43)))
    assert other != small and len(other) == len(small)  # another state, another draw of equal size


@pytest.mark.parametrize("rare, fraction, match", [
    ([0], 0.0, "fraction"), ([0], 1.5, "fraction"), ([0, 0], 0.5, "distinct"), ([9], 0.5, "no sample"),
])
def test_cut_rejects_bad_requests(rare, fraction, match):
    with pytest.raises(ValueError, match=match):
        I.cut_classes(np.array([0, 1, 1, 2]), rare, fraction, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------- scores


def test_class_scores_hand_worked():
    # truth 0 0 1 1 2, predicted 0 1 1 1 0: class 0 recall 1/2, precision 1/2 (predicted twice, one
    # right); class 1 recall 2/2, precision 2/3; class 2 recall 0/1, never predicted (precision NaN);
    # class 3 absent from the test set (recall NaN)
    s = I.class_scores(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    assert s["label"].tolist() == [0, 1, 2, 3]
    assert s["n_test"].tolist() == [2, 2, 1, 0]
    assert s["predicted"].tolist() == [2, 3, 0, 0]
    np.testing.assert_allclose(s["recall"], [0.5, 1.0, 0.0, np.nan])
    np.testing.assert_allclose(s["precision"], [0.5, 2 / 3, np.nan, np.nan])
    diverged = I.class_scores(np.array([0, 1]), None, 2)
    assert diverged["recall"].isna().all() and diverged["n_test"].tolist() == [1, 1]


def test_output_template_is_the_linear_networks_input_gradient():
    rng = np.random.default_rng(0)
    W = [rng.normal(size=(5, 7)), rng.normal(size=(4, 5)), rng.normal(size=(3, 4))]
    for c in range(3):
        t, s = I.output_template(W, c)
        # independent oracle: a network without activations maps e_k to (W3 W2 W1 e_k)
        z = np.stack([W[2] @ (W[1] @ (W[0] @ e)) for e in np.eye(7)])
        np.testing.assert_allclose(t, z[:, c], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s, (W[2] @ W[1])[c], rtol=1e-12)
    # 2 layers, by hand: s = W2[c], t = s W1
    t, s = I.output_template([np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[3.0, -1.0]])], 0)
    np.testing.assert_allclose(s, [3.0, -1.0])
    np.testing.assert_allclose(t, [3.0, -2.0])
    # relabelling the first hidden layer's units permutes s and leaves t alone
    perm = rng.permutation(5)
    t2, s2 = I.output_template([W[0][perm], W[1][:, perm], W[2]], 1)
    np.testing.assert_allclose(t2, I.output_template(W, 1)[0], rtol=1e-12)
    np.testing.assert_allclose(s2, I.output_template(W, 1)[1][perm], rtol=1e-12)
    with pytest.raises(ValueError, match="hidden layer"):
        I.output_template([W[0]], 0)


# ---------------------------------------------------------------------------------------- verdict


def _gains(per_condition):
    """{(dataset, fraction): [gain per seed]} -> the frame of :func:`paired_gains`."""
    rows = [{"dataset": d, "fraction": f, "seed": s, "gain": g}
            for (d, f), values in per_condition.items() for s, g in enumerate(values)]
    return pd.DataFrame(rows)


UP = [0.10, 0.12, 0.09, 0.11, 0.10]  # interval well above 0
DOWN = [-0.10, -0.12, -0.09, -0.11, -0.10]
MIXED = [0.10, -0.12, 0.05, -0.03, 0.01]  # interval contains 0


@pytest.mark.parametrize("per_condition, verdict, statuses", [
    ({("mnist", 0.1): UP, ("fashion", 0.1): UP}, "survives", ["gain", "gain"]),
    ({("mnist", 0.1): UP, ("fashion", 0.1): DOWN}, "refuted", ["gain", "loss"]),
    ({("mnist", 0.1): UP, ("fashion", 0.1): MIXED}, "not shown", ["gain", "no difference shown"]),
    ({("mnist", 0.1): MIXED, ("fashion", 0.1): MIXED}, "not shown", ["no difference shown"] * 2),
    ({("mnist", 0.1): UP, ("fashion", 0.1): [0.3]}, "undecided", ["gain", "too few seeds"]),
    ({("mnist", 0.1): DOWN, ("fashion", 0.1): [0.3]}, "refuted", ["loss", "too few seeds"]),
])
def test_verdict_branches(per_condition, verdict, statuses):
    table, got = I.imbalance_verdict(_gains(per_condition))
    assert got == verdict and got in I.VERDICTS
    assert table["status"].tolist() == statuses
    assert set(table.columns) == {"dataset", "fraction", "mean", "low", "high", "seeds", "status"}


def test_verdict_interval_is_the_student_t_interval():
    table, _ = I.imbalance_verdict(_gains({("mnist", 0.01): MIXED}))
    v = np.array(MIXED)
    lo, hi = stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
    row = table.iloc[0]
    assert (row["mean"], row["low"], row["high"], row["seeds"]) == pytest.approx((v.mean(), lo, hi, 5))
    with pytest.raises(ValueError, match="no paired gains"):
        I.imbalance_verdict(_gains({}).reindex(columns=["dataset", "seed", "gain"]))


def test_condition_status_edges():
    assert I.condition_status(0.0, 1.0) == "no difference shown"  # touching 0 is not a gain
    assert I.condition_status(-1.0, 0.0) == "no difference shown"
    assert I.condition_status(np.nan, np.nan) == "too few seeds"
    assert set(I.STATUSES) == {I.condition_status(*iv) for iv in [(1, 2), (-2, -1), (-1, 1), (np.nan, 1)]}


# --------------------------------------------------------------------------------- page frames


def _per_class_frame():
    """A synthetic result frame: one seed, a balanced run and a cut of class 0 (10 classes),
    methods GD and our, with hand-chosen recalls and output biases."""
    rows = []

    def run(rare, fraction, method, recalls, biases):
        for c in range(10):
            rows.append(dict(dataset="mnist", layers=2, seed=0, rare=rare, fraction=fraction, method=method,
                             label=c, recall=recalls[c], out_bias=biases[c], accuracy=50.0))

    run((), 1.0, "GD", [0.9] * 10, [0.0] * 10)
    run((), 1.0, "our", [0.8] + [0.7] * 9, [0.0] * 10)
    run((0,), 0.01, "GD", [0.2] + [0.9] * 9, [-1.0] + [0.5] * 9)
    run((0,), 0.01, "our", [0.5] + [0.7] * 9, [-0.5] + [0.0] * 9)
    return pd.DataFrame(rows)


def test_run_summary_and_seed_summary_hand_worked():
    s = I.run_summary(_per_class_frame())
    # the balanced run appears once, scored on the classes the cut run cuts
    assert len(s) == 4 and set(s["setting"]) == {"one class"}
    cut = s[s["fraction"] < 1].set_index("method")
    assert cut.loc["GD", "rare_recall"] == pytest.approx(0.2)
    assert cut.loc["GD", "other_recall"] == pytest.approx(0.9)
    assert cut.loc["GD", "balanced_accuracy"] == pytest.approx((0.2 + 8.1) / 10)
    assert cut.loc["GD", "bias_gap"] == pytest.approx(-1.5)
    bal = s[s["fraction"] == 1].set_index("method")
    assert bal.loc["our", "rare_recall"] == pytest.approx(0.8)
    per_seed = I.seed_summary(s)
    drop = per_seed[per_seed["fraction"] < 1].set_index("method")["drop"]
    assert drop["GD"] == pytest.approx(0.7) and drop["our"] == pytest.approx(0.3)
    gain = I.paired_gains(per_seed, "rare_recall")
    assert gain.set_index("fraction")["gain"].to_dict() == pytest.approx({1.0: -0.1, 0.01: 0.3})
    less_drop = I.paired_gains(per_seed, "drop", reverse=True)  # GD's drop minus ours
    assert less_drop.set_index("fraction")["gain"][0.01] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="'L2 0.1' is not in the frame"):
        I.paired_gains(per_seed, "rare_recall", method="L2 0.1")


def test_seed_summary_averages_the_classes_cut_in_turn():
    f = _per_class_frame()
    other = f[f["fraction"] < 1].copy()
    other["rare"] = [(1,)] * len(other)
    other.loc[other["label"] == 0, "recall"] = other.loc[other["label"] == 1, "recall"].to_numpy()
    other.loc[other["label"] == 1, "recall"] = 0.4  # class 1 cut: recall 0.4 for both methods
    s = I.run_summary(pd.concat([f, other], ignore_index=True))
    per_seed = I.seed_summary(s)
    row = per_seed[(per_seed["fraction"] < 1)].set_index("method")
    assert row.loc["GD", "rare_recall"] == pytest.approx((0.2 + 0.4) / 2)
    assert row.loc["GD", "runs"] == 2
    table = I.single_class_table(s)
    gd = table[(table["method"] == "GD") & (table["fraction"] < 1)].iloc[0]
    assert (gd["class 0"], gd["class 1"]) == pytest.approx((20.0, 40.0))


def test_setting_names():
    assert I.setting_of((3,)) == "one class" and I.setting_of((0, 1, 2, 3, 4)) == "5 classes"
    with pytest.raises(ValueError, match="balanced"):
        I.setting_of(())


# ---------------------------------------------------------------------------------- configs and plan


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="wine"), "regression"), (dict(rare=(), fraction=0.1), "balanced reference"),
    (dict(rare=(1,), fraction=1.0), "balanced reference"), (dict(rare=(2, 1)), "sorted"),
    (dict(rare=(10,)), "0..9"), (dict(fraction=0.0), "fraction"), (dict(layers=4), "layers"),
    (dict(methods=("sgd",)), "method"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        I.ImbalanceConfig(**kwargs)
    with pytest.raises(ValueError, match="show"):
        I.ImbalanceFieldsConfig(show=10)


SMALL = dict(datasets=["mnist", "fashion"], layers=[2, 3], n=100, steps=50, fractions=[0.1, 0.01],
             single_classes=[0, 4, 9], group_classes=[2, 1], seeds=[0, 1], n_jobs=1)


def test_configs_cover_the_design():
    cfgs = I.imbalance_configs(SMALL, SMALL["datasets"])
    # per (dataset, depth, seed): the balanced pool, 3 classes x 2 fractions, the group x 2 fractions
    assert len(cfgs) == len(set(cfgs)) == 2 * 2 * 2 * (1 + 3 * 2 + 2)
    assert {c.rare for c in cfgs} == {(), (0,), (4,), (9,), (1, 2)}
    assert all(c.cell() == E.CellConfig("corrected", c.dataset, c.layers, 100, c.seed, 50, 50) for c in cfgs)
    fields = I.fields_configs(SMALL, ["mnist"])
    assert [(f.rare, f.fraction, f.show, f.layers, f.seed) for f in fields] == [
        ((), 1.0, 0, 2, 0), ((0,), 0.1, 0, 2, 0), ((0,), 0.01, 0, 2, 0)]
    assert I.fields_configs({**SMALL, "single_classes": []}, ["mnist"]) == []


def test_planner_lists_the_pages_runs(shared_data):
    plan = PLANNERS[I.NOTEBOOK](SMALL, store=None)
    names = {t.name for t in plan}
    assert names == {"dual_weight_imbalance_cell", "dual_weight_imbalance_fields"}
    cells = [t.config for t in plan if t.name == "dual_weight_imbalance_cell"]
    assert cells == I.imbalance_configs(SMALL, ["mnist", "fashion"])
    assert all(t.cost > 0 for t in plan)


# --------------------------------------------------------------------------------- end to end (tiny)


def test_balanced_reference_is_the_corrected_cell(shared_data):
    """Oracle: the balanced pool is the corrected cell itself (pool, order, initial weights), so the
    accuracy of every method equals run_cell's final accuracy."""
    cfg = I.ImbalanceConfig("mnist", 2, 100, 3, 300, (), 1.0)
    frame = I.run_imbalance_cell(cfg)
    cell = E.run_cell(cfg.cell())
    final = cell[(cell.step == 300) & (cell.condition == "normal")].set_index("method")["value"]
    got = frame.groupby("method", sort=False)["accuracy"].first()
    assert got.to_dict() == final.to_dict()
    # balanced accuracy = mean recall; accuracy = recall weighted by the test classes' sizes
    for _, g in frame.groupby("method"):
        assert g["accuracy"].iloc[0] == pytest.approx(100 * (g["recall"] * g["n_test"]).sum() / g["n_test"].sum())
    assert frame["n_pool"].unique().tolist() == [100]


def test_cut_run_end_to_end(shared_data, tmp_path, monkeypatch):
    """A tiny grid through the store: the pool holds the cut, every method is scored on the whole
    balanced test set, and the page's chain of frames reaches a verdict."""
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(SMALL, datasets=["mnist"], layers=[2], steps=200, fractions=[0.1],
                  single_classes=[0], group_classes=[], seeds=[0, 1])
    frame = I.run_imbalance(I.imbalance_configs(params, ["mnist"]), n_jobs=1)
    cut = frame[frame["fraction"] < 1]
    prep = E.prepare("corrected", "mnist", 100, 0, 200)
    m0 = int((prep.y_pool == 0).sum())
    first = cut[(cut["seed"] == 0) & (cut["method"] == "GD")].set_index("label")
    assert first.loc[0, "n_train"] == max(1, int(np.floor(0.1 * m0 + 0.5)))
    assert first["n_pool"].iloc[0] == 100 - m0 + first.loc[0, "n_train"]
    assert first["n_test"].sum() == 10_000 and len(cut) == 2 * 5 * 10
    seeds = I.seed_summary(I.run_summary(frame))
    table, verdict = I.imbalance_verdict(I.paired_gains(seeds[seeds["fraction"] < 1], "rare_recall"))
    assert verdict in I.VERDICTS and len(table) == 1 and table["seeds"].iloc[0] == 2
    fields = I.run_imbalance_fields(I.ImbalanceFieldsConfig("mnist", 2, 100, 0, 200, (0,), 0.1, top=2))
    assert set(fields["method"]) == {"our", "GD"} and len(fields) == 2 * 3 * 784
    units = fields[fields["panel"] == "unit"].groupby(["method", "rank"])["strength"].first()
    assert units["GD"].is_monotonic_decreasing


@pytest.mark.slow
@pytest.mark.parametrize("name, config", [
    ("dual_weight_imbalance_cell", I.ImbalanceConfig("mnist", 2, 100, 0, 100, (0,), 0.1)),
    ("dual_weight_imbalance_fields", I.ImbalanceFieldsConfig("mnist", 2, 100, 0, 100, (0,), 0.1)),
])
def test_every_function_the_runs_execute_is_in_their_key(name, config, shared_data):
    """As tests/test_fingerprint.py does for the other runs: a trace of a small run must stay inside
    the static closure its store key covers."""

    executed, closure = executed_and_closure(name, config)
    assert executed and executed <= closure, sorted(executed - closure)
