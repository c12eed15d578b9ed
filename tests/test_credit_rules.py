"""FA and DFA against backprop in the cases where they must coincide; feedback initializers."""

import numpy as np
import pytest

from learning_rules.credit import (CREDIT_ASSIGNMENT, FEEDBACK_INITIALIZERS, backprop_deltas,
                                   dfa_deltas, draw_feedback, fa_deltas, forward_path, get_credit)
from learning_rules.nn.losses import get_loss
from learning_rules.nn.mlp import MLP


def setup(depth, hidden="relu", out="sigmoid", loss="bce", n_out=1, batch=4, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    m = MLP.create([5] + [4] * depth + [n_out], [hidden] * depth + [out], rng=rng, bias=bias)
    X = rng.normal(size=(batch, 5))
    y = rng.integers(0, 2, size=(batch, n_out)).astype(float)
    cache = m.forward(X)
    e = get_loss(loss).output_error(cache.z[-1], y, out)
    return m, cache, e, rng


@pytest.mark.parametrize("hidden", ["relu", "tanh", "sigmoid", "softmax", "leaky_relu"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_dfa_with_B_equal_W2_is_backprop_for_one_hidden_layer(hidden, n_out):
    m, cache, e, _ = setup(1, hidden, n_out=n_out)
    B = [m.weights[1].copy(), None]
    bp = backprop_deltas(m, cache, e)
    dfa = dfa_deltas(m, cache, e, B)
    for a, b in zip(bp, dfa):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_fa_with_B_equal_W_is_backprop(depth):
    m, cache, e, _ = setup(depth, "tanh", n_out=2)
    B = [None] + [W.copy() for W in m.weights[1:]]
    for a, b in zip(backprop_deltas(m, cache, e), fa_deltas(m, cache, e, B)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_dfa_with_forward_paths_is_backprop_for_linear_hidden_layers(depth):
    # f' = 1 in every hidden layer, so delta_l = e W_L ... W_{l+1} exactly
    m, cache, e, _ = setup(depth, "identity", n_out=2)
    B = [forward_path(m, l) for l in range(1, depth + 1)] + [None]
    for a, b in zip(backprop_deltas(m, cache, e), dfa_deltas(m, cache, e, B)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_dfa_matches_thesis_formula_in_thesis_layout():
    # thesis code (spec 2.3): a1 = X w1 (D x H); e = y_hat - y; delta1 = (e B) * 1[a1 > 0], B (1 x H)
    rng = np.random.default_rng(3)
    D, H, n = 6, 8, 5
    w1 = rng.uniform(-1 / np.sqrt(D), 1 / np.sqrt(D), size=(D, H))
    w2 = rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), size=(H, 1))
    B = rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), size=(1, H))
    X = rng.normal(size=(n, D))
    y = rng.integers(0, 2, size=(n, 1)).astype(float)
    a1 = X @ w1
    y_hat = 1 / (1 + np.exp(-(np.maximum(a1, 0) @ w2)))
    e_thesis = y_hat - y
    delta1_thesis = (e_thesis @ B) * (a1 > 0)
    grad_w1_thesis = X.T @ delta1_thesis / n
    m = MLP(weights=[w1.T.copy(), w2.T.copy()], biases=[None, None], activations=["relu", "sigmoid"])
    cache = m.forward(X)
    e = get_loss("bce").output_error(cache.z[-1], y, "sigmoid")
    np.testing.assert_allclose(e, e_thesis, rtol=1e-12)
    deltas = dfa_deltas(m, cache, e, [B, None])
    np.testing.assert_allclose(deltas[0], delta1_thesis, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(deltas[0].T @ X / n, grad_w1_thesis.T, rtol=1e-12, atol=1e-15)


def test_feedback_state_shapes_scale_and_determinism():
    m = MLP.create([20, 512, 1], ["relu", "sigmoid"], init="pytorch", bias=False,
                   rng=np.random.default_rng(0))
    st = get_credit("dfa").init_state(m, np.random.default_rng(1))
    B = st["B"][0]
    assert B.shape == (1, 512) and st["B"][1] is None
    a = 1 / np.sqrt(512)
    assert np.abs(B).max() <= a and np.abs(B).max() > 0.9 * a
    again = get_credit("dfa").init_state(m, np.random.default_rng(1))
    assert np.array_equal(again["B"][0], B)
    deep = MLP.create([3, 4, 5, 2], "tanh", rng=np.random.default_rng(0))
    fa = get_credit("fa").init_state(deep, np.random.default_rng(0))
    assert fa["B"][0] is None and [b.shape for b in fa["B"][1:]] == [(5, 4), (2, 5)]
    assert np.abs(fa["B"][1]).max() <= 1 / np.sqrt(4)
    dfa = get_credit("dfa").init_state(deep, np.random.default_rng(0), scale=0.01)
    assert [b.shape for b in dfa["B"][:2]] == [(2, 4), (2, 5)]
    assert np.abs(dfa["B"][0]).max() <= 0.01
    assert get_credit("backprop").init_state(deep, None) == {}


@pytest.mark.parametrize("name,mean,std", [
    ("uniform", 0.0, 0.05 / np.sqrt(3)), ("standard_uniform", 0.5, 1 / np.sqrt(12)),
    ("gaussian", 0.05, 0.05), ("standard_gaussian", 0.0, 1.0)])
def test_feedback_laws(name, mean, std):
    B = draw_feedback(np.random.default_rng(0), (200, 400), name, scale=0.05)
    assert B.mean() == pytest.approx(mean, abs=0.02 * max(std, 0.05))
    assert B.std() == pytest.approx(std, rel=0.02)
    if name == "standard_uniform":
        assert B.min() >= 0 and B.max() <= 1


def test_credit_does_not_touch_weights_and_errors():
    m, cache, e, rng = setup(2, "relu", n_out=2)
    before = [W.copy() for W in m.weights]
    for name in CREDIT_ASSIGNMENT:
        c = get_credit(name)
        st = c.init_state(m, rng)
        d = c.deltas(m, cache, e, st)
        assert [x.shape for x in d] == [(4, 4), (4, 4), (4, 2)]
        assert d[-1] is e
    assert all(np.array_equal(a, b) for a, b in zip(before, m.weights))
    with pytest.raises(ValueError, match="valid names"):
        get_credit("target_prop")
    with pytest.raises(ValueError, match="valid names"):
        draw_feedback(np.random.default_rng(0), (2, 2), "laplace")
    with pytest.raises(ValueError, match="positive"):
        draw_feedback(np.random.default_rng(0), (2, 2), "uniform", scale=-1.0)
    assert set(FEEDBACK_INITIALIZERS) == {"uniform", "standard_uniform", "gaussian",
                                          "standard_gaussian"}
