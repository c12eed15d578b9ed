"""Seeds and intervals of the foundations figures: seed lists, stacked runs, the mean band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from learning_rules.experiments import foundations as F
from learning_rules.experiments import foundations_plots as P
from learning_rules.experiments import foundations_regularization as R
from learning_rules.experiments import foundations_vanishing as V


@pytest.fixture(autouse=True)
def _tmp_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))


def test_seed_list():
    assert F.seed_list({}) == [0]
    assert F.seed_list({"seed": 4, "n_seeds": 3}) == [4, 5, 6]
    with pytest.raises(ValueError, match="n_seeds"):
        F.seed_list({"n_seeds": 0})


def test_mean_band_is_the_student_t_interval_by_hand():
    frame = pd.DataFrame({"x": [1, 1, 1, 2, 2, 2], "y": [1.0, 2.0, 4.0, 3.0, 3.0, 3.0], "g": "a"})
    band = P.mean_band(frame, "x", "y", by=["g"]).set_index("x")
    y = np.array([1.0, 2.0, 4.0])
    half = stats.t.ppf(0.975, 2) * y.std(ddof=1) / np.sqrt(3)
    assert band.loc[1, "mean"] == pytest.approx(7 / 3)
    assert band.loc[1, "high"] - band.loc[1, "mean"] == pytest.approx(half)
    assert band.loc[2, "low"] == band.loc[2, "high"] == 3.0  # no spread
    geo = P.mean_band(frame, "x", "y", log=True).set_index("x")
    assert geo.loc[1, "mean"] == pytest.approx(2.0)  # (1 * 2 * 4) ** (1/3)
    assert geo.loc[1, "low"] * geo.loc[1, "high"] == pytest.approx(4.0)  # symmetric in log
    one = P.mean_band(frame[frame["y"] == 4.0], "x", "y")
    assert one["n"].iloc[0] == 1 and np.isnan(one["low"].iloc[0])


def test_seeds_text():
    assert P.seeds_text(pd.DataFrame({"seed": [0, 1, 2, 1]})).startswith("seeds 0-2")
    assert P.seeds_text(pd.DataFrame({"seed": [5]})).startswith("seed 5 (one run")


def test_symmetry_frame_stacks_one_run_per_seed_and_init():
    import dataclasses

    params = {"seed": 1, "n_seeds": 2, "sym_epochs": 1}
    frame = V.symmetry_frame(params, inits=("constant:0.05", "he_uniform"))
    assert sorted(set(frame["seed"])) == [1, 2]
    assert set(frame["init"]) == {"constant:0.05", "he_uniform"}
    const = frame[frame["init"] == "constant:0.05"]
    assert (const["distinct_neurons"] == 1).all()  # symmetry is never broken, whatever the seed
    again = V.symmetry(dataclasses.replace(V.SymmetryConfig(init="he_uniform", num_epochs=1), seed=2))
    mine = frame[(frame["init"] == "he_uniform") & (frame["seed"] == 2)]
    assert np.array_equal(mine["train_accuracy"].to_numpy(), again["train_accuracy"].to_numpy())
    seed1 = frame[(frame["init"] == "he_uniform") & (frame["seed"] == 1)]
    assert not np.array_equal(seed1["spread"].to_numpy(), mine["spread"].to_numpy())


def test_histogram_frame_and_plot_with_seeds():
    params = {"seed": 0, "n_seeds": 2, "hidden": 3, "n_train": 100, "batch_size": 10, "lr": 0.5,
              "hist_epochs": 1}
    frame = R.weight_histogram_frame(params, [("none", 0.0), ("l1", 1.0)])
    assert frame.groupby(["penalty", "seed"]).size().eq(784 * 3).all()
    hist = {pen: [g["weight"].to_numpy() for _, g in f.groupby("seed")] for pen, f in frame.groupby("penalty")}
    fig = R.plot_l1_l2_histograms(hist, 1e-3, bins=20)
    line = fig.axes[0].get_lines()[0]
    counts = np.array([np.histogram(w, bins=np.linspace(
        min(a.min() for ws in hist.values() for a in ws), max(a.max() for ws in hist.values() for a in ws), 21))[0]
        for w in hist["l1"]])
    assert np.allclose(line.get_ydata(), counts.mean(axis=0))  # the line is the mean count over seeds
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plots_draw_bands_over_seeds():
    import matplotlib.pyplot as plt

    params = {"seed": 0, "n_seeds": 2, "depth": 2, "width": 4, "flow_n_train": 40, "probe_size": 20,
              "flow_epochs": 1, "batch_size": 20, "record_every": 1}
    flow = V.gradient_flow_frame(params)
    assert sorted(set(flow["seed"])) == [0, 1]
    fig = V.plot_gradient_flow(flow)
    assert fig.axes[0].collections  # a band per activation
    plt.close(fig)
    sym = V.symmetry_frame({"n_seeds": 2, "sym_epochs": 1})
    fig = V.plot_symmetry(sym)
    assert len(fig.axes[1].collections) == 2
    plt.close(fig)


def test_page_runs_take_only_their_sections_parameters():
    """The planner reads the page's whole parameter dict; a section whose network is its config's
    own (symmetry, entropy, the recursion check) must not pick up another section's ``batch_size``,
    ``lr``, ``hidden`` or ``n_train``."""
    page = {"seed": 2, "n_seeds": 2, "sym_epochs": 4, "batch_size": 50, "lr": 0.1, "hidden": 30,
            "n_train": 50_000, "rec_lam": 0.02, "rec_lr": 0.2, "rec_steps": 7}
    for run in V.symmetry_runs(page) + V.entropy_runs(page):
        cfg = run.config
        assert (cfg.batch_size, cfg.lr, cfg.num_epochs) == (type(cfg)().batch_size, type(cfg)().lr, 4)
    assert [r.config.seed for r in V.symmetry_runs(page)] == [2, 3, 2, 3]
    (rec,) = R.recursion_runs(page)
    default = R.L2RecursionConfig()
    assert (rec.config.hidden, rec.config.n_train, rec.config.batch_size) == (
        default.hidden, default.n_train, default.batch_size)
    assert (rec.config.lam, rec.config.lr, rec.config.num_steps, rec.config.seed) == (0.02, 0.2, 7, 2)


def test_frames_are_their_run_lists_with_the_labels_as_columns():
    params = {"seed": 0, "n_seeds": 2, "sym_epochs": 1}
    runs = V.symmetry_runs(params)
    frame = V.symmetry_frame(params)
    assert list(frame.columns[-2:]) == ["seed", "init"]
    for r in runs:  # every run's rows carry its labels, in the list's order
        rows = frame[(frame["seed"] == r.labels["seed"]) & (frame["init"] == r.labels["init"])]
        pd.testing.assert_frame_equal(rows.drop(columns=["seed", "init"]).reset_index(drop=True),
                                      F.run_cached(r.name, r.config))
    assert list(dict.fromkeys(zip(frame["init"], frame["seed"]))) == [
        (r.labels["init"], r.labels["seed"]) for r in runs]


def test_planner_lists_every_run_of_the_page():
    from learning_rules.catalog import PLANNERS
    from learning_rules.store import Store

    params = {"seed": 0, "n_seeds": 2, "n_train": 100, "n_eval": 50, "hidden": 5, "num_epochs": 1,
              "batch_size": 10, "lr": 0.5, "lam": 5.0, "l1_lam": 1.0, "hist_epochs": 1, "rec_lam": 0.01,
              "rec_lr": 0.1, "rec_steps": 5}
    runs = R.page_runs(params)
    assert [r.name for r in runs].count("foundations_weight_decay") == 3 * 2
    assert [r.name for r in runs].count("foundations_weight_histogram") == 3 * 2
    tasks = PLANNERS.lookup(R.NOTEBOOK)(params, Store())
    assert [(t.name, t.config) for t in tasks] == [(r.name, r.config) for r in runs]
    assert all(t.cost > 0 for t in tasks)
    # a longer run costs more (the precompute starts the longest first)
    big = [F.run_cost(r.config.__class__(**{**r.config.__dict__, "n_train": 10 * r.config.n_train}))
           for r in runs[1:3]]
    assert all(b > F.run_cost(r.config) for b, r in zip(big, runs[1:3]))
    assert V.NOTEBOOK in PLANNERS


def test_planner_skips_runs_whose_dataset_is_not_here(tmp_path, monkeypatch):
    """No MNIST on this machine: the planner lists nothing (the page itself then stops with the
    data layer's error), so the build's precompute does not fail on it."""
    runs = R.page_runs({"seed": 0, "n_seeds": 1, "lam": 5.0, "l1_lam": 1.0})
    assert F.plan_page(runs)  # MNIST is here (LEARNING_RULES_DATA)
    monkeypatch.setenv("LEARNING_RULES_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    assert F.plan_page(runs) == []
