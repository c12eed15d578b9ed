"""The one training loop (learning_rules.training): backend choice, equality with the reference,
the epoch sums and hooks, and the batch streams the chapters' loops used before."""

from __future__ import annotations

import numpy as np
import pytest

from learning_rules.engine import Network
from learning_rules.nn import MLP
from learning_rules.training import (Batch, Trainer, choose_backend, epoch_batches, minibatch_unsupported,
                                     parameters_finite, reference_step, run_epoch, stream_batches)


def _net(credit="backprop", update="gradient", optimizer="sgd", l2=0.0, sizes=(12, 9, 7, 3),
         acts=("relu", "tanh", "softmax"), loss="cce", seed=0, dtype=np.float64, lr=0.05, trainable=None):
    rng = np.random.default_rng(seed)
    mlp = MLP.create(list(sizes), list(acts), init="he_uniform", bias=True, rng=rng, dtype=np.dtype(dtype))
    return Network(mlp, credit=credit, update=update, loss=loss, lr=lr, optimizer=optimizer, l2=l2,
                   trainable=trainable, rng=rng)


def _data(n=50, n_in=12, n_out=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, size=n)


def _buffer_fit(net, X, y, num_epochs, batch_size, rng):
    """Fit on the buffer trainers (what the estimators do)."""
    trainer = Trainer(net, batch_size)
    assert trainer.backend == "minibatch"
    return trainer.fit(*net._check_xy(X, y), num_epochs, rng)


# ---------------------------------------------------------------------------------- backend choice


def test_the_backend_is_chosen_in_one_place():
    assert choose_backend(_net(), 16) == "minibatch"
    assert choose_backend(_net(), 16, input_background=0.0) == "sparse"
    assert choose_backend(_net(), 1) == "single"
    assert choose_backend(_net(), 16, "reference") == "reference"
    net = _net(l2=0.1)
    assert "penalty" in minibatch_unsupported(net)
    assert choose_backend(net, 16) == "reference"
    with pytest.raises(ValueError, match="mini-batch buffer trainer does not apply: an L1/L2 penalty"):
        choose_backend(net, 16, "minibatch")
    with pytest.raises(ValueError, match="runs batch 1"):
        choose_backend(_net(), 16, "single")
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend(_net(), 16, "gpu")
    assert "momentum" in minibatch_unsupported(_net(optimizer="momentum"))
    assert "frozen" in minibatch_unsupported(_net(trainable=[False, True, True]))
    assert "element-wise" in minibatch_unsupported(_net(acts=("relu", "softmax", "softmax")))


def test_a_forced_buffer_backend_is_the_one_that_runs():
    """'minibatch' stays dense with a background given; 'sparse' without one is an error, not a
    silent dense run."""
    assert choose_backend(_net(), 16, "minibatch", input_background=0.0) == "minibatch"
    assert choose_backend(_net(), 16, "sparse", input_background=0.0) == "sparse"
    with pytest.raises(ValueError, match="pass input_background"):
        choose_backend(_net(), 16, "sparse")
    trainer = Trainer(_net(), 16, "minibatch", input_background=0.0)
    assert trainer.backend == "minibatch" and trainer.stepper.name == "minibatch"
    assert Trainer(_net(), 16, "sparse", input_background=0.0).stepper.name == "sparse"


def test_the_reference_trainer_steps_with_reference_step():
    """Trainer's reference backend is ``reference_step`` itself: the same loss and logits as
    ``Network._step`` on a copy of the network."""
    X, y = _data(n=8)
    a, b = _net(), _net()
    Y = a.loss.encode(y, 3, a.mlp.dtype)
    loss_a, z_a = Trainer(a, 8, "reference").step(Batch(X, Y))
    loss_b, z_b = reference_step(b)(Batch(X, Y))
    assert loss_a == loss_b
    np.testing.assert_array_equal(z_a, z_b)
    for Wa, Wb in zip(a.mlp.weights, b.mlp.weights):
        np.testing.assert_array_equal(Wa, Wb)


@pytest.mark.parametrize("credit", ["backprop", "fa", "dfa"])
@pytest.mark.parametrize("update, optimizer", [("gradient", "sgd"), ("gradient", "adam"),
                                               ("gradient", "rmsprop"), ("dual_weight", "sgd"),
                                               ("dual_weight_stabilized", "sgd")])
def test_fit_on_the_buffer_trainers_equals_the_reference(credit, update, optimizer):
    X, y = _data()
    lr = 0.01 if optimizer != "sgd" else 0.05
    a, b = _net(credit, update, optimizer, lr=lr), _net(credit, update, optimizer, lr=lr)
    la = _buffer_fit(a, X, y, 3, 16, np.random.default_rng(5))
    lb = b.fit(X, y, num_epochs=3, batch_size=16, rng=np.random.default_rng(5), backend="reference")
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=0)
    for Wa, Wb in zip(a.mlp.weights + a.mlp.biases, b.mlp.weights + b.mlp.biases):
        np.testing.assert_allclose(Wa, Wb, rtol=0, atol=1e-12)
    assert a.steps_done == b.steps_done == 12 and a.epochs_done == b.epochs_done == 3


