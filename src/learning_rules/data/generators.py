"""Generated data sets of the DFA thesis: MNIST-parity and Chizat & Bach's synthetic clusters.

Both follow the thesis code (``demirbilek95/Dynamics-of-Learning``, ``scripts/data.py``) as read in
``../shared/specs/dfa-thesis.md`` sections 1 and 6; every random draw comes from the
``numpy.random.Generator`` passed in, so the same seed gives the same arrays bit for bit. (The
thesis drew with torch's unseeded RNG, so its exact samples cannot be reproduced; the sampling
*scheme* is reproduced.)

Explained in: book chapter on DFA (MNIST-parity and the synthetic clusters).
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------------------
# MNIST-parity (thesis section 3.1; spec section 1)
# --------------------------------------------------------------------------------------------------

#: MNIST pixel mean on the 0..255 scale, 0.1307 * 255 (thesis code, ``data.py:L43``).
PARITY_MEAN = 33.3285
#: MNIST pixel standard deviation on the 0..255 scale, 0.3081 * 255 (``data.py:L44``).
PARITY_STD = 78.5655

PARITY_ORDERS = ("permute", "iid")


def parity_indices(n: int, k: int, rng: np.random.Generator, order: str = "permute") -> np.ndarray:
    """Which source image fills each of the ``k`` slots of each of the ``n`` samples.

    ``order="permute"`` is the thesis code: for ``k >= 2`` one independent permutation of
    ``0..n-1`` per slot (drawn slot by slot, left to right), so every image appears exactly once in
    every slot of an epoch; for ``k = 1`` the original order, no permutation and no draw (spec
    section 1, "k = 1 special case"). ``order="iid"`` draws every index uniformly with replacement,
    which is what the thesis *text* describes (spec section 9 F).

    Returns
    -------
    numpy.ndarray, int64, shape (n, k)
        Column ``s`` holds the indices of slot ``s`` (0 = left).
    """
    if order not in PARITY_ORDERS:
        raise ValueError(f"unknown order {order!r}; valid orders: {', '.join(PARITY_ORDERS)}")
    if order == "iid":
        return rng.integers(0, n, size=(n, k), dtype=np.int64)
    if k == 1:
        return np.arange(n, dtype=np.int64)[:, None]
    return np.stack([rng.permutation(n) for _ in range(k)], axis=1).astype(np.int64)


def parity_label(digits: np.ndarray) -> np.ndarray:
    """Parity of the digit sum of each sample.

    .. math:: y_i = \\Big(\\sum_{s=1}^{k} t_{i,s}\\Big) \\bmod 2

    Parameters
    ----------
    digits : int array (n, k), the digit labels in the k slots

    Returns
    -------
    int64 (n,): 1 = odd sum, 0 = even sum (thesis code ``data.py:L33``).
    """
    return (np.asarray(digits, dtype=np.int64).sum(axis=1) % 2).astype(np.int64)


def make_mnist_parity(images: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator,
                      *, order: str = "permute", return_indices: bool = False):
    """One epoch of the k-digit MNIST-parity task (Demirbilek 2021, section 3.1).

    Sample ``i`` is the images of ``k`` slots placed side by side along the width, slot 0 on the
    left (for k = 3: left, middle, right), giving a ``28 x 28k`` image; its label is the parity of
    the k digits' sum (:func:`parity_label`). The wide image is flattened row-major, so pixel
    ``(r, c)`` of the wide image is column ``28k * r + c`` -- not the concatenation of the k
    flattened digits. Pixels stay raw (uint8); apply :func:`normalize_parity` for the thesis'
    normalisation. Build a new epoch (a new call) for every epoch, as the thesis does.

    Parameters
    ----------
    images : uint8 (N, H, W) or (N, H*W) with H = W
    labels : int (N,), digits 0..9
    k : number of digits per sample, >= 1
    rng : numpy.random.Generator
    order : ``"permute"`` (thesis code, default) or ``"iid"``; see :func:`parity_indices`
    return_indices : also return the (N, k) source indices

    Returns
    -------
    X : same dtype as ``images``, shape (N, H * W * k)
    y : int64 (N,)
    indices : int64 (N, k), only when ``return_indices``
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (digits per sample), got {k!r}")
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"flat images of {images.shape[1]} pixels are not square; pass "
                             "them as (N, H, W)")
        images = images.reshape(-1, side, side)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, H*W), got shape {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
    n, h, w = images.shape
    idx = parity_indices(n, int(k), rng, order)
    wide = np.concatenate([images[idx[:, s]] for s in range(k)], axis=2)  # (n, h, w*k)
    X = wide.reshape(n, h * w * k)
    y = parity_label(labels[idx])
    return (X, y, idx) if return_indices else (X, y)


def normalize_parity(X: np.ndarray, dtype=np.float32) -> np.ndarray:
    """The thesis' normalisation of raw 0..255 pixels (thesis code ``data.py:L43-44``).

    .. math:: x' = (x - \\mu) / \\sigma, \\quad \\mu = 33.3285 = 0.1307 \\cdot 255,\\;
              \\sigma = 78.5655 = 0.3081 \\cdot 255

    Computed in float64 and returned in ``dtype`` (float32 like the thesis' tensors). Background
    pixels (0) become -0.4242.

    Parameters
    ----------
    X : array of raw pixel values, any shape
    """
    return ((np.asarray(X, dtype=np.float64) - PARITY_MEAN) / PARITY_STD).astype(dtype)


# --------------------------------------------------------------------------------------------------
# Chizat & Bach synthetic clusters (thesis section 2.3; spec section 6)
# --------------------------------------------------------------------------------------------------

#: Clusters per axis, c (the grid is c x c = 9 clusters).
CLUSTERS_PER_AXIS = 3
#: The label map the thesis experiments use (NB2 cell 10): 0-based clusters {0, 5, 7, 8} -> 0,
#: the other five -> 1. In the (x1, x2) plane these are bottom-left, middle-right, top-middle and
#: top-right.
THESIS_LABEL_MAP = (0, 1, 1, 1, 1, 0, 1, 0, 0)


def cluster_spacing(c: int = CLUSTERS_PER_AXIS) -> float:
    """Radius of each cluster, which also sets the grid step (Chizat & Bach 2020 code).

    .. math:: \\Delta = 1 / (3c - 1)

    ``c = 3`` gives 1/8; neighbouring centres are ``3 Delta`` apart, so clusters never overlap.
    """
    return 1.0 / (3 * c - 1)


def cluster_centres(c: int = CLUSTERS_PER_AXIS) -> np.ndarray:
    """The c x c cluster centres in the (x1, x2) plane.

    For 0-based cluster index p: ``p1 = p mod c``, ``p2 = floor(p / c)`` and

    .. math:: x_j = \\Delta (1 + 3 p_j) - 1/2, \\quad j = 1, 2

    so c = 3 gives the grid {-0.375, 0, 0.375}^2 (spec section 6).

    Returns
    -------
    float64 (c*c, 2): row p = (x1, x2) of cluster p.
    """
    delta = cluster_spacing(c)
    p = np.arange(c * c)
    return np.column_stack([delta * (1 + 3 * (p % c)) - 0.5, delta * (1 + 3 * (p // c)) - 0.5])


def random_label_map(rng: np.random.Generator, c: int = CLUSTERS_PER_AXIS) -> tuple[int, ...]:
    """The thesis library's random label map: floor(c^2 / 2) clusters -> 0, the rest -> 1
    (``data.py:L65-66``; the experiments use :data:`THESIS_LABEL_MAP` instead)."""
    labels = np.ones(c * c, dtype=np.int64)
    labels[rng.choice(c * c, size=(c * c) // 2, replace=False)] = 0
    return tuple(int(v) for v in labels)


def make_chizat_bach_clusters(n: int, d: int, rng: np.random.Generator, *,
                              label_map=THESIS_LABEL_MAP, c: int = CLUSTERS_PER_AXIS,
                              return_clusters: bool = False):
    """Chizat & Bach's clusters with spurious dimensions, as the thesis samples them.

    For each sample: a cluster ``P`` uniform over the c x c grid, an angle ``T ~ U[0, 2 pi)`` and a
    radius ``R ~ Delta * U[0, 1]`` (uniform radius, so the density inside a disk falls like 1/r,
    as in Chizat's code), then

    .. math:: x = \\big[1,\\; c_1(P) + R\\cos T,\\; c_2(P) + R\\sin T,\\;
              u_1, \\dots, u_{d-3}\\big], \\quad u_j \\sim U[-1/2, 1/2),
              \\qquad y = \\text{label\\_map}[P] \\in \\{0, 1\\}

    Column 0 is the constant 1 that plays the hidden-layer bias; ``d`` counts it (spec section 6,
    Chizat & Bach 2020, Demirbilek 2021 section 2.3). Draw order: P, T, R, then the spurious block.
    The thesis draws one sample with the largest d and slices columns for smaller d: do the same
    with ``X[:, :d]``.

    Parameters
    ----------
    n : number of samples, >= 1
    d : number of columns including the constant, >= 3
    rng : numpy.random.Generator
    label_map : c*c labels in {0, 1}, cluster p -> label (default :data:`THESIS_LABEL_MAP`)
    c : clusters per axis
    return_clusters : also return each sample's 0-based cluster index

    Returns
    -------
    X : float64 (n, d);  y : int64 (n,);  clusters : int64 (n,) when ``return_clusters``
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}")
    if not isinstance(d, (int, np.integer)) or d < 3:
        raise ValueError(f"d must be an integer >= 3 (constant column + 2 informative), got {d!r}")
    label_map = np.asarray(label_map, dtype=np.int64)
    if label_map.shape != (c * c,) or not np.isin(label_map, (0, 1)).all():
        raise ValueError(f"label_map must hold {c * c} labels in {{0, 1}}, got {label_map.tolist()}")
    delta = cluster_spacing(c)
    centres = cluster_centres(c)
    P = rng.integers(0, c * c, size=n)
    T = rng.uniform(0.0, 2.0 * np.pi, size=n)
    R = delta * rng.uniform(0.0, 1.0, size=n)
    X = np.empty((n, d), dtype=np.float64)
    X[:, 0] = 1.0
    X[:, 1] = centres[P, 0] + R * np.cos(T)
    X[:, 2] = centres[P, 1] + R * np.sin(T)
    X[:, 3:] = rng.uniform(-0.5, 0.5, size=(n, d - 3))
    y = label_map[P]
    return (X, y, P.astype(np.int64)) if return_clusters else (X, y)
