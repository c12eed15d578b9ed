"""The dual-weight paper's claims about L2 and about cost (book/dual-weight/beyond.ipynb, sections 4-5):
the measures and every branch of the verdicts on synthetic frames with known answers, the lambda
sweep against the corrected cell it is taken from, the planner, and the cost tables (no timing is
asserted: CONTRIBUTING, speed is measured in benchmarks/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import learning_rules
from learning_rules.experiments import PLANNERS
from learning_rules.experiments import dual_weight as E
from learning_rules.experiments import dual_weight_beyond as B
from learning_rules.experiments import dual_weight_cost as C
from learning_rules.experiments import dual_weight_l2 as L
from conftest import executed_and_closure

PKG = Path(learning_rules.__file__).resolve().parent


def _t(values, level=0.95):
    """Independent Student-t interval (scipy's own), the oracle of the tables' intervals."""
    v = np.asarray(values, float)
    m = v.mean()
    half = stats.t.ppf((1 + level) / 2, v.size - 1) * stats.sem(v)
    return m, m - half, m + half


# ----------------------------------------------------------------------------------------- measures


def test_input_free_scores_hand_worked():
    # pool mean 2; test (0, 2, 4): squared errors 4, 0, 4 -> mean 8/3, x 1e4
    assert L.mean_predictor_loss(np.array([1.0, 3.0]), np.array([0.0, 2.0, 4.0])) == pytest.approx(8 / 3 * 1e4)
    # pool's most frequent class is 1; test labels 1, 0, 1, 1 -> 75 %
    assert L.majority_rate(np.array([1, 1, 2, 0]), np.array([1, 0, 1, 1])) == 75.0
    assert L.majority_rate(np.array([2, 0, 2, 0]), np.array([0, 2])) == 50.0  # a tie takes the smaller label
    assert L.input_free_score("classification", np.array([3, 3]), np.array([3, 1])) == 50.0
    with pytest.raises(ValueError, match="task"):
        L.input_free_score("ranking", np.zeros(2), np.zeros(2))


def test_output_spread_hand_worked():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert L.output_spread(np.full((4, 1), 7.0), y, "regression") == 0.0
    assert L.output_spread(y[:, None], y, "regression") == pytest.approx(1.0)
    assert L.output_spread(0.5 * y[:, None], y, "regression") == pytest.approx(0.5)
    z = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [5.0, 0.0]])  # answers 0, 1, 0, 0
    assert L.output_spread(z, np.zeros(4), "classification") == pytest.approx(0.25)
    assert L.output_spread(np.tile([1.0, 0.0], (5, 1)), np.zeros(5), "classification") == 0.0
    assert np.isnan(L.output_spread(np.array([[np.inf]]), y[:1], "regression"))


@pytest.mark.parametrize("value, baseline, spread, task, expected", [
    (100.0, 100.0, 0.0, "regression", True),          # the mean predictor itself
    (95.0, 100.0, 0.05, "regression", True),          # exactly 5 % better: inside the allowance
    (94.9, 100.0, 0.05, "regression", False),         # beyond it
    (150.0, 100.0, 0.01, "regression", True),         # a constant off the mean is input-free too
    (100.0, 100.0, 0.1, "regression", False),         # spread at the threshold: the input matters
    (11.0, 10.0, 0.0, "classification", True),
    (12.0, 10.0, 0.09, "classification", True),       # exactly 2 points above the majority rate
    (12.5, 10.0, 0.0, "classification", False),
    (10.0, 10.0, 0.5, "classification", False),
    (float("nan"), 10.0, 0.0, "classification", False),  # a diverged run is not trivial
])
def test_is_trivial_branches(value, baseline, spread, task, expected):
    assert L.is_trivial(value, baseline, spread, task) is expected


# ------------------------------------------------------------------------------- claim 1 on frames


def _sweep_frame(rows):
    """rows: (dataset, layers, n, seed, lam, value, baseline, spread)."""
    f = pd.DataFrame(rows, columns=["dataset", "layers", "n", "seed", "lam", "value", "baseline", "spread"])
    f["weight_norm"] = 1.0
    return f


def test_cell_table_statuses_and_intervals():
    rows = []
    for s, v in enumerate([96.0, 97.0, 98.0]):  # every seed trivial
        rows.append(("house", 2, 100, s, 0.1, v, 100.0, 0.0))
    for s, (v, sp) in enumerate([(96.0, 0.0), (60.0, 0.5), (97.0, 0.02)]):  # one seed learned
        rows.append(("house", 3, 100, s, 0.1, v, 100.0, sp))
    for s, v in enumerate([50.0, 55.0, 52.0]):
        rows.append(("house", 2, 100, s, 0.01, v, 100.0, 0.7))
    cells = L.l2_cell_table(_sweep_frame(rows)).set_index(["layers", "lam"])
    assert cells.loc[(2, 0.1), "status"] == "trivial" and cells.loc[(2, 0.1), "trivial_seeds"] == 3
    assert cells.loc[(3, 0.1), "status"] == "partly trivial" and cells.loc[(3, 0.1), "trivial_seeds"] == 2
    assert cells.loc[(2, 0.01), "status"] == "not trivial"
    m, lo, hi = _t([50.0, 55.0, 52.0])
    assert cells.loc[(2, 0.01), ["mean", "low", "high"]].tolist() == pytest.approx([m, lo, hi])


@pytest.mark.parametrize("statuses, verdict", [
    (["trivial", "trivial"], "holds"),
    (["not trivial", "not trivial"], "does not hold"),
    (["trivial", "not trivial"], "mixed"),
    (["partly trivial", "not trivial"], "mixed"),
])
def test_trivial_verdict_branches(statuses, verdict):
    cells = pd.DataFrame({"dataset": ["wine", "house"], "lam": [0.1, 0.1], "status": statuses})
    other = pd.DataFrame({"dataset": ["mnist", "wine"], "lam": [0.1, 0.01],  # images, and another lambda
                          "status": ["trivial", "not trivial"]})
    out = L.trivial_verdict(pd.concat([cells, other], ignore_index=True)).set_index("task")
    assert out.loc["regression", "verdict"] == verdict and out.loc["regression", "cells"] == 2
    assert out.loc["classification", "verdict"] == "holds" and out.loc["classification", "cells"] == 1
    assert L.trivial_verdict(cells[:0]).empty


def _sens_frame(dataset, values_by_lam, seeds):
    rows = []
    for lam, vals in values_by_lam.items():
        for s, v in zip(seeds, vals):
            rows.append((dataset, 2, 100, s, lam, v, 100.0, 0.5))
    return _sweep_frame(rows)


def test_sensitivity_finds_the_best_and_pairs_by_seed():
    # regression (lower is better): best lambda 0.01; the seeds differ a lot, the pairs little
    f = _sens_frame("wine", {0.0: [60.0, 90.0, 75.0], 0.01: [50.0, 81.0, 64.0], 0.1: [50.5, 80.0, 66.0]},
                    [0, 1, 2])
    s = L.lambda_sensitivity(f).set_index("neighbour")
    assert set(s["best_lam"]) == {0.01} and set(s.index) == {0.0, 0.1}
    d = np.array([60.0, 90.0, 75.0]) - np.array([50.0, 81.0, 64.0])  # neighbour - best: best is better
    assert s.loc[0.0, ["diff", "low", "high"]].tolist() == pytest.approx(list(_t(d)))
    assert s.loc[0.0, "low"] > 0  # paired: 10, 9, 11 -> clearly above 0
    assert s.loc[0.1, "low"] < 0 < s.loc[0.1, "high"]  # -0.5, 1, 2: straddles 0
    assert set(s["status"]) == {"sensitive"}
    # classification (higher is better), best at the sweep's edge: one neighbour only
    g = _sens_frame("mnist", {0.0: [80.0, 82.0, 81.0], 0.01: [79.0, 82.5, 80.0]}, [0, 1, 2])
    t = L.lambda_sensitivity(g)
    assert t["best_lam"].tolist() == [0.0] and t["neighbour"].tolist() == [0.01]
    assert t["status"].tolist() == ["flat"]  # 1, -0.5, 1: straddles 0


@pytest.mark.parametrize("parts, verdict", [
    (["sensitive", "sensitive"], "holds"),
    (["sensitive", "flat"], "mixed"),
    (["flat", "flat"], "does not hold"),
    (["flat", "too few seeds"], "undecided"),
    (["sensitive", "too few seeds"], "mixed"),
])
def test_sensitivity_verdict_branches(parts, verdict):
    frames = []
    for i, kind in enumerate(parts):
        seeds = [0] if kind == "too few seeds" else [0, 1, 2]
        base = [80.0, 81.0, 82.0][:len(seeds)]
        worse = [b - (5.0 if kind == "sensitive" else d) for b, d in zip(base, [1.0, -1.0, 0.5])]
        f = _sens_frame("mnist", {0.0: worse, 0.01: base}, seeds)
        f["n"] = 100 * (i + 1)
        frames.append(f)
    sens = L.lambda_sensitivity(pd.concat(frames, ignore_index=True))
    assert sens.groupby("n")["status"].first().tolist() == parts
    assert L.sensitivity_verdict(sens) == verdict
    assert L.sensitivity_verdict(sens[:0]) == "undecided"


def test_sensitivity_ignores_diverged_seeds():
    f = _sens_frame("wine", {0.0: [60.0, np.nan, 61.0], 0.01: [50.0, 52.0, 51.0]}, [0, 1, 2])
    s = L.lambda_sensitivity(f)
    assert s["seeds"].tolist() == [2] and s["best_lam"].tolist() == [0.01]


# ------------------------------------------------------------------------------- claim 2 on frames


def _grid(protocol, diffs, dataset="mnist", layers=2, n=100, condition="normal"):
    """A grid frame whose L2 0.1 minus L2 0.01 is ``diffs`` per seed (plus a regression cell)."""
    rows = []
    for s, d in enumerate(diffs):
        for method, v in (("L2 0.01", 70.0 + s), ("L2 0.1", 70.0 + s + d), ("GD", 60.0)):
            rows.append((protocol, dataset, layers, n, s, method, 1000, condition, v))
            rows.append((protocol, "wine", layers, n, s, method, 1000, condition, v))  # not an image set
    return pd.DataFrame(rows, columns=["protocol", "dataset", "layers", "n", "seed", "method", "step",
                                       "condition", "value"])


def test_pair_table_pairs_by_seed_and_reads_table_2():
    coded = _grid("as_coded", [1.5])
    corrected = pd.concat([_grid("corrected", [2.0, 3.0, 2.5]), _grid("corrected", [-1.0, -2.0, -1.5], "fashion")],
                          ignore_index=True)
    p = L.l2_pair_table(coded, corrected).set_index(["protocol", "dataset"])
    assert "wine" not in p.index.get_level_values("dataset")
    assert p.loc[("as_coded", "mnist"), "status"] == "too few seeds" and p.loc[("as_coded", "mnist"), "mean"] == 1.5
    assert p.loc[("corrected", "mnist"), ["mean", "low", "high"]].tolist() == pytest.approx(list(_t([2.0, 3.0, 2.5])))
    assert p.loc[("corrected", "mnist"), "status"] == "L2 0.1 better"
    assert p.loc[("corrected", "fashion"), "status"] == "L2 0.01 better"
    # the paper's Table 2, MNIST 2 layers n = 100 normal: L2 0.1 75.4, L2 0.01 74.0
    assert p.loc[("corrected", "mnist"), "published"] == pytest.approx(1.4)
    assert L.l2_pair_table(coded[coded.dataset == "wine"], corrected[corrected.dataset == "wine"]).empty


@pytest.mark.parametrize("statuses, verdict", [
    (["L2 0.1 better", "L2 0.01 better"], "survives"),
    (["no difference shown", "L2 0.01 better"], "not shown"),
    (["no difference shown", "too few seeds"], "not shown"),
    (["too few seeds", "too few seeds"], "undecided"),
])
def test_pair_verdict_branches(statuses, verdict):
    pairs = pd.DataFrame({"protocol": "corrected", "dataset": ["mnist", "fashion"], "status": statuses})
    out = L.l2_pair_verdict(pairs).iloc[0]
    assert out["verdict"] == verdict and out["cells"] == 2
    assert out["better_01"] == statuses.count("L2 0.1 better")
    assert out["datasets_01"] == ("mnist" if verdict == "survives" else "none")


def test_page_tables_from_the_frames():
    rows = [("wine", 2, 100, s, lam, v, 100.0, sp) for s in range(2)
            for lam, v, sp in ((0.0, 70.0 + s, 0.5), (0.1, 99.0 + s, 0.0))]
    cells = L.l2_cell_table(_sweep_frame(rows))
    wide = L.sweep_wide_table(cells)
    assert wide.columns.tolist() == ["dataset", "layers", "n", "input-free", "lambda 0", "lambda 0.1"]
    assert wide["lambda 0.1"].iloc[0].endswith(" T") and not wide["lambda 0"].iloc[0].endswith("T")
    sens = L.lambda_sensitivity(_sweep_frame(rows))
    sw = L.sensitivity_wide_table(sens)
    assert sw["best lambda"].tolist() == ["0"] and sw["vs smaller lambda"].tolist() == ["-"]
    pairs = L.l2_pair_table(_grid("as_coded", [1.0]), _grid("corrected", [1.0, 2.0]))
    pw = L.pair_wide_table(pairs)
    assert pw["protocol"].tolist() == ["as_coded", "corrected"] and "(paper +1.4)" in pw["normal"].iloc[1]
    claims = L.claims_table(L.trivial_verdict(cells), L.sensitivity_verdict(sens), sens, pairs,
                            L.l2_pair_verdict(pairs))
    assert claims["verdict"].tolist() == ["holds", "holds", "undecided", "not shown"]


# ------------------------------------------------------------------------------------ config, plan


@pytest.mark.parametrize("kwargs, match", [
    (dict(lams=(0.1, 0.01)), "increasing"), (dict(lams=(0.1, 0.1)), "increasing"), (dict(lams=(-0.1,)), "non-negative"),
    (dict(lams=()), "lams"), (dict(layers=4), "layers"), (dict(dataset="iris"), "iris"), (dict(steps=0), "steps"),
    (dict(n=1), "n"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.L2SweepConfig(**kwargs)


def test_l2_network_forms():
    sizes = [4, 3, 1]
    W = E.he_normal_init(sizes, np.random.default_rng(0))
    gd = L.l2_network(sizes, "regression", 1e-3, W, 0.0, np.random.default_rng(0))
    assert gd.rule.l2 == 0.0 and repr(gd.rule) == repr(E.build_network("GD", "corrected", sizes, "regression",
                                                                       1e-3, W).rule)
    l2 = L.l2_network(sizes, "regression", 1e-3, W, 0.03, np.random.default_rng(0))
    assert l2.rule.l2 == 0.03 and l2.rule.l2_form == "decoupled"
    assert all(np.array_equal(a, b) for a, b in zip(l2.mlp.weights, W)) and l2.mlp.weights[0] is not W[0]


SMALL = dict(profile="quick", steps=300, lrs=[0.001], sweep_datasets=[], sweep_layers=[3], sweep_n=100,
             sweep_seeds=[0], dfa_datasets=[], dfa_seeds=[0], batch_datasets=[], batches=[1], batch_seeds=[0],
             n_jobs=1, l2_lams=[0.1, 0.0, 0.01], l2_datasets=["wine", "mnist"], l2_layers=[2], l2_sizes=[100],
             l2_seeds=[0, 1], bounds_datasets=[], bounds_layers=[2], bounds_n=100, bounds_seeds=[0],
             bounds_steps=300, bounds_eval_every=100, bounds_probe_every=100, bounds_scales=[0.1])


def test_planner_lists_the_sweep_and_the_grid_cells_claim_2_reads(shared_data):
    plan = PLANNERS[B.NOTEBOOK](SMALL, store=None)
    sweep = [t.config for t in plan if t.name == "dual_weight_l2_cell"]
    assert sweep == L.l2_sweep_configs(SMALL, ["wine", "mnist"])
    assert all(c.lams == (0.0, 0.01, 0.1) for c in sweep)  # sorted
    grid = L.l2_grid_params("quick")
    cells = [t.config for t in plan if t.name == "dual_weight_cell"]
    assert {c.dataset for c in cells} == {d for d in grid["datasets"]} <= {"mnist", "fashion", "cifar10"}
    per = len(grid["layers"]) * len(grid["sizes"]) * len(grid["datasets"])
    assert len(cells) == per * (len(grid["coded_seeds"]) + len(grid["corrected_seeds"]))
    assert all(t.cost > 0 for t in plan)


# --------------------------------------------------------------------------------- end to end (tiny)


@pytest.mark.parametrize("dataset", ["wine", "mnist"])
def test_sweep_is_the_corrected_cell_at_its_lambdas(dataset, shared_data):
    """Oracle: lambda = 0, 0.01, 0.1 are the corrected cell's GD, L2 0.01 and L2 0.1 (same initial
    weights, pool, order and generators), bit for bit; the input-free score is recomputed from the
    cell's data."""
    cfg = L.L2SweepConfig(dataset, 2, 100, 3, 300, lams=(0.0, 0.01, 0.03, 0.1))
    frame = L.run_l2_cell(cfg).set_index("lam")
    cell = E.run_cell(E.CellConfig("corrected", dataset, 2, 100, 3, 300, 300, 1e-3, ("GD", "L2 0.01", "L2 0.1")))
    final = cell[(cell.step == 300) & (cell.condition == "normal")].set_index("method")["value"]
    assert [frame.loc[0.0, "value"], frame.loc[0.01, "value"], frame.loc[0.1, "value"]] == \
        [final["GD"], final["L2 0.01"], final["L2 0.1"]]
    prep = E.prepare("corrected", dataset, 100, 3, 300)
    if dataset == "wine":
        expect = np.mean((prep.y_test - prep.y_pool.mean()) ** 2) * 1e4
    else:
        expect = 100 * np.mean(prep.y_test == np.bincount(prep.y_pool).argmax())
    assert frame["baseline"].unique() == pytest.approx([expect])
    assert (frame["spread"] > 0).all() and (frame["weight_norm"] > 0).all()  # 300 steps: far from trivial
    assert frame["weight_norm"].is_monotonic_decreasing  # more decay, smaller weights (300 steps)


