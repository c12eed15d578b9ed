"""The parameterized ReLU (notes' eq. 1.17, learning_rules.nn.prelu) and its run on the vanishing page
(learning_rules.experiments.foundations_prelu).

Oracles: central differences of the loss (float64), a complex-step derivative of an independent
forward pass written here (piecewise on the real part, no backprop), a one-unit example worked by
hand, the engine's backprop gradients and training runs (a fixed slope is a leaky ReLU the engine
has), and the variance argument's forward growth measured on a wide random network.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import foundations_prelu as FP
from learning_rules.experiments.foundations import engine_gradients
from learning_rules.nn.mlp import MLP
from learning_rules.nn.prelu import (PReLUMLP, alpha_gradient, prelu, prelu_alpha_derivative, prelu_backward,
                                     prelu_derivative, prelu_forward, prelu_gradients, prelu_loss, prelu_sgd_step)
from learning_rules.training import Batch, epoch_batches, run_epoch
from conftest import executed_and_closure

SIZES = [6, 5, 4, 3]  # a 3-layer net: two PReLU hidden layers and the linear softmax output


def _net(shared: bool, seed: int = 3) -> tuple[PReLUMLP, np.ndarray, np.ndarray]:
    """A small float64 network with distinct slopes and nonzero biases, and a batch far from the kinks."""
    rng = np.random.default_rng(seed)
    net = PReLUMLP.create(SIZES, alpha=0.3, shared=shared, rng=rng)
    for l, a in enumerate(net.alphas):
        a[...] = 0.2 + 0.15 * l + (0.05 * np.arange(a.size).reshape(a.shape) if a.ndim else 0.0)
    for b in net.biases:
        b[...] = rng.normal(scale=0.1, size=b.shape)
    X = rng.normal(size=(7, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=7)
    cache = prelu_forward(net.weights, net.biases, net.alphas, X)
    assert min(np.min(np.abs(z)) for z in cache.z[1:-1]) > 1e-3  # no pre-activation near a kink
    return net, X, y


def _central(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` in every entry of ``arr`` (perturbed in place)."""
    out = np.zeros(arr.shape)
    for idx in np.ndindex(arr.shape):
        old = arr[idx].copy()
        arr[idx] = old + eps
        up = f()
        arr[idx] = old - eps
        down = f()
        arr[idx] = old
        out[idx] = (up - down) / (2 * eps)
    return out


# ------------------------------------------------------------------------------- one unit


@pytest.mark.parametrize("alpha", [0.25, np.array([0.1, -0.3, 0.0, 0.7, 1.5])])
def test_unit_derivatives_match_central_differences(alpha):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 5))
    z = np.where(np.abs(z) < 1e-3, 0.5, z)  # keep off the kink
    eps = 1e-6
    fd_z = (prelu(z + eps, alpha) - prelu(z - eps, alpha)) / (2 * eps)
    np.testing.assert_allclose(prelu_derivative(z, alpha), fd_z, rtol=1e-6, atol=1e-9)
    fd_a = (prelu(z, alpha + eps) - prelu(z, alpha - eps)) / (2 * eps)
    np.testing.assert_allclose(prelu_alpha_derivative(z), fd_a, rtol=1e-6, atol=1e-9)
    g = rng.normal(size=z.shape)
    np.testing.assert_array_equal(prelu_backward(z, alpha, g), g * np.where(z > 0, 1.0, alpha))


def test_slope_zero_is_relu_one_is_identity_and_the_two_forms_agree():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    assert np.array_equal(prelu(z, 0.0), np.maximum(z, 0))
    assert np.array_equal(prelu(z, 1.0), z)
    assert np.array_equal(prelu_derivative(z, 0.0), (z > 0).astype(float))
    assert np.array_equal(prelu_derivative(z, 1.0), np.ones_like(z))
    for alpha in (0.25, -0.5, 2.0):  # max(0,z) + alpha min(0,z), whatever the sign or size of alpha
        assert np.allclose(prelu(z, alpha), np.maximum(z, 0) + alpha * np.minimum(z, 0), rtol=0, atol=0)
    assert np.array_equal(prelu(z, 0.3), np.maximum(z, 0.3 * z))  # the max form, valid for alpha <= 1
    assert not np.array_equal(prelu(z, 2.0), np.maximum(z, 2.0 * z))  # ... and not above


