"""Initializers and the MLP: shapes, laws, determinism, forward pass against a hand computation."""

import numpy as np
import pytest

from learning_rules.nn.init import INITIALIZERS, get_initializer
from learning_rules.nn.mlp import MLP


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializer_shape_dtype_and_seed(name):
    fn = INITIALIZERS[name]
    a = fn(np.random.default_rng(5), 7, 3, np.float32)
    b = fn(np.random.default_rng(5), 7, 3, np.float32)
    assert a.shape == (3, 7) and a.dtype == np.float32
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name,bound", [("uniform", 1.0), ("he_uniform", np.sqrt(6 / 400)),
                                        ("pytorch", 1 / np.sqrt(400)),
                                        ("glorot_uniform", np.sqrt(6 / 600))])
def test_uniform_laws(name, bound):
    W = INITIALIZERS[name](np.random.default_rng(0), 400, 200, np.float64)
    assert np.abs(W).max() <= bound
    # U(-a, a) has variance a^2/3; 80,000 draws pin it to about 1 %
    assert W.var() == pytest.approx(bound**2 / 3, rel=0.03)
    assert abs(W.mean()) < 0.02 * bound


@pytest.mark.parametrize("name,var", [("he_normal", 2 / 400), ("normal", 1.0),
                                      ("normal_scaled", 1 / 400)])
def test_normal_laws(name, var):
    W = INITIALIZERS[name](np.random.default_rng(0), 400, 200, np.float64)
    assert W.var() == pytest.approx(var, rel=0.03)


def test_constant_and_zeros():
    assert np.all(INITIALIZERS["zeros"](None, 3, 2) == 0)
    assert np.all(get_initializer("constant:0.25")(None, 3, 2) == 0.25)
    assert np.all(INITIALIZERS["constant"](None, 3, 2) == 1.0)
    with pytest.raises(ValueError, match="valid names"):
        get_initializer("kaiming")
    with pytest.raises(ValueError, match="number"):
        get_initializer("constant:x")


def test_create_shapes_and_forward_by_hand():
    m = MLP.create([2, 3, 1], ["relu", "identity"], rng=np.random.default_rng(0))
    assert [W.shape for W in m.weights] == [(3, 2), (1, 3)]
    assert [b.shape for b in m.biases] == [(3,), (1,)]
    assert m.sizes == [2, 3, 1] and m.n_layers == 2
    m.weights[0][...] = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    m.biases[0][...] = [0.0, -1.0, 0.5]
    m.weights[1][...] = [[1.0, 2.0, 3.0]]
    m.biases[1][...] = [0.25]
    X = np.array([[1.0, 2.0]])
    c = m.forward(X)
    # z1 = [1, 2 - 1, 1 - 2 + 0.5] = [1, 1, -0.5]; h1 = [1, 1, 0]; z2 = 1 + 2 + 0 + 0.25
    np.testing.assert_allclose(c.z[1], [[1.0, 1.0, -0.5]])
    np.testing.assert_allclose(c.h[1], [[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(c.z[2], [[3.25]])
    assert c.z[0] is None and c.h[0] is X and c.output is c.h[2]


def test_create_options_and_determinism():
    a = MLP.create([4, 5, 3], ["tanh", "softmax"], init="pytorch", bias=[True, False],
                   bias_init="pytorch", rng=np.random.default_rng(9), dtype=np.float32)
    b = MLP.create([4, 5, 3], ["tanh", "softmax"], init="pytorch", bias=[True, False],
                   bias_init="pytorch", rng=np.random.default_rng(9), dtype=np.float32)
    assert a.biases[1] is None and a.dtype == np.float32
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))
    assert np.array_equal(a.biases[0], b.biases[0])
    assert np.abs(a.biases[0]).max() <= 0.5
    c = MLP.create([2, 2], "identity", bias_init=0.5, rng=np.random.default_rng(0))
    assert np.all(c.biases[0] == 0.5)
    d = a.copy()
    d.weights[0][0, 0] += 1
    assert not np.array_equal(d.weights[0], a.weights[0])
    assert a.forward(np.ones((2, 4), dtype=np.float64)).h[-1].dtype == np.float32


def test_validation_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="one activation per layer"):
        MLP.create([2, 3, 1], ["relu"], rng=rng)
    with pytest.raises(ValueError, match="at least"):
        MLP.create([2], "relu", rng=rng)
    with pytest.raises(ValueError, match="valid names"):
        MLP.create([2, 1], ["swish"], rng=rng)
    with pytest.raises(ValueError, match="n_in"):
        MLP(weights=[np.zeros((3, 2)), np.zeros((1, 4))], biases=[None, None],
            activations=["relu", "identity"])
    with pytest.raises(ValueError, match="b_1"):
        MLP(weights=[np.zeros((3, 2))], biases=[np.zeros(2)], activations=["relu"])
    m = MLP.create([2, 3, 1], ["relu", "identity"], rng=rng)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        m.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        m.forward(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        m.forward(np.zeros(2))
    with pytest.raises(ValueError, match="Generator"):
        MLP.create([2, 1], "relu", rng=np.random.RandomState(0))
