"""Tests of the feedback-alignment chapter's trainer (learning_rules.experiments.dfa) and of the
learning-rate selection on its validation split (learning_rules.experiments.lr_selection)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.credit import cosine_similarity
from learning_rules.data import make_mnist_parity, normalize_parity
from learning_rules.data.generators import parity_indices
from learning_rules.engine import Network
from learning_rules.experiments import EXPERIMENTS
from learning_rules.experiments import dfa as X
from learning_rules.experiments import dfa_pages
from learning_rules.experiments import lr_selection as sel
from learning_rules.nn import MLP


def fake_data(n_train=300, n_test=120, seed=0, dtype=np.float32) -> X.ParityData:
    """Random 28x28 'images' with digit labels: fast stand-ins for MNIST in unit tests."""
    rng = np.random.default_rng(seed)
    tr = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    return X.ParityData(normalize_parity(tr, dtype), rng.integers(0, 10, n_train),
                        normalize_parity(te, dtype), rng.integers(0, 10, n_test), "test")


SMALL = dict(k=1, num_epochs=2, batch_size=64, n_hidden=16)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("bad", [dict(credit="bp"), dict(lr=0.0), dict(lr=float("nan")), dict(k=0),
                                 dict(optimizer="adamw"), dict(feedback_init="normal"),
                                 dict(adam_step_count="steps"), dict(update="hebb"),
                                 dict(n_train=0), dict(dtype="float16"), dict(num_epochs=1.5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        X.ParityConfig(**bad)


def test_published_lr_reads_the_spec_tables():
    assert X.published_lr("backprop", "sgd") == 0.12
    assert X.published_lr("dfa", "adadelta") == 0.95
    assert X.published_lr("fa", "sgd") == X.published_lr("dfa", "sgd") == 0.018
    assert X.published_lr("dfa", "sgd", "standard_gaussian") == 0.001
    assert X.published_lr("dfa", "rmsprop", num_epochs=50) == 0.00022
    assert X.published_lr("dfa", "sgd", num_epochs=50) == 0.016
    with pytest.raises(ValueError, match="optimizers"):
        X.published_lr("dfa", "lbfgs")


def test_thesis_optimizer_hyperparameters():
    assert X.optimizer_params(X.ParityConfig(optimizer="adagrad")) == {"eps": 1e-8, "eps_placement": "inside"}
    assert X.optimizer_params(X.ParityConfig(optimizer="adam", adam_step_count="epoch"))["step_count"] == "epoch"
    assert X.optimizer_params(X.ParityConfig(optimizer="adadelta"))["variant"] == "thesis"


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("k", [1, 3])
def test_parity_batch_equals_the_data_layer_generator(k):
    rng_img = np.random.default_rng(1)
    imgs = rng_img.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = rng_img.integers(0, 10, 50)
    X_ref, y_ref = make_mnist_parity(imgs, labels, k, np.random.default_rng(5))
    idx = parity_indices(50, k, np.random.default_rng(5))
    Xb, yb = X.parity_batch(normalize_parity(imgs), labels, idx)
    np.testing.assert_array_equal(Xb, normalize_parity(X_ref))
    np.testing.assert_array_equal(yb, y_ref)


# --------------------------------------------------------------------------- trainer


def test_same_seed_same_numbers_bit_for_bit_and_seeds_differ():
    data = fake_data()
    cfg = X.ParityConfig(credit="dfa", lr=0.05, measure_alignment=True, alignment_batch=50, **SMALL)
    a, net_a = X.train_parity(cfg, data)
    b, net_b = X.train_parity(cfg, data)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    np.testing.assert_array_equal(net_a.mlp.weights[0], net_b.mlp.weights[0])
    c, net_c = X.train_parity(cfg.replace(seed=1), data)
    assert not np.array_equal(net_a.credit_state["B"][0], net_c.credit_state["B"][0])  # fresh B
    assert not np.array_equal(net_a.mlp.weights[0], net_c.mlp.weights[0])
    assert list(a["epoch"]) == [0, 1, 2]


@pytest.mark.parametrize("credit", ["backprop", "dfa"])
def test_fast_path_equals_reference_engine(credit):
    data = fake_data(dtype=np.float64)
    cfg = X.ParityConfig(credit=credit, lr=0.1, dtype="float64", **SMALL)
    fast, net_f = X.train_parity(cfg, data, backend="auto")
    ref, net_r = X.train_parity(cfg, data, backend="reference")
    for W_f, W_r in zip(net_f.mlp.weights, net_r.mlp.weights):
        np.testing.assert_allclose(W_f, W_r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast[["train_acc", "train_loss", "test_acc", "test_loss"]].to_numpy(float),
                               ref[["train_acc", "train_loss", "test_acc", "test_loss"]].to_numpy(float),
                               rtol=0, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("credit", ["backprop", "fa", "dfa"])
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_fast_path_equals_reference_engine_on_deeper_nets(credit, optimizer):
    """Three hidden layers, where FA (delta_{l+1} B_{l+1}) and DFA (e B_l) differ: the buffer
    trainers (sparse first layer) follow the reference engine's deltas to rounding, with alignment."""
    data = fake_data(dtype=np.float64)
    cfg = X.ParityConfig(credit=credit, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3,
                         dtype="float64", n_hidden_layers=3, measure_alignment=True,
                         alignment_batch=50, **SMALL)
    assert X.uses_buffers(cfg)
    fast, net_f = X.train_parity(cfg, data, backend="auto")
    ref, net_r = X.train_parity(cfg, data, backend="reference")
    for W_f, W_r in zip(net_f.mlp.weights, net_r.mlp.weights):
        np.testing.assert_allclose(W_f, W_r, rtol=0, atol=1e-12)
    cols = [c for c in ref.columns if c not in ("epoch", "eval_set", "diverged")]
    np.testing.assert_allclose(fast[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=0, atol=1e-9,
                               equal_nan=True)
    W0 = X.build_network(cfg, np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(3)[0])).mlp.weights
    assert all(np.abs(a - b).max() > 1e-6 for a, b in zip(net_f.mlp.weights, W0))  # every layer moved
    if credit == "fa":  # FA really differs from DFA here (not a relabelled DFA)
        dfa, _ = X.train_parity(cfg.replace(credit="dfa"), data)
        assert np.abs(dfa["train_loss"].to_numpy()[1:] - fast["train_loss"].to_numpy()[1:]).max() > 1e-6