def test_alpha_gradient_shared_is_the_sum_of_the_per_unit_gradients():
    rng = np.random.default_rng(1)
    g, z = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    per_unit = alpha_gradient(g, z, shared=False)
    by_hand = np.array([sum(g[i, j] * min(0.0, z[i, j]) for i in range(8)) / 8 for j in range(4)])
    np.testing.assert_allclose(per_unit, by_hand, rtol=1e-14)
    shared = alpha_gradient(g, z, shared=True)
    assert shared.shape == () and shared == pytest.approx(by_hand.sum(), rel=1e-14)


# ------------------------------------------------------------------------ the network's gradients


@pytest.mark.parametrize("shared", [True, False])
def test_network_gradients_match_central_differences(shared):
    net, X, y = _net(shared)
    grads = prelu_gradients(net, X, y)

    def J():
        return prelu_loss(net, X, y)

    for l in range(len(net.weights)):
        np.testing.assert_allclose(grads.W[l], _central(J, net.weights[l]), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(grads.b[l], _central(J, net.biases[l]), rtol=1e-6, atol=1e-10)
    for l, a in enumerate(net.alphas):
        assert grads.alpha[l].shape == a.shape
        np.testing.assert_allclose(grads.alpha[l], _central(J, a), rtol=1e-6, atol=1e-10)
    assert grads.loss == J()


def _complex_loss(weights, biases, alphas, X, Y) -> complex:
    """An independent forward pass in complex arithmetic (no backprop, no package code): the branch
    of eq. 1.17 is chosen on the real part, softmax cross-entropy through a complex log-sum-exp."""
    h = X.astype(complex)
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = h @ W.T + b
        if l < len(weights) - 1:
            h = np.where(z.real > 0, z, alphas[l] * z)
    m = z.real.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(z - m), axis=1))
    return np.mean(lse - np.sum(Y * z, axis=1))


@pytest.mark.parametrize("shared", [True, False])
def test_network_gradients_match_a_complex_step_oracle(shared):
    net, X, y = _net(shared, seed=5)
    Y = np.eye(SIZES[-1])[y]
    grads = prelu_gradients(net, X, y)
    h = 1e-30
    params = {"W": net.weights, "b": net.biases, "a": net.alphas}
    analytic = {"W": grads.W, "b": grads.b, "a": grads.alpha}
    for kind, arrays in params.items():
        for l, arr in enumerate(arrays):
            cs = np.zeros(arr.shape)
            for idx in np.ndindex(arr.shape):
                copies = {k: [a.astype(complex) for a in v] for k, v in params.items()}
                copies[kind][l][idx] += 1j * h
                cs[idx] = _complex_loss(copies["W"], copies["b"], copies["a"], X, Y).imag / h
            np.testing.assert_allclose(analytic[kind][l], cs, rtol=1e-10, atol=1e-14)


