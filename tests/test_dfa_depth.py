"""Teaching signals against depth (book/dfa/beyond.ipynb): the signal sizes against an independent
numpy chain rule, the depth behaviour the recursions predict, and the verdict's rules."""

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import dfa_depth as D


def test_signal_rms_and_its_errors():
    assert D.signal_rms(np.array([[3.0, 4.0], [0.0, 0.0]])) == pytest.approx(np.sqrt(25 / 4))
    with pytest.raises(ValueError, match="batch, units"):
        D.signal_rms(np.ones(3))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="credit"):
        D.SignalDepthConfig(credit="fa")
    with pytest.raises(ValueError, match="init_gain"):
        D.SignalDepthConfig(init_gain=0.0)
    with pytest.raises(ValueError, match="depth"):
        D.SignalDepthConfig(depth=0)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_backprop_signals_at_init_match_a_plain_numpy_chain_rule():
    """Step 0 of a backprop run: delta_L = softmax(z_L) - Y, delta_l = (delta_{l+1} W_{l+1}) * s'(z_l),
    written here from scratch on the same weights (same seed, same init draws)."""
    from learning_rules.experiments.foundations import _mnist_subset
    from learning_rules.nn import MLP

    cfg = D.SignalDepthConfig(depth=3, width=16, num_steps=0, n_train=40, probe_size=30, init_gain=1.3)
    frame = D.signal_depth(cfg)
    X, y = _mnist_subset("train", 0, 70)
    Xp, yp = X[40:], y[40:]
    rng = np.random.default_rng(cfg.seed)
    mlp = MLP.create([784, 16, 16, 16, 10], ["sigmoid"] * 3 + ["softmax"], init=cfg.init, rng=rng)
    Ws = [W * cfg.init_gain for W in mlp.weights]
    bs = [np.zeros(W.shape[0]) if b is None else b for W, b in zip(Ws, mlp.biases)]
    h, zs = Xp, []
    for W, b in zip(Ws, bs):
        z = h @ W.T + b
        zs.append(z)
        h = _sigmoid(z)
    p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = p - np.eye(10)[yp]
    expected = []
    for l in range(2, -1, -1):
        s = _sigmoid(zs[l])
        delta = (delta @ Ws[l + 1]) * s * (1 - s)
        expected.insert(0, np.sqrt(np.mean(delta ** 2)))
    got = frame[frame["step"] == 0].sort_values("layer")["signal_rms"].to_numpy()
    # the engine may scale the output error by 1/batch; the ratios between layers cannot differ
    assert got[:-1] / got[-1] == pytest.approx(np.array(expected[:-1]) / expected[-1], rel=1e-9)


def test_deep_sigmoid_signals_vanish_under_backprop_and_not_under_dfa():
    """The recursions' prediction at initialization, 6 sigmoid layers: backprop's first-layer signal
    is at least 100x smaller than its last hidden layer's (sigma' <= 1/4 per layer); DFA's is within
    a factor 1.5 of it (one projection of e, at every depth)."""
    frames = [D.signal_depth(D.SignalDepthConfig(depth=6, width=64, credit=c, num_steps=0, n_train=20,
                                                 probe_size=200)).assign(credit=c, depth=6, seed=0)
              for c in ("backprop", "dfa")]
    frame = pd.concat(frames).assign(setting="sigmoid", rule=lambda f: f["credit"].map({"backprop": "BP", "dfa": "DFA"}))
    ratios = D.layer_ratios(frame).set_index("rule")["ratio"]
    assert ratios["BP"] < 1e-2
    assert 1 / 1.5 < ratios["DFA"] < 1.5


def _ratios(rows):
    return pd.DataFrame(rows, columns=["setting", "rule", "depth", "step", "ratio"]).assign(
        low=np.nan, high=np.nan, seeds=1)


