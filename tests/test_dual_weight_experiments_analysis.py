"""Analysis helpers of the dual-weight chapter: intervals, relative improvement, tables, fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from learning_rules.analysis import dual_weight as A


def test_t_interval_matches_scipy():
    v = np.array([1.0, 2.5, 2.0, 4.0, 3.1])
    m, lo, hi = A.t_interval(v)
    slo, shi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert (m, lo, hi) == pytest.approx((v.mean(), slo, shi))
    m1, lo1, hi1 = A.t_interval([3.0])
    assert m1 == 3.0 and np.isnan(lo1) and np.isnan(hi1)
    assert np.isnan(A.t_interval([np.nan])[0])
    with pytest.raises(ValueError):
        A.t_interval(v, level=1.5)


def test_relative_improvement_sign_convention():
    # hand-worked: GD loss 200, method 150 -> 25 % better; GD acc 80, method 84 -> 5 % better
    assert A.relative_improvement(150.0, 200.0, "regression") == pytest.approx(25.0)
    assert A.relative_improvement(84.0, 80.0, "classification") == pytest.approx(5.0)
    with pytest.raises(ValueError):
        A.relative_improvement(1.0, 1.0, "ranking")


def _frame(values):
    """values: {(dataset, layers, n, method, seed): value} -> tidy final-step frame (normal only)."""
    rows = [dict(protocol="p", dataset=d, layers=L, n=n, method=m, seed=s, step=10, condition="normal",
                 value=v) for (d, L, n, m, s), v in values.items()]
    return pd.DataFrame(rows)


def test_relative_table_averages_cells_then_seeds():
    vals = {}
    for s, (gd1, gd2, our1, our2) in enumerate([(100, 200, 50, 100), (100, 100, 80, 80)]):
        vals[("wine", 2, 100, "GD", s)] = gd1
        vals[("wine", 2, 500, "GD", s)] = gd2
        vals[("wine", 2, 100, "our", s)] = our1
        vals[("wine", 2, 500, "our", s)] = our2
    rel = A.relative_table(_frame(vals))
    row = rel.iloc[0]
    # seed 0: (50 % + 50 %) / 2 = 50; seed 1: 20; mean 35
    assert row["mean"] == pytest.approx(35.0) and row["n_seeds"] == 2 and row["n_cells"] == 2
    fig = A.figure2(_frame(vals))
    assert fig.iloc[0]["mean"] == pytest.approx(35.0) and fig.iloc[0]["task"] == "regression"


def test_final_summary_uses_last_step_only():
    f = _frame({("mnist", 2, 100, "GD", 0): 80.0, ("mnist", 2, 100, "GD", 1): 82.0})
    early = f.assign(step=0, value=10.0)
    s = A.final_summary(pd.concat([f, early]))
    assert len(s) == 1 and s.iloc[0]["mean"] == pytest.approx(81.0)


def test_compare_and_side_by_side():
    f = _frame({("mnist", 2, 100, m, 0): v for m, v in
                zip(["our", "our+stab", "GD", "L2 0.01", "L2 0.1"], [75.0, 75.0, 74.0, 74.0, 75.5])})
    cmp = A.compare(A.final_summary(f), "Table 2")
    hit = cmp[(cmp.row == "mnist|2L|n=100|GD") & (cmp.column == "normal")].iloc[0]
    assert hit["published"] == 73.8 and hit["delta"] == pytest.approx(74.0 - 73.8)
    wide = A.side_by_side(cmp, {"cifar10": "not here"})
    cell = wide.set_index("dataset|layers|method").loc["mnist|2L|GD", "n=100 normal"]
    assert cell == "73.8 -> 74.0 (+0.2)"
    assert wide.set_index("dataset|layers|method").loc["cifar10|2L|GD", "n=100 normal"].endswith("not run")
    ag = A.agreement(cmp)
    assert ag["cells"] == 5 and ag["within_tolerance"] == 5 and ag["groups"] == 1
    assert ag["same_best"] == 1  # published best L2 0.1 (75.4), regenerated best L2 0.1 (75.5)


def test_total_variation_hand_worked():
    const = np.full((1, 28, 28), 0.7)
    assert A.total_variation(const)[0] == 0.0
    r, c = np.indices((28, 28))
    board = np.where((r + c) % 2 == 0, 1.0, -1.0)[None]
    # every one of the 2 * 28 * 27 neighbour pairs differs by 2; L1 norm 784
    assert A.total_variation(board)[0] == pytest.approx(2 * 2 * 28 * 27 / (2 * 784))
    with pytest.raises(ValueError):
        A.total_variation(np.zeros((28, 28)))


def test_off_digit_energy_hand_worked():
    X = np.zeros((200, 4))
    X[:, 0] = 1.0  # always inked
    X[:1, 3] = 1.0  # inked in 0.5 % of images -> off
    mask = A.off_digit_mask(X, threshold=0.01)
    assert mask.tolist() == [False, True, True, True]
    W = np.array([[3.0, 0.0, 4.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert A.off_digit_energy(W, mask) == pytest.approx([16 / 25, 3 / 4])


def test_claims_verdicts_follow_the_numbers():
    vals = {}
    for s in range(3):
        for d in ("wine", "house"):
            for L in (2, 3):
                vals[(d, L, 100, "GD", s)] = 200.0 + s
                vals[(d, L, 100, "our", s)] = 100.0 + 2 * s
                vals[(d, L, 100, "our+stab", s)] = 90.0 + s
    f = _frame(vals)
    c = A.claims(A.relative_table(f), f).set_index("claim")["verdict"]
    assert c["our improves on GD in regression (Table 3 > 0)"] == "holds"
    assert c["the stabilizer is the best method in regression"] == "holds"
    assert c["dual weight is 'harmless': never worse than GD"] == "holds"
    worse = {k: (300.0 + k[4] if k[3] == "our" else v) for k, v in vals.items()}
    f2 = _frame(worse)
    c2 = A.claims(A.relative_table(f2), f2).set_index("claim")["verdict"]
    assert c2["our improves on GD in regression (Table 3 > 0)"] == "does not hold"
    assert c2["dual weight is 'harmless': never worse than GD"] == "does not hold"


def test_l2_claims_follow_the_numbers():
    """"L2 0.1 makes regression trivial" from the cells' mean losses against 90 (100 = the mean
    predictor); "L2 0.1 beats L2 0.01 on some image set" from the paired differences' intervals."""
    vals = {}
    for s in range(3):
        for L in (2, 3):
            vals[("wine", L, 100, "GD", s)] = 80.0 + s
            vals[("wine", L, 100, "L2 0.01", s)] = 70.0 + s
            vals[("wine", L, 100, "L2 0.1", s)] = 99.0 + 0.1 * s
            vals[("mnist", L, 100, "GD", s)] = 80.0 + s
            vals[("mnist", L, 100, "L2 0.01", s)] = 81.0 + s
            vals[("mnist", L, 100, "L2 0.1", s)] = (84.0 if L == 2 else 79.0) + s
    f = _frame(vals)
    c = A.claims(A.relative_table(f), f).set_index("claim")
    trivial = [k for k in c.index if k.startswith("L2 0.1 makes the regression model trivial")][0]
    assert c.loc[trivial, "verdict"] == "holds" and "2 of 2 cells" in c.loc[trivial, "evidence"]
    beats = c.loc["on some image sets L2 0.1 beats L2 0.01"]
    assert beats["verdict"] == "holds" and beats["evidence"].startswith("mnist: 1 of 2 cells")
    f2 = _frame({k: (v - 40.0 if k[3] == "L2 0.1" and k[0] == "wine" else
                     (v - 10.0 if k[3] == "L2 0.1" else v)) for k, v in vals.items()})
    c2 = A.claims(A.relative_table(f2), f2).set_index("claim")["verdict"]
    assert c2[trivial] == "does not hold"
    assert c2["on some image sets L2 0.1 beats L2 0.01"] == "does not hold"


