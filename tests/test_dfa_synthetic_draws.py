"""The synthetic page's data-draw study (experiments/dfa_synthetic.py, its last section): the
ranges' formulas on hand-worked numbers, the per-cell frame against a direct computation from the
runs, and the training error one step before the end."""

import numpy as np
import pytest
from scipy import stats

from learning_rules.analysis.stats import prediction_interval
from learning_rules.experiments.dfa_synthetic import (
    BEFORE_LAST_PROTOCOL,
    SyntheticConfig,
    before_last_configs,
    draw_cells,
    draw_means_frame,
    draw_summary,
    draws_beyond,
    mean_prediction_interval,
    published_cells,
    run_synthetic,
    synthetic_page_plan,
    synthetic_run,
    train_error_before_last,
)

PARAMS = dict(num_epochs=3, n_test=60, n_values=[32], d_values=[5], seeds=[0, 1], draw_seeds=[0, 1, 2],
              data_seed=1)


def test_mean_prediction_interval_by_hand():
    # x = 0, 1, 2: mean 1, s = 1; the mean of m = 3 new runs: 1 +- t(0.975, 2) sqrt(1/3 + 1/3)
    half = stats.t.ppf(0.975, 2) * np.sqrt(2 / 3)
    assert mean_prediction_interval([0, 1, 2], 3) == pytest.approx((1 - half, 1 + half))
    assert half == pytest.approx(3.5132, abs=1e-4)
    # one new run is the prediction interval; many new runs shrink it to the t interval of the mean
    assert mean_prediction_interval([0.2, 0.5, 0.9, 0.4], 1) == pytest.approx(prediction_interval([0.2, 0.5, 0.9, 0.4]))
    lo, hi = mean_prediction_interval([0, 1, 2], 10 ** 9)
    assert hi - 1 == pytest.approx(stats.t.ppf(0.975, 2) / np.sqrt(3), rel=1e-6)
    assert np.isnan(mean_prediction_interval([1.0], 3)).all()
    with pytest.raises(ValueError, match="positive"):
        mean_prediction_interval([0, 1], 0)


def test_draws_beyond_counts_on_the_published_side():
    means = [0.20, 0.22, 0.25, 0.30, 0.31]  # average 0.256
    assert draws_beyond(means, 0.21) == 1  # below the average: the draws at or below it
    assert draws_beyond(means, 0.22) == 2
    assert draws_beyond(means, 0.30) == 2  # above: at or above
    assert draws_beyond(means, 0.40) == 0
    assert draws_beyond(means, float("nan")) == 0


def test_draw_cells_against_the_runs():
    import csv
    from decimal import Decimal
    from pathlib import Path

    import learning_rules

    with open(Path(learning_rules.__file__).parent / "reference" / "dfa_thesis.csv", newline="") as f:
        half = {(r["table"], r["row"], r["column"]):
                (0.5 * 10.0 ** e if (e := Decimal(r["published"]).as_tuple().exponent) < 0 else 0.0)
                for r in csv.DictReader(f)}
    cells = published_cells(PARAMS)
    frame = draw_cells(PARAMS)
    assert len(frame) == len(cells) == 12
    summary = draw_summary(PARAMS)
    configs = list(dict.fromkeys(c.base.replace(data_seed=k, seed=s) for c in cells for k in (0, 1, 2)
                                 for s in (0, 1)))
    runs = run_synthetic(configs)
    value = {c: runs.iloc[i] for i, c in enumerate(configs)}
    for cell, row, summ in zip(cells, frame.itertuples(index=False), summary.itertuples(index=False)):
        grid = np.array([[value[cell.base.replace(data_seed=k, seed=s)][cell.value] for s in (0, 1)]
                         for k in (0, 1, 2)])
        m = grid.mean(axis=1)
        assert row.draw_mean == pytest.approx(summ.mean) == pytest.approx(m.mean())
        assert (row.draw_range_low, row.draw_range_high) == pytest.approx((summ.pred_low, summ.pred_high),
                                                                          nan_ok=True)
        assert (row.run_range_low, row.run_range_high) == pytest.approx(prediction_interval(grid.ravel()),
                                                                        nan_ok=True)
        own = grid[1]  # data_seed 1: the figures' draw
        assert row.seed_mean == pytest.approx(own.mean())
        assert (row.seed_range_low, row.seed_range_high) == pytest.approx(mean_prediction_interval(own, 2),
                                                                          nan_ok=True)
        assert row.draw_sd == pytest.approx(m.std(ddof=1))
        assert row.beyond == draws_beyond(m, row.published)
        if row.in_draw_range is not None:
            h = half[(row.table, row.row, row.column)]  # the number as printed, as the ledger reads it
            assert row.in_draw_range == (row.draw_range_low <= row.published + h
                                         and row.published - h <= row.draw_range_high)
    long = draw_means_frame(PARAMS, None, "Fig. 3.8", ["d=5|n=256|SGD|DFA"])
    assert len(long) == 2 * 3 and set(long["column"]) == {"final test error", "final train error"}