def test_fast_trainer_checks_the_feedback_shapes():
    from learning_rules.fast import MinibatchSGD

    cfg = X.ParityConfig(credit="fa", lr=0.05, n_hidden_layers=2, dtype="float64", **SMALL)
    net = X.build_network(cfg, np.random.default_rng(0))
    mlp, B = net.mlp, net.credit_state["B"]
    with pytest.raises(ValueError, match="FA feedback matrices must have shapes"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, feedback=B)  # as DFA
    with pytest.raises(ValueError, match="credit must be 'dfa' or 'fa'"):
        MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, feedback=B, credit="bp")
    MinibatchSGD(mlp.weights, mlp.biases, mlp.activations, "bce", 0.1, 16, feedback=B, credit="fa")


def test_reference_step_equals_network_train_step():
    data = fake_data(dtype=np.float64)
    cfg = X.ParityConfig(credit="dfa", optimizer="rmsprop", lr=1e-3, dtype="float64", **SMALL)
    net_a = X.build_network(cfg, np.random.default_rng(3))
    net_b = X.build_network(cfg, np.random.default_rng(3))
    Xb, yb = X.parity_batch(data.train_images, data.train_labels, np.arange(32)[:, None])
    for _ in range(3):
        loss_a, _ = net_a._step(Xb, yb[:, None].astype(float))
        loss_b = net_b.train_step(Xb, yb)
        assert loss_a == loss_b
    np.testing.assert_array_equal(net_a.mlp.weights[0], net_b.mlp.weights[0])


