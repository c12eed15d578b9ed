"""The dual-weight rule and its stabilizer against a literal per-neuron re-implementation and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.updates import WEIGHT_UPDATES, DualWeightStabilizedUpdate, DualWeightUpdate

FAST = settings(max_examples=30, deadline=None)


def literal_dual_weight_step(W1, W2, G, b, g, x, lr, stabilized, gain=0.1, cap=1.0):
    """Spec sec. 2/3/10 written neuron by neuron for one sample (an independent oracle)."""
    W1, W2, b = W1.copy(), W2.copy(), b.copy()
    G = None if G is None else G.copy()
    for j in range(W1.shape[0]):
        if stabilized:
            a_plus = lr * min(cap, gain * max(-g[j], 0.0) / G[j])
            a_minus = lr * min(cap, gain * max(g[j], 0.0) / G[j])
        else:
            a_plus = lr * max(-g[j], 0.0)
            a_minus = lr * max(g[j], 0.0)
        if g[j] < 0:
            W1[j] = (1 - a_plus) * W1[j] + a_plus * x
        elif g[j] > 0:
            W2[j] = (1 - a_minus) * W2[j] + a_minus * x
        b[j] = b[j] - lr * g[j]
    if stabilized:
        for j in range(W1.shape[0]):
            if g[j] != 0:
                G[j] = (1 - lr) * G[j] + lr * abs(g[j])
    return W1, W2, G, b


def random_layer(seed, n_out=5, n_in=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    W = (rng.normal(size=(n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(dtype)
    b = np.zeros(n_out, dtype=dtype)
    return rng, W, b


@pytest.mark.parametrize("name", ["dual_weight", "dual_weight_stabilized"])
def test_batch_one_matches_literal_per_neuron_recipe(name):
    rng, W, b = random_layer(0)
    lr = 0.05
    rule = WEIGHT_UPDATES[name](lr=lr)
    state = rule.init_layer(W, b, rng)
    W1, W2 = W.copy(), np.zeros_like(W)  # the code's split: W1 = W_init, W2 = 0
    G = np.ones(5) if name == "dual_weight_stabilized" else None
    bl = b.copy()
    for _ in range(40):
        x = np.maximum(rng.normal(size=4), 0.0)
        g = rng.normal(size=5) * 3.0
        g[rng.random(5) < 0.3] = 0.0  # dead / silent neurons
        rule.apply(state, W, b, g[None, :], x[None, :])
        W1, W2, G, bl = literal_dual_weight_step(W1, W2, G, bl, g, x, lr, name != "dual_weight")
        if name == "dual_weight":  # same floating-point operations as the code: identical bits
            assert np.array_equal(state["W1"], W1) and np.array_equal(state["W2"], W2)
        np.testing.assert_allclose(state["W1"], W1, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(state["W2"], W2, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(b, bl, rtol=1e-14, atol=1e-15)
        if G is not None:
            np.testing.assert_allclose(state["G"], G, rtol=1e-14)


@pytest.mark.parametrize("name", ["dual_weight", "dual_weight_stabilized"])
@pytest.mark.parametrize("init_split", ["coded", "positive_negative"])
@pytest.mark.parametrize("batch", [1, 4])
def test_W_equals_W1_minus_W2_after_every_step(name, init_split, batch):
    rng, W, b = random_layer(1, dtype=np.float32)
    rule = WEIGHT_UPDATES[name](lr=0.1, init_split=init_split)
    state = rule.init_layer(W, b, rng)
    assert np.array_equal(W, state["W1"] - state["W2"])
    for _ in range(10):
        X = rng.random((batch, 4)).astype(np.float32)
        delta = rng.normal(size=(batch, 5)).astype(np.float32)
        rule.apply(state, W, b, delta, X)
        assert np.array_equal(W, state["W1"] - state["W2"])
        assert W.dtype == state["W1"].dtype == state["W2"].dtype == np.float32


def test_init_splits():
    _, W, b = random_layer(2)
    W0 = W.copy()
    s = DualWeightUpdate(lr=0.1, init_split="positive_negative").init_layer(W, b, None)
    assert np.all(s["W1"] >= 0) and np.all(s["W2"] >= 0)
    assert np.array_equal(s["W1"] - s["W2"], W0) and np.array_equal(W, W0)
    s = DualWeightUpdate(lr=0.1).init_layer(W, b, None)
    assert np.array_equal(s["W1"], W0) and np.all(s["W2"] == 0)
    assert s["W1"] is not W  # a copy, not a view of the live weights


@FAST
@given(
    seed=st.integers(0, 10_000),
    batch=st.sampled_from([1, 3]),
    steps=st.integers(1, 25),
    stabilized=st.booleans(),
    init_split=st.sampled_from(["coded", "positive_negative"]),
)
def test_rows_stay_inside_the_box_of_initial_row_and_seen_inputs(seed, batch, steps, stabilized, init_split):
    """While every lr*|delta| <= 1 each row is a convex combination of its start and the inputs."""
    rng = np.random.default_rng(seed)
    lr = 0.5
    W = rng.normal(size=(4, 3)) * 2.0
    cls = DualWeightStabilizedUpdate if stabilized else DualWeightUpdate
    rule = cls(lr=lr, init_split=init_split)
    state = rule.init_layer(W, None, rng)
    lo1, hi1 = state["W1"].copy(), state["W1"].copy()
    lo2, hi2 = state["W2"].copy(), state["W2"].copy()
    for _ in range(steps):
        X = rng.uniform(-1.0, 1.0, size=(batch, 3))
        delta = rng.uniform(-1.0 / lr, 1.0 / lr, size=(batch, 4))  # lr |delta| <= 1
        delta[rng.random((batch, 4)) < 0.2] = 0.0
        rule.apply(state, W, None, delta, X)
        # bounds grow only for neurons that actually received the input
        got1 = (delta < 0).T  # (n_out, batch)
        got2 = (delta > 0).T
        for j in range(4):
            for i in range(batch):
                if got1[j, i]:
                    lo1[j] = np.minimum(lo1[j], X[i])
                    hi1[j] = np.maximum(hi1[j], X[i])
                if got2[j, i]:
                    lo2[j] = np.minimum(lo2[j], X[i])
                    hi2[j] = np.maximum(hi2[j], X[i])
        tol = 1e-12
        assert np.all(state["W1"] >= lo1 - tol) and np.all(state["W1"] <= hi1 + tol)
        assert np.all(state["W2"] >= lo2 - tol) and np.all(state["W2"] <= hi2 + tol)


def test_rows_are_tracked_convex_combinations():
    """Batch 1: track the coefficients of W1_j on (initial row, x_1, ..., x_T) exactly."""
    rng, W, _ = random_layer(3, n_out=3, n_in=2)
    lr = 0.2
    rule = DualWeightUpdate(lr=lr)
    state = rule.init_layer(W, None, rng)
    basis = [state["W1"].copy()]  # entry 0: the initial rows
    coef = [np.ones(3)]  # coefficient of each basis entry, per neuron
    for _ in range(30):
        x = rng.uniform(0, 1, size=2)
        g = rng.uniform(-4, 4, size=3)  # lr |g| <= 0.8
        rule.apply(state, W, None, g[None], x[None])
        a = lr * np.maximum(-g, 0.0)
        coef = [c * (1 - a) for c in coef] + [a]
        basis.append(np.broadcast_to(x, (3, 2)))
    C = np.array(coef)  # (1 + T, n_out)
    assert np.all(C >= 0)
    np.testing.assert_allclose(C.sum(axis=0), 1.0, rtol=1e-12)
    rebuilt = sum(C[k][:, None] * basis[k] for k in range(len(basis)))
    np.testing.assert_allclose(state["W1"], rebuilt, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["dual_weight", "dual_weight_stabilized"])
def test_neuron_with_zero_signal_is_untouched_bit_for_bit(name):
    rng, W, b = random_layer(4)
    W[2, 1] = -0.0  # even the sign of zero survives
    b[2] = -0.0
    rule = WEIGHT_UPDATES[name](lr=0.3)
    state = rule.init_layer(W, b, rng)
    before = {k: v[2].tobytes() for k, v in state.items()}
    w_before, b_before = W[2].tobytes(), b[2].tobytes()
    for _ in range(5):
        delta = rng.normal(size=(3, 5))
        delta[:, 2] = 0.0
        rule.apply(state, W, b, delta, rng.random((3, 4)))
    assert W[2].tobytes() == w_before and b[2].tobytes() == b_before
    for k, v in state.items():
        assert v[2].tobytes() == before[k], k
    assert W[0].tobytes() != w_before  # the others did move


def test_moving_average_with_steps_one_over_t_is_the_running_mean():
    """Eqs. 15-16 read as a moving average (appendix C): a_t = 1/t gives the mean of the inputs."""
    rng = np.random.default_rng(5)
    lr = 0.5
    rule = DualWeightUpdate(lr=lr)
    W = rng.normal(size=(2, 3))
    state = rule.init_layer(W, None, rng)
    xs = rng.normal(size=(50, 3))
    for t, x in enumerate(xs, start=1):
        a = 1.0 / t
        g = np.array([-a / lr, +a / lr])  # neuron 0 drives W1, neuron 1 drives W2
        rule.apply(state, W, None, g[None], x[None])
        np.testing.assert_allclose(state["W1"][0], xs[:t].mean(axis=0), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(state["W2"][1], xs[:t].mean(axis=0), rtol=1e-12, atol=1e-13)


def test_eq13_weighted_average():
    """a_t = w_t / sum_{s<=t} w_s turns eq. 15 into eq. 13's weighted average sum w x / sum w."""
    rng = np.random.default_rng(6)
    lr = 0.01
    rule = DualWeightUpdate(lr=lr)
    W = rng.normal(size=(1, 4))
    state = rule.init_layer(W, None, rng)
    w = rng.uniform(0.1, 2.0, size=20)
    xs = rng.normal(size=(20, 4))
    for t in range(20):
        a = w[t] / w[: t + 1].sum()
        rule.apply(state, W, None, np.array([[-a / lr]]), xs[t][None])
    np.testing.assert_allclose(state["W1"][0], (w[:, None] * xs).sum(0) / w.sum(), rtol=1e-12)


