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
