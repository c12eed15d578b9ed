"""MNIST-parity and Chizat-Bach generators against the thesis spec (dfa-thesis.md, sections 1, 6)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from learning_rules import data
from learning_rules.data import generators as gen


def tagged_images(n, side=6):
    """Images whose pixel (0, 0) and (0, 1) encode the image index, so a slot's source image can
    be read back from the wide image without the generator's indices."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) // 256
    images[:, 0, 1] = np.arange(n) % 256
    labels = rng.integers(0, 10, size=n)
    return images, labels


def read_back_slots(X, n_slots, side):
    wide = X.reshape(X.shape[0], side, side * n_slots)
    return np.stack([wide[:, 0, s * side].astype(int) * 256 + wide[:, 0, s * side + 1]
                     for s in range(n_slots)], axis=1)


# --------------------------------------------------------------------------------------------------
# MNIST-parity
# --------------------------------------------------------------------------------------------------


def test_k3_layout_labels_and_one_appearance_per_slot():
    n, side = 300, 6
    images, labels = tagged_images(n, side)
    X, y = data.make_mnist_parity(images, labels, 3, np.random.default_rng(0))
    assert X.shape == (n, side * side * 3) and X.dtype == np.uint8 and y.dtype == np.int64
    slots = read_back_slots(X, 3, side)
    for s in range(3):  # each image exactly once in each slot (permutations)
        np.testing.assert_array_equal(np.sort(slots[:, s]), np.arange(n))
    # the wide image is [left | middle | right] and flattened row-major: pixel (r, c) -> 3*side*r + c
    for i in (0, 17, n - 1):
        wide = np.concatenate([images[j] for j in slots[i]], axis=1)
        np.testing.assert_array_equal(X[i], wide.ravel())
        assert X[i, 3 * side * 2 + side + 3] == images[slots[i, 1], 2, 3]
    np.testing.assert_array_equal(y, labels[slots].sum(axis=1) % 2)
    assert X.mean() == pytest.approx(images.mean(), rel=1e-12)  # same pixels, reordered


def test_k1_is_original_order_without_draws():
    images, labels = tagged_images(50)
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    X, y = data.make_mnist_parity(images, labels, 1, rng)
    assert rng.bit_generator.state == before
    np.testing.assert_array_equal(X, images.reshape(50, -1))
    np.testing.assert_array_equal(y, labels % 2)


def test_flat_input_same_as_square_input():
    images, labels = tagged_images(40)
    a = data.make_mnist_parity(images, labels, 2, np.random.default_rng(5))
    b = data.make_mnist_parity(images.reshape(40, -1), labels, 2, np.random.default_rng(5))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_same_seed_same_epoch_new_seed_new_epoch():
    images, labels = tagged_images(200)
    a = data.make_mnist_parity(images, labels, 3, np.random.default_rng(11), return_indices=True)
    b = data.make_mnist_parity(images, labels, 3, np.random.default_rng(11), return_indices=True)
    c = data.make_mnist_parity(images, labels, 3, np.random.default_rng(12), return_indices=True)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[2], c[2])
    # the three slots use independent permutations, not one shared one
    assert not np.array_equal(a[2][:, 0], a[2][:, 1])


def test_iid_order_samples_with_replacement():
    images, labels = tagged_images(500)
    X, y, idx = data.make_mnist_parity(images, labels, 3, np.random.default_rng(0),
                                       order="iid", return_indices=True)
    np.testing.assert_array_equal(read_back_slots(X, 3, 6), idx)
    assert len(np.unique(idx[:, 0])) < 500  # repeats happen (P(no repeat) is astronomically small)
    np.testing.assert_array_equal(y, labels[idx].sum(axis=1) % 2)


@settings(max_examples=30, deadline=None)
@given(digits=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=5), min_size=1,
                       max_size=20).filter(lambda r: len({len(x) for x in r}) == 1))
def test_parity_label_is_sum_mod_two(digits):
    expected = [sum(row) % 2 for row in digits]
    np.testing.assert_array_equal(data.parity_label(np.array(digits)), expected)


