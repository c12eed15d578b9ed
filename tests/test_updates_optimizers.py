"""Optimizers: hand-worked first steps, property tests against the defining equations."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from learning_rules.updates import OPTIMIZERS
from learning_rules.updates.optimizers import Optimizer

FAST = settings(max_examples=40, deadline=None)

# eps must be > 0; this one vanishes next to any gradient used below (3 + 1e-300 == 3 in float64),
# so the hand-worked numbers are those of eps = 0.
TINY = 1e-300

# Gradient entries bounded away from zero and from overflow.
nonzero_float = st.floats(1e-3, 1e3).flatmap(lambda m: st.sampled_from([m, -m]))


def grads_strategy(shape=(3,)):
    return hnp.arrays(np.float64, shape, elements=nonzero_float)


def take_steps(name, grads, lr=0.1, **hyper):
    """Run ``name`` from param 0 over a list of gradients; return the list of steps taken."""
    opt = OPTIMIZERS[name](lr, **hyper)
    p = np.zeros_like(grads[0])
    state = opt.init_state(p)
    steps = []
    for g in grads:
        before = p.copy()
        opt.step(p, g, state)
        steps.append(before - p)
    return steps, state


# ------------------------------------------------------------------ hand-worked first steps


def test_sgd_one_step_by_hand():
    # theta = [1, 2], g = [0.5, -2], lr = 0.1  ->  theta - 0.1 g = [0.95, 2.2]
    p = np.array([1.0, 2.0])
    opt = OPTIMIZERS["sgd"](0.1)
    s = opt.init_state(p)
    opt.step(p, np.array([0.5, -2.0]), s)
    np.testing.assert_allclose(p, [0.95, 2.2], rtol=1e-15)
    assert s["t"] == 1


def test_momentum_ema_two_steps_by_hand():
    # beta = 0.5, lr = 1. g1 = 2: v1 = 0.5*0 + 0.5*2 = 1, v1_hat = 1/(1-0.5) = 2 -> step 2.
    # g2 = 4: v2 = 0.5*1 + 0.5*4 = 2.5, v2_hat = 2.5/(1-0.25) = 10/3 -> step 10/3.
    steps, state = take_steps("momentum", [np.array([2.0]), np.array([4.0])], lr=1.0, beta=0.5)
    np.testing.assert_allclose([steps[0][0], steps[1][0]], [2.0, 10.0 / 3.0], rtol=1e-14)
    np.testing.assert_allclose(state["v"], [2.5], rtol=1e-15)
    # without bias correction: steps v1 = 1 and v2 = 2.5
    steps, _ = take_steps("momentum", [np.array([2.0]), np.array([4.0])], lr=1.0, beta=0.5,
                          bias_correction=False)
    np.testing.assert_allclose([steps[0][0], steps[1][0]], [1.0, 2.5], rtol=1e-15)


def test_momentum_classic_two_steps_by_hand():
    # mu = 0.5, lr = 0.1. g1 = 2: v1 = 0.2 -> step 0.2. g2 = 4: v2 = 0.5*0.2 + 0.4 = 0.5.
    steps, state = take_steps("momentum_classic", [np.array([2.0]), np.array([4.0])], lr=0.1, mu=0.5)
    np.testing.assert_allclose([steps[0][0], steps[1][0]], [0.2, 0.5], rtol=1e-14)
    np.testing.assert_allclose(state["velocity"], [0.5], rtol=1e-14)


def test_nesterov_two_steps_by_hand():
    # mu = 0.5, lr = 0.1. g1 = 2: b1 = 2, step = 0.1*(2 + 0.5*2) = 0.3.
    # g2 = 4: b2 = 0.5*2 + 4 = 5, step = 0.1*(4 + 2.5) = 0.65.
    steps, state = take_steps("nesterov", [np.array([2.0]), np.array([4.0])], lr=0.1, mu=0.5)
    np.testing.assert_allclose([steps[0][0], steps[1][0]], [0.3, 0.65], rtol=1e-14)
    np.testing.assert_allclose(state["buf"], [5.0], rtol=1e-15)


def test_adagrad_two_steps_by_hand():
    # eps ~ 0, lr = 0.1. g1 = [3, -4]: G = [9, 16], step = 0.1*[3/3, -4/4] = [0.1, -0.1].
    # g2 = [4, 3]: G = [25, 25], step = 0.1*[4/5, 3/5] = [0.08, 0.06].
    steps, state = take_steps("adagrad", [np.array([3.0, -4.0]), np.array([4.0, 3.0])], lr=0.1, eps=TINY)
    np.testing.assert_allclose(steps[0], [0.1, -0.1], rtol=1e-15)
    np.testing.assert_allclose(steps[1], [0.08, 0.06], rtol=1e-15)
    np.testing.assert_array_equal(state["G"], [25.0, 25.0])
    # thesis placement sqrt(G + eps): eps = 7, g = 3 -> step 0.1 * 3 / sqrt(16) = 0.075
    steps, _ = take_steps("adagrad", [np.array([3.0])], lr=0.1, eps=7.0, eps_placement="inside")
    np.testing.assert_allclose(steps[0], [0.075], rtol=1e-15)
    # default placement sqrt(G) + eps: eps = 1, g = 3 -> 0.1 * 3 / (3 + 1) = 0.075 as well
    steps, _ = take_steps("adagrad", [np.array([3.0])], lr=0.1, eps=1.0)
    np.testing.assert_allclose(steps[0], [0.075], rtol=1e-15)


def test_adadelta_zeiler_first_step_by_hand():
    # rho = 0.5, eps = 2, g = 2, lr = 0.5.
    # Eg = 0.5*4 = 2; delta = sqrt(0 + 2)/sqrt(2 + 2) * 2 = sqrt(2); step = 0.5*sqrt(2).
    # Edx = 0.5 * delta^2 = 1 (the *unscaled* delta is accumulated).
    steps, state = take_steps("adadelta", [np.array([2.0])], lr=0.5, rho=0.5, eps=2.0)
    np.testing.assert_allclose(steps[0], [0.5 * math.sqrt(2.0)], rtol=1e-15)
    np.testing.assert_allclose(state["Eg"], [2.0], rtol=1e-15)
    np.testing.assert_allclose(state["Edx"], [1.0], rtol=1e-15)


def test_adadelta_thesis_first_step_by_hand():
    # Same numbers, thesis convention: Delta = 0.5 * sqrt(2) is the step *and* is accumulated,
    # Edx = 0.5 * (0.5 sqrt 2)^2 = 0.25.
    steps, state = take_steps("adadelta", [np.array([2.0])], lr=0.5, rho=0.5, eps=2.0, variant="thesis")
    np.testing.assert_allclose(steps[0], [0.5 * math.sqrt(2.0)], rtol=1e-15)
    np.testing.assert_allclose(state["Edx"], [0.25], rtol=1e-15)


def test_adadelta_default_eps_depends_on_variant():
    assert OPTIMIZERS["adadelta"](1.0).eps == 1e-6
    assert OPTIMIZERS["adadelta"](1.0, variant="thesis").eps == 1e-8
    assert OPTIMIZERS["adadelta"](1.0).rho == 0.9


@FAST
@given(g=grads_strategy((4,)), lr=st.floats(0.01, 2.0))
def test_adadelta_thesis_first_step_matches_spec_formula(g, lr):
    # spec dfa-thesis 4.1 with rho = 0.9, eps = 1e-8 and empty accumulators:
    # Delta_1 = lr * sqrt(1e-8) / sqrt(0.1 g^2 + 1e-8) * g
    steps, state = take_steps("adadelta", [g], lr=lr, variant="thesis")
    expected = lr * 1e-4 / np.sqrt(0.1 * g**2 + 1e-8) * g
    np.testing.assert_allclose(steps[0], expected, rtol=1e-12)
    np.testing.assert_allclose(state["Edx"], 0.1 * expected**2, rtol=1e-12)
    # Zeiler/PyTorch (rho = 0.9, eps = 1e-6): the step is lr * Delta with Delta = 1e-3 g / sqrt(0.1 g^2 + 1e-6),
    # and the accumulator holds the unscaled Delta.
    steps_z, state_z = take_steps("adadelta", [g], lr=lr)
    delta = 1e-3 / np.sqrt(0.1 * g**2 + 1e-6) * g
    np.testing.assert_allclose(steps_z[0], lr * delta, rtol=1e-12)
    np.testing.assert_allclose(state_z["Edx"], 0.1 * delta**2, rtol=1e-12)


def test_rmsprop_first_step_by_hand():
    # beta = 0.9, eps ~ 0, g = [3, -4]: E = 0.1 g^2, step = lr g / (sqrt(0.1) |g|) = lr sqrt(10) sign(g)
    steps, state = take_steps("rmsprop", [np.array([3.0, -4.0])], lr=0.1, eps=TINY)
    np.testing.assert_allclose(steps[0], 0.1 * math.sqrt(10.0) * np.array([1.0, -1.0]), rtol=1e-14)
    np.testing.assert_allclose(state["E"], [0.9, 1.6], rtol=1e-14)
    # ablation form (beta 0.999, bias-corrected, eps outside): E_hat = g^2 -> step = lr g/(|g| + eps)
    steps, _ = take_steps("rmsprop", [np.array([3.0, -4.0])], lr=0.1, eps=1.0, beta=0.999,
                          bias_correction=True, eps_placement="outside")
    np.testing.assert_allclose(steps[0], [0.1 * 3 / 4, -0.1 * 4 / 5], rtol=1e-12)


def test_adam_first_two_steps_by_hand():
    # beta1 = 0.5, beta2 = 0.75, eps ~ 0, lr = 1.
    # g1 = 2: m = 1, v = 1, m_hat = 1/0.5 = 2, v_hat = 1/0.25 = 4 -> step 2/2 = 1.
    # g2 = 4: m = 0.5 + 2 = 2.5, v = 0.75 + 4 = 4.75; m_hat = 2.5/0.75, v_hat = 4.75/0.4375.
    steps, state = take_steps("adam", [np.array([2.0]), np.array([4.0])], lr=1.0, beta1=0.5,
                              beta2=0.75, eps=TINY)
    np.testing.assert_allclose(steps[0], [1.0], rtol=1e-15)
    np.testing.assert_allclose(steps[1], [(2.5 / 0.75) / math.sqrt(4.75 / 0.4375)], rtol=1e-14)
    np.testing.assert_allclose([state["m"][0], state["v"][0]], [2.5, 4.75], rtol=1e-15)


# ------------------------------------------------------------------ property tests


@FAST
@given(g=grads_strategy((5,)), lr=st.floats(1e-4, 1.0))
def test_adam_first_step_has_magnitude_lr(g, lr):
    steps, _ = take_steps("adam", [g], lr=lr, eps=1e-12)
    np.testing.assert_allclose(np.abs(steps[0]), lr, rtol=1e-8)
    np.testing.assert_array_equal(np.sign(steps[0]), np.sign(g))


@FAST
@given(gs=st.lists(hnp.arrays(np.float64, (4,), elements=st.one_of(st.just(0.0), nonzero_float)),
                  min_size=2, max_size=12),
       eps=st.sampled_from([TINY, 1e-10, 1e-3]))
def test_adagrad_effective_rate_never_grows(gs, eps):
    opt = OPTIMIZERS["adagrad"](0.5, eps=eps)
    p = np.zeros(4)
    state = opt.init_state(p)
    prev_rate = np.full(4, np.inf)
    for g in gs:
        step, _ = opt.direction(g, state, state["t"] + 1)
        opt.step(p, g, state)
        rate = 0.5 / (np.sqrt(state["G"]) + eps)
        nz = g != 0
        # the step is rate * g on every coordinate with a gradient (and 0 elsewhere)
        np.testing.assert_allclose(step[nz], (rate * g)[nz], rtol=1e-12)
        assert np.all(step[~nz] == 0)
        assert np.all(rate <= prev_rate)
        prev_rate = rate


@FAST
@given(
    name=st.sampled_from(list(OPTIMIZERS)),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
    variant=st.sampled_from(["zeiler", "thesis"]),
    data=st.data(),
)
def test_shapes_dtypes_and_state_preserved(name, dtype, shape, variant, data):
    hyper = {"variant": variant} if name == "adadelta" else {}
    opt = OPTIMIZERS[name](0.01, **hyper)
    p = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-1, 1, width=32)))
    state = opt.init_state(p)
    ids = {k: id(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    for _ in range(3):
        g = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-1, 1, width=32)))
        opt.step(p, g, state)
    assert p.dtype == dtype and p.shape == shape
    assert state["t"] == 3
    for k, v in state.items():
        if k != "t":
            assert v.dtype == dtype and v.shape == shape, k
            assert id(v) == ids[k], f"state[{k!r}] must be updated in place"
    assert np.all(np.isfinite(p))


@FAST
@given(g=grads_strategy((3,)), beta=st.floats(0.0, 0.99), lr=st.floats(1e-3, 1.0))
def test_momentum_ema_with_bias_correction_is_sgd_on_constant_gradient(g, beta, lr):
    steps, _ = take_steps("momentum", [g] * 15, lr=lr, beta=beta)
    for s in steps:
        np.testing.assert_allclose(s, lr * g, rtol=1e-9)


@FAST
@given(name=st.sampled_from(list(OPTIMIZERS)), g=grads_strategy((3,)))
def test_direction_is_pure(name, g):
    opt = OPTIMIZERS[name](0.1)
    p = np.ones(3)
    state = opt.init_state(p)
    opt.step(p, g, state)  # non-trivial accumulators
    frozen = copy.deepcopy(state)
    step1, new1 = opt.direction(g, state, state["t"] + 1)
    step2, new2 = opt.direction(g, state, state["t"] + 1)
    np.testing.assert_array_equal(step1, step2)
    for k, v in frozen.items():
        np.testing.assert_array_equal(state[k], v)
    # and step() applies exactly what direction() computed
    before = p.copy()
    opt.step(p, g, state)
    np.testing.assert_array_equal(p, before - step1)
    for k, v in new1.items():
        np.testing.assert_array_equal(state[k], v)


def _quadratic(seed, n=3):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(n, n))
    A = Q @ Q.T + 0.5 * np.eye(n)
    c = rng.normal(size=n)
    return A, c  # f(theta) = 0.5 (theta - c)^T A (theta - c), grad = A (theta - c)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mu", [0.5, 0.9])
def test_nesterov_equals_literal_look_ahead_on_quadratic(seed, mu):
    """Sutskever's literal NAG evaluates the gradient at theta + mu v; our parameter is that point."""
    A, c = _quadratic(seed)
    grad = lambda x: A @ (x - c)  # noqa: E731
    lr = 0.05
    theta0 = np.random.default_rng(10 + seed).normal(size=3)
    # literal definition: v_t = mu v_{t-1} - lr grad(theta_{t-1} + mu v_{t-1}); theta_t = theta_{t-1} + v_t
    theta, v = theta0.copy(), np.zeros(3)
    opt = OPTIMIZERS["nesterov"](lr, mu=mu)
    phi = theta0.copy()  # the look-ahead point theta + mu v (v_0 = 0)
    state = opt.init_state(phi)
    for _ in range(30):
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        opt.step(phi, grad(phi), state)
        np.testing.assert_allclose(phi, theta + mu * v, rtol=1e-10, atol=1e-12)
    # and it differs from classic momentum on the same problem
    opt_c = OPTIMIZERS["momentum_classic"](lr, mu=mu)
    psi = theta0.copy()
    sc = opt_c.init_state(psi)
    for _ in range(30):
        opt_c.step(psi, grad(psi), sc)
    assert not np.allclose(psi, phi)


