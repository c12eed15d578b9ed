"""The "gradient" weight update against finite differences of a linear layer's loss."""

from __future__ import annotations

import numpy as np
import pytest

from learning_rules.updates import OPTIMIZERS, WEIGHT_UPDATES, GradientUpdate
from conftest import central_difference


def linear_layer_problem(seed=0, batch=5, n_in=4, n_out=3):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_out, n_in))
    b = rng.normal(size=n_out)
    X = rng.normal(size=(batch, n_in))
    Y = rng.normal(size=(batch, n_out))
    return W, b, X, Y


def batch_loss(W, b, X, Y):
    """E = mean_i 0.5 ||z_i - y_i||^2 with z = X W^T + b; its delta is dE_i/dz_i = z_i - y_i."""
    Z = X @ W.T + b
    return 0.5 * np.mean(np.sum((Z - Y) ** 2, axis=1))


@pytest.mark.parametrize(
    "l2, l2_form, l1, penalty",
    [
        (0.0, "loss", 0.0, lambda W, n: 0.0),
        (0.3, "loss", 0.0, lambda W, n: 0.3 / (2 * n) * np.sum(W**2)),
        (0.3, "coded", 0.0, lambda W, n: 0.3 * np.linalg.norm(W)),
        (0.0, "loss", 0.2, lambda W, n: 0.2 / n * np.sum(np.abs(W))),
        (0.3, "loss", 0.2, lambda W, n: 0.3 / (2 * n) * np.sum(W**2) + 0.2 / n * np.sum(np.abs(W))),
    ],
)
def test_sgd_step_is_minus_lr_times_finite_difference_gradient(l2, l2_form, l1, penalty):
    W, b, X, Y = linear_layer_problem()
    n = 11
    lr = 0.05
    total = lambda W_, b_: batch_loss(W_, b_, X, Y) + penalty(W_, n)  # noqa: E731
    gW = central_difference(lambda A: total(A, b), W)
    gb = central_difference(lambda c: total(W, c), b)
    rule = WEIGHT_UPDATES["gradient"](lr=lr, l2=l2, l2_form=l2_form, l1=l1, n_train=n)
    W1, b1 = W.copy(), b.copy()
    state = rule.init_layer(W1, b1, np.random.default_rng(0))
    delta = X @ W.T + b - Y
    rule.apply(state, W1, b1, delta, X)
    np.testing.assert_allclose(W1, W - lr * gW, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b1, b - lr * gb, rtol=1e-7, atol=1e-9)  # biases never penalized


def test_decoupled_is_eq19_and_exact_without_data_gradient():
    W, b, X, Y = linear_layer_problem(1)
    lr, lam = 0.1, 0.4
    rule = WEIGHT_UPDATES["gradient"](lr=lr, l2=lam, l2_form="decoupled")
    # zero signal: W <- W (1 - lr lambda) bit for bit, bias untouched
    W1, b1 = W.copy(), b.copy()
    state = rule.init_layer(W1, b1, None)
    rule.apply(state, W1, b1, np.zeros((5, 3)), X)
    assert W1.tobytes() == (W * (1.0 - lr * lam)).tobytes()
    assert b1.tobytes() == b.tobytes()
    # with a signal: eq. 19, W := W (1 - eta lambda) - eta grad (grad at the old weights)
    W2, b2 = W.copy(), b.copy()
    state = rule.init_layer(W2, b2, None)
    delta = X @ W.T + b - Y
    rule.apply(state, W2, b2, delta, X)
    np.testing.assert_allclose(W2, W * (1 - lr * lam) - lr * delta.T @ X / 5, rtol=1e-13)


