"""The lazy-baseline models of the parity chapter: gradients, equivalences, determinism."""

import numpy as np
import pytest

from learning_rules.experiments.dfa_parity import (
    LAZY_METHODS,
    GatedNet,
    LazyParityConfig,
    bce_value,
    gated_gradients,
    hard_gate,
    parity_curve_specs,
    soft_gate,
    train_lazy_parity,
)


def _problem(seed=0, B=7, D=6, H=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, D))
    y = rng.integers(0, 2, size=(B, 1)).astype(float)
    W1 = rng.standard_normal((H, D)) * 0.5
    W2 = rng.standard_normal((1, H)) * 0.5
    return rng, X, y, W1, W2


def _loss(W1, W2, X, y, gate):
    return gated_gradients(W1, W2, X, y, gate)[0]


@pytest.mark.parametrize("gate_kind", ["relu", "identity", "soft", "hard"])
def test_gated_gradients_match_finite_differences(gate_kind):
    rng, X, y, W1, W2 = _problem(1)
    Wg = rng.standard_normal(W1.shape)
    gate = {"relu": None, "identity": np.ones((X.shape[0], W1.shape[0])),
            "soft": soft_gate(X, Wg), "hard": hard_gate(X, Wg)}[gate_kind]
    _, gW1, gW2, _ = gated_gradients(W1, W2, X, y, gate)
    eps = 1e-6
    for W, g in ((W1, gW1), (W2, gW2)):
        num = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + eps
            up = _loss(W1, W2, X, y, gate)
            W[idx] = old - eps
            down = _loss(W1, W2, X, y, gate)
            W[idx] = old
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_bce_value_by_hand():
    z = np.array([[0.0], [2.0]])
    y = np.array([[1.0], [0.0]])
    expected = (np.log(2.0) + np.log(1.0 + np.exp(2.0))) / 2
    assert bce_value(z, y) == pytest.approx(expected, rel=1e-12)


def _engine_twin(net, trainable):
    from learning_rules.engine import Network
    from learning_rules.nn import MLP

    mlp = MLP(weights=[net.W1.copy(), net.W2.copy()], biases=[None, None],
              activations=["relu", "sigmoid"])
    return Network(mlp, credit="backprop", loss="bce", lr=net.optimizer.lr, optimizer="adadelta",
                   optimizer_params={"variant": "zeiler", "rho": 0.9, "eps": 1e-6},
                   trainable=trainable, rng=np.random.default_rng(0))


@pytest.mark.parametrize("method,trainable", [("relu_features", [False, True]), ("bp", [True, True])])
def test_gated_net_equals_engine_network(method, trainable):
    """ReLU features = the engine's Network with a frozen first layer (and BP = all layers)."""
    rng = np.random.default_rng(3)
    net = GatedNet(method, 12, 8, "adadelta", 0.05, rng,
                   {"variant": "zeiler", "rho": 0.9, "eps": 1e-6}, np.float64)
    twin = _engine_twin(net, trainable)
    for _ in range(5):
        X = rng.standard_normal((9, 12))
        y = rng.integers(0, 2, 9)
        net.step(X, y[:, None].astype(float))
        twin.train_step(X, y)
    np.testing.assert_allclose(net.W1, twin.mlp.weights[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.W2, twin.mlp.weights[1], rtol=1e-10, atol=1e-13)


def test_output_only_step_equals_full_step_for_frozen_methods():
    for method in ("relu_features", "gaussian_features", "linear_features"):
        a = GatedNet(method, 10, 6, "adadelta", 0.05, np.random.default_rng(5), dtype=np.float64)
        b = GatedNet(method, 10, 6, "adadelta", 0.05, np.random.default_rng(5), dtype=np.float64)
        W1_0 = a.W1.copy()
        rng = np.random.default_rng(6)
        for _ in range(4):
            X = rng.standard_normal((5, 10))
            Y = rng.integers(0, 2, (5, 1)).astype(float)
            la, _ = a.step(X, Y)
            lb, _ = b.step_output_only(b.features(X), Y)
            assert la == pytest.approx(lb, rel=1e-12)
        np.testing.assert_allclose(a.W2, b.W2, rtol=1e-12)
        np.testing.assert_array_equal(a.W1, W1_0)  # frozen


def test_gate_definitions():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 7))
    hard = GatedNet("ntk_dm", 7, 9, "sgd", 0.5, np.random.default_rng(4), dtype=np.float64)
    bp = GatedNet("bp", 7, 9, "sgd", 0.5, np.random.default_rng(4), dtype=np.float64)
    # Daniely-Malach: at initialization the hard-gated net *is* the ReLU net...
    np.testing.assert_allclose(hard.features(X), bp.features(X))
    Y = rng.integers(0, 2, (20, 1)).astype(float)
    for _ in range(3):
        hard.step(X, Y)
    # ...and afterwards its gate still reads the initial weights, not the trained ones.
    assert not np.array_equal(hard.W1, hard.W_gate)
    np.testing.assert_array_equal(hard.gate(X), (X @ hard.W_gate.T > 0).astype(float))
    soft = GatedNet("ntk_coded", 7, 9, "sgd", 0.5, np.random.default_rng(4), dtype=np.float64)
    assert not np.allclose(soft.W_gate, soft.W1)  # independent frozen layer (spec 3)
    g = soft.gate(X)
    assert np.all((g > 0) & (g < 1))
    gauss = GatedNet("gaussian_features", 2352, 512, "adadelta", 0.05, np.random.default_rng(0))
    assert gauss.W1.std() == pytest.approx(np.sqrt(6 / (2352 + 512)), rel=0.01)
    assert set(LAZY_METHODS) >= {"relu_features", "gaussian_features", "linear_features",
                                  "ntk_coded", "ntk_dm"}