def test_sweep_through_the_store_reaches_the_verdicts(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(SMALL, l2_datasets=["wine"], l2_lams=[0.0, 0.1, 0.3])
    frame = L.run_l2_sweep(L.l2_sweep_configs(params, ["wine"]), n_jobs=1)
    assert {"dataset", "layers", "n", "seed", "lams"} <= set(frame.columns) and len(frame) == 2 * 3
    cells = L.l2_cell_table(frame)
    assert len(cells) == 3 and set(cells["seeds"]) == {2}
    assert L.trivial_verdict(cells)["verdict"].iloc[0] in L.CLAIM_VERDICTS
    assert L.sensitivity_verdict(L.lambda_sensitivity(frame)) in L.CLAIM_VERDICTS


@pytest.mark.slow
def test_every_function_the_sweep_executes_is_in_its_key(shared_data):
    """As tests/test_fingerprint.py does for the other runs: a trace of a small run must stay inside
    the static closure its store key covers."""

    executed, closure = executed_and_closure("dual_weight_l2_cell", L.L2SweepConfig("mnist", 2, 100, 0, 100, lams=(0.0, 0.1)))
    assert executed and executed <= closure, sorted(executed - closure)


# ---------------------------------------------------------------------------------------------- cost


def _cost_frame(train, infer):
    """train/infer: {method: (paper net A, paper net B)} times; GD is 1."""
    rows = []
    for k, net in enumerate(("8-20-1", "784-20-10")):
        for m in C.COST_METHODS:
            rows.append(("paper", "wine", net, 100 * (k + 1), m, C.COST_LABELS[m],
                         train.get(m, (1.0, 1.0))[k], infer.get(m, (1.0, 1.0))[k], 10, 5))
    rows.append(("width scan", "mnist", "784-64-10", 50816, "GD", "GD", 1.0, 1.0, 10, 5))
    rows.append(("width scan", "mnist", "784-64-10", 50816, "our", "dual weight", 9.0, 3.0, 10, 5))
    return pd.DataFrame(rows, columns=["group", "dataset", "net", "weights", "method", "label", "train_us",
                                       "infer_us", "steps", "n_test"])


@pytest.mark.parametrize("our, stab, verdicts", [
    ((1.5, 1.9), (1.2, 2.0), ["holds", "holds"]),          # inside [1, 2], the bound included
    ((1.5, 2.4), (0.9, 1.5), ["does not hold", "does not hold"]),  # above 2 once; below 1 once
])
def test_training_verdict_branches(our, stab, verdicts):
    v = C.cost_verdicts(_cost_frame({"our": our, "our+stab": stab}, {}))
    got = v[v["claim"] == "slightly more training cost"].set_index("method")
    assert got["verdict"].tolist() == verdicts  # the width scan's 9x is not judged
    # margin: distance inside [1, 2] (negative outside): 1.5-1.9 -> 0.1; 1.2-2.0 -> 0; 1.5-2.4 -> -0.4
    expect = {(1.5, 1.9): 0.1, (1.2, 2.0): 0.0, (1.5, 2.4): -0.4, (0.9, 1.5): -0.1}
    assert got["margin"].tolist() == pytest.approx([expect[our], expect[stab]])


@pytest.mark.parametrize("our, verdict", [((1.05, 0.91), "holds"), ((1.0, 1.12), "does not hold")])
def test_inference_verdict_branches(our, verdict):
    v = C.cost_verdicts(_cost_frame({}, {"our": our}))
    got = v[v["claim"] == "identical inference"].set_index("method")
    assert got.loc["our", "verdict"] == verdict and got.loc["our+stab", "verdict"] == "holds"
    assert got.loc["our", "margin"] == pytest.approx(0.1 - max(abs(r - 1) for r in our))


def test_cost_ratios_and_table():
    f = _cost_frame({"our": (2.0, 3.0)}, {"our": (1.0, 0.5)})
    f.loc[f["method"] == "GD", "train_us"] = [2.0, 2.0, 1.0]
    r = C.cost_ratios(f).set_index(["net", "method"])
    assert r.loc[("8-20-1", "our"), "train_ratio"] == 1.0 and r.loc[("784-20-10", "our"), "train_ratio"] == 1.5
    assert r.loc[("784-20-10", "our"), "infer_ratio"] == 0.5 and r.loc[("784-20-10", "GD"), "train_ratio"] == 1.0
    t = C.cost_table(f)
    assert len(t) == 3 and t["GD us/step"].tolist() == [2.0, 2.0, 1.0]
    assert t.loc[2, "dual weight training x"] == 9.0 and np.isnan(t.loc[2, "GD + L2 training x"])


def test_inference_weights_are_the_difference_of_the_halves(shared_data):
    prep = E.prepare("corrected", "wine", 100, 0, 200)
    sizes = E.architecture("wine", 3, prep.X_pool.shape[1])
    W = E.he_normal_init(sizes, np.random.default_rng(0))
    for method in C.COST_METHODS:
        net = E.build_network(method, "corrected", sizes, "regression", 1e-3, W)
        net.fit_steps(prep.X_pool, prep.y_pool, prep.orders["GD"])
        got = C.inference_weights(net)
        if method in ("our", "our+stab"):
            halves = [(s["W1"], s["W2"]) for s in net.layer_states]
            assert all(np.array_equal(g, a - b) for g, (a, b) in zip(got, halves))
            assert all(not np.array_equal(b, 0) for _, b in halves[-1:])  # W2 moved: not W_init, 0
        else:
            assert all(g is w for g, w in zip(got, net.mlp.weights))
        assert all(np.allclose(g, w, rtol=0, atol=1e-12) for g, w in zip(got, net.mlp.weights))


def test_measure_cost_runs_every_method_on_every_net(shared_data):
    frame = C.measure_cost(nets=(("wine", 2),), widths=(8,), steps=20, width_steps=10, repeats=1, infer_repeats=1)
    assert frame["net"].tolist() == ["11-20-1"] * 4 + ["784-8-10"] * 4
    assert frame["method"].tolist() == list(C.COST_METHODS) * 2
    assert frame["weights"].tolist() == [240] * 4 + [784 * 8 + 80] * 4
    assert (frame[["train_us", "infer_us"]] > 0).all().all()
    assert set(C.cost_verdicts(frame)["verdict"]) <= {"holds", "does not hold"}
