"""The compiled single-sample loop equals the NumPy reference ``Network.fit_steps``.

Oracle: the project's reference engine (``learning_rules.engine.Network``), run step by step in
NumPy on a deep copy of the same network. After 1,000 steps every weight, bias, dual half, running
mean ``G`` and per-step loss must agree within 1e-12 (the two differ only in summation order).
A second, independent oracle is a literal loop written here from the spec's equations.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from learning_rules.engine import Network
from learning_rules.fast import (
    FAST_METHODS,
    evaluate_batched,
    fit_steps,
    forward_logits,
    supports,
    train_single_sample,
    unsupported_reason,
)
from learning_rules.nn.mlp import MLP

TOL = 1e-12

#: fast-path method -> Network keyword arguments that select the same rule in the reference
RULES = {
    "sgd": dict(update="gradient"),
    "l2_coded": dict(update="gradient", l2=0.1, l2_form="coded"),
    "l2_decoupled": dict(update="gradient", l2=0.1, l2_form="decoupled"),
    "l2_loss": dict(update="gradient", l2=0.1, l2_form="loss", n_train=7),
    "dual_weight": dict(update="dual_weight"),
    "dual_weight_stabilized": dict(update="dual_weight_stabilized"),
}
LOSSES = ("squared_error", "mse", "cce", "bce")


def _targets(rng, loss, n, n_out):
    if loss == "cce":
        return rng.integers(0, n_out, n)
    if loss == "bce":
        return (rng.random((n, n_out)) < 0.5).astype(float)
    return rng.normal(size=(n, n_out))


def _problem(sizes, acts, loss, rule, credit="backprop", seed=0, n=40, steps=1000, lr=0.01,
             sparse=0.4, **net_kw):
    rng = np.random.default_rng(seed)
    mlp = MLP.create(sizes, acts, rng=rng, bias_init=0.1)
    net = Network(mlp, credit=credit, loss=loss, lr=lr, rng=rng, **RULES[rule], **net_kw)
    X = rng.random((n, sizes[0]))
    X[X < sparse] = 0.0  # exercise the zero-input skips
    y = _targets(rng, loss, n, sizes[-1])
    idx = rng.integers(0, n, steps)
    return net, X, y, idx


def _max_diff(ref: Network, fast: Network, l_ref, l_fast) -> float:
    d = float(np.max(np.abs(l_ref - l_fast)))
    for a, b in zip(ref.mlp.weights, fast.mlp.weights):
        d = max(d, float(np.max(np.abs(a - b))))
    for a, b in zip(ref.mlp.biases, fast.mlp.biases):
        if a is not None:
            d = max(d, float(np.max(np.abs(a - b))))
    for s_ref, s_fast in zip(ref.layer_states, fast.layer_states):
        for key in ("W1", "W2", "G"):
            if s_ref is not None and key in s_ref:
                d = max(d, float(np.max(np.abs(s_ref[key] - s_fast[key]))))
    return d


def _run_both(net, X, y, idx):
    fast_net = copy.deepcopy(net)
    W0 = [W.copy() for W in net.mlp.weights]
    l_ref = net.fit_steps(X, y, idx, backend="numpy")
    l_fast = fit_steps(fast_net, X, y, idx)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(net.mlp.weights, W0))
    return fast_net, l_ref, l_fast, moved


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("rule", list(RULES))
def test_equals_reference_backprop(rule, loss):
    acts = ["relu", "tanh", "identity"] if loss != "bce" else ["leaky_relu:0.1", "sigmoid", "sigmoid"]
    net, X, y, idx = _problem([20, 8, 6, 3], acts, loss, rule)
    assert supports(net), unsupported_reason(net)
    fast_net, l_ref, l_fast, moved = _run_both(net, X, y, idx)
    assert moved > 0.05  # the comparison is not vacuous: training moved the weights
    assert _max_diff(net, fast_net, l_ref, l_fast) <= TOL
    assert fast_net.steps_done == net.steps_done == len(idx)


@pytest.mark.parametrize("credit", ["fa", "dfa"])
@pytest.mark.parametrize("rule", ["sgd", "l2_coded", "dual_weight", "dual_weight_stabilized"])
def test_equals_reference_feedback_alignment(credit, rule):
    net, X, y, idx = _problem([20, 8, 6, 3], ["relu", "sigmoid", "identity"], "cce", rule, credit=credit)
    fast_net, l_ref, l_fast, moved = _run_both(net, X, y, idx)
    assert moved > 0.05
    assert _max_diff(net, fast_net, l_ref, l_fast) <= TOL


@pytest.mark.parametrize("rule", ["sgd", "dual_weight"])
def test_equals_reference_options(rule):
    """Frozen layers, layers without bias, softmax output (cce) and the dual options."""
    rng = np.random.default_rng(3)
    mlp = MLP.create([12, 9, 4], ["leaky_relu:0.2", "softmax"], bias=[False, True], rng=rng)
    kw = {} if rule == "sgd" else dict(update_params=dict(lr_bias=0.003, clip=True))
    net = Network(mlp, loss="cce", lr=0.02, rng=rng, trainable=[True, False] if rule == "sgd" else None,
                  **RULES[rule], **kw)
    X = rng.random((30, 12))
    y = rng.integers(0, 4, 30)
    fast_net, l_ref, l_fast, moved = _run_both(net, X, y, rng.integers(0, 30, 1000))
    assert moved > 0.05
    assert _max_diff(net, fast_net, l_ref, l_fast) <= TOL


def test_stabilizer_options_equal_reference():
    net, X, y, idx = _problem([10, 7, 2], ["tanh", "identity"], "squared_error", "dual_weight_stabilized",
                              update_params=dict(gain=0.3, rate_cap=0.5, G_init=0.2, G_lr=0.05))
    fast_net, l_ref, l_fast, moved = _run_both(net, X, y, idx)
    assert moved > 0.05
    assert _max_diff(net, fast_net, l_ref, l_fast) <= TOL


@pytest.mark.parametrize("rule", ["sgd", "dual_weight", "dual_weight_stabilized"])
def test_equals_reference_mnist_784_64_32_10(rule, shared_data):
    """The dual-weight paper's MNIST net, 1,000 steps on real digits, lr 1e-3 as in the paper."""
    from learning_rules.data.loaders import load

    X, y = load("mnist", "test", dtype=np.float64)
    X, y = X[:2000], y[:2000]
    rng = np.random.default_rng(5)
    mlp = MLP.create([784, 64, 32, 10], ["relu", "relu", "identity"], init="he_normal", rng=rng)
    net = Network(mlp, loss="cce", lr=1e-3, rng=rng, **RULES[rule])
    fast_net, l_ref, l_fast, moved = _run_both(net, X, y, rng.integers(0, 2000, 1000))
    assert moved > 1e-3
    assert _max_diff(net, fast_net, l_ref, l_fast) <= TOL


