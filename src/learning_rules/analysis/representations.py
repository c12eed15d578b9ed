r"""Per-digit hidden representations of the k-digit parity nets (thesis section 3.1, Figs. 3.6-3.7).

A k = 3 parity input is a ``28 x 84`` image flattened row-major, so pixel ``(r, c)`` of digit slot
``b`` (0 = left) sits at input column ``84 r + 28 b + c``. The thesis' representation of the digit
in slot ``b`` is that digit's contribution to the hidden pre-activation (no ReLU, other slots left
out),

.. math:: r_{i,b} = x_{i,b}\, W_1[:, \mathcal C_b]^\top \in \mathbb R^{H},
          \qquad \mathcal C_b = \{28k\,r + 28 b + c : 0 \le r, c < 28\}

(spec ``../shared/specs/dfa-thesis.md`` section 7; ``getW1ForImage``). This module computes those
representations, the label order the original notebook attached to them (spec 9 B), a
cross-validated k-nearest-neighbour digit accuracy and a scikit-learn t-SNE map.

Explained in: book/dfa/representations.ipynb.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = [
    "digit_columns",
    "knn_digit_accuracy",
    "per_digit_representations",
    "thesis_label_order",
    "tsne_embed",
]


def digit_columns(k: int, slot: int, side: int = 28) -> np.ndarray:
    r"""Input columns of digit slot ``slot`` in the row-major flatten of a ``side x side k`` image.

    .. math:: \mathcal C_b = \{ side\,k\,r + side\,b + c : 0 \le r, c < side \}

    Returns
    -------
    int64 (side * side,), in the digit's own row-major pixel order
    """
    if not 0 <= slot < k:
        raise ValueError(f"slot must lie in 0..{k - 1} for k = {k}, got {slot}")
    r, c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    return (side * k * r + side * slot + c).reshape(-1).astype(np.int64)


def per_digit_representations(W1: np.ndarray, X: np.ndarray, k: int, side: int = 28) -> np.ndarray:
    r"""The thesis' per-digit representation of every digit of every sample.

    .. math:: r_{i,b} = x_{i}[\mathcal C_b]\; W_1[:, \mathcal C_b]^\top

    Parameters
    ----------
    W1 : (H, side^2 k) first-layer weights (row j = hidden unit j)
    X : (n, side^2 k) normalized wide images
    k : digits per sample

    Returns
    -------
    (n k, H), **sample-major**: row ``k i + b`` is slot ``b`` of sample ``i`` (the order in which
    the original notebook stacked them); its digit is ``digits[i, b]``, i.e. ``digits.reshape(-1)``.
    """
    W1 = np.asarray(W1)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != side * side * k or W1.shape[1] != X.shape[1]:
        raise ValueError(f"need X (n, {side * side * k}) and W1 (H, {side * side * k}) for k = {k}; "
                         f"got X {X.shape} and W1 {W1.shape}")
    out = np.empty((X.shape[0], k, W1.shape[0]), dtype=np.result_type(X, W1))
    for b in range(k):
        cols = digit_columns(k, b, side)
        out[:, b, :] = X[:, cols] @ W1[:, cols].T
    return out.reshape(X.shape[0] * k, W1.shape[0])


def thesis_label_order(digits: np.ndarray) -> np.ndarray:
    r"""The labels the original notebook attached to the sample-major rows (spec 9 B): it
    concatenated the slots' label *blocks* (all left digits, then all middle, then all right),
    ``digits.T.reshape(-1)``, while the points are sample-major. Row ``k i + b`` therefore gets
    the digit of slot ``(k i + b) // n`` of sample ``(k i + b) mod n`` -- in general a different
    image.

    Parameters
    ----------
    digits : (n, k) digit labels per sample and slot
    """
    digits = np.asarray(digits)
    if digits.ndim != 2:
        raise ValueError(f"digits must be (n, k), got shape {digits.shape}")
    return digits.T.reshape(-1)


def knn_digit_accuracy(R: np.ndarray, labels: np.ndarray, n_neighbors: int = 10, n_folds: int = 3,
                       seed: int = 0) -> float:
    """Mean ``n_folds``-fold cross-validated accuracy of a ``n_neighbors``-NN classifier
    (Euclidean) that predicts ``labels`` from the representations ``R``.

    Folds are stratified and shuffled with ``seed``. Chance is about 0.1 for digit labels.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    R = np.asarray(R)
    labels = np.asarray(labels)
    if R.shape[0] != labels.shape[0]:
        raise ValueError(f"R has {R.shape[0]} rows but labels has {labels.shape[0]}")
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with threadpool_limits(1):
        scores = cross_val_score(KNeighborsClassifier(n_neighbors=n_neighbors), R, labels, cv=folds)
    return float(np.mean(scores))


def tsne_embed(R: np.ndarray, perplexity: float = 30.0, seed: int = 123) -> np.ndarray:
    """Two-dimensional scikit-learn t-SNE of ``R`` with the original notebook's settings (spec 7):
    Barnes-Hut, perplexity 30, early exaggeration 12, learning rate 200, random init,
    1000 iterations, ``random_state=123``. Perplexity is capped below ``n / 3`` for tiny inputs.

    Returns
    -------
    (n, 2) float64 embedding
    """
    from sklearn.manifold import TSNE

    R = np.asarray(R, dtype=np.float64)
    perplexity = float(min(perplexity, max(1.0, (R.shape[0] - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perplexity, early_exaggeration=12.0, learning_rate=200.0,
                max_iter=1000, init="random", random_state=seed, method="barnes_hut", angle=0.5,
                n_jobs=1)
    # One thread: the Barnes-Hut gradient's OpenMP threads spin at every one of the 1000 iterations
    # and were 10x slower than one thread on a shared two-core machine.
    with threadpool_limits(1):
        return tsne.fit_transform(R)
