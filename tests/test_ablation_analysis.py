"""Oracles for learning_rules.analysis.ablation: hand-worked values, finite differences, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from learning_rules.analysis import ablation as an


def test_cce_hand_worked():
    z = np.array([[0.0, np.log(3.0)]])  # softmax = (1/4, 3/4)
    Y = np.array([[0.0, 1.0]])
    assert an.cce_per_sample(z, Y)[0] == pytest.approx(-np.log(0.75), rel=1e-14)
    assert an.half_sse_per_sample(z, Y)[0] == pytest.approx(0.5 * (0.25**2 + 0.25**2), rel=1e-14)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 4), elements=st.floats(-30, 30)), st.floats(-50, 50),
       st.integers(0, 3))
def test_cce_shift_invariant_and_matches_log_softmax(z, c, k):
    Y = np.zeros_like(z)
    Y[:, k] = 1.0
    direct = -np.log(an.softmax_probabilities(z)[:, k])
    assert np.allclose(an.cce_per_sample(z, Y), direct, rtol=1e-9, atol=1e-9)
    assert np.allclose(an.cce_per_sample(z + c, Y), an.cce_per_sample(z, Y), rtol=1e-9, atol=1e-9)
    assert np.all(an.cce_per_sample(z, Y) >= 0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 4), elements=st.floats(-8, 8)), st.integers(0, 3))
def test_bce_matches_the_direct_formula(z, k):
    Y = np.zeros_like(z)
    Y[:, k] = 1.0
    a = an.softmax_probabilities(z)
    direct = -(Y * np.log(a) + (1 - Y) * np.log(1 - a)).sum(axis=1)
    assert np.allclose(an.bce_per_sample(z, Y), direct, rtol=1e-8, atol=1e-10)
    assert np.all(an.bce_per_sample(z, Y) >= an.cce_per_sample(z, Y) - 1e-12)  # extra terms >= 0


def test_bce_stays_finite_when_the_softmax_saturates():
    z = np.array([[1000.0, 0.0, -5.0]])
    Y = np.array([[0.0, 1.0, 0.0]])
    value = an.bce_per_sample(z, Y)[0]
    assert np.isfinite(value)
    # -log a_1 = 1000 (+ tiny); -log(1 - a_0) = 1000 - log(1 + e^-5); -log(1 - a_2) ~ e^-1005
    assert value == pytest.approx(2000.0 - np.log1p(np.exp(-5.0)), rel=1e-12)


def test_l2_penalty_value_and_finite_difference():
    W = [np.array([[1.0, 2.0]]), np.array([[3.0]])]
    assert an.l2_penalty(W, lam=2.0, n=4) == pytest.approx(2.0 / 8.0 * 14.0)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 2))
    h = 1e-6
    for j, k in [(0, 0), (2, 1)]:
        P, M = A.copy(), A.copy()
        P[j, k] += h
        M[j, k] -= h
        fd = (an.l2_penalty([P], 3.0, 10) - an.l2_penalty([M], 3.0, 10)) / (2 * h)
        assert fd == pytest.approx(3.0 / 10 * A[j, k], rel=1e-7)  # d/dw = lambda/n * w
    with pytest.raises(ValueError, match="n"):
        an.l2_penalty(W, 1.0, 0)


def test_cost_candidates_compose_terms():
    terms = {"cce": 2.0, "half_sse": 0.4, "bce": 3.0, "l2_term": 0.05, "q": 10.0}
    expect = {"cce": 2.0, "cce+l2": 2.05, "cce/q": 0.2, "cce/q+l2": 0.25, "half_sse": 0.4,
              "half_sse+l2": 0.45, "half_sse/q": 0.04, "bce/q": 0.3, "bce/q+l2": 0.35}
    assert set(expect) == set(an.COST_CANDIDATES)
    for name, value in expect.items():
        assert an.COST_CANDIDATES[name].value(terms) == pytest.approx(value)
    with pytest.raises(ValueError, match="cce/q"):
        an.COST_CANDIDATES.lookup("nope")


def test_cost_terms_from_logits():
    z = np.array([[2.0, 0.0], [0.0, 0.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = an.cost_terms(z, Y, [np.ones((2, 2))], lam=1.0, n=2)
    assert t["cce"] == pytest.approx(np.mean([np.log(1 + np.exp(-2.0)), np.log(2.0)]))
    assert t["l2_term"] == pytest.approx(1.0)
    assert t["q"] == 2.0


def test_mean_interval():
    m, lo, hi = an.mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)  # t_{0.975, 2} * s / sqrt(m), s = 1
    assert (m, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert an.mean_interval([0.5]) == (0.5, 0.5, 0.5)
    assert an.mean_interval([0.5, np.nan])[0] == 0.5
    assert np.isnan(an.mean_interval([np.nan])[0])
    with pytest.raises(ValueError, match="level"):
        an.mean_interval([1.0, 2.0], level=1.5)


def test_onset_and_spikes():
    assert an.learning_onset_epoch(np.arange(5), np.array([0.1, 0.1, 0.15, 0.5, 0.9])) == 3.0
    assert np.isnan(an.learning_onset_epoch(np.arange(3), np.full(3, 0.1)))
    c = np.ones(200)
    c[[60, 120, 121]] = 10.0
    assert an.count_spikes(c, window=50, factor=3.0) == 3
    assert an.count_spikes(np.ones(100)) == 0
    with pytest.raises(ValueError, match="window"):
        an.count_spikes(c, window=0)


def _epoch_frame(rows):
    base = {"kind": "epoch", "init": "he_uniform", "seed": 0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_choose_learning_rates_prefers_cv_accuracy_then_cost():
    rows = []
    for lr, acc, cce in [(0.1, 0.9, 0.3), (0.3, 0.95, 0.2), (1.0, np.nan, np.nan)]:
        rows.append({"run_id": f"sgd{lr}", "optimizer": "sgd", "lr": lr, "epoch": 2, "split": "cv",
                     "accuracy": acc, "cce": cce, "dataset": "mnist"})
    for lr, cce in [(1e-3, 0.5), (1e-4, 0.4)]:
        rows.append({"run_id": f"adam{lr}", "optimizer": "adam", "lr": lr, "epoch": 2, "split": "cv",
                     "accuracy": 0.9, "cce": cce, "dataset": "mnist"})
    assert an.choose_learning_rates(_epoch_frame(rows)) == {"sgd": 0.3, "adam": 1e-4}


def _reference():
    return pd.DataFrame([
        {"source": "ablation", "table": "Table 2", "row": "mnist|he_uniform|lambda=0or1|SGD",
         "column": c, "published": v, "unit": "cost" if "cost" in c else "accuracy"}
        for c, v in [("train_cost", 0.04), ("cv_cost", 0.05), ("train_accuracy", 0.9),
                     ("cv_accuracy", 0.88)]])


def test_compare_with_published_and_scores():
    summary = pd.DataFrame([
        {"dataset": "mnist", "optimizer": "sgd", "init": "he_uniform", "lam": lam, "split": s,
         "metric": m, "mean": v, "low": v, "high": v, "n_seeds": 1}
        for lam in (0.0, 1.0)
        for s, m, v in [("train", "cost[a]", 0.04), ("cv", "cost[a]", 0.05), ("train", "cost[b]", 0.4),
                        ("cv", "cost[b]", 0.5), ("train", "accuracy", 0.91), ("cv", "accuracy", 0.88)]])
    table = an.compare_with_published(summary, _reference(), "cost[a]")
    assert len(table) == 8  # four cells, each at lambda 0 and 1
    assert table.loc[table["column"] == "train_accuracy", "difference"].to_numpy() == pytest.approx(0.01)
    assert table.loc[table["column"] == "cv_cost", "difference"].to_numpy() == pytest.approx(0.0)
    scores = an.score_cost_candidates(summary, _reference(), candidates=["a", "b"])
    assert list(scores["candidate"]) == ["a", "b"]
    assert scores["mean_abs_log_ratio"].iloc[0] == pytest.approx(0.0)
    assert scores["median_ratio"].iloc[1] == pytest.approx(10.0)


def test_matched_accuracy_scores_pick_the_right_definition():
    rows = []
    for split, acc, cost in [("train", 0.9, 0.04), ("cv", 0.88, 0.05), ("train", 0.5, 1.0)]:
        rows.append({"run_id": "r", "dataset": "mnist", "lam": 1.0, "split": split, "epoch": 1,
                     "accuracy": acc, "cost[cce/q]": cost, "cost[cce]": 10 * cost})
    scores = an.matched_accuracy_scores(_epoch_frame(rows), _reference(), window=0.01,
                                        candidates=["cce", "cce/q"])
    assert list(scores["candidate"]) == ["cce/q", "cce"]
    assert scores["mean_abs_log_ratio"].iloc[0] == pytest.approx(0.0)
    assert scores["cells"].iloc[0] == 2


def _synthetic_grid():
    """Runs whose outcome is set by hand: U[-1,1] learns only with Adam at lambda 3; He learns
    everywhere; early costs ordered adam < rmsprop < momentum < sgd; no L2 effect on the gap."""
    rows = []
    early = {"adam": 1.0, "rmsprop": 1.1, "momentum": 1.5, "sgd": 2.0}
    for d in ("mnist", "fashion-mnist"):
        for opt in early:
            for init in ("uniform", "he_uniform"):
                for lam in (0.0, 3.0):
                    for seed in (0, 1):
                        rid = f"{d}|{opt}|{init}|{lam}|{seed}"
                        base = {"run_id": rid, "dataset": d, "optimizer": opt, "init": init, "lam": lam,
                                "seed": seed}
                        learns = init == "he_uniform" or (opt == "adam" and lam == 3.0)
                        for epoch in range(4):
                            acc = 0.1 + (0.8 * epoch / 3 if learns else 0.0)
                            for split, shift in (("train", 0.0), ("cv", 0.02)):
                                rows.append({**base, "kind": "epoch", "epoch": epoch, "split": split,
                                             "accuracy": acc - (shift if epoch else 0.0)})
                        for step in range(1, 61):
                            rows.append({**base, "kind": "batch", "epoch": 1, "step": step,
                                         "batch_cost": early[opt]})
    return pd.DataFrame(rows)


def test_claims_on_a_grid_with_known_answers():
    claims = an.evaluate_claims(_synthetic_grid(), missing=["cifar10"]).set_index("claim")
    v = list(claims["verdict"])
    assert v[0] == "holds"  # only Adam with lambda = 3 learns from U[-1, 1]
    assert v[1] == "holds"  # He learns everywhere (final accuracy 0.9)
    assert v[2] == "not testable here"  # CIFAR-10 missing
    assert v[3] == "holds"  # adam, rmsprop < momentum < sgd
    assert v[4] == "holds"  # no spread between optimizers at epoch 3
    assert v[5] == "does not hold"  # constant costs: no spikes
    assert v[6] == "not testable here"
    assert v[7] == "holds"  # identical gaps at lambda 0 and 3
    assert "learned: fashion-mnist/adam/lam=3, mnist/adam/lam=3;" in claims["measured"].iloc[0]


def _onset_grid(onset: int, num_epochs: int = 40):
    """CIFAR-10 Adam runs: from U[-1, 1] they start learning at epoch ``onset`` (lambda 3) or never
    (lambda 0); from He uniform they learn from epoch 1."""
    rows = []
    for init, lam, seed in [(i, lam, s) for i in ("uniform", "he_uniform") for lam in (0.0, 3.0) for s in (0, 1)]:
        base = {"run_id": f"c|{init}|{lam}|{seed}", "dataset": "cifar10", "optimizer": "adam", "init": init,
                "lam": lam, "seed": seed}
        start = 1 if init == "he_uniform" else (onset if lam == 3.0 else num_epochs + 1)
        for epoch in range(num_epochs + 1):
            for split in ("train", "cv"):
                rows.append({**base, "kind": "epoch", "epoch": epoch, "split": split,
                             "accuracy": 0.5 if epoch >= start else 0.1})
        rows.append({**base, "kind": "batch", "epoch": 1, "step": 1, "batch_cost": 1.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("onset,epochs,verdict", [(33, 40, "holds"), (36, 40, "holds"), (12, 40, "does not hold"),
                                                  (5, 8, "not testable here")])
def test_onset_claim_is_decided_by_the_run(onset, epochs, verdict):
    claims = an.evaluate_claims(_onset_grid(onset, epochs))
    row = claims[claims["claim"].str.contains("epoch 33")].iloc[0]
    assert row["verdict"].startswith(verdict)
    assert f"cifar10/lam=3: {onset:g}" in row["measured"] and "cifar10/lam=0: never" in row["measured"]


def _final_grid(cv_at, train_at, seeds=(0, 1, 2)):
    """Last-epoch rows (He init) with CV and training accuracy set per (optimizer, lambda, seed)."""
    rows = []
    for opt in ("sgd", "adam"):
        for lam in (0.0, 1.0, 3.0):
            for seed in seeds:
                base = {"run_id": f"{opt}|{lam}|{seed}", "dataset": "mnist", "optimizer": opt,
                        "init": "he_uniform", "lam": lam, "seed": seed, "kind": "epoch", "epoch": 5}
                rows.append({**base, "split": "cv", "accuracy": cv_at(opt, lam, seed)})
                rows.append({**base, "split": "train", "accuracy": train_at(opt, lam, seed)})
    return pd.DataFrame(rows)


def test_l2_benefit_pairs_seeds_and_judges_premise_and_conclusion():
    # no overfitting (gap 0.01), L2 changes nothing beyond noise: the claim holds
    noise = {0: -0.001, 1: 0.0, 2: 0.001}
    grid = _final_grid(lambda o, lam, s: 0.90 + noise[s] * (1 + lam) + 1e-4 * lam, lambda o, lam, s: 0.91)
    table = an.l2_benefit(grid).set_index("optimizer")
    assert table.loc["sgd", "gap at lambda 0"] == pytest.approx(0.01)
    assert table.loc["sgd", "best lambda > 0"] == 3.0  # the largest mean CV accuracy
    assert table.loc["sgd", "CV gain"] == pytest.approx(3e-4)
    assert table.loc["sgd", "low"] < 0 < table.loc["sgd", "high"]
    assert an.l2_benefit_claim(table.reset_index())["verdict"] == "holds"
    # a seed-by-seed gain of 0.01 +- 0.001 is significant although the seeds spread by 0.05:
    # pairing by seed removes the spread the runs share
    spread = {0: -0.05, 1: 0.0, 2: 0.05}
    grid = _final_grid(lambda o, lam, s: 0.85 + spread[s] + (0.01 + 0.001 * s) * (lam > 0),
                       lambda o, lam, s: 0.86 + spread[s])
    table = an.l2_benefit(grid)
    assert (table["low"] > 0).all()
    assert an.l2_benefit_claim(table)["verdict"] == "does not hold"
    # the nets overfit (gap 0.05): the premise fails, whatever L2 does
    grid = _final_grid(lambda o, lam, s: 0.90, lambda o, lam, s: 0.95)
    claim = an.l2_benefit_claim(an.l2_benefit(grid))
    assert claim["verdict"] == "premise does not hold (the nets overfit)"
    assert "2 of 2 cells overfit" in claim["measured"]
    # one seed: no interval, no verdict
    grid = _final_grid(lambda o, lam, s: 0.9, lambda o, lam, s: 0.91, seeds=(0,))
    assert an.l2_benefit_claim(an.l2_benefit(grid))["verdict"].startswith("not testable")
    assert an.l2_benefit_claim(pd.DataFrame())["verdict"] == "not testable here"


def _long_grid(cce_end_over_e):
    rows = []
    for opt, ratio in cce_end_over_e.items():
        for seed in (0, 1):
            for epoch, cce in ((4, 0.1), (8, 0.1 * ratio)):
                for split in ("train", "cv"):
                    rows.append({"run_id": f"{opt}|{seed}", "optimizer": opt, "seed": seed, "kind": "epoch",
                                 "epoch": epoch, "split": split, "cce": cce,
                                 "accuracy": 0.9 + 0.01 * (epoch == 8)})
    return pd.DataFrame(rows)


def test_convergence_claim_reads_the_continued_runs():
    table = an.convergence(_long_grid({"sgd": 0.5, "momentum": 0.95, "rmsprop": 0.3, "adam": 0.2}), 4)
    assert list(table["CCE ratio"].round(6)) == [0.5, 0.95, 0.3, 0.2]
    assert table["end"].iloc[0] == 8 and table["CV acc at end"].iloc[0] == pytest.approx(0.91)
    assert an.convergence_claim(table)["verdict"] == "holds"  # 3 of 4 still fall by > 10 %
    flat = an.convergence(_long_grid({"sgd": 0.95, "momentum": 0.95, "rmsprop": 0.3, "adam": 1.0}), 4)
    assert an.convergence_claim(flat)["verdict"] == "does not hold"
    assert an.convergence_claim(pd.DataFrame(), dataset_missing=True)["verdict"] == "not testable here"


def test_gradient_claim():
    norms = pd.DataFrame([{"init": init, "seed": s, "layer": l, "grad_norm": g * (1 + 0.1 * s)}
                          for l in (1, 2) for s in (0, 1)
                          for init, g in (("uniform", 100.0 * l), ("he_uniform", 1.0))])
    table = an.gradient_sizes(norms)
    assert list(table["ratio"]) == pytest.approx([100.0, 200.0])
    assert an.gradient_claim(table)["verdict"] == "holds"
    norms.loc[(norms["init"] == "uniform") & (norms["layer"] == 1), "grad_norm"] = 5.0
    assert an.gradient_claim(an.gradient_sizes(norms))["verdict"] == "does not hold"
