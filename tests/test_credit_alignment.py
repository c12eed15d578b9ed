"""Alignment metrics on constructed cases."""

import numpy as np
import pytest

from learning_rules.credit import (angle_degrees, backprop_deltas, cosine_similarity,
                                   feedback_alignment, forward_path, get_credit, mean_cosine,
                                   thesis_gradient_alignment, update_alignment)
from learning_rules.nn.losses import get_loss
from learning_rules.nn.mlp import MLP


def test_cosine_constructed_cases():
    a = np.array([[1.0, 2.0], [3.0, -1.0]])
    assert cosine_similarity(a, 2.5 * a) == pytest.approx(1.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == 0.0
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0
    # 45 degrees
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(2**-0.5)
    with pytest.raises(ValueError, match="equal size"):
        cosine_similarity(np.ones(2), np.ones(3))


def test_angles():
    assert angle_degrees(1.0) == 0.0
    assert angle_degrees(0.0) == pytest.approx(90.0)
    assert angle_degrees(-1.0) == pytest.approx(180.0)
    assert angle_degrees(1.0 + 1e-15) == 0.0  # rounding above 1 is clipped
    np.testing.assert_allclose(angle_degrees(np.array([0.5, -0.5])), [60.0, 120.0])


def test_per_column_versus_flattened_alignment():
    # G_bp's columns are positive multiples of G_rule's: every per-input cosine is 1 while the
    # flattened cosine is < 1 -- the two measurements differ and the thesis one is per input.
    G_rule = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    G_bp = G_rule * np.array([1.0, 10.0, 0.1])
    assert thesis_gradient_alignment(G_rule, G_bp) == pytest.approx(1.0)
    assert cosine_similarity(G_rule, G_bp) < 0.9
    # per-row: rows [1,0] vs [0,1] -> 0, rows [1,1] vs [1,1] -> 1, mean 0.5
    assert mean_cosine(np.array([[1.0, 0.0], [1.0, 1.0]]),
                       np.array([[0.0, 1.0], [1.0, 1.0]]), axis=1) == pytest.approx(0.5)
    # opposite columns -> -1
    assert thesis_gradient_alignment(G_rule, -G_rule) == pytest.approx(-1.0)


def test_network_level_alignment():
    rng = np.random.default_rng(0)
    m = MLP.create([4, 6, 5, 2], ["relu", "relu", "identity"], rng=rng)
    # forward_path: W3 W2 for layer 1, W3 for layer 2
    np.testing.assert_allclose(forward_path(m, 1), m.weights[2] @ m.weights[1])
    assert forward_path(m, 2) is m.weights[2]
    with pytest.raises(ValueError, match="hidden layer"):
        forward_path(m, 3)
    st = {"B": [forward_path(m, 1).copy(), m.weights[2].copy(), None]}
    assert feedback_alignment(m, st, "dfa") == pytest.approx([1.0, 1.0])
    st_fa = {"B": [None, -m.weights[1], m.weights[2]]}
    assert feedback_alignment(m, st_fa, "fa") == pytest.approx([-1.0, 1.0])
    X = rng.normal(size=(7, 4))
    y = rng.normal(size=(7, 2))
    cache = m.forward(X)
    e = get_loss("mse").output_error(cache.z[-1], y, "identity")
    rep = update_alignment(m, cache, e, backprop_deltas(m, cache, e))
    assert [r["layer"] for r in rep] == [1, 2]
    for r in rep:
        assert r["flat"] == pytest.approx(1.0) and r["per_input"] == pytest.approx(1.0)
        assert r["delta"] == pytest.approx(1.0)
    dfa = get_credit("dfa")
    rep = update_alignment(m, cache, e, dfa.deltas(m, cache, e, dfa.init_state(m, rng)))
    assert all(-1.0 <= r["flat"] <= 1.0 for r in rep)
    with pytest.raises(ValueError, match="'fa' and 'dfa'"):
        feedback_alignment(m, st, "backprop")