def test_coded_l2_shrinks_norm_by_lr_lambda_each_step():
    W, b, X, _ = linear_layer_problem(2)
    lr, lam = 0.05, 0.5
    rule = WEIGHT_UPDATES["gradient"](lr=lr, l2=lam, l2_form="coded")
    state = rule.init_layer(W, b, None)
    norms = [np.linalg.norm(W)]
    for _ in range(5):
        rule.apply(state, W, b, np.zeros((5, 3)), X)
        norms.append(np.linalg.norm(W))
    np.testing.assert_allclose(np.diff(norms), -lr * lam, rtol=1e-12)


def test_bias_has_its_own_optimizer_state():
    W, b, X, Y = linear_layer_problem(3)
    rule = WEIGHT_UPDATES["gradient"](lr=0.01, optimizer="adam", optimizer_params={"eps": 1e-12})
    state = rule.init_layer(W, b, None)
    assert state["W"]["m"].shape == W.shape and state["b"]["m"].shape == b.shape
    W0, b0 = W.copy(), b.copy()
    delta = X @ W.T + b - Y
    rule.apply(state, W, b, delta, X)
    # Adam's first step has magnitude lr on every coordinate with a gradient, weights and biases alike
    np.testing.assert_allclose(np.abs(W - W0), 0.01, rtol=1e-6)
    np.testing.assert_allclose(np.abs(b - b0), 0.01, rtol=1e-6)
    np.testing.assert_allclose(state["b"]["m"], 0.1 * delta.mean(axis=0), rtol=1e-12)
    assert state["W"]["t"] == 1 and state["b"]["t"] == 1


def test_no_bias_is_fine_and_float32_is_kept():
    W, _, X, _ = linear_layer_problem(4)
    W = W.astype(np.float32)
    rule = WEIGHT_UPDATES["gradient"](lr=0.1, optimizer="rmsprop", l2=0.1, l1=0.1, n_train=3)
    state = rule.init_layer(W, None, None)
    assert state["b"] is None
    rule.apply(state, W, None, np.ones((5, 3)), X)  # float64 signals are cast to W's dtype
    assert W.dtype == np.float32 and state["W"]["E"].dtype == np.float32


def test_set_epoch_reaches_the_optimizer():
    rule = WEIGHT_UPDATES["gradient"](lr=0.1, optimizer="adam", optimizer_params={"step_count": "epoch"})
    rule.set_epoch(4)
    assert rule.optimizer.epoch == 4


def test_deterministic():
    outs = []
    for _ in range(2):
        W, b, X, Y = linear_layer_problem(5)
        rule = WEIGHT_UPDATES["gradient"](lr=0.1, optimizer="nesterov", l2=0.2, l2_form="coded")
        state = rule.init_layer(W, b, None)
        for _ in range(3):
            rule.apply(state, W, b, X @ W.T + b - Y, X)
        outs.append(W.tobytes() + b.tobytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": -1.0}, "lr"),
        ({"lr": 0.1, "optimizer": "adamw"}, "adam"),
        ({"lr": 0.1, "optimizer": "adam", "optimizer_params": {"lr": 0.2}}, "lr"),
        ({"lr": 0.1, "optimizer": "adam", "optimizer_params": {"beta1": 2.0}}, "beta1"),
        ({"lr": 0.1, "l2": -0.1}, "l2"),
        ({"lr": 0.1, "l2_form": "squared"}, "l2_form"),
        ({"lr": 0.1, "l1": float("nan")}, "l1"),
        ({"lr": 0.1, "n_train": 0}, "n_train"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WEIGHT_UPDATES["gradient"](**kwargs)


def test_bad_layer_shapes_are_reported():
    rule = GradientUpdate(lr=0.1)
    with pytest.raises(ValueError, match="2-D"):
        rule.init_layer(np.zeros(3), None, None)
    with pytest.raises(ValueError, match="n_out"):
        rule.init_layer(np.zeros((3, 2)), np.zeros(2), None)


def test_unknown_rule_lists_valid_names():
    with pytest.raises(ValueError, match="dual_weight"):
        WEIGHT_UPDATES["hebbian"]
    assert "sgd" in OPTIMIZERS