def test_reference_fit_is_the_train_step_loop_bit_for_bit():
    X, y = _data()
    a, b = _net(optimizer="adam", lr=0.01), _net(optimizer="adam", lr=0.01)
    losses = a.fit(X, y, num_epochs=2, batch_size=16, rng=np.random.default_rng(3), backend="reference")
    rng = np.random.default_rng(3)
    expected = []
    for _ in range(2):
        order = rng.permutation(len(X))
        total = 0.0
        for s in range(0, len(X), 16):
            idx = order[s:s + 16]
            total += b.train_step(X[idx], y[idx]) * idx.shape[0]
        expected.append(total / len(X))
    assert losses == expected
    for Wa, Wb in zip(a.mlp.weights, b.mlp.weights):
        np.testing.assert_array_equal(Wa, Wb)


def test_the_optimizer_state_is_the_networks_own_across_fits_and_backends():
    """Adam's moments live in the network: fitting twice equals fitting once for two epochs (bit
    for bit), and switching to the reference in between keeps them (to rounding)."""
    X, y = _data()
    once, twice, mixed = (_net(optimizer="adam", lr=0.01) for _ in range(3))
    _buffer_fit(once, X, y, 2, 16, np.random.default_rng(2))
    rng = np.random.default_rng(2)
    _buffer_fit(twice, X, y, 1, 16, rng)
    _buffer_fit(twice, X, y, 1, 16, rng)
    rng = np.random.default_rng(2)
    _buffer_fit(mixed, X, y, 1, 16, rng)
    mixed.fit(X, y, num_epochs=1, batch_size=16, rng=rng, backend="reference")
    for Wo, Wt, Wm in zip(once.mlp.weights, twice.mlp.weights, mixed.mlp.weights):
        np.testing.assert_array_equal(Wo, Wt)
        np.testing.assert_allclose(Wo, Wm, rtol=0, atol=1e-12)
    assert once.layer_states[0]["W"]["t"] == 8  # 4 batches per epoch, counted in the network


def test_network_fit_is_the_reference_or_the_compiled_single_sample_loop():
    """The engine reaches no buffer trainer (its stored results never depend on their code)."""
    X, y = _data()
    a, b = _net(), _net()
    la = a.fit(X, y, num_epochs=2, batch_size=16, rng=np.random.default_rng(1))
    lb = b.fit(X, y, num_epochs=2, batch_size=16, rng=np.random.default_rng(1), backend="reference")
    assert la == lb
    with pytest.raises(ValueError, match="runs through learning_rules.training.Trainer"):
        a.fit(X, y, batch_size=16, backend="minibatch")
    from learning_rules.fingerprint import code_index

    index = code_index()
    closure = index.closure([("engine", "Network")])
    modules = {module for module, _ in closure}
    assert ("fast.single", "fit_steps") in closure and "fast.sparse_input" not in modules
    assert not {("fast.minibatch", name) for name in ("MinibatchSGD", "MinibatchOptimizer",
                                                      "MinibatchDualWeight")} & closure


def test_single_sample_fit_takes_the_compiled_loop():
    X, y = _data(n=20)
    a, b = _net(), _net()
    trainer = Trainer(a, 1)
    assert trainer.backend == "single"
    la = trainer.fit(a._check_xy(X, y)[0], a._check_xy(X, y)[1], 2, np.random.default_rng(0))
    lb = b.fit(X, y, num_epochs=2, batch_size=1, rng=np.random.default_rng(0), backend="reference")
    np.testing.assert_allclose(la, lb, rtol=1e-12)


# ---------------------------------------------------------------------------------- the epoch loop


def test_run_epoch_sums_losses_and_scores_and_stops_on_divergence():
    calls = []

    def step(batch):
        calls.append(batch.index[0])
        value = float("inf") if batch.index[0] == 2 else 1.0
        return value, np.full((batch.Y.shape[0], 1), 1.0)

    batches = [Batch(None, np.zeros((b, 1)), labels=np.ones(b), index=np.array([k]))
               for k, b in enumerate((4, 4, 4, 2))]
    seen = []
    stats = run_epoch(step, batches, score=lambda z, b: int(np.sum((z[:, 0] > 0) == (b.labels == 1))),
                      on_batch=lambda b, v: seen.append(v), diverged=lambda v: not np.isfinite(v))
    assert calls == [0, 1, 2]  # no step after the divergence
    assert stats.diverged and stats.n == 12 and stats.correct == 12 and stats.last.index[0] == 2
    assert stats.loss_sum == float("inf")
    assert seen[:2] == [1.0, 1.0] and seen[2] == float("inf") and np.isnan(seen[3])


def test_parameters_finite():
    net = _net()
    assert parameters_finite(net)
    net.mlp.biases[1][0] = np.nan
    assert not parameters_finite(net)


def test_batch_streams_are_the_loops_they_replaced():
    n, bs = 23, 5
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    got = [idx.tolist() for idx in epoch_batches(n, bs, a)]
    order = b.permutation(n)
    assert got == [order[s:s + bs].tolist() for s in range(0, n, bs)]
    assert [idx.tolist() for idx in epoch_batches(4, 3)] == [[0, 1, 2], [3]]
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    stream = stream_batches(n, bs, a)
    order = np.empty(0, dtype=int)
    for _ in range(20):
        if order.size < bs:
            order = np.concatenate([order, b.permutation(n)])
        idx, order = order[:bs], order[bs:]
        np.testing.assert_array_equal(next(stream), idx)


def test_the_reference_stepper_refuses_csr_rows():
    net = _net()
    with pytest.raises(ValueError, match="dense batch"):
        Trainer(net, 4, "reference").step(Batch(None, np.zeros((4, 3)), rows=(1, 2, 3)))
