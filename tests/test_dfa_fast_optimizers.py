"""The fused mini-batch optimizers equal the reference engine (oracle: Network._step with the same
optimizer), in float64 to 1e-12 and in float32 to float32 rounding; the parity trainer's fast path
equals its reference path."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import assert_same_parameters

from learning_rules.engine import Network
from learning_rules.fast import FAST_MINIBATCH_OPTIMIZERS, MinibatchOptimizer
from learning_rules.nn.mlp import MLP

OPTIMIZERS = {
    "sgd": ("sgd", {}),
    "adagrad-thesis": ("adagrad", {"eps": 1e-8, "eps_placement": "inside"}),
    "adagrad-torch": ("adagrad", {}),
    "adadelta-thesis": ("adadelta", {"variant": "thesis", "rho": 0.9}),
    "adadelta-zeiler": ("adadelta", {"variant": "zeiler"}),
    "rmsprop-thesis": ("rmsprop", {"beta": 0.9, "eps": 1e-8}),
    "rmsprop-ablation": ("rmsprop", {"beta": 0.999, "bias_correction": True, "eps_placement": "outside"}),
    "adam-step": ("adam", {"step_count": "step"}),
    "adam-epoch": ("adam", {"step_count": "epoch"}),
}
NETS = {
    "parity-bp": ([30, 16, 1], ["relu", "sigmoid"], "bce", False, 8, "backprop"),
    "parity-dfa": ([30, 16, 1], ["relu", "sigmoid"], "bce", False, 8, "dfa"),
    "deep-dfa-bias-cce": ([20, 8, 8, 4], ["relu", "tanh", "softmax"], "cce", True, 10, "dfa"),
}


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("net_case", list(NETS))
@pytest.mark.parametrize("opt_case", list(OPTIMIZERS))
def test_fused_optimizer_equals_reference(opt_case, net_case, dtype, tol):
    name, params = OPTIMIZERS[opt_case]
    sizes, acts, loss, bias, B, credit = NETS[net_case]
    lr = {"sgd": 0.2, "adagrad": 0.02, "adadelta": 1.0, "rmsprop": 0.002, "adam": 0.002}[name]
    rng = np.random.default_rng(0)
    mlp = MLP.create(sizes, acts, init="pytorch", bias=bias, rng=rng, dtype=dtype)
    net = Network(mlp, loss=loss, lr=lr, credit=credit, optimizer=name, optimizer_params=params, rng=rng)
    X = rng.random((5 * B + 3, sizes[0])).astype(dtype)
    y = (rng.random(len(X)) < 0.5).astype(dtype) if loss == "bce" else rng.integers(0, sizes[-1], len(X))
    Xv, Yv = net._check_xy(X, y)
    fast = copy.deepcopy(net)
    tr = MinibatchOptimizer(fast.mlp.weights, fast.mlp.biases, fast.mlp.activations, loss, lr, B,
                            feedback=fast.credit_state.get("B"), optimizer=name, optimizer_params=params)
    W0 = [W.copy() for W in net.mlp.weights]
    for k in range(30):
        if k % 6 == 0:  # a new "epoch" every 6 batches (Adam's epoch count sees 1..5)
            net.rule.set_epoch(k // 6)
            tr.set_epoch(k // 6)
        s = slice((k % 6) * B, (k % 6 + 1) * B)  # the 6th batch is the short one (3 rows)
        net._step(Xv[s], Yv[s])
        tr.step(Xv[s], Yv[s])
    assert max(np.max(np.abs(a - b)) for a, b in zip(net.mlp.weights, W0)) > 1e-3  # it did learn
    assert_same_parameters(net.mlp, fast.mlp, dtype, tol)


def test_fused_optimizer_state_is_per_parameter_and_fresh():
    """Two trainers never share accumulators; a second trainer starts from zero state."""
    rng = np.random.default_rng(1)
    mlp = MLP.create([6, 4, 1], ["relu", "sigmoid"], bias=False, rng=rng, dtype=np.float32)
    a = MinibatchOptimizer(mlp.weights, mlp.biases, mlp.activations, "bce", 0.01, 4, optimizer="adagrad")
    X = rng.random((4, 6)).astype(np.float32)
    Y = np.ones((4, 1), np.float32)
    a.step(X, Y)
    b = MinibatchOptimizer(mlp.weights, mlp.biases, mlp.activations, "bce", 0.01, 4, optimizer="adagrad")
    assert all(np.all(st["G"] == 0) and st["t"] == 0 for st in b._state.values())
    assert all(np.any(st["G"] > 0) for st in a._state.values())


def test_fused_optimizer_rejects_bad_input():
    rng = np.random.default_rng(0)
    mlp = MLP.create([5, 3, 1], ["relu", "sigmoid"], bias=False, rng=rng)
    with pytest.raises(ValueError, match="no fused mini-batch kernel; valid: sgd, adagrad"):
        MinibatchOptimizer(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 4, optimizer="nesterov")
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        MinibatchOptimizer(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 4, optimizer="adam",
                           optimizer_params={"beta3": 0.5})
    assert set(FAST_MINIBATCH_OPTIMIZERS) == {"sgd", "adagrad", "adadelta", "rmsprop", "adam"}


@pytest.mark.parametrize("optimizer, extra", [("rmsprop", {}), ("adam", {"adam_step_count": "epoch"}),
                                              ("adadelta", {}), ("adagrad", {})])
def test_parity_fast_path_equals_reference(optimizer, extra):
    """train_parity's buffer path (float32) equals Network's step to float32 rounding."""
    from learning_rules.experiments.dfa import ParityConfig, published_lr, train_parity, uses_buffers

    cfg = ParityConfig(k=1, credit="dfa", optimizer=optimizer, lr=published_lr("dfa", optimizer),
                       num_epochs=2, n_hidden=16, n_train=300, n_test=100, batch_size=64, **extra)
    assert uses_buffers(cfg)
    f_fast, n_fast = train_parity(cfg)
    f_ref, n_ref = train_parity(cfg, backend="reference")
    for a, b in zip(n_ref.mlp.weights, n_fast.mlp.weights):
        assert a.dtype == b.dtype == np.float32
        assert np.max(np.abs(a - b)) <= 1e-4 * max(1.0, float(np.max(np.abs(a))))
    assert np.max(np.abs(f_fast["train_loss"].to_numpy()[1:] - f_ref["train_loss"].to_numpy()[1:])) < 1e-4
