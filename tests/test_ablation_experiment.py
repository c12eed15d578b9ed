"""The ablation runner: the paper's protocol pieces, determinism, and the optimizer forms."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from learning_rules.experiments import EXPERIMENTS
from learning_rules.experiments import ablation as ab

TINY = dict(dataset="mnist", n_train=200, n_val=100, batch_size=50, num_epochs=2, hidden=(8, 8),
            lr=0.05)


def test_registered():
    assert EXPERIMENTS.lookup("ablation_run").config_cls is ab.AblationRunConfig


def test_split_is_first_and_next_block_of_the_official_training_set():
    from learning_rules import data

    X, y = data.load("mnist", "train", dtype=np.float32)
    Xtr, ytr, Xcv, ycv = ab.load_ablation_data("mnist", 30, 20)
    assert np.array_equal(Xtr, X[:30]) and np.array_equal(ycv, y[30:50])
    assert Xtr.max() <= 1.0 and Xtr.dtype == np.float32
    with pytest.raises(ValueError, match="too many"):
        ab.load_ablation_data("mnist", 50_000, 20_000)


def test_network_is_the_papers():
    net = ab.build_network(ab.AblationRunConfig(optimizer="rmsprop", lam=2.0), 784, 10)
    assert net.mlp.sizes == [784, 128, 128, 128, 128, 10]
    assert net.mlp.activations == ["leaky_relu:0.1"] * 4 + ["softmax"]
    assert all(np.all(b == 0) for b in net.mlp.biases)
    limit = np.sqrt(6 / 784)
    assert np.abs(net.mlp.weights[0]).max() <= limit and np.abs(net.mlp.weights[0]).max() > 0.9 * limit
    opt = net.rule.optimizer
    assert (opt.beta, opt.bias_correction, opt.eps_inside) == (0.999, True, False)
    assert net.rule.l2 == 2.0 and net.rule.l2_form == "loss" and net.rule.n_train == 10_000
    uni = ab.build_network(ab.AblationRunConfig(init="uniform"), 784, 10)
    assert np.abs(uni.mlp.weights[0]).max() > 0.99


def _one_step(optimizer, lam=0.0, lr=0.01):
    cfg = ab.AblationRunConfig(optimizer=optimizer, lam=lam, lr=lr, hidden=(6,), n_train=40)
    net = ab.build_network(cfg, 5, 3)
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 5)), rng.integers(0, 3, 40)
    before = [W.copy() for W in net.mlp.weights]
    net.train_step(X, y)
    return [b - W for b, W in zip(before, net.mlp.weights)], before  # step = theta_{t-1} - theta_t


def test_first_steps_follow_the_bias_corrected_forms():
    sgd, _ = _one_step("sgd")
    mom, _ = _one_step("momentum")
    for a, b in zip(sgd, mom):  # bias-corrected EMA momentum: first step = SGD step
        assert np.allclose(a, b, rtol=1e-5, atol=1e-9)
    for name in ("rmsprop", "adam"):  # bias-corrected first step: lr * g / (|g| + eps)
        steps, _ = _one_step(name)
        s = np.abs(steps[0])
        moved = s[s > 1e-6]
        assert moved.size and np.allclose(moved, 0.01, rtol=1e-3), name


def test_l2_adds_lambda_over_n_times_w_to_the_sgd_step():
    plain, W0 = _one_step("sgd", lam=0.0, lr=0.1)
    reg, _ = _one_step("sgd", lam=3.0, lr=0.1)
    for a, b, W in zip(plain, reg, W0):
        assert np.allclose(b - a, 0.1 * 3.0 / 40 * W, rtol=1e-4, atol=1e-7)


def test_run_rows_and_determinism():
    cfg = ab.AblationRunConfig(**{**TINY, "lr": 1e-3}, optimizer="adam", lam=1.0, seed=3)
    a = ab.run_ablation(cfg)
    b = ab.run_ablation(cfg)
    assert a.equals(b)  # same seed, same numbers, bit for bit
    epochs = a[a["kind"] == "epoch"]
    assert len(epochs) == 2 * (TINY["num_epochs"] + 1)
    assert len(a[a["kind"] == "batch"]) == TINY["num_epochs"] * TINY["n_train"] // TINY["batch_size"]
    row = epochs.iloc[0]
    assert row["cost[cce/q]"] == pytest.approx(row["cce"] / 10)
    assert row["cost[cce+l2]"] == pytest.approx(row["cce"] + row["l2_term"])
    c = ab.run_ablation(dataclasses.replace(cfg, seed=4))
    batch = c["kind"] == "batch"
    assert not np.allclose(c.loc[batch, "batch_cost"], a.loc[a["kind"] == "batch", "batch_cost"])


def test_bad_configs_name_the_problem():
    with pytest.raises(ValueError, match="sgd"):
        ab.run_ablation(ab.AblationRunConfig(**{**TINY, "lr": 0.1}, optimizer="nadam"))
    with pytest.raises(ValueError, match="lam"):
        ab.run_ablation(ab.AblationRunConfig(**TINY, lam=-1.0))
    with pytest.raises(ValueError, match="dtype"):
        ab.run_ablation(ab.AblationRunConfig(**TINY, dtype="float16"))


def test_missing_dataset_is_reported_not_replaced():
    status = ab.dataset_status(["mnist", "cifar10"]).set_index("dataset")
    assert status.loc["mnist", "available"]
    if not status.loc["cifar10", "available"]:
        assert "cifar10" in status.loc["cifar10", "message"]
        assert "learning-rules data fetch cifar10" in status.loc["cifar10", "message"]


@functools.lru_cache(maxsize=1)
def _tiny_results(datasets=("fashion-mnist",)):
    import pandas as pd

    frames = []
    for d in datasets:
        for opt, lr in [("sgd", 0.1), ("momentum", 0.1), ("rmsprop", 1e-3), ("adam", 1e-3)]:
            for lam in (0.0,):
                cfg = ab.AblationRunConfig(dataset=d, optimizer=opt, lr=lr, lam=lam, n_train=100, n_val=100,
                                           batch_size=50, num_epochs=1, hidden=(8,))
                f = ab.run_ablation(cfg)
                for k, v in dataclasses.asdict(cfg).items():
                    f[k] = [v] * len(f) if k == "hidden" else v
                frames.append(f)
    grid = pd.concat(frames, ignore_index=True)
    status = ab.dataset_status(["cifar10", *datasets])
    return {"status": status, "available": list(datasets), "search": grid, "grid": grid,
            "lrs": {"sgd": 0.1, "momentum": 0.1, "rmsprop": 1e-3, "adam": 1e-3}}


def test_reproduced_cells_cover_the_reference(monkeypatch):
    from learning_rules import report

    results = _tiny_results()
    monkeypatch.setattr(ab, "compute_all", lambda params, store=None: results)
    cells = report.validate_reproduced(ab.reproduced_cells("smoke"))
    ref = ab.reference_table()
    assert len(cells) == len(ref)
    keys = ["table", "row", "column"]
    assert set(cells[keys].itertuples(index=False)) == set(ref[keys].itertuples(index=False))
    fashion = cells[cells["row"].str.startswith("fashion-mnist")]
    assert fashion["reproduced"].notna().all()
    acc = fashion[fashion["column"] == "cv_accuracy"]["reproduced"]
    assert ((acc >= 0) & (acc <= 1)).all()
    cifar = cells[cells["row"].str.startswith("cifar10")]
    if not results["status"].set_index("dataset").loc["cifar10", "available"]:
        assert cifar["reproduced"].isna().all() and cifar["note"].str.contains("cifar10").all()


def test_plots_draw_one_line_per_optimizer():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = _tiny_results()["grid"]
    fig = ab.plot_curves(grid, "fashion-mnist", "he_uniform", [0.0], "cost[bce/q]", "training cost")
    axes = fig.axes
    assert len(axes) == 2
    assert len(axes[0].get_lines()) == 4 and axes[1].get_xlabel() == "epoch"
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert [label.removesuffix(" (diverged)") for label in labels] == ["SGD", "Momentum", "RMSProp", "Adam"]
    plt.close(fig)
    gaps = ab.gap_frame(grid)
    assert np.allclose(gaps["gap"], gaps["train"] - gaps["cv"])
    fig = ab.plot_gap(grid, ["fashion-mnist"], lams=(0.0,))
    assert "gap" in fig.axes[0].get_ylabel()
    plt.close(fig)


def test_init_gradient_norms_against_a_hand_written_backward_pass():
    """Every layer's gradient norm at step 0 equals an independent NumPy chain rule on the same
    weights (leaky ReLU 0.1 hidden layers, softmax + batch-mean cross-entropy)."""
    from learning_rules.experiments import ablation as ab

    n = 20
    norms = ab.init_gradient_norms("mnist", n=n, seeds=(1,))
    X, y, _, _ = ab.load_ablation_data("mnist", n_train=n, n_val=0, dtype="float64")
    for init in ("uniform", "he_uniform"):
        net = ab.build_network(ab.AblationRunConfig(init=init, seed=1, dtype="float64"), X.shape[1])
        Ws, bs = net.mlp.weights, net.mlp.biases
        hs, zs = [X], []
        for l, (W, b) in enumerate(zip(Ws, bs)):
            z = hs[-1] @ W.T + b
            zs.append(z)
            hs.append(np.where(z > 0, z, 0.1 * z) if l < len(Ws) - 1 else z)
        z = zs[-1] - zs[-1].max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        delta = (p - np.eye(10)[y]) / n
        expected = [0.0] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            expected[l] = np.linalg.norm(delta.T @ hs[l])
            if l:
                delta = (delta @ Ws[l]) * np.where(zs[l - 1] > 0, 1.0, 0.1)
        got = norms[norms["init"] == init].sort_values("layer")["grad_norm"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    ratio = (norms[norms["init"] == "uniform"]["grad_norm"].to_numpy()
             / norms[norms["init"] == "he_uniform"]["grad_norm"].to_numpy())
    assert (ratio > 10).all()  # U[-1, 1]: orders of magnitude larger gradients in every layer