def test_one_unit_worked_by_hand():
    """x = 1, W1 = -2, b1 = 0, alpha = 0.25: z1 = -2, h1 = -0.5; W2 = (1, -1)^T, b2 = 0: z2 = (-0.5, 0.5);
    label 0: s = (sigma(-1), sigma(1)), e = s - (1, 0) = (-sigma(1), sigma(1)),
    g1 = e W2 = -2 sigma(1); dJ/dalpha = g1 min(0, z1) = 4 sigma(1); delta1 = g1 alpha = -sigma(1)/2,
    dJ/dW1 = delta1 x = -sigma(1)/2; dJ/dW2 = e^T h1 = (sigma(1)/2, -sigma(1)/2)."""
    s1 = 1 / (1 + np.exp(-1.0))
    net = PReLUMLP([np.array([[-2.0]]), np.array([[1.0], [-1.0]])], [np.zeros(1), np.zeros(2)], [np.array(0.25)])
    grads = prelu_gradients(net, np.array([[1.0]]), np.array([0]))
    assert float(grads.alpha[0]) == pytest.approx(4 * s1, rel=1e-14)
    assert grads.W[0][0, 0] == pytest.approx(-s1 / 2, rel=1e-14)
    np.testing.assert_allclose(grads.W[1][:, 0], [s1 / 2, -s1 / 2], rtol=1e-14)
    np.testing.assert_allclose(grads.b[1], [-s1, s1], rtol=1e-14)
    assert grads.loss == pytest.approx(np.log1p(np.exp(1.0)), rel=1e-14)  # -log sigma(-1)


@pytest.mark.parametrize("alpha, activation", [(0.0, "relu"), (0.1, "leaky_relu:0.1"), (0.01, "leaky_relu")])
def test_a_fixed_slope_gives_the_engines_backprop_gradients(alpha, activation):
    rng = np.random.default_rng(2)
    net = PReLUMLP.create([10, 8, 8, 8, 4], alpha=alpha, rng=rng)
    X, y = rng.normal(size=(16, 10)), rng.integers(0, 4, size=16)
    mlp = MLP(net.weights, net.biases, [activation] * 3 + ["softmax"])
    gW, gb = engine_gradients(mlp, "cce", X, y)
    grads = prelu_gradients(net, X, y)
    for a, b in zip(grads.W + grads.b, gW + gb):
        assert np.array_equal(a, b)  # the same formulas in the same order: the same bits


# --------------------------------------------------------------------------------- the SGD step


def test_step_is_plain_sgd_on_w_b_and_alpha_and_fixed_slopes_stay():
    net, X, y = _net(shared=True)
    Y = np.eye(SIZES[-1])[y]
    before = net.copy()
    grads = prelu_gradients(before, X, y)
    loss, z_L = prelu_sgd_step(net, 0.5)(Batch(X, Y))
    assert loss == grads.loss and np.array_equal(z_L, grads.z_L)  # measured before the update
    for new, old, g in zip(net.weights + net.biases + net.alphas, before.weights + before.biases + before.alphas,
                           grads.W + grads.b + grads.alpha):
        assert np.array_equal(new, old - 0.5 * g)
    fixed = before.copy()
    prelu_sgd_step(fixed, 0.5, learn_alpha=False)(Batch(X, Y))
    assert all(np.array_equal(a, b) for a, b in zip(fixed.alphas, before.alphas))
    assert np.array_equal(fixed.weights[0], net.weights[0])


def test_same_seed_same_bits_through_run_epoch():
    def train(seed):
        rng = np.random.default_rng(seed)
        net = PReLUMLP.create([6, 5, 5, 3], alpha=0.25, shared=False, rng=rng)
        X, Y = net.check_input(rng.normal(size=(40, 6)), rng.integers(0, 3, size=40))
        step = prelu_sgd_step(net, 0.2)
        sums = [run_epoch(step, (Batch(X[i], Y[i]) for i in epoch_batches(40, 8, rng))).loss_sum for _ in range(3)]
        return net, sums

    (a, la), (b, lb), (c, _) = train(4), train(4), train(5)
    assert la == lb
    for x, y in zip(a.weights + a.biases + a.alphas, b.weights + b.biases + b.alphas):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.alphas[0], c.alphas[0])


