"""Activations: derivatives against central differences, softmax Jacobian, stability, registry."""

import numpy as np
import pytest

from learning_rules.nn.activations import (ACTIVATIONS, LeakyReLU, Softmax, activation_name,
                                           get_activation, sigmoid, softmax, softmax_jvp)

ELEMENTWISE = ["identity", "relu", "leaky_relu", "leaky_relu:0.2", "sigmoid", "tanh"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    act = get_activation(name)
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2.0, size=(5, 7))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the ReLU kink
    eps = 1e-6
    numeric = (act.forward(z + eps) - act.forward(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=1e-6, atol=1e-9)
    g = rng.normal(size=z.shape)
    np.testing.assert_allclose(act.backward(z, g), g * act.derivative(z), rtol=0, atol=0)


def test_relu_and_leaky_relu_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(get_activation("relu").forward(z), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(get_activation("relu").derivative(z), [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(get_activation("leaky_relu").forward(z), [[-0.02, 0.0, 3.0]])
    np.testing.assert_allclose(get_activation("leaky_relu:0.1").forward(z), [[-0.2, 0.0, 3.0]])
    np.testing.assert_allclose(LeakyReLU(0.3).derivative(z), [[0.3, 0.3, 1.0]])


def test_sigmoid_is_stable_and_symmetric():
    z = np.array([-1e4, -745.0, -30.0, 0.0, 30.0, 745.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(z)
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    np.testing.assert_allclose(s + sigmoid(-z), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sigmoid(np.array([2.0])), 1 / (1 + np.exp(-2.0)))


def test_softmax_rows_sum_to_one_and_are_shift_invariant():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 5))
    s = softmax(z)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(softmax(z + 1000.0), s, rtol=1e-12)
    big = np.array([[1e4, -1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(softmax(big), [[1.0, 0.0, 0.0]])


def explicit_softmax_jacobian(z_row):
    """J[k, j] = ds_k/dz_j built entry by entry from the definition, independent of softmax_jvp."""
    s = np.exp(z_row) / np.sum(np.exp(z_row))
    n = len(z_row)
    J = np.empty((n, n))
    for k in range(n):
        for j in range(n):
            J[k, j] = s[k] * ((1.0 if k == j else 0.0) - s[j])
    return J


def test_softmax_jvp_equals_explicit_jacobian_transpose():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 4))
    v = rng.normal(size=(3, 4))
    out = softmax_jvp(z, v)
    for i in range(3):
        J = explicit_softmax_jacobian(z[i])
        np.testing.assert_allclose(out[i], J.T @ v[i], rtol=1e-12, atol=1e-14)
        # and the Jacobian itself against central differences
        eps = 1e-6
        num = np.empty((4, 4))
        for j in range(4):
            dz = np.zeros(4)
            dz[j] = eps
            num[:, j] = (softmax((z[i] + dz)[None])[0] - softmax((z[i] - dz)[None])[0]) / (2 * eps)
        np.testing.assert_allclose(J, num, atol=1e-9)
    assert np.array_equal(Softmax().backward(z, v), out)


def test_registry_names_and_errors():
    assert set(ACTIVATIONS) == {"identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"}
    with pytest.raises(ValueError, match="valid names"):
        get_activation("swish")
    with pytest.raises(ValueError, match="takes no parameter"):
        get_activation("relu:0.1")
    with pytest.raises(ValueError, match="as a number"):
        get_activation("leaky_relu:abc")
    with pytest.raises(ValueError, match="finite"):
        LeakyReLU(float("nan"))
    assert get_activation("leaky_relu:0.1") == LeakyReLU(0.1)
    assert activation_name(get_activation("leaky_relu:0.1")) == "leaky_relu:0.1"
    assert activation_name(get_activation("leaky_relu")) == "leaky_relu"
    act = LeakyReLU(0.5)
    assert get_activation(act) is act


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_dtype_is_preserved(name):
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    act = get_activation(name)
    assert act.forward(z).dtype == np.float32
    assert act.backward(z, z).dtype == np.float32


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_into_writes_forward_into_the_buffer(name):
    """The buffer form (used by the mini-batch trainers) gives forward's numbers bit for bit."""
    f = get_activation(name)
    z = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    z[0, :3] = [0.0, -0.0, 1e-30]
    out = np.full_like(z, np.nan)
    assert f.forward_into(z, out) is out
    np.testing.assert_array_equal(out.view(np.uint32), np.asarray(f.forward(z), np.float32).view(np.uint32))
