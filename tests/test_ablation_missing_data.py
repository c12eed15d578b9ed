"""The ablation chapter on a machine that lacks datasets: cells are reported "not run", never raised."""

from __future__ import annotations

import os

import numpy as np
import pytest

from learning_rules.experiments import ablation as ab
from learning_rules.profiles import page_parameters


@pytest.fixture
def only_fashion(tmp_path, monkeypatch, shared_data):
    """A data folder holding Fashion-MNIST only (MNIST and CIFAR-10 absent), downloads disabled."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.symlink(shared_data / "fashion-mnist", data_dir / "fashion-mnist")
    monkeypatch.setenv("LEARNING_RULES_DATA", str(data_dir))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    return data_dir


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    (tmp_path / "empty").mkdir()


def test_status_names_each_missing_dataset_and_its_fix(only_fashion):
    status = ab.dataset_status(["mnist", "fashion-mnist", "cifar10"]).set_index("dataset")
    assert list(status["available"]) == [False, True, False]
    for name in ("mnist", "cifar10"):
        assert name in status.loc[name, "message"]
        assert f"learning-rules data fetch {name}" in status.loc[name, "message"]
    assert status.loc["fashion-mnist", "message"] == ""


def test_reproduced_cells_with_no_dataset_at_all(no_data):
    from learning_rules import report

    cells = report.validate_reproduced(ab.reproduced_cells("smoke"))
    ref = ab.reference_table()
    assert len(cells) == len(ref)
    assert cells["reproduced"].isna().all()
    for dataset in ("cifar10", "mnist", "fashion-mnist"):
        notes = cells.loc[cells["row"].str.startswith(dataset + "|"), "note"]
        assert notes.str.startswith(f"not run: {dataset} missing, see {ab.NOTEBOOK}").all()


def test_compute_all_runs_what_is_there(only_fashion):
    params = {**page_parameters("paper", ab.NOTEBOOK), "datasets": ["cifar10", "mnist", "fashion-mnist"], "n_train": 100,
              "n_val": 100, "num_epochs": 1, "cifar_epochs": 1, "n_seeds": 1, "lams": [0.0],
              "uniform_lams": [0.0], "lr_search_epochs": 1, "n_jobs": 1,
              "lr_grid": {"sgd": [0.1], "momentum": [0.1], "rmsprop": [1e-3], "adam": [1e-3]}}
    res = ab.compute_all(params)
    assert res["available"] == ["fashion-mnist"]
    assert set(res["grid"]["dataset"]) == {"fashion-mnist"}
    assert not res["status"].set_index("dataset").loc["cifar10", "available"]
    accuracy = res["grid"].loc[res["grid"]["kind"] == "epoch", "accuracy"]
    assert np.isfinite(accuracy).all()


def test_diverged_runs_are_cut_short_with_the_same_rows(monkeypatch):
    """U[-1, 1] with a large SGD rate overflows within a few steps; the shortcut must write exactly
    the rows the full computation writes."""
    import pandas as pd

    cfg = ab.AblationRunConfig(dataset="mnist", optimizer="sgd", init="uniform", lr=0.5, n_train=200,
                               n_val=100, batch_size=20, num_epochs=3, hidden=(32, 32))
    calls = []
    real = ab.parameters_finite

    def spy(net):
        calls.append(not real(net))
        return not calls[-1]

    monkeypatch.setattr(ab, "parameters_finite", spy)
    short = ab.run_ablation(cfg)
    assert calls and calls[-1]  # the shortcut fired
    batch = short[short["kind"] == "batch"]
    assert batch["batch_cost"].isna().any() and np.isfinite(batch["batch_cost"].iloc[0])
    monkeypatch.setattr(ab, "parameters_finite", lambda net: True)  # never cut: compute every NaN step
    full = ab.run_ablation(cfg)
    pd.testing.assert_frame_equal(short, full)
