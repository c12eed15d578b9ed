"""Backprop derived twice (book/foundations/backprop.ipynb): both derivations against the engine,
finite differences and the hand-worked example of the lecture notes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.experiments import foundations as F
from learning_rules.experiments import foundations_backprop as B
from learning_rules.nn.mlp import MLP


def _hand_example():
    W1 = np.array([[0.5, 0.25], [-1.0, 0.25]])
    W2 = np.array([[1.0, -2.0], [0.5, 1.0]])
    mlp = MLP(weights=[W1, W2], biases=[None, None], activations=["leaky_relu:0.1", "identity"])
    return mlp, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]])


def test_notes_example_matches_hand_arithmetic():
    # Worked by hand in the chapter: v = (1, -1/2), h = (1, -1/20), y = (11/10, 9/20), dL/dy = (1/10, 9/20);
    # Example 1: dL/dw_1^(2) = 1/10 * h; Example 2: dL/dw_1^(1) = (1/10 + 9/20 * 1/2) * 1 * x.
    mlp, X, T = _hand_example()
    gW, _ = F.engine_gradients(mlp, "mse", X, T)
    q = Fraction
    expected_W2_row1 = [q(1, 10) * 1, q(1, 10) * q(-1, 20)]
    expected_W1_row1 = [(q(1, 10) + q(9, 20) * q(1, 2)) * 1, (q(1, 10) + q(9, 20) * q(1, 2)) * 2]
    expected_W1_row2 = [(q(1, 10) * -2 + q(9, 20)) * q(1, 10) * 1, (q(1, 10) * -2 + q(9, 20)) * q(1, 10) * 2]
    np.testing.assert_allclose(gW[1][0], [float(v) for v in expected_W2_row1], atol=1e-15)
    np.testing.assert_allclose(gW[0][0], [float(v) for v in expected_W1_row1], atol=1e-15)
    np.testing.assert_allclose(gW[0][1], [float(v) for v in expected_W1_row2], atol=1e-15)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(["tanh", "sigmoid", "leaky_relu:0.1", "relu"]))
def test_elementwise_and_jacobian_derivations_match_engine(seed, act):
    rng = np.random.default_rng(seed)
    mlp = MLP.create([3, 4, 2], [act, "sigmoid"], init="normal_scaled", rng=rng)
    mlp.biases[0][:] = rng.normal(size=4)
    x = rng.normal(size=3)
    t = rng.uniform(size=2)
    out = mlp.forward(x[None, :]).h[-1][0]
    gE, bE = B.backprop_elementwise(mlp.weights, mlp.biases, mlp.activations, x, out - t)
    gJ, bJ = B.backprop_jacobian(mlp.weights, mlp.biases, mlp.activations, x, out - t)
    gN, bN = F.engine_gradients(mlp, "mse", x[None, :], t[None, :])
    for l in range(2):
        np.testing.assert_allclose(gE[l], gN[l], atol=1e-12)
        np.testing.assert_allclose(gJ[l], gN[l], atol=1e-12)
        np.testing.assert_allclose(bE[l], bN[l], atol=1e-12)
        np.testing.assert_allclose(bJ[l], bN[l], atol=1e-12)


def test_jacobian_backprop_through_softmax_matches_finite_differences():
    rng = np.random.default_rng(3)
    mlp = MLP.create([4, 5, 3], ["tanh", "softmax"], init="he_uniform", rng=rng)
    x = rng.normal(size=4)
    label = 2
    s = mlp.forward(x[None, :]).h[-1][0]
    gJ, _ = B.backprop_jacobian(mlp.weights, mlp.biases, mlp.activations, x, -np.eye(3)[label] / s)
    gN, _ = B.numerical_gradients(mlp, "cce", x[None, :], np.array([label]))
    for a, b in zip(gJ, gN):
        np.testing.assert_allclose(a, b, atol=1e-8)


def test_gradient_check_is_small_and_detects_a_wrong_gradient():
    rng = np.random.default_rng(0)
    mlp = MLP.create([3, 4, 3], ["leaky_relu:0.1", "softmax"], rng=rng)
    X = rng.normal(size=(5, 3))
    y = np.array([0, 1, 2, 1, 0])
    table = B.gradient_check(mlp, "cce", X, y)
    assert len(table) == 4 and table["relative_error"].max() < 1e-7
    # an oracle that cannot fail is no oracle: a flipped sign must show up as relative error 1
    eW, _ = F.engine_gradients(mlp, "cce", X, y)
    nW, _ = B.numerical_gradients(mlp, "cce", X, y)
    d = np.linalg.norm(-eW[0] - nW[0]) / (np.linalg.norm(eW[0]) + np.linalg.norm(nW[0]))
    assert d > 0.99


def test_softmax_jacobian_against_finite_differences_and_cce_collapse():
    rng = np.random.default_rng(1)
    z = rng.normal(size=5)
    J = B.activation_jacobian("softmax", z)
    e = 1e-6
    sm = lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()
    J_fd = np.column_stack([(sm(z + e * u) - sm(z - e * u)) / (2 * e) for u in np.eye(5)])
    np.testing.assert_allclose(J, J_fd, atol=1e-9)
    y = np.eye(5)[3]
    s = sm(z)
    np.testing.assert_allclose(J.T @ (-y / s), s - y, atol=1e-14)
    np.testing.assert_allclose(J @ np.ones(5), 0.0, atol=1e-15)


def test_loss_derivative_check_corrected_matches_and_printed_is_flipped():
    table = B.loss_derivative_check([0.0, 1.0, 0.0], [0.3, 0.6, 0.1])
    np.testing.assert_allclose(table["corrected"], table["finite_difference"], atol=1e-6)
    np.testing.assert_allclose(table["printed"], -table["corrected"], atol=1e-15)


def test_bad_inputs_raise_clear_errors():
    mlp = MLP.create([2, 2], ["softmax"], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="element-wise"):
        B.backprop_elementwise(mlp.weights, mlp.biases, mlp.activations, np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="one sample"):
        B.activation_jacobian("tanh", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="inside"):
        B.loss_derivative_check([1.0], [1.0])
    with pytest.raises(ValueError, match="eps"):
        B.numerical_gradients(mlp, "cce", np.zeros((1, 2)), np.array([0]), eps=0.0)
