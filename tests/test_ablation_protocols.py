"""The ablation's protocol candidates: each protocol field does what its reading says, the book's
protocol is untouched, and the candidate table counts cells with the report's own rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import ablation as ab
from learning_rules.profiles import page_parameters

TINY = dict(dataset="mnist", n_train=200, n_val=100, batch_size=50, num_epochs=1, hidden=(8, 8), lr=0.05)


def test_entry_mean_cross_entropy_is_cce_over_q_with_its_own_gradient():
    loss = ab.EntryMeanCrossEntropy()
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 10)), rng.integers(0, 10, 6)
    from learning_rules.nn.losses import get_loss

    cce = get_loss("cce")
    assert loss.value(z, y, "softmax") == pytest.approx(cce.value(z, y, "softmax") / 10)
    e = loss.output_error(z, y, "softmax")
    # finite differences of the batch sum of J_i = L_i / q
    h, fd = 1e-6, np.zeros_like(z)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            zp, zm = z.copy(), z.copy()
            zp[i, j] += h
            zm[i, j] -= h
            fd[i, j] = (loss.per_sample(zp, y, "softmax")[i] - loss.per_sample(zm, y, "softmax")[i]) / (2 * h)
    assert np.allclose(e, fd, atol=1e-8)


def _first_step(**changes):
    cfg = ab.AblationRunConfig(**{**TINY, "optimizer": "sgd", "lr": 0.1, "hidden": (6,), "n_train": 40, "dtype": "float64",
                                  **changes})
    net = ab.build_network(cfg, 5, 3)
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 5)), rng.integers(0, 3, 40)
    before = [W.copy() for W in net.mlp.weights]
    net.train_step(X, y)
    return [b - W for b, W in zip(before, net.mlp.weights)], before


def test_entries_average_scales_the_sgd_step_by_one_over_q():
    plain, _ = _first_step()
    entries, _ = _first_step(cost_average="entries")
    for a, b in zip(plain, entries):
        assert np.allclose(b, a / 3, rtol=1e-9, atol=1e-15)  # q = 3 outputs here


def test_penalty_over_the_mini_batch():
    plain, W0 = _first_step(lam=0.0, batch_size=8)
    train_n, _ = _first_step(lam=3.0, batch_size=8)
    batch_n, _ = _first_step(lam=3.0, batch_size=8, l2_n="batch")
    for a, b, c, W in zip(plain, train_n, batch_n, W0):
        assert np.allclose(b - a, 0.1 * 3.0 / 40 * W, rtol=1e-7, atol=1e-12)
        assert np.allclose(c - a, 0.1 * 3.0 / 8 * W, rtol=1e-7, atol=1e-12)


def test_raw_pixels_are_the_files_values():
    unit = ab.load_ablation_data("mnist", 50, 20)
    raw = ab.load_ablation_data("mnist", 50, 20, pixels="raw")
    assert raw[0].dtype == np.float32 and raw[0].max() == 255.0
    assert np.array_equal(raw[0], np.round(raw[0]))
    assert np.allclose(raw[0] / 255, unit[0], atol=1e-7)
    assert np.array_equal(raw[1], unit[1]) and np.array_equal(raw[3], unit[3])
    with pytest.raises(ValueError, match="pixels"):
        ab.load_ablation_data("mnist", 50, 20, pixels="scaled")


def test_the_books_protocol_keeps_its_run_ids_and_bad_fields_are_named():
    cfg = ab.AblationRunConfig(**TINY)
    assert cfg.run_id() == "mnist|sgd|he_uniform|lam=0|lr=0.05|seed=0"
    assert dataclasses.replace(cfg, pixels="raw", l2_n="batch").run_id().endswith("|pixels=raw|l2_n=batch")
    for field in ab.PROTOCOL_FIELDS:
        with pytest.raises(ValueError, match=field):
            ab.run_ablation(dataclasses.replace(cfg, **{field: "nonsense"}))


def test_candidates_are_declared_and_checked():
    assert "book" in ab.PROTOCOLS and ab.PROTOCOLS.lookup("book").lrs is None
    assert all(ab.PROTOCOLS.lookup(n).declared in ("before running", "after seeing the results")
               for n in ab.PROTOCOLS)
    with pytest.raises(ValueError, match="one rate for each"):
        ab.ProtocolCandidate("x", "y", {"sgd": 0.1})
    with pytest.raises(ValueError, match="not a protocol field"):
        ab.ProtocolCandidate("x", "y", ab.KERAS_LRS, {"pixels": "gray"})
    with pytest.raises(ValueError, match="unknown|valid"):
        ab.page_protocols({"protocols": ["book", "pytorch"]})


def _params(**extra):
    return {**page_parameters("paper", ab.NOTEBOOK), "datasets": ["mnist"], "n_train": 100, "n_val": 100, "batch_size": 50,
            "num_epochs": 1, "n_seeds": 1, "lams": [0.0], "uniform_lams": [0.0], "inits": ["he_uniform"],
            "lr_grid": {"sgd": [0.1], "momentum": [0.1], "rmsprop": [1e-3], "adam": [1e-3]},
            "lr_search_epochs": 1, "n_jobs": 1, "profile": "smoke", **extra}


def test_protocol_configs_change_rates_and_fields_only():
    params = _params()
    book = ab.grid_configs(params, {"sgd": 0.1, "momentum": 0.1, "rmsprop": 1e-3, "adam": 1e-3})
    assert ab.protocol_configs(params, "book", {"sgd": 0.1, "momentum": 0.1, "rmsprop": 1e-3,
                                                "adam": 1e-3}) == book
    raw = ab.protocol_configs(params, "keras+raw")
    assert [dataclasses.replace(c, pixels="unit", lr=0.0) for c in raw] == \
        [dataclasses.replace(c, lr=0.0) for c in book]
    assert {c.optimizer: c.lr for c in raw} == ab.KERAS_LRS
    with pytest.raises(ValueError, match="book_lrs"):
        ab.protocol_configs(params, "book")


def test_protocol_table_uses_the_ledgers_rules(tmp_path):
    from learning_rules import report
    from learning_rules.store import Store

    store = Store(tmp_path)
    params = _params(protocols=["book", "keras+cost/q"])
    res = ab.compute_all(params, store)
    table = ab.protocol_table(params, store, res)
    assert list(table["candidate"]) == ["book", "keras+cost/q"]
    book = table.iloc[0]
    cells = ab.cells_of(res["grid"], res["search"], res["available"], res["status"], params, "smoke")
    published = report.load_published()
    ledger = report.build_ledger(published[published["source"] == "ablation"], cells, "smoke")
    ran = ledger[ledger["reproduced"].notna()]
    assert book["cells"] == len(ran) == 16  # Table 2 (MNIST): 4 optimizers x 4 columns
    assert book["within"] == int(ran["within_tolerance"].sum())
    assert book["accuracy_within"] + book["cost_within"] == book["within"]
    assert 0 <= book["rank_kept"] <= book["rank_groups"] == 4
    other = ab.run_grid(ab.protocol_configs(params, "keras+cost/q"), n_jobs=1, store=store)
    assert set(other["cost_average"]) == {"entries"}
    best = ab.best_protocol(table)
    assert best["within"] == table["within"].max()
    with pytest.raises(ValueError, match="no protocol candidate"):
        ab.best_protocol(pd.DataFrame())


def test_candidates_run_the_tables_settings_unless_asked_for_the_whole_grid():
    params = _params(inits=["uniform", "he_uniform"], lams=[0.0, 1.0, 3.0], uniform_lams=[0.0, 3.0])
    assert ab.table_lams() == {0.0, 1.0}
    tables = ab.protocol_configs(params, "keras")
    assert {(c.init, c.lam) for c in tables} == {("he_uniform", 0.0), ("he_uniform", 1.0)}
    full = ab.protocol_configs({**params, "protocol_grid": "full"}, "keras")
    assert set(tables) < set(full) and {c.init for c in full} == {"uniform", "he_uniform"}
    assert {c.l2_n for c in ab.protocol_configs(params, "keras+l2/m") if c.lam == 0} == {"train"}
    with pytest.raises(ValueError, match="protocol_grid"):
        ab.protocol_configs({**params, "protocol_grid": "some"}, "keras")


def test_best_alternative_gives_the_ledger_a_tested_protocol_cause(tmp_path):
    """Every ledger cell carries its value under the best candidate other than the book's, with a
    label naming it; a report that only reads and finds the candidates unstored gets none."""
    from learning_rules import report
    from learning_rules.store import NotStoredError, Store, read_only

    store = Store(tmp_path)
    params = _params(protocols=["book", "lr=0.1", "keras+cost/q"])
    res = ab.compute_all(params, store)
    label, cells = ab.best_alternative(params, res, store)
    table = ab.protocol_table(params, store, res)
    best = ab.best_protocol(table[table["candidate"] != ab.BOOK_PROTOCOL])
    assert repr(best["candidate"]) in label and "best of 2 candidates" in label
    published = report.load_published()
    ledger = report.build_ledger(published[published["source"] == "ablation"], cells, "smoke")
    assert int(ledger["within_tolerance"].fillna(False).sum()) == best["within"]
    assert ab.best_alternative(_params(protocols=["book"]), res, store) is None
    with read_only(), pytest.warns(UserWarning, match="not stored"):
        fresh = ab.best_alternative(params, res, Store(tmp_path / "empty"))
    assert fresh is None
    with read_only(), pytest.raises(NotStoredError):
        ab.compute_all(params, Store(tmp_path / "empty"))
