"""Synthetic-clusters experiment: data slicing, the lazy baseline, determinism, lr selection."""

import numpy as np
import pytest

from learning_rules.experiments.dfa_synthetic import (
    SyntheticConfig,
    run_synthetic,
    select_synthetic_lr,
    synthetic_data,
    synthetic_run,
)


def test_data_is_one_draw_sliced():
    big = synthetic_data(SyntheticConfig(experiment="n", n=512, d=15))
    small = synthetic_data(SyntheticConfig(experiment="n", n=64, d=15))
    np.testing.assert_array_equal(small[0], big[0][:64])     # nested training sets
    np.testing.assert_array_equal(small[2], big[2])          # one test set
    d5 = synthetic_data(SyntheticConfig(experiment="d", n=256, d=5))
    d25 = synthetic_data(SyntheticConfig(experiment="d", n=256, d=25))
    np.testing.assert_array_equal(d5[0], d25[0][:, :5])       # columns sliced
    assert np.all(d25[0][:, 0] == 1.0) and d25[2].shape == (4000, 25)
    val = synthetic_data(SyntheticConfig(experiment="d", n=256, d=5, validation=True, n_val=56))
    np.testing.assert_array_equal(val[2], d5[0][200:])       # validation = held-out training points
    assert val[0].shape == (200, 5)


def test_config_validation():
    with pytest.raises(ValueError, match="experiment"):
        SyntheticConfig(experiment="m")
    with pytest.raises(ValueError, match="d must"):
        SyntheticConfig(experiment="adaptive", d=26)
    with pytest.raises(ValueError, match="optimizer"):
        SyntheticConfig(optimizer="adam")


def test_output_only_keeps_first_layer_and_runs_are_deterministic():
    cfg = SyntheticConfig(n=32, d=5, num_epochs=20, n_hidden=16, n_test=100, train_first=False,
                          eval_every=10)
    a, b = synthetic_run(cfg), synthetic_run(cfg)
    assert a.equals(b)
    assert a["step"].tolist() == [10, 20]
    # Oracle: the lazy run is gradient descent of logistic regression on frozen ReLU features.
    X, y, Xt, yt = synthetic_data(cfg)
    rng = np.random.default_rng(cfg.seed)
    W1 = rng.uniform(-1 / np.sqrt(5), 1 / np.sqrt(5), size=(16, 5))
    W2 = rng.uniform(-1 / np.sqrt(16), 1 / np.sqrt(16), size=(1, 16))
    H, Ht = np.maximum(X @ W1.T, 0), np.maximum(Xt @ W1.T, 0)
    for _ in range(20):
        p = 1 / (1 + np.exp(-(H @ W2.T)[:, 0]))
        W2 -= 0.5 * ((p - y) @ H / len(y))[None, :]
    zt = (Ht @ W2.T)[:, 0]
    loss = np.mean(np.logaddexp(0, zt) - yt * zt)
    assert a["test_loss"].iloc[-1] == pytest.approx(loss, rel=1e-9)
    assert a["test_error"].iloc[-1] == pytest.approx(np.mean((zt > 0) != yt))


def test_backprop_fits_small_sample():
    res = synthetic_run(SyntheticConfig(n=64, d=4, num_epochs=300, n_test=500))
    assert res["train_error"].iloc[-1] <= 0.05  # full batch lr 0.5: the 2-D problem is learnable


def test_select_lr_uses_validation_only():
    base = SyntheticConfig(experiment="adaptive", n=64, d=5, num_epochs=30, n_hidden=16, n_test=50,
                           n_val=16, optimizer="rmsprop")
    best, scores = select_synthetic_lr(base, [1e-3, 0.5])
    assert best in (1e-3, 0.5) and len(scores) == 2
    frame = run_synthetic([base.replace(lr=best, validation=True)])
    assert (frame["eval_set"] == "validation").all()


def test_reproduced_cells_match_published_rows(tmp_path, monkeypatch):
    from learning_rules.experiments.dfa_parity import published_table
    from learning_rules.experiments.dfa_synthetic import reproduced_cells
    from learning_rules.report import validate_reproduced

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path))
    cells = validate_reproduced(reproduced_cells("smoke"))
    pub = published_table()
    keys = set(zip(pub["table"], pub["row"], pub["column"]))
    assert set(zip(cells["table"], cells["row"], cells["column"])) <= keys
    assert cells["reproduced"].between(0, 1).all()
    assert {"Fig. 2.2", "Fig. 3.8"} == set(cells["table"])


def test_draw_summary_is_the_mean_and_ranges_over_draws_of_the_per_draw_means():
    """Per cell: the mean over initializations on each draw, then the mean, its t interval and the
    prediction interval over draws, each checked against a direct computation from the runs."""
    from learning_rules.analysis.stats import prediction_interval
    from learning_rules.cells import mean_interval
    from learning_rules.experiments.dfa_synthetic import draw_configs, draw_summary, published_cells

    params = dict(num_epochs=3, n_test=60, n_values=[32], d_values=[5], seeds=[0, 1],
                  draw_seeds=[0, 1, 2], data_seed=1)
    cells = published_cells(params)
    assert len(cells) == 4 + 8  # Fig. 2.2: n and d curves x two methods; Fig. 3.8: 4 methods x 2
    configs = draw_configs(params)
    assert len(configs) == len(set(configs)) == 8 * 3 * 2  # a train and a test cell share a run
    summary = draw_summary(params)
    runs = run_synthetic(configs)
    for cell, row in zip(cells, summary.itertuples(index=False)):
        assert (cell.table, cell.row, cell.column) == (row.table, row.row, row.column)
        per_draw = [np.mean([runs[cell.value].iloc[configs.index(cell.base.replace(data_seed=k, seed=s))]
                             for s in (0, 1)]) for k in (0, 1, 2)]
        assert row.mean == pytest.approx(np.mean(per_draw))
        assert (row.low, row.high) == pytest.approx(mean_interval(per_draw)[1:])
        assert (row.pred_low, row.pred_high) == pytest.approx(prediction_interval(np.array(per_draw)))
        assert row.first_draw == pytest.approx(per_draw[1])  # data_seed 1 is the figures' draw
        assert row.in_draw_range == (row.pred_low <= row.published <= row.pred_high)
    # different draws are different data: the runs of one cell do not all agree
    assert summary["draw_sd"].gt(0).any()
    with pytest.raises(ValueError, match="draw seed"):
        draw_summary({**params, "draw_seeds": []})
