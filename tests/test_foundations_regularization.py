"""Regularization chapter (book/foundations/regularization.ipynb): the notes' recursion, the Q&A's
decay factors, the decay/gradient split and L1 sparsity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.experiments import foundations_regularization as R


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t=st.integers(0, 25), eta=st.floats(0.001, 0.5),
       lam=st.floats(0.0, 0.9))
def test_closed_form_equals_the_iterated_recursion(seed, t, eta, lam):
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=3)
    grads = [rng.normal(size=3) for _ in range(t)]
    w = w0.copy()
    for g in grads:  # notes eq. 2.6
        w = (1 - 2 * eta * lam) * w - eta * g
    np.testing.assert_allclose(R.recursion_closed_form(w0, grads, eta, lam), w, atol=1e-10)


def test_decay_factor_limit_is_the_large_n_limit():
    assert R.decay_factor_exact(0.5, 5.0, 10**9, 10) == pytest.approx(math.exp(-0.25), rel=1e-8)
    small_n = abs(R.decay_factor_exact(0.5, 5.0, 50, 10) / R.decay_factor_limit(0.5, 5.0, 10) - 1)
    large_n = abs(R.decay_factor_exact(0.5, 5.0, 5000, 10) / R.decay_factor_limit(0.5, 5.0, 10) - 1)
    assert large_n < small_n
    # second-order estimate of the error: exp(-eta lambda x / (2 m)), x = eta lambda / n
    assert large_n == pytest.approx(1 - math.exp(-0.25 * 5e-4 / 2), rel=0.01)


def test_l2_recursion_check_matches_the_run(shared_data):
    frame = R.l2_recursion_check(R.L2RecursionConfig(num_steps=15, n_train=100, hidden=5))
    assert frame["max_abs_diff"].max() < 1e-12
    r = 1 - 2 * 0.1 * 0.01
    assert frame["init_term_norm"].iloc[-1] / frame["init_term_norm"].iloc[0] == pytest.approx(r**14)


def test_weight_decay_split_is_consistent(shared_data):
    cfg = R.WeightDecayConfig(n_train=200, n_eval=50, hidden=5, num_epochs=2, batch_size=10)
    frame = R.weight_decay_dynamics(cfg)
    for layer, g in frame.groupby("layer"):
        g = g.sort_values("epoch")
        np.testing.assert_allclose(g["rms_start"].iloc[1:].to_numpy(), g["rms_weight"].iloc[:-1].to_numpy())
    assert (frame.loc[frame["epoch"] > 0, "steps"] == 20).all()
    no_reg = R.weight_decay_dynamics(R.WeightDecayConfig(**{**cfg.__dict__, "lam": 0.0}))
    assert (no_reg["decay_displacement"] == 0).all()
    with pytest.raises(ValueError, match="multiple of batch_size"):
        R.weight_decay_dynamics(R.WeightDecayConfig(n_train=205, batch_size=10))


def test_pure_decay_epoch_matches_exact_factor(shared_data):
    # with lr * lambda / n large and the data gradient irrelevant (N(0,1) weights, a few steps), the
    # first epoch's RMS shrink is close to the pure-decay factor
    cfg = R.WeightDecayConfig(n_train=200, n_eval=50, hidden=5, num_epochs=1, batch_size=10, lam=20.0)
    frame = R.weight_decay_dynamics(cfg)
    row = frame[(frame["layer"] == 1) & (frame["epoch"] == 1)].iloc[0]
    exact = R.decay_factor_exact(cfg.lr, cfg.lam, cfg.n_train, cfg.batch_size)
    assert row["rms_weight"] / row["rms_start"] == pytest.approx(exact, rel=0.05)


def test_l1_is_sparser_than_l2(shared_data):
    kw = dict(n_train=500, hidden=5, num_epochs=1)
    l1 = R.weight_histogram(R.WeightHistogramConfig(penalty="l1", lam=1.0, **kw))
    l2 = R.weight_histogram(R.WeightHistogramConfig(penalty="l2", lam=5.0, **kw))
    frac = lambda f: np.mean(np.abs(f["weight"]) < 1e-3)
    assert frac(l1) > 2 * frac(l2)
    with pytest.raises(ValueError, match="penalty"):
        R.weight_histogram(R.WeightHistogramConfig(penalty="l3"))


def test_plots_and_artifact_run(tmp_path, monkeypatch, shared_data):
    import matplotlib

    matplotlib.use("Agg")
    from learning_rules.experiments import foundations_vanishing as V
    from learning_rules.experiments import make_artifact

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    out = make_artifact("foundations-optimizer-paths", {"num_steps": 3}, tmp_path / "paths.png")
    assert out.stat().st_size > 0
    cfg = dict(n_train=100, n_eval=20, hidden=3, num_epochs=2, batch_size=10)
    wd = R.weight_decay_frame(cfg)
    for claim in (1, 2, 3, 4):
        R.plot_weight_decay_claim(wd, claim, 0.5, 5.0, 10, 100)
    with pytest.raises(ValueError, match="claim"):
        R.plot_weight_decay_claim(wd, 5, 0.5, 5.0, 10, 100)
    R.plot_recursion(R.l2_recursion_check(R.L2RecursionConfig(num_steps=3, n_train=100, hidden=3)))
    V.plot_activations()
