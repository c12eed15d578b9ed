"""Input gates (``learning_rules.nn.gates``): the gated layer's forward formula, its teaching
signal checked by finite differences for every credit rule's backprop form, the laws against
independent oracles, and the errors."""

import numpy as np
import pytest

from learning_rules.engine import Network
from learning_rules.nn import MLP
from learning_rules.nn.gates import GATES, InputGate, hard_gate, soft_gate


def _gated_mlp(law="soft", act="tanh", seed=0, sizes=(5, 6, 4, 3)):
    rng = np.random.default_rng(seed)
    mlp = MLP.create(list(sizes), [act, "relu", "identity"], init="glorot_uniform", rng=rng)
    W_gate = rng.normal(size=(sizes[1], sizes[0]))
    mlp = MLP(mlp.weights, mlp.biases, mlp.activations, gates=[InputGate(law, W_gate), None, None])
    return mlp, rng


def test_soft_gate_is_the_logistic_of_a_frozen_layer():
    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(8, 5)) * 30, rng.normal(size=(4, 5))  # large |u|: both branches, no overflow
    u = X @ W.T
    with np.errstate(over="ignore"):
        oracle = 1.0 / (1.0 + np.exp(-u))
    np.testing.assert_allclose(soft_gate(X, W), oracle, rtol=1e-15, atol=1e-300)
    assert soft_gate(X.astype(np.float32), W.astype(np.float32)).dtype == np.float32


def test_hard_gate_is_the_relu_pattern_of_its_weights():
    rng = np.random.default_rng(2)
    X, W = rng.normal(size=(8, 5)), rng.normal(size=(4, 5))
    z = X @ W.T
    np.testing.assert_array_equal(hard_gate(X, W) * z, np.maximum(z, 0))


def test_parity_fast_soft_gate_is_the_engine_gate_bit_for_bit():
    from learning_rules.experiments.dfa_parity import soft_gate as fast_soft_gate

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        X, W = rng.normal(size=(50, 9)).astype(dtype) * 5, rng.normal(size=(7, 9)).astype(dtype)
        a, b = fast_soft_gate(X, W), soft_gate(X, W)
        assert a.dtype == b.dtype == dtype
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("law", list(GATES))
def test_forward_multiplies_the_activation_by_the_gate(law):
    mlp, rng = _gated_mlp(law)
    X = rng.normal(size=(7, 5))
    cache = mlp.forward(X)
    g = mlp.gates[0](X)
    np.testing.assert_array_equal(cache.g[1], g)
    np.testing.assert_array_equal(cache.h[1], np.tanh(cache.z[1]) * g)
    assert cache.g[2] is None and cache.g[0] is None
    assert mlp.forward(X).h[-1].shape == (7, 3)


@pytest.mark.parametrize("law", list(GATES))
@pytest.mark.parametrize("act", ["tanh", "identity", "sigmoid"])
def test_backprop_through_a_gated_layer_matches_finite_differences(law, act):
    """The gate's teaching signal, delta = (delta_up W) * f'(z) * g, gives the gradient of the loss
    in every weight (central differences, float64); the gate's own weights get none."""
    from learning_rules.credit.backprop import backprop_deltas, weight_gradients
    from learning_rules.experiments.foundations_backprop import numerical_gradients

    mlp, rng = _gated_mlp(law, act)
    X, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    net = Network(mlp, loss="cce", lr=0.1, rng=rng)
    cache = mlp.forward(X)
    e = net.loss.output_error(cache.z[-1], net.loss.encode(y, 3, np.float64), mlp.acts[-1])
    grads = weight_gradients(cache, backprop_deltas(mlp, cache, e))
    num_W, _ = numerical_gradients(mlp, "cce", X, y)
    for G, num in zip(grads, num_W):
        np.testing.assert_allclose(G, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("credit", ["fa", "dfa"])
def test_fa_and_dfa_multiply_their_signal_by_the_gate(credit):
    """FA: delta_1 = (delta_2 B_2) * f'(z_1) * g; DFA: delta_1 = (e B_1) * f'(z_1) * g (the
    equations written out here, on the gated net's own cache)."""
    mlp, rng = _gated_mlp("hard")
    net = Network(mlp, credit=credit, loss="cce", lr=0.1, rng=rng)
    X, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    cache, e, deltas = net.signals(X, y)
    B = net.credit_state["B"]
    z1, z2 = cache.z[1], cache.z[2]
    if credit == "dfa":
        d2 = (e @ B[1]) * (z2 > 0)
        d1 = (e @ B[0]) * (1 - np.tanh(z1) ** 2) * cache.g[1]
    else:
        d2 = (e @ B[2]) * (z2 > 0)
        d1 = (d2 @ B[1]) * (1 - np.tanh(z1) ** 2) * cache.g[1]
    np.testing.assert_allclose(deltas[1], d2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(deltas[0], d1, rtol=1e-13, atol=1e-15)
    assert np.any(cache.g[1] == 0) and np.all(deltas[0][cache.g[1] == 0] == 0)


def test_copy_keeps_independent_gates():
    mlp, _ = _gated_mlp()
    twin = mlp.copy()
    assert twin.gates[0].law == mlp.gates[0].law and twin.gates[0].W is not mlp.gates[0].W
    np.testing.assert_array_equal(twin.gates[0].W, mlp.gates[0].W)
    assert twin.gated and not MLP(mlp.weights, mlp.biases, mlp.activations).gated


def test_errors_name_the_problem():
    mlp, rng = _gated_mlp()
    W, b, a = mlp.weights, mlp.biases, mlp.activations
    with pytest.raises(ValueError, match="unknown input gate 'relu'; valid names: soft, hard"):
        InputGate("relu", rng.normal(size=(6, 5)))
    with pytest.raises(ValueError, match="2-D array"):
        InputGate("soft", np.ones(5))
    with pytest.raises(ValueError, match="one entry per layer"):
        MLP(W, b, a, gates=[None])
    with pytest.raises(ValueError, match="only hidden layers can be gated"):
        MLP(W, b, a, gates=[None, None, InputGate("soft", rng.normal(size=(3, 5)))])
    with pytest.raises(ValueError, match=r"shape \(4, 5\)"):
        MLP(W, b, a, gates=[None, InputGate("soft", rng.normal(size=(6, 5))), None])
    with pytest.raises(ValueError, match="must be a learning_rules.nn.gates.InputGate"):
        MLP(W, b, a, gates=[rng.normal(size=(6, 5)), None, None])
    with pytest.raises(ValueError, match="float64 weights"):
        MLP(W, b, a, gates=[InputGate("soft", rng.normal(size=(6, 5)).astype(np.float32)), None, None])