def test_resume_in_two_calls_equals_one():
    """State (W1, W2, G, biases) round-trips through the Network: 600 + 400 steps == 1000 steps."""
    net, X, y, idx = _problem([20, 8, 6, 3], ["relu", "relu", "identity"], "cce", "dual_weight_stabilized")
    one = copy.deepcopy(net)
    fit_steps(one, X, y, idx)
    fit_steps(net, X, y, idx[:600])
    fit_steps(net, X, y, idx[600:])
    assert _max_diff(one, net, np.zeros(1), np.zeros(1)) == 0.0


def _literal_loop(Ws, bs, X, T, idx, method, lr, lam):
    """An independent oracle written from spec sec. 10: one sample at a time, ReLU hidden, cce."""
    Ws = [W.copy() for W in Ws]
    bs = [b.copy() for b in bs]
    W1 = [W.copy() for W in Ws]
    W2 = [np.zeros_like(W) for W in Ws]
    G = [np.ones(W.shape[0]) for W in Ws]
    L = len(Ws)
    for t in idx:
        if method.startswith("dual"):
            Ws = [a - b for a, b in zip(W1, W2)]
        hs, zs = [X[t]], []
        for l in range(L):
            zs.append(Ws[l] @ hs[-1] + bs[l])
            hs.append(np.maximum(zs[-1], 0) if l < L - 1 else zs[-1])
        p = np.exp(zs[-1] - zs[-1].max())
        g = [None] * L
        g[-1] = p / p.sum() - T[t]
        for l in range(L - 2, -1, -1):
            g[l] = (Ws[l + 1].T @ g[l + 1]) * (zs[l] > 0)
        for l in range(L):
            if method == "sgd":
                Ws[l] = Ws[l] - lr * np.outer(g[l], hs[l])
            elif method == "l2_coded":
                Ws[l] = Ws[l] - lr * (np.outer(g[l], hs[l]) + lam * Ws[l] / np.linalg.norm(Ws[l]))
            else:
                ap, am = np.maximum(-g[l], 0), np.maximum(g[l], 0)
                if method == "dual_weight_stabilized":
                    ap, am = np.minimum(1, 0.1 * ap / G[l]), np.minimum(1, 0.1 * am / G[l])
                ap, am = lr * ap, lr * am
                W1[l] = (1 - ap)[:, None] * W1[l] + np.outer(ap, hs[l])
                W2[l] = (1 - am)[:, None] * W2[l] + np.outer(am, hs[l])
                if method == "dual_weight_stabilized":
                    nz = g[l] != 0
                    G[l][nz] = (1 - lr) * G[l][nz] + lr * np.abs(g[l][nz])
            bs[l] = bs[l] - lr * g[l]
    if method.startswith("dual"):
        Ws = [a - b for a, b in zip(W1, W2)]
    return Ws, bs