def test_page_tables_and_figures_are_artifacts_with_the_pages_code_path(tmp_path, monkeypatch):
    """`learning-rules make dual-weight-table-N / -figure-N` write what the pages show, from the
    same functions (page_grids, table_frame, figure2_frame)."""
    import matplotlib

    matplotlib.use("Agg")
    from learning_rules.experiments import ARTIFACTS, make_artifact
    from learning_rules.experiments import dual_weight_tables as E

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(datasets=["wine"], layers=[2], sizes=[100], steps=2000, eval_every=1000,
                  coded_seeds=[0, 1], corrected_seeds=[0], n_jobs=1)
    coded, corrected = E.page_grids(params)
    t1 = E.table_frame(coded, corrected, "Table 1")
    wine = t1[t1["row"].str.startswith("wine|2L|n=100|")]
    assert len(wine) == 10 and wine["as_coded_mean"].notna().all() and wine["corrected_mean"].notna().all()
    assert (wine["as_coded_seeds"] == 2).all() and wine["as_coded_low"].notna().all()
    assert t1[~t1["row"].str.startswith("wine|2L|n=100|")]["as_coded_mean"].isna().all()
    written = make_artifact("dual-weight-table-1", params, tmp_path / "t1.csv")
    pd.testing.assert_frame_equal(pd.read_csv(written), t1, check_dtype=False)
    assert make_artifact("dual-weight-figure-2", params, tmp_path / "f2.png").stat().st_size > 1000
    assert make_artifact("dual-weight-figure-4", params, tmp_path / "f4.png").stat().st_size > 1000
    assert {f"dual-weight-table-{k}" for k in range(1, 5)} <= set(ARTIFACTS)
    assert {f"dual-weight-figure-{k}" for k in (1, 2, 3, 4, 5, 6, 7, 8)} <= set(ARTIFACTS)  # all of them


def test_figure_3_is_an_artifact_with_the_pages_code_path(tmp_path, monkeypatch):
    """`learning-rules make dual-weight-figure-3` draws the receptive-fields page's as-coded figure
    with the page's own function (plot_page_fields) from the same runs."""
    import matplotlib

    matplotlib.use("Agg")
    from learning_rules.experiments import ARTIFACTS, make_artifact
    from learning_rules.experiments import dual_weight as E
    from learning_rules.experiments import dual_weight_fields as F

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(steps=300, n=50, rf_layers=2, seeds=[0], n_jobs=1)
    drawn = []
    real = F.plot_page_fields
    monkeypatch.setattr(F, "plot_page_fields", lambda rf: drawn.append(rf) or real(rf))
    out = make_artifact("dual-weight-figure-3", params, tmp_path / "f3.png")
    assert out.stat().st_size > 1000 and "dual-weight-figure-3" in ARTIFACTS
    page_rf = E.receptive_fields(E.ReceptiveFieldConfig("as_coded", 2, 50, (0,), 300, 1))
    pd.testing.assert_frame_equal(drawn[0], page_rf)
