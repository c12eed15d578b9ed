"""The dual-weight derivation's functions against the engine, hand-worked identities and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.analysis import dual_weight_theory as th
from learning_rules.engine import Network
from learning_rules.nn import MLP
from learning_rules.updates import DualWeightStabilizedUpdate, DualWeightUpdate
from learning_rules.updates.dual_weight import move_rows_toward_inputs

FAST = settings(max_examples=25, deadline=None)


def signals_and_inputs(seed, n=12, n_out=3, n_in=4, zero_frac=0.3):
    rng = np.random.default_rng(seed)
    deltas = rng.normal(size=(n, n_out))
    deltas[rng.random((n, n_out)) < zero_frac] = 0.0
    return deltas, rng.normal(size=(n, n_in))


# --- eqs. 9-14 -----------------------------------------------------------------------------------


def test_eq9_matches_engine_sgd_on_every_layer():
    rng = np.random.default_rng(3)
    mlp = MLP.create([3, 4, 2], ["relu", "identity"], init="he_normal", rng=rng)
    W_init = [W.copy() for W in mlp.weights]
    net = Network(mlp, "backprop", "gradient", loss="mse", lr=0.05, rng=np.random.default_rng(0))
    X, Y = rng.normal(size=(15, 3)), rng.normal(size=(15, 2))
    deltas = [[], []]
    inputs = [[], []]
    for i in range(15):
        cache, _, ds = net.signals(X[i:i + 1], Y[i:i + 1])
        for l in range(2):
            deltas[l].append(ds[l][0])
            inputs[l].append(cache.h[l][0])
        net.train_step(X[i:i + 1], Y[i:i + 1])
    for l in range(2):
        expected = th.sgd_cumulative_weights(W_init[l], 0.05, np.array(deltas[l]), np.array(inputs[l]))
        np.testing.assert_allclose(mlp.weights[l], expected, rtol=0, atol=1e-12)


@FAST
@given(seed=st.integers(0, 10_000), lr=st.floats(1e-4, 1.0))
def test_eq11_split_adds_up_and_eq13_14_factor(seed, lr):
    deltas, H = signals_and_inputs(seed)
    W0 = np.zeros((3, 4))
    P, N = th.sign_split_sums(lr, deltas, H)
    np.testing.assert_allclose(P - N, th.sgd_cumulative_weights(W0, lr, deltas, H), atol=1e-12)
    assert np.all((P == 0) | (np.sign(P) == np.sign(np.maximum(-deltas, 0).T @ H)))
    S1, S2 = th.signal_masses(deltas)
    W1, W2 = th.weighted_input_averages(deltas, H)
    for S, W, S_sum in ((S1, W1, P), (S2, W2, N)):
        ok = S > 0
        np.testing.assert_allclose(lr * S[ok, None] * W[ok], S_sum[ok], atol=1e-12)
        assert np.all(np.isnan(W[~ok]))
    W1e, _ = th.weighted_input_averages(deltas, H, scale=lr)
    np.testing.assert_allclose(W1e[S1 > 0], lr * W1[S1 > 0])


def test_weighted_average_hand_example():
    deltas = np.array([-1.0, -3.0, 2.0, 0.0])
    H = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [9.0, 9.0]])
    W1, W2 = th.weighted_input_averages(deltas, H)
    np.testing.assert_allclose(W1, [[0.25, 0.75]])
    np.testing.assert_allclose(W2, [[5.0, 5.0]])
    S1, S2 = th.signal_masses(deltas)
    assert S1[0] == 4.0 and S2[0] == 2.0


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="one row per step"):
        th.sign_split_sums(0.1, np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite and >= 0"):
        th.moving_average_path(np.zeros(2), np.array([-0.5]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="valid names"):
        th.step_schedule("cosine", 10)
    with pytest.raises(ValueError, match="bad parameters"):
        th.step_schedule("harmonic", 10, scale=2.0)
    with pytest.raises(ValueError, match="one-neuron update"):
        th.neuron_trajectories(np.zeros((2, 2)), np.zeros(2), [0], np.zeros(2), 0.1, 0.1, rules=["adam"])


# --- eqs. 15-17 and appendices C, D -------------------------------------------------------------


@FAST
@given(seed=st.integers(0, 10_000))
def test_averaging_rates_turn_moving_average_into_eq13(seed):
    deltas, H = signals_and_inputs(seed, n_out=1)
    u = np.maximum(-deltas[:, 0], 0.0)
    if u.sum() == 0:
        return
    rng = np.random.default_rng(seed + 1)
    w0 = rng.normal(size=4) * 10  # the start is forgotten at the first positive weight
    a = th.averaging_rates(u)
    path = th.moving_average_path(w0, a, H)
    W1, _ = th.weighted_input_averages(deltas, H)
    np.testing.assert_allclose(path[-1], W1[0], rtol=1e-10, atol=1e-12)
    # the engine's row update, fed the same rates, walks the same path
    w = w0[None, :].copy()
    for t in range(len(a)):
        w = move_rows_toward_inputs(w, a[t:t + 1, None], H[t:t + 1])
    np.testing.assert_allclose(w[0], path[-1], rtol=1e-10, atol=1e-12)


@FAST
@given(seed=st.integers(0, 10_000), lr=st.floats(1e-3, 0.5))
def test_engine_dual_weight_equals_unrolled_sum(seed, lr):
    deltas, H = signals_and_inputs(seed, n=20, n_out=3, n_in=4)
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(3, 4))
    rule = DualWeightUpdate(lr=lr)
    state = rule.init_layer(W, None, rng)
    W1_0, W2_0 = state["W1"].copy(), state["W2"].copy()
    for t in range(20):
        rule.apply(state, W, None, deltas[t:t + 1], H[t:t + 1])
    for j in range(3):
        for half, start, a in ((state["W1"], W1_0, lr * np.maximum(-deltas[:, j], 0)),
                               (state["W2"], W2_0, lr * np.maximum(deltas[:, j], 0))):
            c0, c = th.unrolled_coefficients(a)
            assert math.isclose(c0 + c.sum(), 1.0, rel_tol=0, abs_tol=1e-12)
            np.testing.assert_allclose(half[j], c0 * start[j] + c @ H, atol=1e-12)
            np.testing.assert_allclose(half[j], th.moving_average_path(start[j], a, H)[-1], atol=1e-12)
    np.testing.assert_allclose(W, state["W1"] - state["W2"], atol=0)


def test_harmonic_variance_is_sample_mean_variance():
    v = th.moving_average_variance(th.step_schedule("harmonic", 50), 2.0)
    np.testing.assert_allclose(v[1:], 2.0 / np.arange(1, 51), rtol=1e-12)


def test_constant_step_variance_floor():
    a = 0.05
    v = th.moving_average_variance(th.step_schedule("constant", 2000, scale=a), 1.0)
    assert math.isclose(v[-1], a / (2 - a), rel_tol=1e-9)


def test_remaining_deviation_vs_sums():
    n = 20_000
    harmonic = th.remaining_deviation(th.step_schedule("harmonic", n))
    assert harmonic[-1] == 0.0  # a_1 = 1 erases the start at once
    slow = th.remaining_deviation(th.step_schedule("power", n, scale=0.5, power=0.8))
    fast = th.remaining_deviation(th.step_schedule("power", n, scale=0.5, power=1.5))
    geo = th.step_schedule("geometric", n, scale=0.05, ratio=0.999)
    a_slow = th.step_schedule("power", n, scale=0.5, power=0.8)
    # 1 - a <= exp(-a): the remnant is at most exp(-sum a), and that sum grows without bound
    assert slow[-1] <= math.exp(-a_slow.sum()) and a_slow.sum() > 15
    assert th.remaining_deviation(th.step_schedule("power", 4 * n, scale=0.5, power=0.8))[-1] < slow[-1]
    # convergent sum: a positive remnant, bounded below by exp(-sum a / (1 - max a))
    a_fast = th.step_schedule("power", n, scale=0.5, power=1.5)
    assert fast[-1] >= math.exp(-a_fast.sum() / (1 - a_fast.max())) > 0.05
    assert th.remaining_deviation(geo)[-1] >= math.exp(-geo.sum() / (1 - geo.max())) > 1e-30
    assert np.all(np.diff(slow) <= 0)


def test_monte_carlo_mean_and_error_follow_the_formulas():
    rng = np.random.default_rng(11)
    n, reps, d = 200, 4000, 2
    a = th.step_schedule("power", n, scale=0.3, power=1.5)  # finite sum: stops short
    mu, sd, w0 = np.array([1.0, -2.0]), 0.5, np.array([4.0, 4.0])
    X = mu + sd * rng.standard_normal((n, reps, d))
    finals = th.moving_average_path(np.tile(w0, (reps, 1)), a, X, record=[n])[0]
    expected_mean = mu + th.remaining_deviation(a)[-1] * (w0 - mu)
    se = finals.std(axis=0) / math.sqrt(reps)
    assert np.all(np.abs(finals.mean(axis=0) - expected_mean) < 5 * se)
    mse = np.mean(np.sum((finals - mu) ** 2, axis=1))
    exact = th.expected_squared_error(a, w0, mu, d * sd**2)[-1]
    assert abs(mse - exact) < 0.05 * exact
    # the remnant is far from zero: the average stopped short, biased toward w0
    assert np.all(np.abs(expected_mean - mu) > 1.0)


def test_input_dependent_steps_give_the_weighted_mean():
    """Appendix C needs a_t independent of x_t; with a_t = eta |g(x_t)| the limit is eq. 13's mean."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 1.0, size=(200_000, 1))
    a = 0.002 * x[:, 0]  # |g| grows with x
    path = th.moving_average_path(np.zeros(1), a, x)
    tail = path[100_000:, 0].mean()
    weighted = (x[:, 0] ** 2).mean() / x[:, 0].mean()  # E[x|g|]/E[|g|] = 2/3
    assert abs(tail - weighted) < 0.01
    assert abs(tail - 0.5) > 0.1


