"""Backprop gradients against central differences, for every hidden activation x (output, loss)
pairing x depth 1-4 hidden layers x with/without biases x batch 1 and 3 (float64, tiny nets)."""

import itertools
import zlib

import numpy as np
import pytest

from learning_rules.credit import backprop_deltas, bias_gradient, weight_gradient
from learning_rules.nn.losses import get_loss
from learning_rules.nn.mlp import MLP

HIDDEN = ["identity", "relu", "leaky_relu", "leaky_relu:0.2", "sigmoid", "tanh", "softmax"]
OUTPUT_LOSS = [("identity", "mse"), ("tanh", "mse"), ("sigmoid", "mse"), ("softmax", "mse"),
               ("relu", "squared_error"), ("identity", "squared_error"), ("sigmoid", "bce"),
               ("identity", "bce"), ("softmax", "bce"), ("softmax", "cce"), ("identity", "cce"),
               ("sigmoid", "cce")]


def targets(loss, rng, batch, n):
    if loss == "cce":
        return rng.integers(0, n, size=batch)
    if loss == "bce":
        return rng.integers(0, 2, size=(batch, n)).astype(float)
    return rng.normal(size=(batch, n))


def numeric_gradient(f, param, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of ``param`` (in place)."""
    g = np.empty_like(param)
    for idx in np.ndindex(param.shape):
        old = param[idx]
        param[idx] = old + eps
        fp = f()
        param[idx] = old - eps
        fm = f()
        param[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def check(hidden, out_act, loss, depth, bias, batch, seed):
    rng = np.random.default_rng(seed)
    sizes = [3] + [3] * depth + [2]
    m = MLP.create(sizes, [hidden] * depth + [out_act], init="glorot_uniform", bias=bias,
                   bias_init=0.0, rng=rng)
    if bias:  # non-zero biases so their gradients are exercised
        for b in m.biases:
            b[...] = rng.normal(scale=0.3, size=b.shape)
    X = rng.normal(size=(batch, 3))
    y = targets(loss, rng, batch, 2)
    L = get_loss(loss)

    def f():
        return L.value(m.forward(X).z[-1], y, out_act)

    cache = m.forward(X)
    e = L.output_error(cache.z[-1], y, out_act)
    deltas = backprop_deltas(m, cache, e)
    for i in range(m.n_layers):
        np.testing.assert_allclose(weight_gradient(deltas[i], cache.h[i]),
                                   numeric_gradient(f, m.weights[i]), rtol=1e-5, atol=1e-8,
                                   err_msg=f"W_{i + 1}")
        if bias:
            np.testing.assert_allclose(bias_gradient(deltas[i]), numeric_gradient(f, m.biases[i]),
                                       rtol=1e-5, atol=1e-8, err_msg=f"b_{i + 1}")


CASES = [
    pytest.param(h, o, loss, depth, bias, batch, id=f"{h}-{o}-{loss}-d{depth}-b{int(bias)}-n{batch}")
    for (h, (o, loss)), depth, bias, batch in itertools.product(
        itertools.product(HIDDEN, OUTPUT_LOSS), [1, 2, 3, 4], [True, False], [1, 3])
]


@pytest.mark.parametrize("hidden,out_act,loss,depth,bias,batch", CASES)
def test_backprop_matches_finite_differences(hidden, out_act, loss, depth, bias, batch):
    seed = zlib.crc32(f"{hidden}{out_act}{loss}{depth}{bias}{batch}".encode())  # stable across runs
    check(hidden, out_act, loss, depth, bias, batch, seed)
