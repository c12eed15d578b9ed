"""The ablation's three explanations, measured: the verdict rules on inputs with known answers, and
the instrumented runs (the same training as ``ablation_run``, bit for bit; their bookkeeping
against the updates the optimizers made and against finite differences)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from learning_rules.analysis import ablation as an
from learning_rules.experiments import EXPERIMENTS
from learning_rules.experiments import ablation as ab
from learning_rules.experiments import ablation_claims as cl

TINY = dict(dataset="mnist", n_train=200, n_val=100, batch_size=50, num_epochs=2, hidden=(8, 8), lam=1.0)
RATES = {"sgd": 0.1, "momentum": 0.1, "rmsprop": 1e-3, "adam": 1e-3}


# --------------------------------------------------------------------------- claim 1: the lag


def test_uncorrelated_ema_cosine_is_the_simulated_one():
    x = an.uncorrelated_ema_cosine(0.9)
    assert x == pytest.approx(np.sqrt(1 - 0.81))
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3000, 200))  # gradients uncorrelated with their past
    v, cosines = np.zeros(200), []
    for t, gt in enumerate(g, start=1):
        v = 0.9 * v + 0.1 * gt
        if t > 100:  # past the bias correction's warm-up
            cosines.append(v @ gt / np.linalg.norm(v) / np.linalg.norm(gt))
    assert np.mean(cosines) == pytest.approx(x, abs=0.01)
    assert an.uncorrelated_ema_cosine(0.0) == 1.0  # no average: the gradient itself
    with pytest.raises(ValueError, match="beta"):
        an.uncorrelated_ema_cosine(1.0)


def _lag_frames(lead, cos_vg=0.3, advantage=-0.05, seeds=(0, 1, 2)):
    """Momentum step rows (probed every second step) and the grid's last epoch of SGD and
    momentum: momentum's training CCE = SGD's + lead[seed]."""
    steps, grid = [], []
    for s in seeds:
        for t in range(1, 11):
            probed = t % 2 == 0
            jitter = 0.01 * (s - 1)
            steps.append({"kind": "step", "optimizer": "momentum", "dataset": "mnist", "init": "he_uniform",
                          "lam": 1.0, "seed": s, "epoch": 1, "step": t, "probe_every": 2,
                          "cos_v_g": cos_vg + jitter,
                          "cos_v_G": 0.5 + advantage + jitter if probed else np.nan,
                          "cos_g_G": 0.5 if probed else np.nan, "cos_G_prev": 0.9 if probed else np.nan})
        for opt, cce in (("sgd", 0.2), ("momentum", 0.2 + lead[s])):
            for split in ("train", "cv"):
                grid.append({"run_id": f"{opt}|{s}", "kind": "epoch", "epoch": 3, "split": split,
                             "dataset": "mnist", "init": "he_uniform", "lam": 1.0, "optimizer": opt,
                             "seed": s, "cce": cce})
    return pd.DataFrame(steps), pd.DataFrame(grid)


def test_momentum_lag_reads_the_probes_and_pairs_the_grid_by_seed():
    moments, grid = _lag_frames({0: 0.02, 1: 0.025, 2: 0.03})
    table = an.momentum_lag(moments, grid)
    assert list(table["seed"]) == [0, 1, 2]
    assert list(table["SGD lead"]) == pytest.approx([0.02, 0.025, 0.03])
    assert list(table["advantage"]) == pytest.approx([-0.06, -0.05, -0.04])  # the seeds' jitter
    assert table["cos(v, G)"].iloc[0] == pytest.approx(0.44) and table["cos(g, G)"].iloc[0] == 0.5
    assert table["probe_every"].iloc[0] == 2 and table["cos(G, G earlier)"].iloc[0] == pytest.approx(0.9)
    assert an.momentum_lag_claim(table)["verdict"] == "holds"


@pytest.mark.parametrize("lead,cos_vg,advantage,verdict", [
    ({0: 0.02, 1: 0.025, 2: 0.03}, 0.3, -0.05, "holds"),
    # the average points at the full gradient better than the fresh gradient: no cost of lag
    ({0: 0.02, 1: 0.025, 2: 0.03}, 0.3, +0.05, "does not hold"),
    # the gradient does not turn against its past (cos above X = 0.436)
    ({0: 0.02, 1: 0.025, 2: 0.03}, 0.8, -0.05, "does not hold"),
    # momentum does not trail SGD: whatever the lag, it explains nothing here
    ({0: -0.01, 1: 0.0, 2: 0.01}, 0.3, -0.05, "premise does not hold (Momentum does not trail SGD)"),
])
def test_momentum_lag_claim_branches(lead, cos_vg, advantage, verdict):
    moments, grid = _lag_frames(lead, cos_vg, advantage)
    claim = an.momentum_lag_claim(an.momentum_lag(moments, grid))
    assert claim["verdict"] == verdict
    assert "X = 0.436" in claim["measured"] and "3 seeds" in claim["measured"]


def test_momentum_lag_claim_needs_seeds_mnist_and_the_grid():
    moments, grid = _lag_frames({0: 0.01}, seeds=(0,))
    assert an.momentum_lag_claim(an.momentum_lag(moments, grid))["verdict"].startswith("not testable")
    moments, grid = _lag_frames({0: 0.02, 1: 0.025, 2: 0.03})
    no_sgd = an.momentum_lag(moments, grid[grid["optimizer"] != "sgd"])
    assert no_sgd["SGD lead"].isna().all()
    assert an.momentum_lag_claim(no_sgd)["verdict"].startswith("not testable")
    assert an.momentum_lag_claim(an.momentum_lag(pd.DataFrame()), dataset_missing=True)["verdict"] == \
        "not testable here"


# --------------------------------------------------------------------------- claim 2: the spikes


def test_spike_steps_are_the_ones_count_spikes_counts():
    costs = np.ones(120)
    costs[[60, 61, 100]] = [5.0, 2.0, 4.0]  # 2.0 is below 3 x the median of 1
    costs[90] = np.nan
    assert list(an.spike_steps(costs)) == [60, 100]
    assert an.count_spikes(costs) == 2
    assert list(an.spike_steps(costs, window=10, factor=1.5)) == [60, 61, 100]
    with pytest.raises(ValueError, match="window"):
        an.spike_steps(costs, window=0)


def _spike_frame(rms_spikes=(80,), adam_spikes=(), elevation=5.0, damping=0.2, steps=120, seeds=(0, 1)):
    """RMSProp and Adam step rows: costs 1 with spikes of 10; RMSProp's update 1 per step except
    ``elevation`` two steps before each spike, where Adam's numerator on the same path is
    ``damping`` of it and s_t dips to half."""
    rows = []
    for s in seeds:
        for opt, where in (("rmsprop", rms_spikes), ("adam", adam_spikes)):
            for t in range(1, steps + 1):
                pos = t - 1
                big = opt == "rmsprop" and any(pos == p - 2 for p in where)
                rows.append({"kind": "step", "optimizer": opt, "seed": s, "step": t,
                             "batch_cost": 10.0 if pos in where else 1.0,
                             "step_rms": elevation if big else 1.0,
                             "ratio_g_rms": elevation if big else 1.0,
                             "ratio_v_rms": damping * elevation if big else 0.5,
                             "s_rms": 0.5 if big else 1.0, "g_norm": 3.0 if big else 1.0})
    return pd.DataFrame(rows)


def test_spike_moments_measure_the_steps_before_each_spike():
    runs, spikes = an.spike_moments(_spike_frame())
    assert list(runs.set_index(["optimizer", "seed"])["spikes"]) == [1, 0, 1, 0]
    assert len(spikes) == 2 and (spikes["step"] == 81).all()
    row = spikes.iloc[0]
    assert row["cost ratio"] == pytest.approx(10.0)
    assert row["elevation"] == pytest.approx(5.0) and row["damping"] == pytest.approx(0.2)
    assert row["s_dip"] == pytest.approx(0.5) and row["g_jump"] == pytest.approx(3.0)
    assert an.adam_spikes_claim(runs, spikes)["verdict"] == "holds"


@pytest.mark.parametrize("kwargs,verdict", [
    ({}, "holds"),
    ({"elevation": 1.0}, "does not hold"),  # the spike did not follow a large update
    ({"damping": 0.9}, "does not hold"),  # Adam's numerator would not have been smaller
    ({"rms_spikes": ()}, "premise does not hold (RMSProp shows no spikes)"),
    ({"adam_spikes": (70,)}, "premise does not hold (Adam spikes too)"),
    ({"rms_spikes": (), "steps": 40}, "not testable here (runs of 40 steps, spike window 50)"),
])
def test_adam_spikes_claim_branches(kwargs, verdict):
    runs, spikes = an.spike_moments(_spike_frame(**kwargs))
    assert an.adam_spikes_claim(runs, spikes)["verdict"] == verdict


def test_adam_spikes_claim_without_runs():
    runs, spikes = an.spike_moments(pd.DataFrame())
    assert runs.empty and spikes.empty
    assert an.adam_spikes_claim(runs, spikes, dataset_missing=True)["verdict"] == "not testable here"
    only_rms = _spike_frame()
    runs, spikes = an.spike_moments(only_rms[only_rms["optimizer"] == "rmsprop"])
    assert an.adam_spikes_claim(runs, spikes)["verdict"].startswith("not testable here (needs")


# --------------------------------------------------------------------------- claim 3: the spread


def _spread_frame(end_ratio, seeds=(0, 1, 2), epochs=4):
    """Layer rows: He's std 0.1 (layer 1) and 0.2 (layer 2); U[-1, 1] starts at 10 x He's and,
    with lambda 3, ends at ``end_ratio`` x He's (times a seed factor the lambda-0 run shares)."""
    rows = []
    for s in seeds:
        shared = 1.0 + 0.05 * s
        for init, lam in (("uniform", 0.0), ("uniform", 3.0), ("he_uniform", 0.0)):
            for layer, he in ((1, 0.1), (2, 0.2)):
                for epoch in range(epochs + 1):
                    start = 10.0 if init == "uniform" else 1.0
                    end = end_ratio if (init, lam) == ("uniform", 3.0) else start
                    r = (start + (end - start) * epoch / epochs) * shared
                    rows.append({"kind": "layer", "optimizer": "adam", "init": init, "lam": lam, "seed": s,
                                 "layer": layer, "epoch": epoch, "w_std": r * he, "he_std": he,
                                 "in_he_range": 1.0 if r <= 1.5 else 0.1})
    return pd.DataFrame(rows)


