"""The unsupervised dual-weight rule (Wang 2025, Appendix A) against a literal per-neuron
re-implementation, its invariants, and its parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.engine import Network
from learning_rules.nn.mlp import MLP
from learning_rules.updates import WEIGHT_UPDATES
from learning_rules.updates.dual_weight_unsupervised import (
    DualWeightUnsupervisedUpdate,
    layer_activity,
    pseudo_signal,
    threshold_sign,
)

FAST = settings(max_examples=40, deadline=None)


def literal_step(W1, W2, b, x, lr, theta, rows, lr_bias):
    """Appendix A read with eqs. 15-17, one sample, neuron by neuron, in plain Python loops: the
    layer's total ReLU output against the threshold picks the half, every active neuron (or every
    neuron) moves that half toward ``x`` by ``lr``. An independent oracle: no package function."""
    W1, W2, b = W1.copy(), W2.copy(), b.copy()
    n_out, n_in = W1.shape
    z = [sum((W1[j, k] - W2[j, k]) * x[k] for k in range(n_in)) + b[j] for j in range(n_out)]
    total = sum(max(zj, 0.0) for zj in z)
    for j in range(n_out):
        moves = rows == "all" or z[j] > 0
        if not moves or total == theta:
            continue
        half = W2 if total > theta else W1
        half[j] = (1 - lr) * half[j] + lr * x
        if lr_bias:
            b[j] -= lr_bias * (1.0 if total > theta else -1.0)
    return W1, W2, b


def layer(seed, n_out=6, n_in=5):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_out, n_in)) * np.sqrt(2.0 / n_in)
    return rng, W, np.zeros(n_out)


@pytest.mark.parametrize("rows", ["active", "all"])
@pytest.mark.parametrize("lr_bias", [0.0, 0.03])
def test_single_sample_steps_match_the_literal_recipe(rows, lr_bias):
    rng, W, b = layer(1)
    lr = 0.05
    X = rng.random((60, 5))
    theta = float(np.median(np.maximum(X @ W.T, 0).sum(axis=1)))  # both states occur
    rule = DualWeightUnsupervisedUpdate(lr, theta, rows=rows, lr_bias=lr_bias)
    state = rule.init_layer(W, b, rng)
    W1, W2, bl = W.copy(), np.zeros_like(W), b.copy()  # the coded split
    loud = quiet = 0
    for x in X:
        total = float(np.maximum(W @ x + b, 0).sum())
        loud, quiet = loud + (total > theta), quiet + (total < theta)
        rule.apply(state, W, b, np.full((1, 6), np.nan), x[None, :])  # delta is ignored, even NaN
        W1, W2, bl = literal_step(W1, W2, bl, x, lr, theta, rows, lr_bias)
        np.testing.assert_allclose(state["W1"], W1, rtol=0, atol=1e-13)
        np.testing.assert_allclose(state["W2"], W2, rtol=0, atol=1e-13)
        np.testing.assert_allclose(b, bl, rtol=0, atol=1e-13)
    assert loud > 0 and quiet > 0
    assert (state["samples"], state["loud"], state["quiet"]) == (60, loud, quiet)


def test_the_pure_functions_on_hand_worked_numbers():
    h = np.array([[0.0, 1.5, 2.0], [0.5, 0.0, 0.0]])
    S = layer_activity(h)
    assert S.tolist() == [3.5, 0.5]
    s = threshold_sign(np.array([3.5, 0.5, 2.0]), 2.0)
    assert s.tolist() == [1.0, -1.0, 0.0]
    fprime = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert pseudo_signal(s, fprime, "active").tolist() == [[0, 1, 1], [-1, 0, 0], [0, 0, 0]]
    assert pseudo_signal(s, fprime, "all").tolist() == [[1, 1, 1], [-1, -1, -1], [0, 0, 0]]
    with pytest.raises(ValueError, match="valid choices: active, all"):
        pseudo_signal(s, fprime, "some")


@FAST
@given(seed=st.integers(0, 10_000), rows=st.sampled_from(["active", "all"]),
       lr=st.floats(0.01, 1.0), quantile=st.floats(0.0, 1.0))
def test_rows_move_only_on_their_side_of_the_threshold(seed, rows, lr, quantile):
    """Loud: only W2 rows move, and only those of active units ("active"); quiet: only W1 rows;
    at the threshold nothing moves. A row that does not move keeps its bits."""
    rng, W, b = layer(seed)
    X = rng.random((8, 5))
    totals = np.maximum(X @ W.T, 0).sum(axis=1)
    theta = float(np.quantile(totals, quantile))
    rule = DualWeightUnsupervisedUpdate(lr, theta, rows=rows)
    state = rule.init_layer(W, b, rng)
    for x in X:
        z = W @ x + b
        total = float(np.maximum(z, 0).sum())
        W1, W2 = state["W1"].copy(), state["W2"].copy()
        rule.apply(state, W, b, np.zeros((1, 6)), x[None, :])
        moving = np.ones(6, bool) if rows == "all" else z > 0
        if total > theta:
            moved, kept = state["W2"], state["W1"]
            before_moved, before_kept = W2, W1
        elif total < theta:
            moved, kept = state["W1"], state["W2"]
            before_moved, before_kept = W1, W2
        else:
            assert np.array_equal(state["W1"], W1) and np.array_equal(state["W2"], W2)
            continue
        assert np.array_equal(kept, before_kept)
        assert np.array_equal(moved[~moving], before_moved[~moving])
        expected = (1 - lr) * before_moved[moving] + lr * x
        np.testing.assert_allclose(moved[moving], expected, rtol=0, atol=1e-12)


@FAST
@given(seed=st.integers(0, 10_000), rows=st.sampled_from(["active", "all"]),
       lr=st.floats(0.0, 1.0), batch=st.integers(1, 4), split=st.sampled_from(["coded", "positive_negative"]))
def test_halves_stay_convex_combinations_and_W_is_their_difference(seed, rows, lr, batch, split):
    """Every half is c0 * (its initial value) + sum_k c_k x_k with c >= 0 and sum c = 1; the
    coefficients are tracked here independently (each step: c <- (1 - mean a) c, plus a_ik / B on
    the new inputs), and W = W1 - W2 holds after every step."""
    rng, W, b = layer(seed, n_out=4, n_in=3)
    rule = DualWeightUnsupervisedUpdate(lr, 0.5, rows=rows, init_split=split)
    state = rule.init_layer(W, b, rng)
    assert np.array_equal(state["W1"] - state["W2"], W)
    starts = [state["W1"].copy(), state["W2"].copy()]
    inputs = []
    coef = [np.ones((4, 1)), np.ones((4, 1))]  # per half, per row: weight of the start, then of inputs
    for _ in range(6):
        X = rng.random((batch, 3)) * 2.0
        z = X @ W.T + b
        S = np.maximum(z, 0).sum(axis=1)
        g = np.sign(S - 0.5)[:, None] * ((z > 0) if rows == "active" else np.ones_like(z))
        rates = [lr * np.maximum(-g, 0), lr * np.maximum(g, 0)]
        rule.apply(state, W, b, np.zeros((batch, 4)), X)
        inputs.extend(X)
        for h in range(2):
            keep = 1.0 - rates[h].mean(axis=0)
            coef[h] = np.hstack([coef[h] * keep[:, None], rates[h].T / batch])
        assert np.array_equal(W, state["W1"] - state["W2"])
    P = np.array(inputs)
    for h, key in enumerate(("W1", "W2")):
        c = coef[h]
        assert (c >= -1e-15).all()
        np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)
        rebuilt = c[:, :1] * starts[h] + c[:, 1:] @ P
        np.testing.assert_allclose(state[key], rebuilt, atol=1e-12)


def test_all_rows_forget_their_start_and_become_one_row():
    """Reading "all": every row of a half sees the same moves, so after the start is forgotten all
    rows of W (and of each half) coincide -- the layer collapses to one feature."""
    rng, W, b = layer(3, n_out=5, n_in=4)
    rule = DualWeightUnsupervisedUpdate(0.2, 1.0, rows="all")
    state = rule.init_layer(W, b, rng)
    for _ in range(400):
        rule.apply(state, W, b, np.zeros((1, 5)), rng.random((1, 4)))
    assert np.ptp(W, axis=0).max() < 1e-6
    assert state["loud"] > 0 and state["quiet"] > 0


def test_silent_units_keep_their_rows_in_the_active_reading():
    rng, W, b = layer(4)
    b[:2] = -100.0  # units 0 and 1 never fire on inputs in [0, 1)
    rule = DualWeightUnsupervisedUpdate(0.1, 0.3, rows="active", lr_bias=0.05)
    state = rule.init_layer(W, b, rng)
    W0 = W.copy()
    for _ in range(50):
        rule.apply(state, W, b, np.zeros((1, 6)), rng.random((1, 5)))
    assert np.array_equal(W[:2], W0[:2]) and np.array_equal(b[:2], [-100.0, -100.0])
    assert not np.array_equal(W[2:], W0[2:])


def test_trains_through_the_engine_without_labels():
    """Network.fit_steps runs the rule (passed as an object, never by name); the targets are
    zeros and the result does not depend on them."""
    rng = np.random.default_rng(5)
    X = rng.random((30, 5))
    order = rng.integers(0, 30, 200)
    results = []
    for Y in (np.zeros((30, 4)), rng.normal(size=(30, 4))):
        W = np.random.default_rng(6).normal(size=(4, 5))
        rule = DualWeightUnsupervisedUpdate(0.05, 1.0)
        net = Network(MLP([W], [np.zeros(4)], ["relu"]), update=rule, loss="squared_error",
                      rng=np.random.default_rng(0))
        net.fit_steps(X, Y, order, backend="numpy")
        assert net.layer_states[0]["samples"] == 200
        results.append(net.mlp.weights[0].copy())
    assert np.array_equal(results[0], results[1])
    assert "dual_weight_unsupervised" not in WEIGHT_UPDATES  # not registered: no stored key moves


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1, threshold=1.0), "lr"),
    (dict(lr=1.5, threshold=1.0), r"\[0, 1\]"),
    (dict(lr=float("nan"), threshold=1.0), "lr"),
    (dict(lr=0.1, threshold=float("inf")), "threshold must be finite"),
    (dict(lr=0.1, threshold="high"), "threshold must be a number"),
    (dict(lr=0.1, threshold=1.0, rows="silent"), "valid choices: active, all"),
    (dict(lr=0.1, threshold=1.0, activation="nope"), "nope"),
    (dict(lr=0.1, threshold=1.0, activation="softmax"), "element-wise"),
    (dict(lr=0.1, threshold=1.0, lr_bias=-1.0), "lr_bias"),
    (dict(lr=0.1, threshold=1.0, init_split="half"), "init_split"),
])
def test_bad_parameters_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DualWeightUnsupervisedUpdate(**kwargs)


def test_init_layer_checks_the_layer():
    rule = DualWeightUnsupervisedUpdate(0.1, 1.0)
    with pytest.raises(ValueError, match="2-D"):
        rule.init_layer(np.zeros(3), None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="b must be"):
        rule.init_layer(np.zeros((2, 3)), np.zeros(3), np.random.default_rng(0))
