"""Per-digit representations, the original notebook's label order, k-NN accuracy and t-SNE."""

import numpy as np
import pytest

from learning_rules.analysis.representations import (
    digit_columns,
    knn_digit_accuracy,
    per_digit_representations,
    thesis_label_order,
    tsne_embed,
)


def test_digit_columns_by_hand_and_partition():
    cols = digit_columns(3, 1)
    assert cols[:3].tolist() == [28, 29, 30]      # row 0 of the middle digit
    assert cols[28] == 84 + 28                     # row 1 starts one wide row later
    allc = np.concatenate([digit_columns(3, b) for b in range(3)])
    assert sorted(allc.tolist()) == list(range(2352))  # the three slots tile the wide image
    with pytest.raises(ValueError, match="slot"):
        digit_columns(3, 3)


def test_digit_columns_match_the_parity_generator():
    from learning_rules.data import make_mnist_parity

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    X, _, idx = make_mnist_parity(images, np.arange(5) % 10, 3, rng, return_indices=True)
    for b in range(3):
        np.testing.assert_array_equal(X[:, digit_columns(3, b)], images[idx[:, b]].reshape(5, -1))


def test_slot_representations_sum_to_the_preactivation():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 2352))
    W1 = rng.standard_normal((6, 2352))
    R = per_digit_representations(W1, X, 3)
    assert R.shape == (12, 6)
    np.testing.assert_allclose(R.reshape(4, 3, 6).sum(axis=1), X @ W1.T, rtol=1e-10)
    with pytest.raises(ValueError, match="need X"):
        per_digit_representations(W1[:, :784], X, 3)


def test_thesis_label_order_by_hand():
    digits = np.array([[1, 2, 3], [4, 5, 6]])
    assert digits.reshape(-1).tolist() == [1, 2, 3, 4, 5, 6]          # sample-major, correct
    assert thesis_label_order(digits).tolist() == [1, 4, 2, 5, 3, 6]  # the notebook's blocks


def test_knn_accuracy_detects_structure_and_chance():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(10), 30)
    R = rng.standard_normal((300, 5)) * 0.1 + labels[:, None]
    assert knn_digit_accuracy(R, labels, n_neighbors=5) == 1.0
    scrambled = rng.permutation(labels)
    assert knn_digit_accuracy(R, scrambled, n_neighbors=5) < 0.3


def test_tsne_is_seeded():
    rng = np.random.default_rng(3)
    R = rng.standard_normal((40, 4))
    a, b = tsne_embed(R, perplexity=5, seed=1), tsne_embed(R, perplexity=5, seed=1)
    assert a.shape == (40, 2)
    np.testing.assert_array_equal(a, b)


def test_representations_run_tiny():
    from learning_rules.experiments.dfa_parity import RepresentationsConfig, representations_run

    cfg = RepresentationsConfig(num_epochs=1, n_train=300, n_test=100, n_triplets=40, n_tsne=60,
                                n_knn=120, knn_neighbors=3)
    frame = representations_run(cfg)
    knn = frame[frame["record"] == "knn"]
    assert len(knn) == 6 and knn["accuracy"].between(0, 1).all()
    tsne = frame[frame["record"] == "tsne"]
    assert len(tsne) == 3 * 60 and tsne["digit"].between(0, 9).all()


def test_the_corrected_figure_uses_trained_weights_and_each_points_own_digit():
    """The two mistakes of the original Fig. 3.7 (spec 9 A and B), each of which this test would
    catch: weights re-drawn after training (then the "trained" maps would not depend on how long
    the nets trained) and labels in the notebook's block order (then the labels would not be the
    points' digits)."""
    from learning_rules.experiments.dfa_parity import RepresentationsConfig, representations_run

    def run(epochs):
        cfg = RepresentationsConfig(num_epochs=epochs, n_train=300, n_test=100, n_triplets=40,
                                    n_tsne=60, n_knn=120, knn_neighbors=3)
        return representations_run(cfg)

    before, after = run(0), run(1)
    tsne = lambda f, m: f[(f["record"] == "tsne") & (f["model"] == m)][["tsne_x", "tsne_y"]].to_numpy()
    for model in ("BP trained", "DFA trained"):
        assert not np.allclose(tsne(before, model), tsne(after, model)), model  # training changed W1
    np.testing.assert_array_equal(tsne(before, "untrained"), tsne(after, "untrained"))
    # labels: with 3 slots the point i of the map is digit (i // 3, slot i % 3) of the triplets
    points = after[(after["record"] == "tsne") & (after["model"] == "untrained")]
    assert (points["slot"].to_numpy() == np.arange(len(points)) % 3).all()
    assert (points["digit"] != points["digit_thesis_order"]).any()
    from learning_rules.data.generators import parity_indices
    from learning_rules.experiments.dfa import ParityConfig, load_parity_data

    data = load_parity_data(ParityConfig(k=3, n_train=300, n_test=100))
    idx = parity_indices(data.train_images.shape[0], 3,
                         np.random.default_rng(np.random.SeedSequence([0, 3])))[:40]
    truth = data.train_labels[idx].reshape(-1)[:60]  # sample-major: triplet i // 3, slot i % 3
    np.testing.assert_array_equal(points["digit"].to_numpy(), truth)
    assert not np.array_equal(points["digit_thesis_order"].to_numpy(), truth)