# --- appendix B -------------------------------------------------------------------------------


def test_stabilizer_trace_matches_engine():
    rng = np.random.default_rng(2)
    n, lr = 400, 0.05
    g = rng.normal(scale=0.2, size=n)
    g[rng.random(n) < 0.4] = 0.0
    G, a = th.stabilizer_trace(g, lr)
    rule = DualWeightStabilizedUpdate(lr=lr)
    W = rng.normal(size=(1, 3))
    state = rule.init_layer(W, None, rng)
    H = rng.normal(size=(n, 3))
    for t in range(n):
        W1, W2 = state["W1"].copy(), state["W2"].copy()
        assert state["G"][0] == pytest.approx(G[t], rel=1e-13)
        rule.apply(state, W, None, g[t:t + 1, None], H[t:t + 1])
        moved = state["W1"] if g[t] < 0 else state["W2"]
        before = W1 if g[t] < 0 else W2
        if g[t] != 0:
            np.testing.assert_allclose(moved, (1 - a[t]) * before + a[t] * H[t], atol=1e-13)
        else:
            assert a[t] == 0 and np.array_equal(state["W1"], W1) and np.array_equal(state["W2"], W2)
    assert state["G"][0] == pytest.approx(G[-1], rel=1e-13)


def test_stabilizer_relaxation_closed_form_and_cap():
    G, a = th.stabilizer_trace(np.full(300, 0.2), 0.01)
    np.testing.assert_allclose(G, th.relaxed_average(np.arange(301), 0.2, 1.0, 0.01), rtol=1e-12)
    assert np.all(a <= 0.01 + 1e-15)
    _, a_big = th.stabilizer_trace(np.full(5, 100.0), 0.01)
    np.testing.assert_allclose(a_big, 0.01)  # capped at eta