def test_batch_update_is_the_mean_of_per_sample_moves_from_the_same_start():
    rng, W, b = random_layer(7)
    lr = 0.1
    rule = DualWeightUpdate(lr=lr)
    state = rule.init_layer(W, b, rng)
    W1_0, W2_0 = state["W1"].copy(), state["W2"].copy()
    X = rng.random((4, 4))
    delta = rng.normal(size=(4, 5))
    rule.apply(state, W, b, delta, X)
    a1, a2 = lr * np.maximum(-delta, 0), lr * np.maximum(delta, 0)
    move1 = sum(a1[i][:, None] * (X[i] - W1_0) for i in range(4)) / 4
    move2 = sum(a2[i][:, None] * (X[i] - W2_0) for i in range(4)) / 4
    np.testing.assert_allclose(state["W1"], W1_0 + move1, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state["W2"], W2_0 + move2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b, -lr * delta.mean(axis=0), rtol=1e-14)


def test_bias_is_plain_sgd_with_its_own_rate():
    rng, W, b = random_layer(8)
    b[:] = rng.normal(size=5)
    b0 = b.copy()
    rule = DualWeightUpdate(lr=0.1, lr_bias=0.02)
    state = rule.init_layer(W, b, rng)
    delta = rng.normal(size=(3, 5))
    rule.apply(state, W, b, delta, rng.random((3, 4)))
    np.testing.assert_allclose(b, b0 - 0.02 * delta.mean(axis=0), rtol=1e-15)


