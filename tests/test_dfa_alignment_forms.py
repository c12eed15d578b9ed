"""The three readings of the thesis' last-batch gradient cosine (experiments/dfa_alignment_forms.py):
an independent NumPy oracle for each reading, the run's retraining equal to the stored run bit for
bit, the ledger's alternative and the page table's rules."""

import numpy as np
import pandas as pd
import pytest

from learning_rules.engine import Network
from learning_rules.experiments.dfa_alignment_forms import (
    form_cosines,
    forms_table,
    pre_update_signals,
    thesis_form_means,
)
from learning_rules.nn import MLP
from conftest import executed_and_closure


def _rows_cosine(G1, G2):
    """Oracle: one cosine per input (row of the thesis' (n_in, n_hidden) dW1), averaged."""
    num = np.sum(G1 * G2, axis=1)
    return float(np.mean(num / (np.linalg.norm(G1, axis=1) * np.linalg.norm(G2, axis=1))))


def _dw1(X, e, v, z1):
    """Oracle: the thesis' dW1 = X^T [(e v) * 1(z1 > 0)] / batch, shape (n_in, n_hidden)."""
    return X.T @ ((e @ v) * (z1 > 0)) / X.shape[0]


def test_three_readings_match_a_hand_written_oracle():
    rng = np.random.default_rng(3)
    mlp = MLP.create([6, 5, 1], ["relu", "sigmoid"], init="pytorch", bias=False, rng=rng, dtype=np.float64)
    net = Network(mlp, credit="dfa", loss="bce", lr=0.7, rng=rng)
    X = rng.normal(size=(9, 6))
    Y = rng.integers(0, 2, size=(9, 1)).astype(float)
    W1, W2, B = mlp.weights[0].copy(), mlp.weights[1].copy(), net.credit_state["B"][0].copy()
    before = pre_update_signals(net, X, Y)
    net._step(X, Y)  # one DFA step on the batch
    W1n, W2n = mlp.weights[0], mlp.weights[1]
    assert not np.allclose(W2n, W2)

    def signals(W1_, W2_):
        z1 = X @ W1_.T
        yhat = 1 / (1 + np.exp(-(np.maximum(z1, 0) @ W2_.T)))
        return z1, yhat - Y

    z1, e = signals(W1, W2)
    z1n, en = signals(W1n, W2n)
    want = {"pre": _rows_cosine(_dw1(X, e, B, z1), _dw1(X, e, W2, z1)),
            "thesis": _rows_cosine(_dw1(X, e, B, z1), _dw1(X, e, W2n, z1)),
            "post": _rows_cosine(_dw1(X, en, B, z1n), _dw1(X, en, W2n, z1n))}
    got = form_cosines(net, before, X, Y)
    for form, value in want.items():
        assert got[f"grad_cos_rows_last_{form}_1"] == pytest.approx(value, rel=1e-10, abs=1e-12)
    # the three differ here: the step moved W2 and the forward pass
    assert len({round(v, 12) for v in want.values()}) == 3


def test_readings_agree_when_the_step_changes_nothing():
    rng = np.random.default_rng(0)
    mlp = MLP.create([4, 3, 1], ["relu", "sigmoid"], init="pytorch", bias=False, rng=rng, dtype=np.float64)
    net = Network(mlp, credit="dfa", loss="bce", lr=0.1, rng=rng)
    X, Y = rng.normal(size=(7, 4)), rng.integers(0, 2, size=(7, 1)).astype(float)
    got = form_cosines(net, pre_update_signals(net, X, Y), X, Y)  # no step in between
    values = list(got.values())
    assert values == pytest.approx([values[0]] * 3, rel=1e-12)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.016), ("rmsprop", 0.00022)])