def test_l2_pull_pairs_seeds_on_the_log_scale():
    table = an.l2_pull(_spread_frame(1.5)).set_index(["init", "lam", "layer"])
    row = table.loc[("uniform", 3.0, 1)]
    assert row["r at 0"] == pytest.approx(10.0 * np.exp(np.mean(np.log([1.0, 1.05, 1.1]))))
    assert row["L2 shrink"] == pytest.approx(10.0 / 1.5)  # the seed factor cancels: a zero-width interval
    assert row["low"] == pytest.approx(10.0 / 1.5) and row["seeds"] == 3
    assert row["share"] == pytest.approx(np.log(10.0 / 1.5) / np.log(row["r at 0"]))
    assert np.isnan(table.loc[("uniform", 0.0, 1), "L2 shrink"])
    assert table.loc[("he_uniform", 0.0, 2), "r at end"] == pytest.approx(row["r at 0"] / 10.0)


@pytest.mark.parametrize("end,verdict", [
    (1.5, "holds"),
    (3.0, "partly (the penalty pulls, but not every layer into the He range)"),
    (10.0, "does not hold"),
    (9.5, "does not hold"),  # a consistent shrinkage of 5 %: 2 % of the way to He's spread, no pull
])
def test_l2_pull_claim_branches(end, verdict):
    frame = _spread_frame(end)
    if end == 10.0:  # no shrinkage: lambda 3 equals lambda 0 up to noise around it
        lam3 = frame["lam"] == 3.0
        frame.loc[lam3, "w_std"] *= np.where(frame.loc[lam3, "seed"] == 1, 1.02, 0.99)
    claim = an.l2_pull_claim(an.l2_pull(frame))
    assert claim["verdict"] == verdict
    assert "lambda = 3" in claim["measured"]


