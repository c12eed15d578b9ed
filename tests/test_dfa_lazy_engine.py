"""The lazy baselines are engine configurations: GatedNet (the fast form the parity runs use) takes
the same steps as the engine's reference step on ``dfa_parity.engine_network`` (the readable
definition), for every method, the two NTK nets included (an input-gated engine layer,
``learning_rules.nn.gates``)."""

import numpy as np
import pytest

from learning_rules.experiments.dfa_parity import (LAZY_METHODS, GatedNet, _optimizer_params,
                                                   engine_network)
from learning_rules.training import Batch, reference_step

ENGINE_METHODS = ["bp", "relu_features", "gaussian_features", "linear_features", "ntk_coded", "ntk_dm"]
D, H = 24, 7


def _pair(method, optimizer, seed=3, dtype=np.float64, **gated):
    lr = {"sgd": 0.3, "adadelta": 0.5, "adam": 0.01}[optimizer]
    params = _optimizer_params(optimizer)
    a = GatedNet(method, D, H, optimizer, lr, np.random.default_rng(seed), params, dtype, **gated)
    b = engine_network(method, D, H, optimizer, lr, np.random.default_rng(seed), params, dtype)
    return a, b


def _batches(n_steps=6, B=10, seed=0, dtype=np.float64, sparse=False):
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        X = rng.normal(size=(B, D))
        if sparse:  # mostly the background value, as MNIST-parity's zero pixels
            X[rng.random((B, D)) < 0.7] = 0.0
        y = (rng.random(B) < 0.5).astype(dtype)[:, None]
        yield X.astype(dtype), y


def _assert_same(a, b, rtol):
    np.testing.assert_allclose(a.W1, b.mlp.weights[0], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.W2, b.mlp.weights[1], rtol=rtol, atol=rtol)


def test_every_lazy_method_is_an_engine_configuration():
    assert list(LAZY_METHODS) == ENGINE_METHODS


@pytest.mark.parametrize("method", ENGINE_METHODS)
def test_the_same_initial_weights_and_layers(method):
    a, b = _pair(method, "sgd")
    np.testing.assert_array_equal(a.W1, b.mlp.weights[0])
    np.testing.assert_array_equal(a.W2, b.mlp.weights[1])
    assert b.mlp.biases == [None, None]
    gate = b.mlp.gates[0]
    if a.W_gate is None:
        assert b.mlp.gates == [None, None]
    else:  # the frozen gate layer, drawn after W2 (soft) or copied from the initial W1 (hard)
        assert gate.law == {"ntk_coded": "soft", "ntk_dm": "hard"}[method]
        np.testing.assert_array_equal(gate.W, a.W_gate)
        assert b.mlp.activations[0] == "identity" and b.mlp.gates[1] is None
    assert b.trainable == [LAZY_METHODS.lookup(method).train_first, True]
    assert b.loss.name == "bce" and b.mlp.acts[-1].name == "sigmoid"


@pytest.mark.parametrize("optimizer", ["sgd", "adadelta", "adam"])
@pytest.mark.parametrize("method", ENGINE_METHODS)
@pytest.mark.parametrize("fused", [False, True])
def test_gated_steps_equal_the_engine_reference(method, optimizer, fused):
    a, b = _pair(method, optimizer, fused=fused)
    step = reference_step(b)
    for X, Y in _batches():
        loss_a, z_a = a.step(X, Y)
        loss_b, z_b = step(Batch(X, Y))
        assert loss_a == pytest.approx(loss_b, rel=1e-12)
        np.testing.assert_allclose(z_a, z_b, rtol=1e-12, atol=1e-12)
    _assert_same(a, b, 1e-12)
    if not LAZY_METHODS.lookup(method).train_first:
        assert b.layer_states[0] is None  # the frozen layer has no rule state and never moves


@pytest.mark.parametrize("optimizer", ["sgd", "adadelta"])
def test_the_sparse_first_layer_equals_the_engine_reference(optimizer):
    """backprop's sparse form (W1 on the inputs that differ from the background, parity's path)."""
    a, b = _pair("bp", optimizer, fused=True, background=0.0)
    assert a.background is not None
    step = reference_step(b)
    for X, Y in _batches(sparse=True):
        loss_a, z_a = a.step(X, Y)
        loss_b, z_b = step(Batch(X, Y))
        assert loss_a == pytest.approx(loss_b, rel=1e-12)
        np.testing.assert_allclose(z_a, z_b, rtol=1e-11, atol=1e-12)
    _assert_same(a, b, 1e-11)


@pytest.mark.parametrize("method", ["relu_features", "gaussian_features", "linear_features"])
def test_the_feature_methods_output_only_step_equals_the_engine_reference(method):
    """The frozen-W1 methods train on precomputed features (GatedNet.step_output_only): logistic
    regression on h(X), the engine network with its first layer frozen."""
    a, b = _pair(method, "adadelta")
    step = reference_step(b)
    for X, Y in _batches():
        loss_a, z_a = a.step_output_only(a.features(X), Y)
        loss_b, z_b = step(Batch(X, Y))
        assert loss_a == pytest.approx(loss_b, rel=1e-12)
        np.testing.assert_allclose(z_a, z_b, rtol=1e-12, atol=1e-12)
    _assert_same(a, b, 1e-12)


def test_float32_agrees_to_float32_rounding():
    a, b = _pair("bp", "adadelta", dtype=np.float32, fused=True)
    step = reference_step(b)
    for X, Y in _batches(dtype=np.float32):
        a.step(X, Y)
        step(Batch(X, Y))
    _assert_same(a, b, 2e-5)


@pytest.mark.parametrize("method", ["ntk_coded", "ntk_dm"])
def test_the_ntk_gate_stays_frozen_while_w1_trains(method):
    a, b = _pair(method, "adam")
    gate_W = b.mlp.gates[0].W.copy()
    W1_0 = b.mlp.weights[0].copy()
    step = reference_step(b)
    for X, Y in _batches():
        step(Batch(X, Y))
    np.testing.assert_array_equal(b.mlp.gates[0].W, gate_W)
    assert not np.array_equal(b.mlp.weights[0], W1_0)
    if method == "ntk_dm":  # the hard gate is the initial W1's pattern, not a view of the moving W1
        assert not np.shares_memory(b.mlp.gates[0].W, b.mlp.weights[0])


@pytest.mark.parametrize("method", ["ntk_coded", "ntk_dm"])
def test_the_ntk_nets_take_the_reference_backend(method):
    """No compiled trainer knows the gate: both fast backends refuse it with the reason, and
    ``auto`` falls back to the reference step."""
    from learning_rules.training import choose_backend

    _, b = _pair(method, "sgd", dtype=np.float64)
    assert choose_backend(b, 1) == "reference" and choose_backend(b, 10) == "reference"
    for backend, size in (("single", 1), ("minibatch", 10)):
        with pytest.raises(ValueError, match="gated by the input"):
            choose_backend(b, size, backend)