def test_fa_equals_dfa_with_one_hidden_layer():
    data = fake_data()
    a, _ = X.train_parity(X.ParityConfig(credit="fa", lr=0.05, **SMALL), data, backend="reference")
    b, _ = X.train_parity(X.ParityConfig(credit="dfa", lr=0.05, **SMALL), data, backend="reference")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c, _ = X.train_parity(X.ParityConfig(credit="dfa", lr=0.05, **SMALL), data)  # float32 buffers
    pd.testing.assert_frame_equal(a, c, check_exact=False, rtol=1e-4)


def test_train_accuracy_is_measured_before_the_update():
    """One full-batch epoch: the logged train accuracy is the initial network's accuracy."""
    data = fake_data(n_train=200)
    cfg = X.ParityConfig(k=3, credit="backprop", lr=5.0, num_epochs=1, batch_size=200, n_hidden=8)
    frame, _ = X.train_parity(cfg, data)
    init_rng, train_rng, _ = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
    net0 = X.build_network(cfg, init_rng)
    idx = parity_indices(200, 3, train_rng)
    Xb, yb = X.parity_batch(data.train_images, data.train_labels, idx)
    z = net0.mlp.forward(Xb).z[-1][:, 0]
    assert frame.loc[1, "train_acc"] == np.mean((z > 0) == (yb == 1))
    assert np.isnan(frame.loc[0, "train_acc"])


def test_alignment_columns():
    data = fake_data()
    cfg = X.ParityConfig(credit="dfa", lr=0.05, measure_alignment=True, alignment_batch=40, **SMALL)
    frame, net = X.train_parity(cfg, data)
    init_rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(3)[0])
    net0 = X.build_network(cfg, init_rng)
    expected0 = cosine_similarity(net0.credit_state["B"][0], net0.mlp.weights[1])
    assert frame.loc[0, "feedback_cos_1"] == pytest.approx(expected0, abs=1e-6)
    assert frame.loc[2, "feedback_cos_1"] == pytest.approx(
        cosine_similarity(net.credit_state["B"][0], net.mlp.weights[1]), abs=1e-6)
    for col in ("grad_cos_1", "grad_cos_rows_1", "delta_cos_1"):
        assert frame[col].between(-1, 1).all()
    assert np.isnan(frame.loc[0, "grad_cos_rows_last_1"]) and frame.loc[1:, "grad_cos_rows_last_1"].notna().all()
    bp, _ = X.train_parity(cfg.replace(credit="backprop"), data)
    np.testing.assert_allclose(bp["grad_cos_1"], 1.0, atol=1e-5)
    assert "feedback_cos_1" not in bp.columns


@pytest.mark.parametrize("k", [1, 3])
def test_measuring_alignment_changes_no_other_column(k):
    """The alignment batch has its own random stream: a run that measures alignment trains and is
    evaluated on exactly the triplets of the same run without it (the beyond page's Table 2
    reads Table 1's one-layer runs on that account)."""
    data = fake_data()
    cfg = X.ParityConfig(credit="dfa", lr=0.05, **{**SMALL, "k": k})
    plain, net_p = X.train_parity(cfg, data)
    aligned, net_a = X.train_parity(cfg.replace(measure_alignment=True, alignment_batch=40), data)
    pd.testing.assert_frame_equal(aligned[plain.columns], plain, check_exact=True)
    np.testing.assert_array_equal(net_a.mlp.weights[0], net_p.mlp.weights[0])
    assert "feedback_cos_1" in aligned.columns


def test_deeper_nets_record_every_layer():
    data = fake_data()
    dfa, net = X.train_parity(X.ParityConfig(credit="dfa", lr=0.05, n_hidden_layers=3,
                                             measure_alignment=True, alignment_batch=30, **SMALL), data)
    assert net.mlp.sizes == [784, 16, 16, 16, 1]
    assert {"feedback_cos_1", "feedback_cos_2", "grad_cos_3"} <= set(dfa.columns)
    fa, _ = X.train_parity(X.ParityConfig(credit="fa", lr=0.05, n_hidden_layers=2,
                                          measure_alignment=True, alignment_batch=30, **SMALL), data)
    assert {"feedback_cos_2", "feedback_cos_3"} <= set(fa.columns)