def test_l2_pull_claim_not_testable():
    assert an.l2_pull_claim(an.l2_pull(pd.DataFrame()))["verdict"] == "not testable here"
    one = an.l2_pull(_spread_frame(1.5, seeds=(0,)))
    assert an.l2_pull_claim(one)["verdict"].startswith("not testable here (needs 2 seeds")
    assert an.l2_pull_claim(an.l2_pull(_spread_frame(1.5)), optimizer="rmsprop")["verdict"] == \
        "not testable here"


# --------------------------------------------------------------------------- the instrumented runs


def test_registered_with_their_configs():
    assert EXPERIMENTS.lookup("ablation_moments").config_cls is cl.MomentsConfig
    assert EXPERIMENTS.lookup("ablation_weight_spread").config_cls is ab.AblationRunConfig
    assert EXPERIMENTS.lookup("ablation_moments").run.one_blas_thread


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_moments_run_trains_exactly_as_the_ablation_run(optimizer):
    config = cl.MomentsConfig(**TINY, optimizer=optimizer, lr=RATES[optimizer], probe_every=3, probe_n=100)
    moments = cl.run_moments(config)
    plain = ab.run_ablation(ab.AblationRunConfig(**TINY, optimizer=optimizer, lr=RATES[optimizer]))
    steps = moments[moments["kind"] == "step"]
    assert np.array_equal(steps["batch_cost"].to_numpy(),
                          plain.loc[plain["kind"] == "batch", "batch_cost"].to_numpy())
    epochs = moments[moments["kind"] == "epoch"].dropna(axis=1, how="all").reset_index(drop=True)
    pd.testing.assert_frame_equal(epochs,
                                  plain[plain["kind"] == "epoch"][epochs.columns].reset_index(drop=True))
    assert list(steps["step"]) == list(range(1, 9))
    # the bookkeeping against the update the optimizer made: each optimizer's own moments
    if optimizer == "sgd":
        assert np.allclose(steps["cos_step_g"], 1.0)
    if optimizer == "momentum":  # step = lr * v_hat
        assert np.allclose(steps["cos_step_g"], steps["cos_v_g"], atol=1e-6)
    if optimizer == "rmsprop":  # step = lr * g / (sqrt(s_hat) + eps)
        assert np.allclose(steps["step_rms"], steps["ratio_g_rms"], rtol=1e-4)
    if optimizer == "adam":  # step = lr * v_hat / (sqrt(s_hat) + eps)
        assert np.allclose(steps["step_rms"], steps["ratio_v_rms"], rtol=1e-4)
    probed = steps["cos_g_G"].notna().to_numpy()
    assert list(steps.loc[probed, "step"]) == [3, 6]
    assert np.isnan(steps["cos_G_prev"].iloc[2]) and np.isfinite(steps["cos_G_prev"].iloc[5])
    assert steps["cos_g_lag1"].isna().sum() == 1 and steps["cos_g_lag10"].isna().all()
    assert (moments["run_id"] == config.run_id()).all()


