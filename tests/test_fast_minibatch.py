"""The preallocated mini-batch step equals the reference engine's step (oracle: Network._step)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import assert_same_parameters

from learning_rules.engine import Network
from learning_rules.fast.minibatch import MinibatchSGD
from learning_rules.nn.mlp import MLP

CASES = {
    "parity-like": ([30, 16, 1], ["relu", "sigmoid"], "bce", False, 8, "backprop"),
    "parity-dfa": ([30, 16, 1], ["relu", "sigmoid"], "bce", False, 8, "dfa"),
    "ablation-like": ([20, 8, 8, 4], ["leaky_relu:0.1", "leaky_relu:0.1", "softmax"], "cce", True, 10,
                      "backprop"),
}


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("case", list(CASES))
def test_minibatch_equals_reference(case, dtype, tol):
    sizes, acts, loss, bias, B, credit = CASES[case]
    rng = np.random.default_rng(0)
    mlp = MLP.create(sizes, acts, init="pytorch", bias=bias, rng=rng, dtype=dtype)
    net = Network(mlp, loss=loss, lr=0.2, credit=credit, rng=rng)
    X = rng.random((5 * B + 3, sizes[0])).astype(dtype)
    y = (rng.random(len(X)) < 0.5).astype(dtype) if loss == "bce" else rng.integers(0, sizes[-1], len(X))
    Xv, Yv = net._check_xy(X, y)
    fast = copy.deepcopy(net)
    tr = MinibatchSGD(fast.mlp.weights, fast.mlp.biases, fast.mlp.activations, loss, 0.2, B,
                      feedback=fast.credit_state.get("B"))
    W0 = [W.copy() for W in net.mlp.weights]
    for k in range(30):
        s = slice((k % 6) * B, (k % 6 + 1) * B)  # the 6th batch is the short one (3 rows)
        net._step(Xv[s], Yv[s])
        tr.step(Xv[s], Yv[s])
    assert max(np.max(np.abs(a - b)) for a, b in zip(net.mlp.weights, W0)) > 0.01
    assert_same_parameters(net.mlp, fast.mlp, dtype, tol)


def test_minibatch_rejects_bad_setup():
    rng = np.random.default_rng(0)
    mlp = MLP.create([5, 3, 2], ["relu", "tanh"], rng=rng)
    with pytest.raises(ValueError, match="valid pairs"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "cce", 0.1, 4)
    with pytest.raises(ValueError, match="lr must be"):
        MinibatchSGD(mlp.weights, mlp.biases, ["relu", "identity"], "mse", 0.0, 4)
    with pytest.raises(ValueError, match="float32 or float64"):
        MinibatchSGD([W.astype(np.float16) for W in mlp.weights], mlp.biases, ["relu", "identity"],
                     "mse", 0.1, 4)
