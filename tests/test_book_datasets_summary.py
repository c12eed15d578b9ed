"""The ``datasets_summary`` experiment against independent counts of the verified files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learning_rules.experiments import run_experiment
from learning_rules.experiments.datasets import (
    DatasetsSummaryConfig,
    datasets_summary,
    markdown_table,
    summarize_arrays,
)


def test_summarize_arrays_by_hand():
    X = np.zeros((5, 2, 3))
    row = summarize_arrays(X, np.array([0, 0, 0, 1, 2]), "classification")
    assert row == {"n_samples": 5, "n_features": 6, "n_classes": 3,
                   "smallest_class": 0.2, "largest_class": 0.6}
    row = summarize_arrays(np.zeros((4, 1)), np.array([1.0, 2.0, 3.0, 6.0]), "regression")
    assert row["target_min"] == 1.0 and row["target_max"] == 6.0 and row["target_mean"] == 3.0
    assert row["target_std"] == pytest.approx(np.sqrt(((np.array([1, 2, 3, 6]) - 3) ** 2).mean()))
    with pytest.raises(ValueError, match="rows"):
        summarize_arrays(np.zeros((3, 1)), np.zeros(2), "regression")
    with pytest.raises(ValueError, match="task"):
        summarize_arrays(np.zeros((2, 1)), np.zeros(2), "ranking")


def test_summary_matches_the_manifest(shared_data):
    frame = run_experiment("datasets_summary", DatasetsSummaryConfig(
        datasets=("mnist", "wine-quality-white", "wine-quality-red", "california-housing", "cifar10")))
    rows = {(r.dataset, r.split): r for r in frame.itertuples()}
    # Counts from shared/datasets/README.md (an independent check of the loaders).
    mnist_train = rows[("mnist", "train")]
    assert mnist_train.n_samples == 60000 and mnist_train.n_features == 784
    assert mnist_train.n_classes == 10
    assert mnist_train.smallest_class == pytest.approx(5421 / 60000)
    assert mnist_train.largest_class == pytest.approx(6742 / 60000)
    assert rows[("mnist", "test")].n_samples == 10000
    assert rows[("wine-quality-white", "train")].n_samples == 4898
    assert rows[("wine-quality-red", "train")].target_min == 3
    assert rows[("wine-quality-red", "train")].target_max == 8
    cal = rows[("california-housing", "train")]
    assert cal.n_samples == 20640 and cal.target_mean == pytest.approx(2.068558, abs=1e-6)
    assert ("california-housing", "test") not in rows  # no such split: no row
    cifar = [r for r in frame.itertuples() if r.dataset == "cifar10"]
    if cifar and not cifar[0].available:
        assert "learning-rules data fetch cifar10" in cifar[0].note
        assert pd.isna(cifar[0].n_samples)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'; valid names: mnist"):
        datasets_summary(DatasetsSummaryConfig(datasets=("mnsit",)))


def test_markdown_table():
    import pandas as pd

    text = markdown_table(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x|y", None]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.235 | x\\|y |", "|  |  |"]