def test_full_gradient_is_the_optimizers_gradient_and_the_costs_derivative():
    config = ab.AblationRunConfig(**{**TINY, "dtype": "float64", "lam": 3.0, "n_train": 40},
                                  optimizer="sgd", lr=0.5)
    X, y = ab.load_ablation_data("mnist", 40, 10, "float64")[:2]
    net = ab.build_network(config, X.shape[1])
    G = cl.full_gradient(net, X, y)
    # finite differences of the cost: mean cross-entropy + lambda / (2n) sum W^2
    params = [a for W, b in zip(net.mlp.weights, net.mlp.biases) for a in (W, b)]

    def cost():
        z = net.mlp.forward(X).z[-1]
        return an.cce_per_sample(z, np.eye(10)[y]).mean() + an.l2_penalty(net.mlp.weights, 3.0, 40)

    offsets = np.cumsum([0] + [p.size for p in params])
    rng = np.random.default_rng(0)
    for k in rng.choice(offsets[-1], 12, replace=False):
        i = int(np.searchsorted(offsets, k, side="right") - 1)
        flat = params[i].reshape(-1)
        old = flat[k - offsets[i]]
        flat[k - offsets[i]] = old + 1e-6
        up = cost()
        flat[k - offsets[i]] = old - 1e-6
        down = cost()
        flat[k - offsets[i]] = old
        assert G[k] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8)
    # and the gradient the optimizer receives on the same batch: one SGD step moves by lr * G
    before = np.concatenate([p.ravel() for p in params])
    net.train_step(X, y)
    after = np.concatenate([p.ravel() for p in params])
    assert np.allclose((before - after) / 0.5, G, rtol=1e-10, atol=1e-12)


def test_weight_spread_run_records_every_layer_per_epoch():
    config = ab.AblationRunConfig(**{**TINY, "hidden": (64, 64)}, optimizer="adam", lr=1e-3, init="uniform")
    spread = cl.run_weight_spread(config)
    plain = ab.run_ablation(config)
    epochs = spread[spread["kind"] == "epoch"].dropna(axis=1, how="all").reset_index(drop=True)
    pd.testing.assert_frame_equal(epochs,
                                  plain[plain["kind"] == "epoch"][epochs.columns].reset_index(drop=True))
    layers = spread[spread["kind"] == "layer"]
    assert len(layers) == 3 * (TINY["num_epochs"] + 1)
    first = layers[layers["epoch"] == 0].set_index("layer")
    assert list(first["fan_in"]) == [784, 64, 64]
    assert first["he_std"].to_numpy() == pytest.approx(np.sqrt(2 / np.array([784, 64, 64])))
    assert first.loc[1, "w_std"] == pytest.approx(1 / np.sqrt(3), rel=0.02)  # U[-1, 1]
    assert first.loc[1, "in_he_range"] == pytest.approx(np.sqrt(6 / 784), abs=0.02)
    he = cl.run_weight_spread(dataclasses.replace(config, init="he_uniform", num_epochs=0))
    he0 = he[he["kind"] == "layer"].set_index("layer")
    assert (he0["in_he_range"] == 1.0).all()
    assert he0.loc[1, "w_std"] == pytest.approx(he0.loc[1, "he_std"], rel=0.03)
    assert cl.he_uniform_std(128) == pytest.approx(np.sqrt(6 / 128) / np.sqrt(3))


