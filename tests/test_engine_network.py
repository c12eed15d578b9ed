"""The engine: hand-worked steps, composition of every credit x update, loops, determinism, errors."""

import itertools

import numpy as np
import pytest

from learning_rules.credit import CREDIT_ASSIGNMENT
from learning_rules.engine import Network
from learning_rules.nn.mlp import MLP
from learning_rules.updates import WEIGHT_UPDATES


def hand_net():
    """2 inputs -> 2 ReLU -> 1 linear output, weights set by hand."""
    return MLP(weights=[np.array([[0.5, -0.5], [0.25, 0.25]]), np.array([[1.0, 2.0]])],
               biases=[np.array([0.1, -0.1]), np.array([0.5])], activations=["relu", "identity"])


def test_hand_worked_backprop_sgd_step():
    net = Network(hand_net(), credit="backprop", update="gradient", loss="mse", lr=0.1,
                  optimizer="sgd", rng=np.random.default_rng(0))
    loss = net.train_step(np.array([[1.0, 2.0]]), np.array([1.0]))
    # forward:  z1 = [0.5 - 1 + 0.1, 0.25 + 0.5 - 0.1] = [-0.4, 0.65];  h1 = [0, 0.65]
    #           z2 = 1*0 + 2*0.65 + 0.5 = 1.8;  E = 1/2 (1.8 - 1)^2 = 0.32
    assert loss == pytest.approx(0.32)
    # backward: e = 0.8;  delta1 = (e W2) * relu'(z1) = [0.8, 1.6] * [0, 1] = [0, 1.6]
    #   grad W2 = e h1 = [[0, 0.52]], grad b2 = 0.8
    #   grad W1 = delta1^T x = [[0, 0], [1.6, 3.2]], grad b1 = [0, 1.6]
    # SGD, lr 0.1: W2 = [[1, 2 - 0.052]], b2 = 0.5 - 0.08, W1 row 2 = [0.25 - 0.16, 0.25 - 0.32]
    np.testing.assert_allclose(net.mlp.weights[1], [[1.0, 1.948]], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.biases[1], [0.42], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.weights[0], [[0.5, -0.5], [0.09, -0.07]], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.biases[0], [0.1, -0.26], rtol=1e-12)


def test_hand_worked_dfa_sgd_step():
    net = Network(hand_net(), credit="dfa", update="gradient", loss="mse", lr=0.1,
                  rng=np.random.default_rng(0))
    net.credit_state["B"][0] = np.array([[-1.0, 3.0]])  # B_1, shape (n_L, n_1) = (1, 2)
    net.train_step(np.array([[1.0, 2.0]]), np.array([1.0]))
    # e = 0.8 as above; delta1 = (e B1) * relu'(z1) = [-0.8, 2.4] * [0, 1] = [0, 2.4]
    #   grad W1 row 2 = 2.4 * [1, 2] = [2.4, 4.8];  W1 row 2 = [0.25 - 0.24, 0.25 - 0.48]
    #   grad b1 = [0, 2.4] -> b1 = [0.1, -0.1 - 0.24];  the output layer moves as with backprop
    np.testing.assert_allclose(net.mlp.weights[0], [[0.5, -0.5], [0.01, -0.23]], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.biases[0], [0.1, -0.34], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.weights[1], [[1.0, 1.948]], rtol=1e-12)


def test_hand_worked_dual_weight_step():
    # dual weight, lr 0.1, "coded" split: W1 = W, W2 = 0.  Output neuron: g = e = 0.8 > 0 so its
    # W2 row moves toward h1 = [0, 0.65] with a2 = 0.1 * 0.8 = 0.08: W2 = 0.08 * [0, 0.65]
    # = [0, 0.052]; W = W1 - W2 = [1, 1.948]  (equal to the SGD step for this row, since W2 = 0).
    # Hidden neuron 2: g = 1.6 > 0, a2 = 0.16, its W2 row = 0.16 * x = [0.16, 0.32]; W row 2 =
    # [0.25 - 0.16, 0.25 - 0.32].  Neuron 1 (g = 0) is untouched.
    net = Network(hand_net(), update="dual_weight", loss="mse", lr=0.1, rng=np.random.default_rng(0))
    net.train_step(np.array([[1.0, 2.0]]), np.array([1.0]))
    np.testing.assert_allclose(net.mlp.weights[1], [[1.0, 1.948]], rtol=1e-12)
    np.testing.assert_allclose(net.mlp.weights[0], [[0.5, -0.5], [0.09, -0.07]], rtol=1e-12)
    st = net.layer_states[0]
    np.testing.assert_allclose(st["W1"] - st["W2"], net.mlp.weights[0], rtol=0, atol=0)