@pytest.mark.parametrize("method", ["sgd", "l2_coded", "dual_weight", "dual_weight_stabilized"])
def test_equals_literal_loop_on_arrays(method):
    rng = np.random.default_rng(11)
    sizes = [20, 8, 6, 3]
    Ws = [rng.normal(0, np.sqrt(2 / a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    X = rng.random((50, 20))
    y = rng.integers(0, 3, 50)
    idx = rng.integers(0, 50, 1000)
    res = fit_steps((Ws, bs), X, y, idx, method=method, lr=0.01, loss="cce", lam=0.1)
    W_ref, b_ref = _literal_loop(Ws, bs, X, np.eye(3)[y], idx, method, 0.01, 0.1)
    for a, b in zip(res.weights + res.biases, W_ref + b_ref):
        assert np.max(np.abs(a - b)) <= TOL
    assert res.losses.shape == (1000,)


@pytest.mark.parametrize("method", list(FAST_METHODS))
def test_deterministic_and_inputs_untouched(method):
    rng = np.random.default_rng(2)
    Ws = [rng.normal(size=(7, 5)), rng.normal(size=(2, 7))]
    bs = [np.zeros(7), np.zeros(2)]
    X = rng.random((20, 5))
    Y = rng.normal(size=(20, 2))
    idx = rng.integers(0, 20, 300)
    before = [W.copy() for W in Ws]
    a = train_single_sample(Ws, bs, X, Y, idx, method=method, lr=0.01, loss="mse", lam=0.01)
    b = train_single_sample(Ws, bs, X, Y, idx, method=method, lr=0.01, loss="mse", lam=0.01)
    for u, v in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(u, v)
    assert np.array_equal(a.losses, b.losses)
    assert all(np.array_equal(u, v) for u, v in zip(Ws, before))
    assert not np.array_equal(a.weights[0], before[0])


def test_zero_steps_is_identity():
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    res = train_single_sample(Ws, None, rng.random((5, 3)), rng.normal(size=(5, 2)),
                              np.zeros(0, dtype=np.int64), method="dual_weight", lr=0.1, loss="mse")
    assert all(np.array_equal(a, b) for a, b in zip(res.weights, Ws))
    assert res.losses.shape == (0,)


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------

def _args():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))], [np.zeros(4), np.zeros(2)], \
        rng.random((6, 3)), rng.normal(size=(6, 2)), np.array([0, 5, 2])