def test_clip_option():
    # lr |g| = 3: unclipped (the code) W1 <- -2 W1 + 3 x leaves the hull; clipped W1 <- x.
    W = np.array([[1.0, -1.0]])
    x = np.array([[0.5, 0.25]])
    for clip, expected in [(False, -2 * W + 3 * x), (True, x)]:
        W_ = W.copy()
        rule = DualWeightUpdate(lr=1.0, clip=clip)
        state = rule.init_layer(W_, None, None)
        rule.apply(state, W_, None, np.array([[-3.0]]), x)
        np.testing.assert_allclose(state["W1"], expected, rtol=1e-15)


def test_stabilizer_rate_is_capped_so_a_is_at_most_lr():
    lr = 0.01
    rule = DualWeightStabilizedUpdate(lr=lr)
    W = np.array([[0.2, -0.4], [0.3, 0.1]])
    state = rule.init_layer(W, None, None)
    W1_0 = state["W1"].copy()
    x = np.array([[1.0, 2.0]])
    rule.apply(state, W, None, np.array([[-1e6, 0.0]]), x)  # 0.1 * 1e6 / 1 >> 1: capped
    np.testing.assert_allclose(state["W1"][0], (1 - lr) * W1_0[0] + lr * x[0], rtol=1e-15)


def test_stabilizer_uses_old_G_and_updates_it_after_and_only_where_signal():
    lr = 0.1
    rule = DualWeightStabilizedUpdate(lr=lr)
    W = np.array([[0.2, -0.4], [0.3, 0.1], [0.5, 0.5]])
    state = rule.init_layer(W, None, None)
    np.testing.assert_array_equal(state["G"], [1.0, 1.0, 1.0])  # G_init
    x = np.array([[1.0, 2.0]])
    # step 1: G = 1 -> a1 = lr * 0.1 * 0.5 / 1 = 0.005 for neuron 0; a2 = lr * 0.1 * 2 / 1 = 0.02 for neuron 1
    W1_0, W2_0 = state["W1"].copy(), state["W2"].copy()
    rule.apply(state, W, None, np.array([[-0.5, 2.0, 0.0]]), x)
    np.testing.assert_allclose(state["W1"][0], (1 - 0.005) * W1_0[0] + 0.005 * x[0], rtol=1e-14)
    np.testing.assert_allclose(state["W2"][1], (1 - 0.02) * W2_0[1] + 0.02 * x[0], rtol=1e-14)
    # G after the move: (1 - lr) * 1 + lr * |g| where g != 0; neuron 2 keeps exactly 1
    np.testing.assert_allclose(state["G"], [0.9 + 0.05, 0.9 + 0.2, 1.0], rtol=1e-15)
    assert state["G"][2] == 1.0
    # step 2 uses the new G: a1 = lr * 0.1 * 0.5 / 0.95 for neuron 0
    W1_1 = state["W1"].copy()
    rule.apply(state, W, None, np.array([[-0.5, 0.0, 0.0]]), x)
    a = lr * 0.1 * 0.5 / 0.95
    np.testing.assert_allclose(state["W1"][0], (1 - a) * W1_1[0] + a * x[0], rtol=1e-14)