def toy_regression(seed=0, n=64):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    return X, y


def toy_classification(seed=0, n=64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


UPDATE_LR = {"gradient": 0.1, "dual_weight": 0.05, "dual_weight_stabilized": 0.05}


@pytest.mark.parametrize("credit,update", list(itertools.product(CREDIT_ASSIGNMENT, WEIGHT_UPDATES)))
def test_every_credit_composes_with_every_update(credit, update):
    X, y = toy_regression()
    mlp = MLP.create([3, 8, 8, 1], ["tanh", "tanh", "identity"], init="he_normal",
                     rng=np.random.default_rng(1))
    net = Network(mlp, credit=credit, update=update, loss="mse", lr=UPDATE_LR[update],
                  rng=np.random.default_rng(2))
    before = net.evaluate(X, y).loss
    losses = net.fit(X, y, num_epochs=3, batch_size=1)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    assert np.isfinite(net.evaluate(X, y).loss)
    if update == "gradient":
        assert net.evaluate(X, y).loss < before


def test_dfa_with_dual_weight_improves_a_tiny_task():
    X, y = toy_classification(n=128)
    mlp = MLP.create([3, 16, 2], ["relu", "identity"], init="he_normal", rng=np.random.default_rng(3))
    net = Network(mlp, credit="dfa", update="dual_weight", loss="cce", lr=0.05,
                  rng=np.random.default_rng(4))
    before = net.evaluate(X, y)
    net.fit_steps(X, y, np.random.default_rng(5).integers(0, 128, size=2000))
    after = net.evaluate(X, y)
    assert after.loss < 0.7 * before.loss
    assert after.accuracy > max(before.accuracy, 0.85)
    for W, st in zip(net.mlp.weights, net.layer_states):
        np.testing.assert_array_equal(W, st["W1"] - st["W2"])


@pytest.mark.parametrize("credit", list(CREDIT_ASSIGNMENT))
@pytest.mark.parametrize("update", list(WEIGHT_UPDATES))
def test_bit_for_bit_determinism(credit, update):
    X, y = toy_classification(n=40)

    def run():
        mlp = MLP.create([3, 5, 4, 1], ["relu", "tanh", "sigmoid"], rng=np.random.default_rng(11))
        net = Network(mlp, credit=credit, update=update, loss="bce", lr=UPDATE_LR[update],
                      optimizer="sgd", rng=np.random.default_rng(12))
        losses = net.fit(X, y, num_epochs=2, batch_size=8)
        steps = net.fit_steps(X, y, [3, 1, 4, 1, 5])
        return net, losses, steps

    (a, la, sa), (b, lb, sb) = run(), run()
    assert la == lb and np.array_equal(sa, sb)
    for Wa, Wb in zip(a.mlp.weights + a.mlp.biases, b.mlp.weights + b.mlp.biases):
        assert np.array_equal(Wa, Wb)


def test_fit_steps_equals_train_step_loop_and_unshuffled_batch_one_fit():
    X, y = toy_regression(n=10)

    def fresh():
        mlp = MLP.create([3, 4, 1], ["tanh", "identity"], rng=np.random.default_rng(0))
        return Network(mlp, credit="fa", loss="mse", lr=0.05, optimizer="adam",
                       rng=np.random.default_rng(1))

    a, b, c = fresh(), fresh(), fresh()
    steps = a.fit_steps(X, y, np.arange(10))
    manual = [b.train_step(X[i:i + 1], y[i:i + 1]) for i in range(10)]
    epoch = c.fit(X, y, num_epochs=1, batch_size=1, shuffle=False)
    np.testing.assert_array_equal(steps, manual)
    assert epoch[0] == pytest.approx(np.mean(manual), rel=1e-14)
    for x, y_, z in zip(a.mlp.weights, b.mlp.weights, c.mlp.weights):
        assert np.array_equal(x, y_) and np.array_equal(x, z)


def test_full_batch_fit_is_one_train_step_per_epoch():
    X, y = toy_regression(n=12)
    m1 = MLP.create([3, 4, 1], ["relu", "identity"], rng=np.random.default_rng(0))
    m2 = m1.copy()
    n1 = Network(m1, lr=0.1, rng=np.random.default_rng(0))
    n2 = Network(m2, lr=0.1, rng=np.random.default_rng(0))
    n1.fit(X, y, num_epochs=2, batch_size=100, shuffle=False)
    n2.train_step(X, y)
    n2.train_step(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(m1.weights, m2.weights))
    assert n1.epochs_done == 2 and n1.steps_done == 2


def test_trainable_mask_freezes_layers_and_feedback_is_fixed():
    X, y = toy_classification()
    mlp = MLP.create([3, 6, 1], ["relu", "sigmoid"], bias=False, rng=np.random.default_rng(0))
    W1 = mlp.weights[0].copy()
    W2 = mlp.weights[1].copy()
    net = Network(mlp, credit="dfa", loss="bce", lr=0.5, trainable=[False, True],
                  rng=np.random.default_rng(1))
    B = net.credit_state["B"][0].copy()
    net.fit(X, y, num_epochs=2, batch_size=16)
    assert np.array_equal(mlp.weights[0], W1)
    assert not np.array_equal(mlp.weights[1], W2)
    assert np.array_equal(net.credit_state["B"][0], B)
    assert net.layer_states[0] is None


def test_callback_can_stop_and_epoch_is_passed_to_the_rule():
    X, y = toy_regression(n=8)
    seen = []

    class Recorder:
        """A minimal rule object (the engine accepts any init_layer/apply/set_epoch)."""

        def init_layer(self, W, b, rng):
            return {}

        def apply(self, state, W, b, delta, h_prev):
            W -= 0.01 * delta.T @ h_prev / delta.shape[0]

        def set_epoch(self, e):
            seen.append(e)

    mlp = MLP.create([3, 2, 1], ["tanh", "identity"], rng=np.random.default_rng(0))
    net = Network(mlp, update=Recorder(), rng=np.random.default_rng(0))
    losses = net.fit(X, y, num_epochs=5, batch_size=4, callback=lambda n, ep, loss: ep == 2)
    assert len(losses) == 3 and seen == [0, 1, 2]
    net.fit(X, y, num_epochs=1, batch_size=4)
    assert seen[-1] == 3


def test_evaluate_predict_and_signals():
    X, y = toy_classification(n=20)
    mlp = MLP.create([3, 4, 2], ["relu", "softmax"], rng=np.random.default_rng(0))
    net = Network(mlp, credit="fa", loss="cce", rng=np.random.default_rng(0))
    ev = net.evaluate(X, y)
    z = mlp.forward(X).z[-1]
    assert ev.accuracy == np.mean(np.argmax(z, 1) == y)
    np.testing.assert_allclose(net.predict_proba(X).sum(1), 1.0)
    assert np.array_equal(net.predict(X), np.argmax(z, 1))
    cache, e, deltas = net.signals(X, y)
    assert e.shape == (20, 2) and [d.shape for d in deltas] == [(20, 4), (20, 2)]
    reg = Network(MLP.create([3, 1], ["identity"], rng=np.random.default_rng(0)), loss="mse")
    assert np.isnan(reg.evaluate(X, y.astype(float)).accuracy)


def test_clear_errors():
    mlp = MLP.create([3, 4, 1], ["relu", "sigmoid"], rng=np.random.default_rng(0))
    net = Network(mlp, loss="bce", rng=np.random.default_rng(0))
    X, y = toy_classification(n=10)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        net.train_step(X[:, :2], y)
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[0, 0] = np.nan
        net.fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        net.train_step(X, np.where(y == 1, np.nan, 0.0))
    with pytest.raises(ValueError, match="10 samples but y has 9"):
        net.train_step(X, y[:9])
    with pytest.raises(ValueError, match="valid names"):
        Network(mlp, credit="hebbian")
    with pytest.raises(ValueError, match="valid names"):
        Network(mlp, update="natural_gradient")
    with pytest.raises(ValueError, match="valid names"):
        Network(mlp, loss="hinge")
    with pytest.raises(ValueError, match="valid names"):
        Network(mlp, optimizer="lbfgs")
    with pytest.raises(ValueError, match="probability"):
        Network(MLP.create([3, 1], ["tanh"], rng=np.random.default_rng(0)), loss="bce")
    with pytest.raises(ValueError, match="one flag per layer"):
        Network(mlp, trainable=[True])
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="indices"):
        net.fit_steps(X, y, [0, 10])
    with pytest.raises(ValueError, match="Generator"):
        Network(mlp, rng=42)