def test_recording_the_step_before_the_last_changes_no_result():
    base = SyntheticConfig(experiment="adaptive", n=64, d=5, credit="dfa", num_epochs=6, n_hidden=16, n_test=50)
    plain, both = synthetic_run(base), synthetic_run(base.replace(eval_every=5))
    assert both["step"].tolist() == [5, 6]
    assert both.iloc[-1].equals(plain.iloc[-1])


def test_train_error_before_last_pairs_each_run_with_its_own_final_row():
    configs = before_last_configs(PARAMS)
    assert len(configs) == 1 * 3 * 2 and {(c.credit, c.optimizer, c.eval_every) for c in configs} == {("dfa", "sgd", 2)}
    table = train_error_before_last(PARAMS)
    assert table["row"].tolist() == ["d=5|n=256|SGD|DFA"] and table["runs"].tolist() == [6]
    runs = [synthetic_run(c) for c in configs]
    before = np.array([r.loc[r["step"] == 2, "train_error"].iloc[0] for r in runs])
    after = np.array([r.loc[r["step"] == 3, "train_error"].iloc[0] for r in runs])
    r = table.iloc[0]
    assert r["before"] == pytest.approx(before.mean()) and r["after"] == pytest.approx(after.mean())
    assert r["shift"] == pytest.approx((before - after).mean())
    # the final rows are the draw study's runs: its mean over draws x seeds is the same number
    summ = draw_summary(PARAMS)
    assert r["after"] == pytest.approx(summ.loc[(summ["row"] == r["row"]) & (summ["column"] == r["column"]),
                                                "mean"].iloc[0])
    assert train_error_before_last({**PARAMS, "num_epochs": 1}).empty


def test_the_planner_lists_the_before_last_runs():
    from learning_rules.store import Store

    p = {**PARAMS, "sgd_grid": [0.5], "rmsprop_grid": [0.5], "tune_d_values": [5], "n_val": 8}
    configs = {t.config for t in synthetic_page_plan(p, Store(code_hash="t"))}
    assert set(before_last_configs(p)) <= configs


def test_reproduced_cells_carry_the_before_last_alternative(tmp_path, monkeypatch):
    from learning_rules.experiments.dfa_synthetic import reproduced_cells

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path))
    cells = reproduced_cells("smoke")
    dfa_train = cells[cells["row"].str.endswith("|SGD|DFA") & (cells["column"] == "final train error")]
    assert len(dfa_train) > 0 and (dfa_train["alternative_protocol"] == BEFORE_LAST_PROTOCOL).all()
    assert dfa_train["alternative"].between(0, 1).all()
    others = cells.drop(dfa_train.index)
    assert others["alternative_protocol"].isna().all()


def test_reproduced_cells_without_the_before_last_runs_keep_their_cells(tmp_path, monkeypatch):
    """A store from before the before-last runs (read-only): the cells are read, with no
    alternative, instead of the chapter failing."""
    from learning_rules.experiments.dfa_synthetic import NOTEBOOK, draw_configs, reproduced_cells
    from learning_rules.profiles import page_parameters
    from learning_rules.store import Store

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path))
    run_synthetic(draw_configs(page_parameters("smoke", NOTEBOOK)), Store())
    monkeypatch.setenv("LEARNING_RULES_STORE_READONLY", "1")
    cells = reproduced_cells("smoke")
    assert len(cells) > 0 and cells["alternative_protocol"].isna().all()
