"""Gradient clipping by norm (learning_rules.updates.clipping) and the exploding-gradient verdict."""

import numpy as np
import pandas as pd
import pytest

from learning_rules.engine import make_weight_update
from learning_rules.experiments import foundations_vanishing as V
from learning_rules.updates.clipping import ClipLayerNorm, clip_factor


def test_clip_factor():
    assert clip_factor(0.5, 1.0) == 1.0 and clip_factor(0.0, 1.0) == 1.0
    assert clip_factor(4.0, 1.0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="max_norm"):
        clip_factor(1.0, 0.0)


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_a_clipped_sgd_step_has_the_gradient_direction_and_at_most_the_bound(scale):
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    delta, h = scale * rng.normal(size=(8, 3)), rng.normal(size=(8, 4))
    # the gradient written out: the batch-mean loss' derivative, dW = delta^T h / B, db = mean delta
    gW, gb = delta.T @ h / 8, delta.mean(axis=0)
    norm = np.sqrt(np.sum(gW ** 2) + np.sum(gb ** 2))
    rule = ClipLayerNorm(make_weight_update("gradient", 0.1), max_norm=1.0)
    state = rule.init_layer(W, b, rng)
    W0, b0 = W.copy(), b.copy()
    rule.apply(state, W, b, delta, h)
    step = np.concatenate([(W0 - W).ravel(), (b0 - b).ravel()]) / 0.1
    expected = np.concatenate([gW.ravel(), gb.ravel()]) * min(1.0, 1.0 / norm)
    np.testing.assert_allclose(step, expected, rtol=1e-10, atol=1e-14)
    assert rule.clipped_steps == [int(norm > 1.0)]


def test_clip_wrapper_checks_its_inner_rule():
    with pytest.raises(ValueError, match="init_layer/apply"):
        ClipLayerNorm(object(), 1.0)
    with pytest.raises(ValueError, match="clip"):
        V.ExplodingConfig(clip=-1.0)


def _runs(rows):
    frame = pd.DataFrame(rows, columns=["run", "seed", "step", "probe_accuracy", "diverged"])
    frame["init_gain"] = [1.0 if r == "He" else 1.5 for r in frame["run"]]
    frame["clip"] = [1.0 if "clipped" in r else 0.0 for r in frame["run"]]
    return frame


def test_exploding_verdict_needs_a_failure_without_and_none_with_clipping():
    tamed = _runs([("He", 0, 100, 0.9, False), ("He x 1.5", 0, 20, 0.1, True),
                   ("He x 1.5, clipped at 1", 0, 100, 0.8, False)])
    ok, text = V.exploding_verdict(tamed)
    assert ok and "He x 1.5: 1 of 1 runs diverged" in text
    both = _runs([("He x 1.5", 0, 20, 0.1, True), ("He x 1.5, clipped at 1", 0, 20, 0.1, True)])
    assert not V.exploding_verdict(both)[0]
    fine = _runs([("He x 1.5", 0, 100, 0.85, False), ("He x 1.5, clipped at 1", 0, 100, 0.8, False)])
    assert not V.exploding_verdict(fine)[0]  # nothing went wrong without clipping
    assert V.exploding_verdict(_runs([("He", 0, 100, 0.9, False)]))[1].startswith("no scaled-up run")