@FAST
@given(gs=st.lists(grads_strategy((3,)), min_size=1, max_size=40), data=st.data())
def test_adam_epoch_counting_differs_by_the_predicted_factor(gs, data):
    """Both variants keep identical moments; only the bias corrections differ (spec dfa-thesis 9.C):

    step_epoch / step_correct = [(1 - b1^S)/(1 - b1^(e+1))] * sqrt[(1 - b2^(e+1))/(1 - b2^S)]  (eps ~ 0)
    """
    epochs = sorted(data.draw(st.lists(st.integers(0, 3), min_size=len(gs), max_size=len(gs))))
    correct = OPTIMIZERS["adam"](0.01, eps=TINY)
    buggy = OPTIMIZERS["adam"](0.01, eps=TINY, step_count="epoch")
    p1, p2 = np.zeros(3), np.zeros(3)
    s1, s2 = correct.init_state(p1), buggy.init_state(p2)
    for S, (g, e) in enumerate(zip(gs, epochs), start=1):
        correct.set_epoch(e)  # ignored by correct counting
        buggy.set_epoch(e)
        b1, b2 = p1.copy(), p2.copy()
        correct.step(p1, g, s1)
        buggy.step(p2, g, s2)
        np.testing.assert_array_equal(s1["m"], s2["m"])
        np.testing.assert_array_equal(s1["v"], s2["v"])
        factor = (1 - 0.9**S) / (1 - 0.9 ** (e + 1)) * math.sqrt((1 - 0.999 ** (e + 1)) / (1 - 0.999**S))
        np.testing.assert_allclose(b2 - p2, factor * (b1 - p1), rtol=1e-9)
        if S == e + 1:
            np.testing.assert_allclose(b2 - p2, b1 - p1, rtol=1e-12)