# --- eqs. 18-19: one neuron, four updates -------------------------------------------------------


@pytest.mark.parametrize(
    "rule, engine_kwargs",
    [
        ("sgd", {"update": "gradient"}),
        ("l2_decoupled", {"update": "gradient", "l2": 0.3, "l2_form": "decoupled"}),
        ("l2_coded", {"update": "gradient", "l2": 0.3, "l2_form": "coded"}),
        ("dual_weight", {"update": "dual_weight"}),
    ],
)
def test_neuron_trajectories_match_engine(rule, engine_kwargs):
    rng = np.random.default_rng(7)
    X, y = th.make_neuron_task(rng, 40)
    idx = rng.integers(0, 40, size=120)
    w_init = np.array([0.7, -0.2])
    paths = th.neuron_trajectories(X, y, idx, w_init, lr=0.05, lam=0.3, rules=[rule])
    mlp = MLP.create([2, 1], "identity", bias=False, rng=np.random.default_rng(0))
    mlp.weights[0][0] = w_init
    net = Network(mlp, "backprop", loss="mse", lr=0.05, rng=np.random.default_rng(0), **engine_kwargs)
    for t, i in enumerate(idx):
        net.fit_steps(X, y, [int(i)], backend="numpy")
        np.testing.assert_allclose(mlp.weights[0][0], paths[rule][t + 1], atol=1e-12)


