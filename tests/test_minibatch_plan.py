"""The buffer trainers' per-step paths equal their per-parameter forms bit for bit.

:class:`~learning_rules.fast.MinibatchOptimizer` plans each step once for all parameters and
updates the dense ones in one compiled call (``_fused_steps``); its ``_step_each`` is the former
loop, each parameter planned on its own through :func:`~learning_rules.fast.fused_step` (and
``sparse_fused_step`` for a sparse first layer). Both must give the same weights, accumulators and
step counts, to the last bit, for every optimizer the trainer fuses. ``loss_value`` (the
cross-entropy from the step's own softmax sums) must equal ``Loss.value`` bit for bit, and the
:class:`~learning_rules.training.Trainer`'s step must return it.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from learning_rules.engine import Network
from learning_rules.fast import MinibatchOptimizer
from learning_rules.nn.activations import get_activation
from learning_rules.nn.losses import get_loss
from learning_rules.nn.mlp import MLP
from learning_rules.training import Batch, Trainer

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
LR = {"sgd": 0.2, "adagrad": 0.02, "adadelta": 1.0, "rmsprop": 0.002, "adam": 0.002}
#: sizes, activations, loss, biases, sparse first layer (its background value), credit
NETS = {
    "mlp-bp-cce": ([20, 12, 8, 5], ["relu", "tanh", "softmax"], "cce", True, None, "backprop"),
    "mlp-dfa-cce": ([20, 12, 8, 5], ["relu", "relu", "softmax"], "cce", True, None, "dfa"),
    "mlp-fa-mse": ([20, 12, 3], ["relu", "identity"], "mse", True, None, "fa"),
    "parity-sparse-dfa": ([30, 16, 1], ["relu", "sigmoid"], "bce", False, -0.4, "dfa"),
    "sparse-bias-bp": ([30, 16, 8, 4], ["relu", "relu", "softmax"], "cce", True, -0.4, "backprop"),
}


def _twins(opt_case, net_case, dtype, B=8):
    """Two trainers on equal copies of one network, and the network's data."""
    name, params = OPTIMIZERS[opt_case]
    sizes, acts, loss, bias, x0, credit = NETS[net_case]
    rng = np.random.default_rng(zlib.crc32(f"{opt_case}/{net_case}".encode()))
    mlp = MLP.create(sizes, acts, init="pytorch", bias=bias, rng=rng, dtype=dtype)
    net = Network(mlp, loss=loss, lr=LR[name], credit=credit, optimizer=name, optimizer_params=params,
                  rng=rng)
    feedback = net.credit_state.get("B")
    kind = "fa" if credit == "fa" else "dfa"
    trainers = []
    for _ in range(2):
        W = [w.copy() for w in mlp.weights]
        if x0 is not None:
            W[0] = np.asfortranarray(W[0])
        b = [None if v is None else v.copy() for v in mlp.biases]
        trainers.append(MinibatchOptimizer(W, b, acts, loss, LR[name], B, feedback=feedback,
                                           optimizer=name, optimizer_params=params,
                                           input_background=x0, credit=kind))
    X = rng.normal(size=(6 * B + 3, sizes[0])).astype(dtype)
    if x0 is not None:
        X[rng.random(X.shape) < 0.7] = dtype(x0)
    if loss == "bce":
        y = (rng.random(len(X)) < 0.5).astype(dtype)
    elif loss == "cce":
        y = rng.integers(0, sizes[-1], len(X))
    else:
        y = rng.normal(size=(len(X), sizes[-1]))
    Xv, Yv = net._check_xy(X, y)
    return trainers, Xv, Yv


def _params(tr):
    return [p for p in tr.weights + tr.biases if p is not None]


def _assert_bitwise(a: MinibatchOptimizer, b: MinibatchOptimizer) -> None:
    for p, q in zip(_params(a), _params(b)):
        assert p.dtype == q.dtype and p.tobytes() == q.tobytes()
        sp, sq = a._state[id(p)], b._state[id(q)]
        assert sp.keys() == sq.keys() and sp["t"] == sq["t"]
        for k in sp:
            if k != "t":
                assert sp[k].tobytes() == sq[k].tobytes(), k


def _batches(Xv, Yv, B, n=14):
    for k in range(n):
        j = k % 7  # the 7th batch of each round is the short one (3 rows)
        yield k, slice(j * B, (j + 1) * B)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("net_case", list(NETS))