def test_verdicts_at_initialization_and_in_training_are_separate_and_divergence_is_not_closer():
    ok = _ratios([("s", "BP", 6, 0, 1e-3), ("s", "DFA", 6, 0, 1.1),
                  ("s", "BP", 6, 50, 1e-3), ("s", "DFA", 6, 50, 0.9)])
    init_ok, train_ok, text = D.signal_verdict(ok)
    assert (init_ok, train_ok) == (True, True) and "2 of 2" not in text and "1 of 1" in text
    grew = _ratios([("s", "BP", 6, 0, 40.0), ("s", "DFA", 6, 0, 1.0),
                    ("s", "BP", 6, 50, 2.0), ("s", "DFA", 6, 50, 5.0),   # DFA's grew past BP's
                    ("s", "BP", 6, 100, np.nan), ("s", "DFA", 6, 100, 3.0),  # BP diverged: DFA closer
                    ("s", "BP", 6, 150, np.nan), ("s", "DFA", 6, 150, np.nan)])  # both gone: skipped
    init_ok, train_ok, text = D.signal_verdict(grew)
    assert (init_ok, train_ok) == (True, False)
    assert "1 of 2 (setting, depth, step) cases" in text and "s, 6 layers, step 50" in text
    gone = _ratios([("s", "BP", 6, 0, 40.0), ("s", "DFA", 6, 0, np.nan)])
    assert D.signal_verdict(gone)[0] is False
    assert D.signal_verdict(_ratios([("s", "BP", 2, 0, 0.5), ("s", "DFA", 2, 0, 1.0)]))[2].startswith(
        "no run with at least 4")


def test_divergence_table_counts_runs_and_first_divergence():
    frame = pd.DataFrame({
        "setting": "s", "rule": ["BP"] * 4 + ["DFA"] * 2, "depth": 4,
        "seed": [0, 0, 1, 1, 0, 0], "step": [0, 10, 0, 5, 0, 10], "layer": 1, "signal_rms": 1.0,
        "probe_accuracy": [0.1, 0.8, 0.1, np.nan, 0.1, 0.6],
        "diverged": [False, False, False, True, False, False]})
    table = D.divergence_table(frame).set_index("rule")
    assert table.loc["BP", "runs"] == 2 and table.loc["BP", "diverged"] == 1
    assert table.loc["BP", "first divergence at step"] == 5
    assert table.loc["BP", "final probe accuracy (finite runs)"] == pytest.approx(0.8)
    assert table.loc["DFA", "diverged"] == 0


def _profiles(runs) -> pd.DataFrame:
    """Rows of a depth frame: ``runs`` = (setting, rule, seed, last step reached, rms at the last
    step); every run records steps 0 and its last step, layers 1-3 of a 3-layer net."""
    rows = []
    for setting, rule, seed, last, rms in runs:
        for step, value in ((0, 1.0), (last, rms)):
            for layer in (1, 2, 3):
                rows.append(dict(setting=setting, rule=rule, depth=3, seed=seed, step=step, layer=layer,
                                 signal_rms=value))
    return pd.DataFrame(rows)


def test_figures_name_the_lines_they_cannot_draw():
    frame = _profiles([("a", "BP", 0, 300, 0.5), ("a", "BP", 1, 50, np.nan),  # one seed lost: drawn
                       ("a", "DFA", 0, 300, 0.2),
                       ("b", "BP", 0, 40, np.nan), ("b", "BP", 1, 120, 2.0),  # no seed reached 300
                       ("b", "DFA", 0, 300, 0.3),
                       ("c", "BP", 0, 10, np.inf), ("c", "BP", 1, 90, np.nan),  # both stopped early
                       ("c", "DFA", 0, 300, 0.1)])
    assert D.profile_gaps(frame, 3) == [("b", "BP", "after 300 steps"), ("c", "BP", "after 300 steps")]
    sentence = D.gaps_sentence(D.profile_gaps(frame, 3))
    assert "BP on b after 300 steps" in sentence and "BP on c after 300 steps" in sentence
    assert D.gaps_sentence(D.profile_gaps(frame[frame.setting == "a"], 3)) == ""
    ratios = D.layer_ratios(frame)
    assert D.ratio_gaps(ratios) == [("b", "BP", "after 300 steps", "3"), ("c", "BP", "after 300 steps", "3")]
    fig = D.plot_profiles(frame, 3)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["BP after 300 steps: diverged", "BP after 300 steps: diverged"]