def test_config_validation():
    with pytest.raises(ValueError, match="parity method"):
        LazyParityConfig(method="random_features")
    with pytest.raises(ValueError, match="optimizer"):
        LazyParityConfig(optimizer="adam")
    with pytest.raises(ValueError, match="lr"):
        LazyParityConfig(lr=-1.0)


def test_lazy_run_is_deterministic_and_shares_train_parity_stream():
    from learning_rules.experiments.dfa import ParityConfig, train_parity

    cfg = LazyParityConfig(k=3, method="bp", optimizer="sgd", lr=0.1, num_epochs=1, n_hidden=16,
                           n_train=256, n_test=200, dtype="float64")
    f1, net1 = train_lazy_parity(cfg)
    f2, _ = train_lazy_parity(cfg)
    assert f1.equals(f2)
    # BP + SGD through the gated model equals the engine trainer on the same seed (same init,
    # same triplets, same steps).
    f3, net3 = train_parity(ParityConfig(k=3, credit="backprop", optimizer="sgd", lr=0.1,
                                         num_epochs=1, n_hidden=16, n_train=256, n_test=200,
                                         dtype="float64"))
    np.testing.assert_allclose(net1.W1, net3.mlp.weights[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f1["test_acc"], f3["test_acc"])
    lazy, _ = train_lazy_parity(cfg.replace(method="relu_features", optimizer="adadelta", lr=0.05))
    assert list(lazy["epoch"]) == [0, 1] and lazy["test_acc"].between(0, 1).all()


def test_curve_specs_cover_both_figures():
    specs = parity_curve_specs(3, seeds=[0, 1], num_epochs=2, n_train=100, n_test=100)
    labels = {label for label, _ in specs}
    assert {"BP SGD", "DFA SGD", "BP SGD (torch)", "BP Adadelta (torch)", "ReLU features",
            "Gaussian features", "linear features"} <= labels
    assert len(specs) == 2 * 9


@pytest.mark.parametrize("method, optimizer", [("bp", "sgd"), ("ntk_dm", "adadelta"),
                                               ("ntk_coded", "adadelta")])
def test_a_diverging_lazy_run_is_recorded_without_warnings(shared_data, method, optimizer):
    """As train_parity: no RuntimeWarning escapes, the run records from which epoch it diverged,
    takes no more steps (train columns NaN) and keeps evaluating."""
    import warnings

    from learning_rules.experiments.dfa_parity import LazyParityConfig, train_lazy_parity

    cfg = LazyParityConfig(method=method, optimizer=optimizer, lr=1e38, k=1, num_epochs=3,
                           n_train=256, n_test=128, n_hidden=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, net = train_lazy_parity(cfg)
    assert frame["diverged"].iloc[-1] and not frame["diverged"].iloc[0]
    first = int(frame.loc[frame["diverged"], "epoch"].min())
    assert frame.loc[frame["epoch"] > first, ["train_acc", "train_loss"]].isna().all().all()
    assert frame["test_acc"].between(0, 1).all()
    healthy, _ = train_lazy_parity(cfg.replace(lr=0.05, num_epochs=2))
    assert not healthy["diverged"].any() and healthy["train_loss"].iloc[1:].notna().all()


def test_parity_examples_show_k_digits_and_the_parity_of_their_sum():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from learning_rules.experiments.dfa_parity import plot_parity_examples

    fig = plot_parity_examples((1, 3), n=3, seed=1)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 6
    for title in titles:
        digits, label = title.split(": y = ")
        assert int(label) == sum(int(d) for d in digits.split(" + ")) % 2
    widths = [ax.get_images()[0].get_array().shape for ax in fig.axes]
    assert widths[:3] == [(28, 28)] * 3 and widths[3:] == [(28, 84)] * 3
    plt.close(fig)
    with pytest.raises(ValueError, match="k >= 1"):
        plot_parity_examples((0,), n=2)