def test_adam_epoch_variant_follows_the_epoch_and_differs():
    data = fake_data()
    step, net_s = X.train_parity(X.ParityConfig(optimizer="adam", lr=1e-3, **SMALL), data)
    epoch, net_e = X.train_parity(X.ParityConfig(optimizer="adam", lr=1e-3, adam_step_count="epoch", **SMALL), data)
    assert net_e.rule.optimizer.epoch == SMALL["num_epochs"] - 1
    assert not np.array_equal(net_s.mlp.weights[0], net_e.mlp.weights[0])


def test_dual_weight_composes_with_dfa():
    data = fake_data()
    frame, net = X.train_parity(X.ParityConfig(credit="dfa", update="dual_weight", lr=0.3, **SMALL), data)
    assert np.isfinite(frame["test_loss"]).all()
    assert net.rule.name == "dual_weight"


def test_experiment_is_registered():
    assert EXPERIMENTS["dfa_parity"].config_cls is X.ParityConfig


def test_lr_grid():
    assert dfa_pages.lr_grid(0.018, [0.5, 1, 2]) == [0.009, 0.018, 0.036]
    with pytest.raises(ValueError):
        dfa_pages.lr_grid(0.1, [0.0])


# --------------------------------------------------------------------------- the W2 <- B pull


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.001, 1.0))
def test_pull_of_w2_towards_b_is_a_nonnegative_multiple_of_b(seed, lr):
    """Linear hidden layer: the next W2 step gains (lr^2/n^2) e'Ke B with e'Ke >= 0 (derivation page)."""
    rng = np.random.default_rng(seed)
    mlp = MLP.create([6, 5, 1], ["identity", "sigmoid"], init="pytorch", bias=False, rng=rng)
    net = Network(mlp, credit="dfa", loss="bce", lr=lr, rng=rng)
    Xb = rng.standard_normal((9, 6))
    yb = rng.integers(0, 2, 9)
    _, e, _ = net.signals(Xb, yb)
    B = net.credit_state["B"][0]
    W1_before = net.mlp.weights[0].copy()
    net_w1 = Network(mlp.copy(), credit="dfa", loss="bce", lr=lr, rng=np.random.default_rng(0),
                     trainable=[True, False])
    net_w1.credit_state["B"][0] = B
    net_w1.train_step(Xb, yb)
    delta_h = Xb @ (net_w1.mlp.weights[0] - W1_before).T
    extra = -lr * (e.T @ delta_h) / len(Xb)
    c = (lr**2 / len(Xb) ** 2 * (e.T @ (Xb @ Xb.T) @ e)).item()
    assert c >= 0
    np.testing.assert_allclose(extra, c * B, rtol=1e-9, atol=1e-15)


# --------------------------------------------------------------------------- real MNIST (small)


def test_validation_split_is_carved_from_training_images(shared_data):
    cfg = X.ParityConfig(k=1, validation=True, n_train=100, n_test=50)
    d = X.load_parity_data(cfg)
    assert d.eval_name == "validation"
    Xtr, _ = X._mnist("train")
    perm = np.random.default_rng(X.VALIDATION_SPLIT_SEED).permutation(len(Xtr))
    np.testing.assert_array_equal(d.eval_images, normalize_parity(Xtr[perm[-X.N_VALIDATION:]][:50]))
    np.testing.assert_array_equal(d.train_images, normalize_parity(Xtr[perm[:-X.N_VALIDATION]][:100]))
    assert not np.isin(perm[:-X.N_VALIDATION][:100], perm[-X.N_VALIDATION:]).any()


def test_select_lr_scores_on_validation_only(shared_data, tmp_path):
    from learning_rules.store import Store

    base = X.ParityConfig(k=1, num_epochs=2, n_train=300, n_test=200, n_hidden=16)
    best, scores = sel.select_lr(base, [0.01, 0.1], store=Store(tmp_path), last=1)
    assert list(scores["lr"]) == [0.01, 0.1]
    frames = [X.parity_run(base.replace(lr=g, validation=True)) for g in (0.01, 0.1)]
    assert all((f["eval_set"] == "validation").all() for f in frames)
    expected = [f.loc[f.epoch == 2, "test_acc"].iloc[0] for f in frames]
    assert list(scores["score"]) == expected
    assert best == [0.01, 0.1][int(np.argmax(expected))]