def test_diverged_runs_leave_nan_rows():
    diverging = {**TINY, "lam": 0.0, "hidden": (32, 32), "batch_size": 20, "num_epochs": 3}
    config = ab.AblationRunConfig(**diverging, optimizer="sgd", lr=0.5, init="uniform")
    spread = cl.run_weight_spread(config)
    plain = ab.run_ablation(config)
    assert plain["accuracy"].isna().any(), "this config should overflow"
    last = spread[(spread["kind"] == "layer") & (spread["epoch"] == 3)]
    assert last["w_std"].isna().all()
    moments = cl.run_moments(cl.MomentsConfig(**diverging, optimizer="sgd", lr=0.5, init="uniform",
                                              probe_every=0))
    epochs = moments[moments["kind"] == "epoch"]
    assert np.array_equal(epochs["accuracy"].isna(), plain.loc[plain["kind"] == "epoch", "accuracy"].isna())


def test_bad_moments_configs_name_the_problem():
    with pytest.raises(ValueError, match="probe_every"):
        cl.run_moments(cl.MomentsConfig(**TINY, probe_every=-1))
    with pytest.raises(ValueError, match="probe_n"):
        cl.run_moments(cl.MomentsConfig(**TINY, probe_n=500))


def test_the_pages_configs_and_tasks():
    params = {"datasets": ["mnist"], "n_train": 300, "n_val": 300, "batch_size": 100, "num_epochs": 2,
              "n_seeds": 2, "lams": [0.0, 1.0], "uniform_lams": [0.0, 3.0]}
    moments = cl.moments_configs(params, RATES)
    assert [(c.optimizer, c.seed) for c in moments] == [(o, s) for o in cl.MOMENTS_OPTIMIZERS for s in (0, 1)]
    assert {(c.dataset, c.init, c.lam, c.num_epochs) for c in moments} == {("mnist", "he_uniform", 1.0, 2)}
    assert all(c.lr == RATES[c.optimizer] for c in moments)
    # 6 steps: a probe every step (at least MIN_PROBES when the run allows), on at most n_train images
    assert {(c.optimizer, c.probe_every, c.probe_n) for c in moments} == {
        ("momentum", 1, 300), ("rmsprop", 0, 300), ("adam", 0, 300)}
    spread = cl.spread_configs(params, RATES)
    assert {(c.optimizer, c.init, c.lam) for c in spread} == {
        (o, i, lam) for o in cl.SPREAD_OPTIMIZERS for i in ("uniform", "he_uniform") for lam in (0.0, 3.0)}
    tasks = cl.claim_tasks(params, RATES)
    assert [t.config for t in tasks] == [*moments, *spread]
    assert {t.name for t in tasks} == {"ablation_moments", "ablation_weight_spread"}
    assert all(t.cost > 0 for t in tasks)
    assert cl.moments_configs(params, {}) == [] and cl.spread_configs({**params, "datasets": []}, RATES) == []


def test_figures_draw_with_and_without_spikes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moments, _ = _lag_frames({0: 0.02, 1: 0.025, 2: 0.03})
    for s in (0, 1, 2):
        for k in cl.GRADIENT_LAGS:
            moments[f"cos_g_lag{k}"] = 0.2 / k
    drawn = cl.lag_frame(moments)
    assert set(drawn["part"]) == {"epoch", "lag"}
    assert drawn[drawn["quantity"] == "cos(G_t, G_t-k)"]["x"].tolist() == [2]
    plt.close(cl.plot_lag(moments))
    frame = _spike_frame()
    runs, spikes = an.spike_moments(frame)
    parts = cl.spikes_frame(frame, spikes)
    aligned = parts["aligned"].set_index(["quantity", "offset"])
    assert aligned.loc[("RMSProp's update", -2), "mean"] == pytest.approx(5.0)
    assert aligned.loc[("Adam's numerator, same path", -2), "mean"] == pytest.approx(1.0)
    assert aligned.loc[("RMSProp's update", 0), "spikes"] == 2
    plt.close(cl.plot_spikes(frame, spikes))
    quiet = _spike_frame(rms_spikes=())
    plt.close(cl.plot_spikes(quiet, an.spike_moments(quiet)[1]))
    spread = _spread_frame(1.5).assign(optimizer="adam")
    assert len(cl.spread_frame(spread)) == 3 * 2 * 5
    plt.close(cl.plot_spread(spread))