def test_stabilizer_named_constants():
    rule = DualWeightStabilizedUpdate(lr=0.1, gain=0.5, rate_cap=2.0, G_init=4.0, G_lr=0.0)
    W = np.array([[0.0, 0.0]])
    state = rule.init_layer(W, None, None)
    np.testing.assert_array_equal(state["G"], [4.0])
    rule.apply(state, W, None, np.array([[-4.0]]), np.array([[1.0, 1.0]]))
    # a = 0.1 * min(2, 0.5 * 4 / 4) = 0.05; G_lr = 0 freezes G
    np.testing.assert_allclose(state["W1"], [[0.05, 0.05]], rtol=1e-15)
    np.testing.assert_array_equal(state["G"], [4.0])


@pytest.mark.parametrize("name", ["dual_weight", "dual_weight_stabilized"])
def test_deterministic(name):
    outs = []
    for _ in range(2):
        rng, W, b = random_layer(9, dtype=np.float32)
        rule = WEIGHT_UPDATES[name](lr=0.05)
        state = rule.init_layer(W, b, rng)
        for _ in range(10):
            rule.apply(state, W, b, rng.normal(size=(2, 5)), rng.random((2, 4)))
        outs.append(W.tobytes() + b.tobytes() + state["W1"].tobytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("dual_weight", {"lr": -0.1}, "lr"),
        ("dual_weight", {"lr": 0.1, "optimizer": "adam"}, "optimizer"),
        ("dual_weight", {"lr": 0.1, "optimizer_params": {"beta": 0.9}}, "optimizer"),
        ("dual_weight", {"lr": 0.1, "l2": 0.1}, "l2"),
        ("dual_weight", {"lr": 0.1, "l1": 0.1}, "l1"),
        ("dual_weight", {"lr": 0.1, "init_split": "half"}, "init_split"),
        ("dual_weight", {"lr": 0.1, "clip": "yes"}, "clip"),
        ("dual_weight", {"lr": 0.1, "lr_bias": -1.0}, "lr_bias"),
        ("dual_weight_stabilized", {"lr": 0.1, "G_init": 0.0}, "G_init"),
        ("dual_weight_stabilized", {"lr": 2.0}, "G_lr"),
        ("dual_weight_stabilized", {"lr": 0.1, "gain": -1.0}, "gain"),
    ],
)
def test_invalid_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        WEIGHT_UPDATES[name](**kwargs)


def test_common_interface_defaults_are_accepted():
    rule = WEIGHT_UPDATES["dual_weight"](lr=0.1, optimizer="sgd", optimizer_params={}, l2=0.0,
                                         l2_form="loss", l1=0.0, n_train=100)
    rule.set_epoch(3)  # a no-op, but part of the contract
    assert rule.lr_bias == 0.1