def test_select_lrs_one_sweep_matches_per_group_selection(shared_data, tmp_path):
    """All groups' trials in one sweep choose what each group alone chooses (same scores)."""
    from learning_rules.experiments.dfa_parity import LazyParityConfig
    from learning_rules.store import Store

    engine = X.ParityConfig(k=1, num_epochs=2, n_train=300, n_test=200, n_hidden=16)
    groups = {("bp", 1): (engine, [0.01, 0.1]),
              "dfa": (engine.replace(credit="dfa"), [0.005, 0.05, 0.5]),
              "lazy": (LazyParityConfig(method="relu_features", k=1, num_epochs=2, n_train=300,
                                        n_test=200, n_hidden=16), [0.01, 0.1])}
    together = sel.select_lrs(groups, store=Store(tmp_path / "a"), last=1)
    assert list(together) == list(groups)
    for label, (base, grid) in groups.items():
        alone = sel.select_lr(base, grid, store=Store(tmp_path / f"b{len(grid)}{label!s:.3}"), last=1)
        assert together[label][0] == alone[0]
        pd.testing.assert_frame_equal(together[label][1], alone[1])
        assert list(together[label][1]["lr"]) == sorted(grid)


def test_select_lrs_rejects_an_empty_grid():
    with pytest.raises(ValueError, match="empty grid"):
        sel.select_lrs({"dfa": (X.ParityConfig(k=1), [])})


def test_switch_margin_is_two_standard_errors_of_a_difference():
    assert sel.switch_margin(0.6, 10_000) == pytest.approx(2 * np.sqrt(2 * 0.6 * 0.4 / 10_000))
    assert sel.switch_margin(0.6, 10_000) == pytest.approx(0.013856, abs=1e-6)
    assert sel.switch_margin(1.0, 100) == 0.0 and sel.switch_margin(0.5, 100, z=1.0) == pytest.approx(0.070711, abs=1e-6)
    with pytest.raises(ValueError, match="validation samples"):
        sel.switch_margin(0.5, 0)


def _trials(scores_by_lr: dict[float, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"lr": lr, "epoch": e, "test_acc": a} for lr, accs in scores_by_lr.items()
                         for e, a in enumerate([0.5] + accs)])


def test_incumbent_rate_stays_unless_beaten_by_more_than_the_margin():
    margin = sel.switch_margin(0.60, 10_000)  # 0.0139
    close = _trials({0.01: [0.55, 0.60], 0.02: [0.58, 0.60 + 0.9 * margin], 0.04: [0.4, 0.45]})
    best, scores = sel._scores(close, num_epochs=2, last=1, incumbent=0.01, n_eval=10_000)
    assert best == 0.01 and scores["margin"].iloc[0] == pytest.approx(margin)
    assert sel._scores(close, num_epochs=2, last=1)[0] == 0.02  # without an incumbent: the top score
    far = _trials({0.01: [0.55, 0.60], 0.02: [0.58, 0.60 + 1.1 * margin]})
    assert sel._scores(far, num_epochs=2, last=1, incumbent=0.01, n_eval=10_000)[0] == 0.02
    # fewer validation samples: a wider margin keeps the incumbent
    assert sel._scores(far, num_epochs=2, last=1, incumbent=0.01, n_eval=2_000)[0] == 0.01
    with pytest.raises(ValueError, match="not in the grid"):
        sel._scores(far, num_epochs=2, last=1, incumbent=0.03)


def test_loss_rose_compares_the_last_epoch_with_the_untrained_net():
    assert sel.loss_rose([0.697, 0.695, 0.685, 2.798])  # the parity DFA + SGD trial at 0.054
    assert not sel.loss_rose([0.697, 0.696, 0.693])
    assert not sel.loss_rose([0.693, 0.693])  # flat is not divergence
    assert not sel.loss_rose([0.69315, 0.69318])  # nor a net at chance moving in the fifth digit
    assert sel.loss_rose([0.69315, 0.69318], rtol=0.0) and sel.loss_rose([0.69, 0.70])
    assert sel.loss_rose([0.69, np.nan]) and sel.loss_rose([0.69, np.inf])
    with pytest.raises(ValueError, match="per-epoch losses"):
        sel.loss_rose([])
    with pytest.raises(ValueError, match="rtol"):
        sel.loss_rose([0.7, 0.6], rtol=-1)