@pytest.mark.parametrize("bad, match", [
    (dict(method="adam"), "valid names: sgd, l2_coded"),
    (dict(loss="hinge"), "valid names: squared_error, mse, cce, bce"),
    (dict(credit="hebb"), "valid names: backprop, dfa, fa"),
    (dict(activations=["gelu", "identity"]), "valid names: identity, relu"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be"),
    (dict(lam=-1.0), "lam must be"),
    (dict(credit="dfa"), "needs feedback"),
    (dict(loss="cce", activations=["relu", "tanh"]), "takes logits"),
])
def test_bad_options_raise(bad, match):
    Ws, bs, X, Y, idx = _args()
    kw = dict(method="sgd", lr=0.1, loss="mse")
    kw.update(bad)
    if kw["loss"] == "cce":
        Y = np.array([0, 1, 0, 1, 1, 0])
    with pytest.raises(ValueError, match=match):
        train_single_sample(Ws, bs, X, Y, idx, **kw)


def test_bad_data_raise():
    Ws, bs, X, Y, idx = _args()
    kw = dict(method="sgd", lr=0.1, loss="mse")
    X_nan = X.copy()
    X_nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        train_single_sample(Ws, bs, X_nan, Y, idx, **kw)
    with pytest.raises(ValueError, match="X has 4 features"):
        train_single_sample(Ws, bs, np.ones((6, 4)), Y, idx, **kw)
    with pytest.raises(ValueError, match="indices must lie in 0..5"):
        train_single_sample(Ws, bs, X, Y, np.array([0, 6]), **kw)
    with pytest.raises(ValueError, match="1-D integer"):
        train_single_sample(Ws, bs, X, Y, np.array([0.0, 1.0]), **kw)
    with pytest.raises(ValueError, match="Y has 5 rows"):
        train_single_sample(Ws, bs, X, Y[:5], idx, **kw)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 5\)"):
        train_single_sample([Ws[0], np.ones((2, 5))], bs, X, Y, idx, **kw)
    with pytest.raises(ValueError, match=r"biases\[0\]"):
        train_single_sample(Ws, [np.zeros(3), np.zeros(2)], X, Y, idx, **kw)
    with pytest.raises(ValueError, match="cce labels must lie in 0..1"):
        train_single_sample(Ws, bs, X, np.array([0, 1, 2, 0, 0, 0]), idx, method="sgd", lr=0.1,
                            loss="cce", activations=["relu", "identity"])


def test_supports_and_reasons():
    rng = np.random.default_rng(0)
    mlp = MLP.create([5, 4, 2], ["relu", "identity"], rng=rng)
    assert supports(Network(mlp.copy(), loss="mse", rng=rng))
    adam = Network(mlp.copy(), loss="mse", optimizer="adam", rng=rng)
    assert not supports(adam)
    assert "adam" in unsupported_reason(adam)
    with pytest.raises(ValueError, match="adam"):
        fit_steps(adam, np.ones((3, 5)), np.ones((3, 2)), [0, 1])
    f32 = MLP.create([5, 4, 2], ["relu", "identity"], rng=rng, dtype=np.float32)
    assert "float64" in unsupported_reason(Network(f32, loss="mse", rng=rng))
    assert supports({"method": "dual_weight", "loss": "cce", "activations": ["relu", "identity"]})
    assert not supports({"method": "dual_weight", "loss": "cce", "activations": ["relu", "relu"]})
    assert not supports({"method": "sgd", "loss": "mse", "batch_size": 128})
    assert "valid names" in unsupported_reason({"method": "rmsprop", "loss": "mse"})


def test_credit_recognised_by_its_declared_name():
    """The fast path reads the credit rule's declared ``name`` (its registry name) and takes it
    only from the class registered under that name: a subclass or look-alike may compute other
    signals than the kernels, so it keeps the reference, with the usual reason."""
    from learning_rules.credit import Backprop

    rng = np.random.default_rng(0)
    mlp = MLP.create([5, 4, 2], ["relu", "identity"], rng=rng)
    for credit in ("backprop", "fa", "dfa"):
        assert supports(Network(mlp.copy(), credit=credit, loss="mse", rng=rng))

    class ScaledBackprop(Backprop):  # same declared name, other signals
        def deltas(self, mlp, cache, e, state):
            return [2.0 * dl for dl in super().deltas(mlp, cache, e, state)]

    class Unknown(Backprop):
        name = "kolen_pollack"

    for credit in (ScaledBackprop(), Unknown()):
        reason = unsupported_reason(Network(mlp.copy(), credit=credit, loss="mse", rng=rng))
        assert reason is not None and "has no fast path; valid: backprop, dfa, fa" in reason