# ----------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_clear_value_errors():
    net, X, y = _net(shared=True)
    W, b = net.weights, net.biases
    with pytest.raises(ValueError, match="NaN"):
        PReLUMLP(W, b, [np.array(np.nan), np.array(0.25)])
    with pytest.raises(ValueError, match="finite"):
        PReLUMLP.create(SIZES, alpha=float("nan"))
    with pytest.raises(ValueError, match=r"shape \(\) .* or \(4,\)"):
        PReLUMLP(W, b, [np.array(0.25), np.full(3, 0.25)])
    with pytest.raises(ValueError, match="one slope array per hidden layer"):
        PReLUMLP(W, b, [np.array(0.25)])
    with pytest.raises(ValueError, match="dtype"):
        PReLUMLP(W, b, [np.array(0.25, dtype=np.float32), np.array(0.25)])
    with pytest.raises(ValueError, match=r"W_2 has shape"):
        PReLUMLP([W[0], W[0], W[2]], b, net.alphas)
    with pytest.raises(ValueError, match=r"X must have shape \(batch, 6\)"):
        prelu_gradients(net, X[:, :4], y)
    with pytest.raises(ValueError, match="NaN or inf"):
        prelu_gradients(net, np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match="labels must lie in"):
        prelu_gradients(net, X, y + 5)
    with pytest.raises(ValueError, match="rows"):
        prelu_gradients(net, X, y[:-1])
    net.alphas[1][...] = np.inf  # a slope gone bad after construction is caught where it is used
    with pytest.raises(ValueError, match="alpha_2 contains NaN or inf"):
        prelu_gradients(net, X, y)
    with pytest.raises(ValueError, match="alpha_2"):
        prelu_sgd_step(net, 0.1)
    good, X, y = _net(shared=True)
    with pytest.raises(ValueError, match="lr"):
        prelu_sgd_step(good, float("nan"))
    with pytest.raises(ValueError, match="one-hot Y"):
        prelu_sgd_step(good, 0.1)(Batch(X, y))
    with pytest.raises(ValueError, match="alpha must be a finite"):
        FP.PReLUConfig(alpha=float("nan"))
    with pytest.raises(ValueError, match="record_every"):
        FP.PReLUConfig(record_every=0)


# ---------------------------------------------------------------------------------------- the run

SMALL = dict(depth=4, width=16, n_train=200, probe_size=100, n_test=100, num_epochs=2, batch_size=50,
             record_every=2)


@pytest.mark.parametrize("alpha, activation", [(0.0, "relu"), (0.1, "leaky_relu:0.1")])
def test_fixed_slope_runs_are_the_engines_gradient_flow_runs(shared_data, alpha, activation):
    """Same seed, weights, batches and steps as the page's engine run of that activation: same bits."""
    from learning_rules.experiments import foundations_vanishing as V

    kw = {k: v for k, v in SMALL.items() if k != "n_test"}
    mine = FP.prelu_flow(FP.PReLUConfig(alpha=alpha, learn_alpha=False, **SMALL))
    engine = V.gradient_flow(V.GradientFlowConfig(activation=activation, **kw))
    for col in ("step", "layer", "grad_norm", "probe_loss", "probe_accuracy"):
        assert np.array_equal(mine[col].to_numpy(), engine[col].to_numpy()), col


def test_prelu_run_learns_slopes_and_is_deterministic(shared_data):
    config = FP.PReLUConfig(**SMALL)
    frame = FP.prelu_flow(config)
    assert frame.equals(FP.prelu_flow(config))  # same seed, same numbers bit for bit
    steps = 2 * 4  # 2 epochs of 200 images in batches of 50
    assert sorted(set(frame["step"])) == list(range(0, steps + 1, 2))
    hidden = frame[frame["layer"] <= 4]
    assert (hidden[hidden["step"] == 0]["alpha"] == 0.25).all()
    assert not np.allclose(hidden[hidden["step"] == steps]["alpha"], 0.25)  # SGD moved the slopes
    assert frame[frame["layer"] == 5]["alpha"].isna().all()
    tested = frame.dropna(subset=["test_accuracy"])
    assert sorted(set(tested["step"])) == [0, steps] and not frame["diverged"].any()
    per_unit = FP.prelu_flow(dataclasses.replace(config, shared=False))
    end = per_unit[(per_unit["step"] == steps) & (per_unit["layer"] <= 4)]
    assert (end["alpha_min"] < end["alpha_max"]).all()  # the units' slopes part ways