def test_a_trial_whose_loss_rose_is_never_chosen():
    # Accuracy alone picks 0.054 (the parity page's DFA + SGD trials, measured at paper):
    # its accuracy peaked while its loss rose above the untrained net's at the last epoch.
    accs = {0.006: [0.50, 0.50, 0.51], 0.018: [0.50, 0.505, 0.51], 0.054: [0.54, 0.542, 0.502]}
    losses = {0.006: [0.696, 0.695, 0.694], 0.018: [0.696, 0.695, 0.693], 0.054: [0.685, 0.685, 2.798]}
    frame = pd.DataFrame([{"lr": lr, "epoch": e, "test_acc": a, "test_loss": l}
                          for lr in accs for e, (a, l) in enumerate(zip([0.5] + accs[lr], [0.697] + losses[lr]))])
    assert sel._scores(frame.drop(columns="test_loss"), num_epochs=3, last=2, incumbent=0.018)[0] == 0.054
    best, scores = sel._scores(frame, num_epochs=3, last=2, incumbent=0.018)
    assert best == 0.018 and scores["diverged"].tolist() == [False, False, True]
    assert sel._scores(frame, num_epochs=3, last=2)[0] == 0.018  # without an incumbent too
    # every trial diverged: the choice falls back to the scores, and all are marked
    worse = frame.assign(test_loss=np.where(frame["epoch"] == 3, 5.0, frame["test_loss"]))
    best, scores = sel._scores(worse, num_epochs=3, last=2, incumbent=0.018, n_eval=100_000)
    assert scores["diverged"].all() and best == 0.054
    assert sel.score_text(scores) == ("0.006: 0.505 (diverged), 0.018: 0.508 (diverged), "
                                    "0.054: 0.522 (diverged)")
    assert sel.score_text(scores.drop(columns="diverged")) == "0.006: 0.505, 0.018: 0.508, 0.054: 0.522"


def test_validation_size_follows_n_test():
    assert sel.validation_size(X.ParityConfig(k=3)) == X.N_VALIDATION == 10_000
    assert sel.validation_size(X.ParityConfig(k=3, n_test=500)) == 500
    assert sel.validation_size(X.ParityConfig(k=3, n_test=50_000)) == 10_000


