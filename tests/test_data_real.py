"""Integration tests on the verified copies in ../shared/datasets: the facts its README states.

The expected numbers below are the README's (counted when the copies were made), not values
copied from a run of this code; MANIFEST.json serves as the independent checksum oracle.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from learning_rules import data


@pytest.fixture(autouse=True)
def _no_download(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_DATA", str(shared_data))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")


IDX_FACTS = {
    "mnist": dict(train=[5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
                  test=[980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
                  mean=0.1307, std=0.3081),
    "fashion-mnist": dict(train=[6000] * 10, test=[1000] * 10, mean=0.2860, std=0.3530),
}


@pytest.mark.parametrize("name", list(IDX_FACTS))
def test_idx_sizes_label_counts_and_pixel_statistics(name):
    facts = IDX_FACTS[name]
    X, y = data.load(name, "train")
    assert X.shape == (60000, 784) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y, minlength=10), facts["train"])
    assert round(X.mean() / 255, 4) == facts["mean"]
    assert round(X.std() / 255, 4) == facts["std"]
    Xt, yt = data.load(name, "test", flatten=False)
    assert Xt.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(yt, minlength=10), facts["test"])


def test_mnist_float_is_raw_over_255():
    X, y = data.load("mnist", "test")
    Xf, yf = data.load("mnist", "test", dtype=np.float32)
    assert Xf.dtype == np.float32 and Xf.min() == 0.0 and Xf.max() == 1.0
    np.testing.assert_array_equal(Xf[:100], X[:100].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(yf, y)


def test_checksums_match_the_manifest(shared_data):
    manifest = json.loads((shared_data / "MANIFEST.json").read_text())
    for name, folder in (("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")):
        assert data.checksums(name) == {f: v["sha256"] for f, v in manifest[folder].items()}
    assert data.checksums("california-housing") == {
        "cal_housing.data": manifest["california-housing"]["cal_housing.data"]["sha256"]}
    assert data.checksums("wine-quality-white") == {
        "winequality-white.csv": manifest["wine-quality"]["winequality-white.csv"]["sha256"]}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "california-housing",
                                  "california-housing-csv", "wine-quality-white",
                                  "wine-quality-red"])
def test_verify_and_where_on_the_shared_copies(shared_data, name):
    result = data.verify(name)
    assert result and set(result.values()) == {"ok"}
    assert all(shared_data in p.parents for p in data.where(name))


def test_california_housing_matches_readme():
    X, y = data.load("california-housing")
    assert X.shape == (20640, 8) and y.shape == (20640,)
    np.testing.assert_allclose(X[0], [8.3252, 41, 6.9841, 1.0238, 322, 2.5556, 37.88, -122.23],
                               atol=5e-5)
    assert y[0] == pytest.approx(4.526, abs=1e-12)
    np.testing.assert_allclose(
        X.mean(axis=0), [3.870671, 28.639486, 5.429000, 1.096675, 1425.476744, 3.070655,
                         35.631861, -119.569704], atol=5e-7)
    assert y.mean() == pytest.approx(2.068558, abs=5e-7)
    assert (y.min(), y.max()) == (pytest.approx(0.14999), pytest.approx(5.00001))
    assert data.DATASETS["california-housing"].feature_names[0] == "MedInc"


def test_housing_csv_is_the_statlib_data_minus_blank_rows(shared_data):
    X, y = data.load("california-housing-csv")
    assert X.shape == (20433, 8) and y.shape == (20433,)
    # Oracle: which rows have a blank total_bedrooms, read with the csv module.
    with open(shared_data / "california-housing" / "housing.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    keep = np.array([r[4] != "" for r in rows])
    assert (~keep).sum() == 207
    raw = np.loadtxt(shared_data / "california-housing" / "cal_housing.data", delimiter=",")
    np.testing.assert_array_equal(X, raw[keep, :8])
    np.testing.assert_array_equal(y, raw[keep, 8])


@pytest.mark.parametrize("colour,n,counts", [
    ("white", 4898, {3: 20, 4: 163, 5: 1457, 6: 2198, 7: 880, 8: 175, 9: 5}),
    ("red", 1599, {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18}),
])
def test_wine_quality_counts(colour, n, counts):
    X, y = data.load(f"wine-quality-{colour}")
    assert X.shape == (n, 11) and y.shape == (n,)
    values, freq = np.unique(y, return_counts=True)
    assert dict(zip(values.astype(int).tolist(), freq.tolist())) == counts
    X32, y32 = data.load(f"wine-quality-{colour}", dtype=np.float32)
    assert X32.dtype == np.float32 and y32.dtype == np.float32


def test_digits_embedded():
    X, y = data.load("digits", flatten=False)
    assert X.shape == (1797, 8, 8) and X.max() == 16 and np.bincount(y).sum() == 1797
    Xf, _ = data.load("digits", dtype=np.float64)
    np.testing.assert_array_equal(Xf, X.reshape(1797, 64) / 16.0)
    (path,) = data.where("digits")
    assert path.name == "digits.csv.gz" and len(data.checksums("digits")["digits.csv.gz"]) == 64
    with pytest.raises(ValueError, match="valid splits: train"):
        data.load("digits", "test")