def test_a_diverging_run_stops_and_says_so(shared_data):
    frame = FP.prelu_flow(FP.PReLUConfig(**dict(SMALL, lr=500.0)))
    assert frame["diverged"].all()
    assert frame["step"].max() < 8  # stopped before the last of its 8 steps
    assert not np.isfinite(frame[frame["step"] == frame["step"].max()]["probe_loss"]).all()


def test_prelu_run_stays_inside_its_store_key(shared_data):
    executed, closure = executed_and_closure("foundations_prelu", FP.PReLUConfig(**SMALL))
    assert executed and executed <= closure, sorted(executed - closure)


# ----------------------------------------------------------------------- the page's readings


def test_init_factor_follows_the_forward_variance_of_a_wide_random_net():
    """The forward half of the argument: E[h_l^2] grows by (1 + alpha^2) per layer over ReLU's."""
    assert FP.prelu_init_factor(0.0, 8) == 1.0
    assert FP.prelu_init_factor(0.25, 8) == pytest.approx(1.0625 ** 4)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1000))
    sizes = [1000] * 5
    growth = {}
    for alpha in (0.0, 0.25):
        net = PReLUMLP.create(sizes + [2], alpha=alpha, rng=np.random.default_rng(1))
        cache = prelu_forward(net.weights, net.biases, net.alphas, X)
        growth[alpha] = np.mean(cache.h[4] ** 2) / np.mean(cache.h[1] ** 2)
    assert growth[0.25] / growth[0.0] == pytest.approx(1.0625 ** 3, rel=0.05)


def _frame(ratios_prelu_end, ratios_relu_end):
    """A hand-made frame: 2 layers, steps 0 and 10, ReLU and PReLU; first / last ratio at the end given."""
    rows = []
    for act, alpha, learn, ratios in (("ReLU", 0.0, False, ratios_relu_end),
                                      ("PReLU, α learned from 0.25", 0.25, True, ratios_prelu_end)):
        for seed, r in enumerate(ratios):
            for step, first in ((0, 2.0 * (1 + alpha)), (10, r)):
                for layer, norm, a in ((1, first, alpha), (2, 1.0, np.nan)):
                    rows.append({"activation": act, "alpha_init": alpha, "learn_alpha": learn, "seed": seed,
                                 "step": step, "layer": layer, "grad_norm": norm, "alpha": a, "alpha_min": a,
                                 "alpha_max": a, "probe_accuracy": 0.5, "test_loss": 1.0, "test_accuracy": 0.5,
                                 "diverged": False})
    return pd.DataFrame(rows)


def test_verdict_needs_every_seed():
    holds, text = FP.prelu_verdict(_frame([3.0, 3.0], [2.0, 2.5]))
    assert holds and "in 2 of 2 seeds" in text
    holds, text = FP.prelu_verdict(_frame([3.0, 2.0], [2.0, 2.5]))
    assert not holds and "in 1 of 2 seeds" in text
    table = FP.prelu_summary(_frame([3.0, 3.0], [2.0, 2.5]))
    assert list(table["activation"]) == ["ReLU", "PReLU, α learned from 0.25"]
    assert table.loc[1, "first / last, end"] == "3"


def test_prediction_reads_the_first_to_last_ratio_at_initialization():
    ok, text = FP.prelu_prediction(_frame([3.0], [2.0]))  # at step 0: ratio 2.5 against ReLU's 2.0
    assert not ok and "(+25%)" in text
    frame = _frame([3.0], [2.0])
    frame.loc[(frame["step"] == 0) & (frame["layer"] == 2) & (frame["alpha_init"] > 0), "grad_norm"] = 1.25
    ok, text = FP.prelu_prediction(frame)
    assert ok and "(+0%)" in text and "predicted 1.03" in text  # (1 + 0.0625)^(1/2) for one hidden layer
