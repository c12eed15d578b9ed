"""Vanishing gradients and initialization (book/foundations/vanishing.ipynb)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import foundations_vanishing as V
from learning_rules.nn.init import get_initializer


@pytest.mark.parametrize("init", ["uniform", "he_uniform", "normal", "normal_scaled", "he_normal", "pytorch"])
def test_init_weight_variance_matches_samples(init):
    W = get_initializer(init)(np.random.default_rng(0), 200, 500)
    var = V.init_weight_variance(init, 200)
    assert abs(W.var() / var - 1) < 0.02


def test_init_weight_variance_unknown_name():
    with pytest.raises(ValueError, match="valid"):
        V.init_weight_variance("glorot_uniform_typo", 10)


@pytest.mark.parametrize("slope", [0.0, 0.1, 0.5])
def test_relu_second_moment_gain_monte_carlo(slope):
    z = np.random.default_rng(1).normal(size=400_000)
    h = np.where(z > 0, z, slope * z)
    assert abs(np.mean(h**2) / np.var(z) - V.relu_second_moment_gain(slope)) < 0.01


def test_variance_per_layer_follows_the_prediction(shared_data):
    he = V.variance_per_layer(V.VarianceConfig(init="he_uniform", depth=4, width=64, n_samples=300))
    uni = V.variance_per_layer(V.VarianceConfig(init="uniform", depth=4, width=64, n_samples=300))
    # He uniform: roughly constant; U[-1,1]: grows by ~ 64 * 1.01 / 6 per layer
    assert he["var_z"].max() / he["var_z"].min() < 2.0
    growth = (uni["var_z"].iloc[-1] / uni["var_z"].iloc[0]) ** (1 / 3)
    assert 0.6 < growth / (64 * 1.01 / 6) < 1.5
    assert np.all(np.abs(np.log(he["var_z"] / he["predicted_one_step"])) < np.log(1.5))


def test_symmetry_constant_init_keeps_neurons_identical(shared_data):
    const = V.symmetry(V.SymmetryConfig(init="constant:0.05", n_train=100, num_epochs=1, hidden=6))
    rand = V.symmetry(V.SymmetryConfig(init="he_uniform", n_train=100, num_epochs=1, hidden=6))
    assert (const["distinct_neurons"] == 1).all()
    assert (rand["distinct_neurons"] == 6).all()


def test_gradient_flow_sigmoid_vanishes_relu_does_not(shared_data):
    kw = dict(depth=5, width=16, n_train=100, probe_size=50, num_epochs=1, batch_size=50, record_every=1)
    sig = V.gradient_flow(V.GradientFlowConfig(activation="sigmoid", **kw))
    relu = V.gradient_flow(V.GradientFlowConfig(activation="relu", **kw))

    def ratio(frame):
        g = frame[frame["step"] == 0].sort_values("layer")["grad_norm"].to_numpy()
        return g[0] / g[-1]

    assert ratio(sig) < 0.1 * ratio(relu)  # at least ten times weaker relative to the last layer
    again = V.gradient_flow(V.GradientFlowConfig(activation="sigmoid", **kw))
    assert sig.equals(again)  # same seed, same numbers bit for bit


def test_quantized_levels_have_mean_zero_variance_one_and_entropy_log2_k():
    for k in (2, 3, 4, 16):
        v = V.quantized_levels(k)
        assert len(np.unique(v)) == k
        assert v.mean() == pytest.approx(0.0, abs=1e-12) and v.var() == pytest.approx(1.0)
        assert V.init_entropy_bits(k) == pytest.approx(np.log2(k))
    assert list(V.quantized_levels(1)) == [1.0] and V.init_entropy_bits(1) == 0.0
    with pytest.raises(ValueError, match="levels"):
        V.quantized_levels(0)


def test_one_bit_per_weight_breaks_symmetry_and_a_constant_does_not():
    kw = dict(hidden=8, n_train=200, num_epochs=1)
    two = V.entropy_init(V.EntropyInitConfig(levels=2, **kw))
    const = V.entropy_init(V.EntropyInitConfig(levels=1, **kw))
    assert list(two["distinct_neurons"]) == [8, 8] and list(const["distinct_neurons"]) == [1, 1]
    frame = pd.concat([two.assign(levels=2, seed=0), const.assign(levels=1, seed=0)])
    holds, text = V.entropy_verdict(frame, 8)
    assert not holds and "2 levels (1 bit): 8-8 distinct of 8" in text
    frame.loc[(frame["levels"] == 2) & (frame["epoch"] == 1), "distinct_neurons"] = 5
    assert V.entropy_verdict(frame, 8)[0]