def test_parity_on_real_mnist_test_split(shared_data, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_DATA", str(shared_data))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    images, labels = data.load("mnist", "test", flatten=False)
    X, y, idx = data.make_mnist_parity(images, labels, 3, np.random.default_rng(0),
                                       return_indices=True)
    assert X.shape == (10000, 2352)
    np.testing.assert_array_equal(y, (labels[idx[:, 0]] + labels[idx[:, 1]] + labels[idx[:, 2]]) % 2)
    assert 0.45 < y.mean() < 0.55
    Z = data.normalize_parity(X)
    assert Z.dtype == np.float32
    # mean of the normalised epoch = (mean of the test images - 33.3285) / 78.5655 exactly,
    # since every test image appears once per slot
    assert Z.mean(dtype=np.float64) == pytest.approx(
        (images.mean() - 33.3285) / 78.5655, abs=1e-6)


def test_normalize_parity_constants_and_values():
    assert gen.PARITY_MEAN == pytest.approx(0.1307 * 255, abs=1e-12)
    assert gen.PARITY_STD == pytest.approx(0.3081 * 255, abs=1e-12)
    z = data.normalize_parity(np.array([0, 255], dtype=np.uint8), dtype=np.float64)
    # oracle in exact rational arithmetic: (x - 333285/10^4) / (785655/10^4)
    mu, sd = Fraction("33.3285"), Fraction("78.5655")
    np.testing.assert_allclose(z, [float((0 - mu) / sd), float((255 - mu) / sd)], rtol=1e-15)
    assert round(float(z[0]), 4) == -0.4242  # the spec's background value


def test_parity_bad_arguments():
    images, labels = tagged_images(10)
    with pytest.raises(ValueError, match="positive integer"):
        data.make_mnist_parity(images, labels, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="valid orders: permute, iid"):
        data.make_mnist_parity(images, labels, 2, np.random.default_rng(0), order="shuffle")
    with pytest.raises(ValueError, match="labels must have shape"):
        data.make_mnist_parity(images, labels[:5], 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="not square"):
        data.make_mnist_parity(np.zeros((3, 10), np.uint8), labels[:3], 2, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------------
# Chizat-Bach clusters
# --------------------------------------------------------------------------------------------------


def test_centres_and_spacing():
    assert gen.cluster_spacing(3) == 1 / 8
    c = data.cluster_centres(3)
    assert c.shape == (9, 2)
    grid = {(-0.375, -0.375), (0.0, -0.375), (0.375, -0.375), (-0.375, 0.0), (0.0, 0.0),
            (0.375, 0.0), (-0.375, 0.375), (0.0, 0.375), (0.375, 0.375)}
    assert {tuple(np.round(r, 12) + 0.0) for r in c} == grid
    # cluster 5 is middle-right, 7 top-middle, 8 top-right, 0 bottom-left (spec section 6)
    np.testing.assert_allclose(c[[0, 5, 7, 8]], [[-0.375, -0.375], [0.375, 0], [0, 0.375],
                                                 [0.375, 0.375]], atol=1e-15)


def test_thesis_label_map():
    zeros = {i for i, v in enumerate(data.THESIS_LABEL_MAP) if v == 0}
    assert zeros == {0, 5, 7, 8} and len(data.THESIS_LABEL_MAP) == 9


@pytest.fixture(scope="module")
def sample():
    return data.make_chizat_bach_clusters(4000, 15, np.random.default_rng(2021),
                                          return_clusters=True)


def test_cluster_sample_structure(sample):
    X, y, P = sample
    assert X.shape == (4000, 15) and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert np.all(X[:, 0] == 1.0)
    centres = data.cluster_centres()
    r = np.hypot(X[:, 1] - centres[P, 0], X[:, 2] - centres[P, 1])
    assert r.max() <= 1 / 8 + 1e-12
    # nearest centre is the sample's own cluster (radius <= Delta < half the grid step 3 Delta)
    d2 = ((X[:, None, 1:3] - centres[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(d2.argmin(axis=1), P)
    np.testing.assert_array_equal(y, np.asarray(data.THESIS_LABEL_MAP)[P])
    assert X[:, 3:].min() >= -0.5 and X[:, 3:].max() < 0.5


def test_cluster_sample_distributions(sample):
    # fixed seed, so these checks are deterministic; the thresholds only guard against a wrong law
    X, y, P = sample
    assert stats.chisquare(np.bincount(P, minlength=9)).pvalue > 1e-3  # uniform clusters
    centres = data.cluster_centres()
    dx, dy = X[:, 1] - centres[P, 0], X[:, 2] - centres[P, 1]
    assert stats.kstest(np.hypot(dx, dy) * 8, "uniform").pvalue > 1e-3  # R / Delta ~ U[0, 1]
    angle = np.mod(np.arctan2(dy, dx), 2 * np.pi) / (2 * np.pi)
    assert stats.kstest(angle, "uniform").pvalue > 1e-3
    assert stats.kstest(X[:, 3:].ravel() + 0.5, "uniform").pvalue > 1e-3
    assert abs(y.mean() - 5 / 9) < 0.03


def test_cluster_determinism_and_options():
    a = data.make_chizat_bach_clusters(64, 5, np.random.default_rng(1))
    b = data.make_chizat_bach_clusters(64, 5, np.random.default_rng(1))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X3, _ = data.make_chizat_bach_clusters(10, 3, np.random.default_rng(0))
    assert X3.shape == (10, 3)
    flipped = tuple(1 - v for v in data.THESIS_LABEL_MAP)
    _, yf = data.make_chizat_bach_clusters(64, 5, np.random.default_rng(1), label_map=flipped)
    np.testing.assert_array_equal(yf, 1 - a[1])
    m = gen.random_label_map(np.random.default_rng(0))
    assert len(m) == 9 and m.count(0) == 4


def test_cluster_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="d must be"):
        data.make_chizat_bach_clusters(10, 2, rng)
    with pytest.raises(ValueError, match="n must be"):
        data.make_chizat_bach_clusters(0, 5, rng)
    with pytest.raises(ValueError, match="label_map"):
        data.make_chizat_bach_clusters(10, 5, rng, label_map=(0, 1, 2))