# ------------------------------------------------------------------------------------------------
# batched evaluation
# ------------------------------------------------------------------------------------------------

def test_evaluate_batched_equals_per_sample_forward():
    rng = np.random.default_rng(4)
    mlp = MLP.create([9, 7, 5, 3], ["relu", "tanh", "identity"], rng=rng, bias_init=0.2)
    X = rng.random((25, 9))
    y = rng.integers(0, 3, 25)
    z = forward_logits(mlp.weights, mlp.biases, mlp.activations, X, chunk=4)
    for i in range(25):
        assert np.allclose(z[i], mlp.forward(X[i:i + 1]).z[-1][0], rtol=0, atol=1e-13)
    net = Network(mlp, loss="cce", rng=rng)
    ev = evaluate_batched(mlp.weights, mlp.biases, mlp.activations, X, y, "cce", chunk=7)
    ref = net.evaluate(X, y)
    assert ev["accuracy"] == ref.accuracy
    assert abs(ev["loss"] - ref.loss) <= 1e-12
    reg = evaluate_batched(mlp.weights, mlp.biases, mlp.activations, X, rng.normal(size=(25, 3)), "mse")
    assert np.isnan(reg["accuracy"]) and reg["mse"] >= 0


# -- dispatch from the engine ------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["sgd", "dual_weight_stabilized"])
def test_network_dispatches_batch_one_to_fast_path_with_equal_results(rule):
    """``Network.fit(batch_size=1)`` and ``fit_steps(backend="auto")`` take the compiled loop and
    land where the NumPy reference lands (same permutation draws, same arithmetic up to 1e-12)."""
    net, X, y, idx = _problem([6, 5, 4, 3], ["relu", "relu", "identity"], "cce", rule)
    ref, auto = copy.deepcopy(net), copy.deepcopy(net)
    calls = []
    import learning_rules.fast as fast_mod

    real = fast_mod.fit_steps

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    fast_mod.fit_steps = spy
    try:
        l_auto = auto.fit(X, y, num_epochs=3, batch_size=1, rng=np.random.default_rng(3))
        s_auto = auto.fit_steps(X, y, idx[:200])
    finally:
        fast_mod.fit_steps = real
    assert len(calls) == 4  # three epochs + one fit_steps call went through the compiled loop

    n = X.shape[0]
    rng = np.random.default_rng(3)
    l_ref = []
    for _ in range(3):
        l_ref.append(float(np.mean(ref.fit_steps(X, y, rng.permutation(n), backend="numpy"))))
    s_ref = ref.fit_steps(X, y, idx[:200], backend="numpy")
    np.testing.assert_allclose(l_auto, l_ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(s_auto, s_ref, rtol=0, atol=TOL)
    for a, b in zip(ref.mlp.weights, auto.mlp.weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)


def test_network_backend_fast_refuses_unsupported_and_names_reason():
    rng = np.random.default_rng(0)
    mlp = MLP.create([4, 3, 2], ["relu", "identity"], rng=rng)
    net = Network(mlp, loss="cce", optimizer="adam", lr=0.01, rng=rng)
    X, y = rng.random((5, 4)), rng.integers(0, 2, 5)
    with pytest.raises(ValueError, match="fast path does not apply.*adam"):
        net.fit_steps(X, y, [0, 1], backend="fast")
    with pytest.raises(ValueError, match="backend must be"):
        net.fit_steps(X, y, [0, 1], backend="gpu")
    assert net.fit_steps(X, y, [0, 1]).shape == (2,)  # auto falls back to the reference