def test_coded_l2_shrinks_norm_by_fixed_length():
    w = np.array([3.0, 4.0])
    new = th.l2_coded_neuron_step(w, 0.0, np.ones(2), lr=0.1, lam=2.0)
    assert math.isclose(np.linalg.norm(new), 5.0 - 0.2, rel_tol=1e-12)
    new = th.l2_decoupled_neuron_step(w, 0.0, np.ones(2), lr=0.1, lam=2.0)
    assert math.isclose(np.linalg.norm(new), 5.0 * 0.8, rel_tol=1e-12)


def test_ridge_is_the_fixed_point_of_eq19_and_surface():
    rng = np.random.default_rng(1)
    X, y = th.make_neuron_task(rng, 300)
    for lam in (0.0, 0.2):
        w = th.ridge_weights(X, y, lam)
        mean_grad = X.T @ (X @ w - y) / len(y) + lam * w
        np.testing.assert_allclose(mean_grad, 0.0, atol=1e-12)
    L = th.half_mse_surface(X, y, np.array([0.0, 1.0]), np.array([2.0, -1.0, 0.5]))
    assert L.shape == (3, 2)
    assert math.isclose(L[1, 1], 0.5 * np.mean((X @ np.array([1.0, -1.0]) - y) ** 2), rel_tol=1e-12)


def test_deterministic_task():
    a = th.make_neuron_task(np.random.default_rng(4), 10)
    b = th.make_neuron_task(np.random.default_rng(4), 10)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_batched_path_and_record_equal_single_runs():
    rng = np.random.default_rng(8)
    a = th.step_schedule("power", 40, scale=0.7, power=0.9)
    X = rng.normal(size=(40, 3, 2))
    w0 = rng.normal(size=(3, 2))
    batched = th.moving_average_path(w0, a, X)
    for k in range(3):
        np.testing.assert_array_equal(batched[:, k], th.moving_average_path(w0[k], a, X[:, k]))
    picked = th.moving_average_path(w0, a, X, record=[0, 7, 7, 40])
    np.testing.assert_array_equal(picked, batched[[0, 7, 7, 40]])


def test_monte_carlo_error_does_not_depend_on_chunking():
    a = th.step_schedule("harmonic", 300)
    record = [0, 1, 5, 299, 300]
    out = []
    for chunk in (7, 300, 1000):
        rng = np.random.default_rng(9)
        out.append(th.monte_carlo_squared_error(
            a, np.zeros((20, 2)), [1.0, 2.0], lambda k: rng.exponential([1.0, 2.0], size=(k, 20, 2)),
            record, chunk=chunk))
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    assert out[0][0] == 5.0  # |w0 - mu|^2 at step 0
    rng = np.random.default_rng(9)
    X = rng.exponential([1.0, 2.0], size=(300, 20, 2))
    direct = np.mean(np.sum((th.moving_average_path(np.zeros((20, 2)), a, X)[record] - [1.0, 2.0]) ** 2, -1), -1)
    np.testing.assert_allclose(out[0], direct, rtol=1e-12)