def test_post_reading_is_the_stored_runs_value_bit_for_bit(shared_data, monkeypatch, optimizer, lr):
    """The retraining takes every step of the parity run: its post-update reading is the parity
    run's grad_cos_rows_last_1, exactly (both under the build's one BLAS thread)."""
    from learning_rules.experiments.dfa import ParityConfig, parity_run
    from learning_rules.experiments.dfa_alignment_forms import alignment_forms_run

    monkeypatch.setenv("LEARNING_RULES_DATA", str(shared_data))
    c = ParityConfig(k=3, credit="dfa", optimizer=optimizer, lr=lr, num_epochs=2, n_train=600, n_test=200,
                     measure_alignment=True, alignment_batch=50, seed=1)
    ref, forms = parity_run(c), alignment_forms_run(c)
    np.testing.assert_array_equal(ref["grad_cos_rows_last_1"].to_numpy()[1:],
                                  forms["grad_cos_rows_last_post_1"].to_numpy())
    assert forms["epoch"].tolist() == [1, 2] and (forms["last_batch"] == 600 % 128).all()
    assert np.isfinite(forms[["grad_cos_rows_last_thesis_1", "grad_cos_rows_last_pre_1"]].to_numpy()).all()


def test_backprop_has_no_readings_to_compare():
    from learning_rules.experiments.dfa import ParityConfig
    from learning_rules.experiments.dfa_alignment_forms import alignment_forms_run

    with pytest.raises(ValueError, match="credit"):
        alignment_forms_run(ParityConfig(credit="backprop", num_epochs=1))


def _frame():
    # two seeds, epochs 1..3 of one row; post = 0.40/0.44 at epoch 2 (mean 0.42)
    rows = []
    for seed, (a, b) in enumerate([(0.40, 0.45), (0.44, 0.47)]):
        for epoch, post in ((1, 0.30), (2, a), (3, 0.5)):
            rows.append({"row": "k=3|SGD|lr=0.016|DFA", "seed": seed, "epoch": epoch,
                         "grad_cos_rows_last_post_1": post, "grad_cos_rows_last_thesis_1": b,
                         "grad_cos_rows_last_pre_1": b + 0.01})
    return pd.DataFrame(rows)


def test_forms_table_uses_the_ledgers_tolerance_and_lists_what_is_within():
    from learning_rules.analysis.stats import two_run_set_tolerance

    t = forms_table(_frame(), {("k=3|SGD|lr=0.016|DFA", 2): 0.46, ("k=3|SGD|lr=0.016|DFA", 9): 0.5})
    assert len(t) == 1  # epoch 9 was not run
    r = t.iloc[0]
    assert r["post"] == pytest.approx(0.42) and r["thesis"] == pytest.approx(0.46)
    assert r["pre"] == pytest.approx(0.47)
    assert r["post e-1"] == pytest.approx(0.30) and r["post e+1"] == pytest.approx(0.5)
    tol = two_run_set_tolerance(np.array([0.40, 0.44]), floor=0.02)
    assert r["tolerance"] == pytest.approx(tol)
    within = [name for name, v in (("post", 0.42), ("thesis", 0.46), ("pre", 0.47), ("post e-1", 0.30),
                                   ("post e+1", 0.5)) if abs(v - 0.46) <= tol]
    assert r["within"] == ", ".join(within)
    assert thesis_form_means(_frame())[("k=3|SGD|lr=0.016|DFA", 2)] == pytest.approx(0.46)


def test_the_alignment_planner_lists_the_forms_runs():
    from learning_rules.experiments import PLANNERS
    from learning_rules.experiments.dfa_pages import alignment_form_pairs
    from learning_rules.store import Store

    params = {"k": 1, "num_epochs": 1, "seeds": 2, "n_train": 256, "n_test": 200, "alignment_batch": 100,
              "lr_factors": [1.0]}
    tasks = PLANNERS["book/dfa/alignment.ipynb"](params, Store(code_hash="t"))
    forms = [t.config for t in tasks if t.name == "dfa_alignment_forms"]
    assert forms == [c for _, c in alignment_form_pairs(params)] and len(forms) == 4  # 2 optimizers x 2 seeds
    runs = {t.config for t in tasks if t.name == "dfa_parity"}
    assert set(forms) <= runs  # the same configs as the page's published-rate runs


@pytest.mark.slow
def test_every_function_the_forms_run_executes_is_in_its_closure(shared_data, monkeypatch):
    from learning_rules.experiments.dfa import ParityConfig

    monkeypatch.setenv("LEARNING_RULES_DATA", str(shared_data))
    executed, closure = executed_and_closure("dfa_alignment_forms", ParityConfig(n_train=256, n_test=128, num_epochs=1, n_hidden=16))
    assert executed and executed <= closure, sorted(executed - closure)