@pytest.mark.parametrize("opt_case", list(OPTIMIZERS))
def test_one_plan_per_step_equals_per_parameter_plan(opt_case, net_case, dtype):
    (fast, each), Xv, Yv = _twins(opt_case, net_case, dtype)
    each._packed = lambda: None  # the per-parameter loop (fused_step / sparse_fused_step)
    W0 = [w.copy() for w in fast.weights]
    for k, s in _batches(Xv, Yv, 8):
        if k % 7 == 0:
            fast.set_epoch(k // 7)
            each.set_epoch(k // 7)
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
        _assert_bitwise(fast, each)
    assert fast.t == each.t == 14
    assert max(np.max(np.abs(a - b)) for a, b in zip(fast.weights, W0)) > 0  # it did learn


@pytest.mark.parametrize("opt_case", ["adam-step", "adadelta-thesis", "sgd"])
def test_step_counts_that_differ_fall_back_to_per_parameter_plans(opt_case):
    (fast, each), Xv, Yv = _twins(opt_case, "mlp-bp-cce", np.float64)
    each._packed = lambda: None
    for k, s in _batches(Xv, Yv, 8, n=3):
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
    for tr in (fast, each):  # one parameter stepped once more elsewhere
        tr._state[id(tr.biases[1])]["t"] += 1
    assert fast._packed() is None
    for k, s in _batches(Xv, Yv, 8, n=4):
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
        _assert_bitwise(fast, each)


def test_replaced_accumulators_are_picked_up():
    (fast, each), Xv, Yv = _twins("adam-step", "mlp-dfa-cce", np.float32)
    each._packed = lambda: None
    for k, s in _batches(Xv, Yv, 8, n=2):
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
    for tr in (fast, each):  # new arrays (as a state restored from a copy would hold)
        st = tr._state[id(tr.weights[0])]
        st["m"], st["v"] = st["m"].copy(), st["v"].copy()
    for k, s in _batches(Xv, Yv, 8, n=3):
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
        _assert_bitwise(fast, each)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, out, n_out", [("cce", "softmax", 6), ("cce", "identity", 6),
                                              ("bce", "sigmoid", 1), ("mse", "identity", 3)])
def test_loss_value_equals_the_loss_bit_for_bit(loss, out, n_out, dtype):
    rng = np.random.default_rng(3)
    sizes = [12, 10, n_out]
    W = [rng.normal(0, 2.0, (sizes[i + 1], sizes[i])).astype(dtype) for i in range(2)]
    b = [rng.normal(0, 1.0, sizes[i + 1]).astype(dtype) for i in range(2)]
    tr = MinibatchOptimizer(W, b, ["relu", out], loss, 0.01, 16, optimizer="adam")
    L, act = get_loss(loss), get_activation(out)
    for Bn in (16, 5, 16, 1):
        X = rng.normal(size=(Bn, 12)).astype(dtype)
        if loss == "cce":
            Y = L.encode(rng.integers(0, n_out, Bn), n_out, dtype)
            if Bn == 5:
                Y = rng.dirichlet(np.ones(n_out), Bn).astype(dtype)  # soft targets
        elif loss == "bce":
            Y = (rng.random((Bn, 1)) < 0.5).astype(dtype)
        else:
            Y = rng.normal(size=(Bn, n_out)).astype(dtype)
        tr.step(X, Y)
        want = L.value(tr._z[-1][:Bn], Y, act)
        got = tr.loss_value(Y)
        assert type(got) is float and np.float64(got).tobytes() == np.float64(want).tobytes()
        # targets of another dtype go through the loss itself (its encode casts them)
        assert tr.loss_value(Y.astype(np.float64 if dtype == np.float32 else np.float32)) == \
            L.value(tr._z[-1][:Bn], Y.astype(np.float64 if dtype == np.float32 else np.float32), act)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trainer_step_returns_the_loss_of_its_pre_update_logits(dtype):
    rng = np.random.default_rng(5)
    mlp = MLP.create([20, 12, 8, 5], ["relu", "relu", "softmax"], init="he_uniform", bias=True,
                     rng=rng, dtype=dtype)
    net = Network(mlp, loss="cce", lr=1e-3, optimizer="adam", rng=rng)
    trainer = Trainer(net, 8)
    assert trainer.backend == "minibatch"
    X = rng.random((43, 20)).astype(dtype)
    y = rng.integers(0, 5, 43)
    for s in range(0, 43, 8):
        value, z = trainer.step(Batch(X[s:s + 8], y[s:s + 8]))
        want = net.loss.value(z, y[s:s + 8], mlp.acts[-1])
        assert np.float64(value).tobytes() == np.float64(want).tobytes()


def test_a_bias_of_another_dtype_is_planned_on_its_own():
    (fast, each), Xv, Yv = _twins("adam-step", "mlp-bp-cce", np.float32)
    for tr in (fast, each):
        b = tr.biases[0].astype(np.float64)
        tr._state[id(b)] = tr.optimizer.init_state(b)
        tr.biases[0] = b
    each._packed = lambda: None
    assert fast._packed() is None
    for k, s in _batches(Xv, Yv, 8, n=3):
        fast.step(Xv[s], Yv[s])
        each.step(Xv[s], Yv[s])
        _assert_bitwise(fast, each)