def test_adam_epoch_counting_step_sizes_in_epoch_zero():
    # constant gradient g = 1, lr = 1: correct Adam steps exactly 1; the thesis variant in epoch 0
    # steps (1 - 0.9^S)/0.1 * sqrt(0.001/(1 - 0.999^S)) (spec dfa-thesis 9.C):
    # S = 1: 1;  S = 10: 6.513 * 0.3170 = 2.06;  S = 100: 9.9997 * 0.1025 = 1.02;
    # S = 469 (end of epoch 0 for 60000/128 batches): 10 * sqrt(0.001/0.3745) = 0.517.
    steps, _ = take_steps("adam", [np.array([1.0])] * 469, lr=1.0, eps=TINY, step_count="epoch")
    s = np.array([x[0] for x in steps])
    assert s[0] == pytest.approx(1.0, rel=1e-12)
    assert s[9] == pytest.approx(2.06, abs=0.01)
    assert s[99] == pytest.approx(1.02, abs=0.01)
    assert s[468] == pytest.approx(0.517, abs=0.002)
    correct, _ = take_steps("adam", [np.array([1.0])] * 469, lr=1.0, eps=TINY)
    np.testing.assert_allclose([x[0] for x in correct], 1.0, rtol=1e-12)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("sgd", {"lr": -0.1}, "lr"),
        ("sgd", {"lr": float("nan")}, "lr"),
        ("momentum", {"lr": 0.1, "beta": 1.0}, "beta"),
        ("momentum", {"lr": 0.1, "beta": -0.1}, "beta"),
        ("momentum_classic", {"lr": 0.1, "mu": 1.5}, "mu"),
        ("nesterov", {"lr": 0.1, "mu": 1.0}, "mu"),
        ("adagrad", {"lr": 0.1, "eps": -1.0}, "eps"),
        ("adam", {"lr": 0.1, "eps": 0.0}, "eps"),
        ("rmsprop", {"lr": 0.1, "eps": float("inf")}, "eps"),
        ("adadelta", {"lr": 0.1, "eps": 0.0}, "eps"),
        ("adagrad", {"lr": 0.1, "eps_placement": "middle"}, "eps_placement"),
        ("adadelta", {"lr": 0.1, "variant": "pytorch"}, "variant"),
        ("adadelta", {"lr": 0.1, "rho": 1.0}, "rho"),
        ("rmsprop", {"lr": 0.1, "beta": 1.2}, "beta"),
        ("rmsprop", {"lr": 0.1, "bias_correction": "yes"}, "bias_correction"),
        ("adam", {"lr": 0.1, "beta2": 1.0}, "beta2"),
        ("adam", {"lr": 0.1, "step_count": "batch"}, "step_count"),
        ("adam", {"lr": 0.1, "momentum": 0.9}, "momentum"),
        ("sgd", {"lr": 0.1, "beta": 0.9}, "beta"),
    ],
)
def test_invalid_hyper_parameters_raise_value_error_naming_them(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name](**kwargs)


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(ValueError, match="adam"):
        OPTIMIZERS["adamw"]


def test_set_epoch_validates():
    opt = OPTIMIZERS["adam"](0.1, step_count="epoch")
    with pytest.raises(ValueError, match="epoch"):
        opt.set_epoch(-1)
    opt.set_epoch(np.int64(3))
    assert opt.epoch == 3


def test_registry_holds_optimizer_classes():
    assert all(issubclass(cls, Optimizer) for cls in OPTIMIZERS.values())
    assert list(OPTIMIZERS) == [
        "sgd", "momentum", "momentum_classic", "nesterov", "adagrad", "adadelta", "rmsprop", "adam",
    ]


def test_same_inputs_same_bits():
    rng = np.random.default_rng(0)
    gs = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(5)]
    for name in OPTIMIZERS:
        a, _ = take_steps(name, gs)
        b, _ = take_steps(name, gs)
        for x, y in zip(a, b):
            assert x.tobytes() == y.tobytes()