def test_select_lrs_with_incumbent_runs_the_trials_once(shared_data, tmp_path):
    """(config, grid, incumbent) groups: same trials and scores as without, plus the margin."""
    from learning_rules.store import Store

    base = X.ParityConfig(k=1, num_epochs=2, n_train=300, n_test=200, n_hidden=16)
    store = Store(tmp_path)
    plain = sel.select_lrs({"a": (base, [0.01, 0.1])}, store=store, last=1)["a"]
    kept = sel.select_lrs({"a": (base, [0.01, 0.1], 0.01)}, store=store, last=1)["a"]
    assert len(store.list()) == 2  # the second selection computed nothing new
    pd.testing.assert_frame_equal(kept[1].drop(columns="margin"), plain[1])
    s = kept[1].set_index("lr")["score"]
    margin = sel.switch_margin(s[0.01], 200)
    assert kept[0] == (plain[0] if s.max() - s[0.01] > margin else 0.01)
    with pytest.raises(ValueError, match="config, grid"):
        sel.select_lrs({"a": (base, [0.01], 0.01, "extra")})


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1e36), ("adadelta", 1e36)])
def test_a_diverging_run_is_recorded_without_warnings(shared_data, optimizer, lr):
    """A rate far too large: weights overflow. No RuntimeWarning escapes (a warning on stderr
    fails the book's render); the run says from which epoch on it diverged, takes no more steps
    (train columns NaN) and keeps evaluating."""
    import warnings

    cfg = X.ParityConfig(k=1, num_epochs=3, n_train=256, n_test=128, n_hidden=16, credit="dfa",
                         optimizer=optimizer, lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, net = X.train_parity(cfg)
    assert frame["diverged"].iloc[-1] and not frame["diverged"].iloc[0]
    first = int(frame.loc[frame["diverged"], "epoch"].min())
    assert frame.loc[frame["epoch"] > first, "diverged"].all()
    assert frame.loc[frame["epoch"] > first, ["train_acc", "train_loss"]].isna().all().all()
    assert frame["test_acc"].between(0, 1).all()
    assert net.steps_done == first * 2  # 256 / 128 = 2 steps per epoch, none after divergence


def test_a_healthy_run_never_diverges(shared_data):
    frame, _ = X.train_parity(X.ParityConfig(k=1, num_epochs=2, n_train=256, n_test=128, n_hidden=16))
    assert not frame["diverged"].any() and frame["train_loss"].iloc[1:].notna().all()


def test_a_diverged_trial_is_marked_and_never_chosen():
    trials = _trials({0.1: [0.60, 0.61], 0.2: [0.70, 0.72], 0.4: [0.95, 0.95]})
    trials["diverged"] = trials["lr"] == 0.4  # e.g. NaN weights scored at one class's share
    best, scores = sel._scores(trials, 2, 2, incumbent=0.1, n_eval=10_000)
    assert best == 0.2 and list(scores["diverged"]) == [False, False, True]
    best, _ = sel._scores(trials, 2, 2)
    assert best == 0.2


# --------------------------------------------------------------------------- data cache


def test_load_parity_data_is_shared_read_only_and_bounded(monkeypatch):
    """Runs that draw from the same images get one object (read-only arrays, pools built once);
    the cache keeps the two most recent selections."""
    calls = []

    def fake_load(config, dtype):
        calls.append((config.validation, config.n_train))
        return fake_data(n_train=64, n_test=32, dtype=dtype)

    monkeypatch.setattr(X, "_load_parity_data", fake_load)
    monkeypatch.setattr(X, "_PARITY_DATA_CACHE", {})
    a = X.load_parity_data(X.ParityConfig(k=1, n_train=64))
    assert X.load_parity_data(X.ParityConfig(k=3, n_train=64, credit="backprop")) is a  # k does not select data
    with pytest.raises(ValueError, match="read-only"):
        a.train_images[0, 0, 0] = 1.0
    x0 = X.parity_background(np.float32)
    assert a.pool("train", x0) is a.pool("train", x0)
    assert a.pool("eval", x0) is not a.pool("train", x0)
    with pytest.raises(ValueError, match="'train' or 'eval'"):
        a.pool("test", x0)
    b = X.load_parity_data(X.ParityConfig(k=1, n_train=64, validation=True))
    c = X.load_parity_data(X.ParityConfig(k=1, n_train=32))
    assert b is not a and c is not a and len(calls) == 3
    assert X.load_parity_data(X.ParityConfig(k=1, n_train=64, validation=True)) is b  # still held
    X.load_parity_data(X.ParityConfig(k=1, n_train=64))  # evicted by c: loaded again
    assert len(calls) == 4
    assert X.load_parity_data(X.ParityConfig(k=1, n_train=64), np.float64) is not a  # dtype selects


def test_evaluation_does_not_depend_on_the_chunk_size():
    data = fake_data(n_train=64, n_test=300)
    cfg = X.ParityConfig(k=2, n_hidden=16)
    net = X.build_network(cfg, np.random.default_rng(0))
    x0 = X.parity_background(np.float32)
    X.parity_trainer(cfg, net)  # W1 in Fortran order, as in a sparse run
    idx = parity_indices(300, 2, np.random.default_rng(1))
    out = [X._evaluate(net, data.eval_images, data.eval_labels, idx, chunk=c, background=x0,
                       pool=data.pool("eval", x0)) for c in (7, 128, 512, 2000)]
    assert len({acc for _, acc in out}) == 1
    np.testing.assert_allclose([loss for loss, _ in out], out[0][0], rtol=1e-6)
