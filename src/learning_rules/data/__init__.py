"""The data layer: a registry of datasets (canonical URL + pinned checksum), loaders, generators.

>>> from learning_rules import data
>>> X, y = data.load("mnist", "train", dtype=np.float32)      # doctest: +SKIP
>>> [d.name for d in data.list_datasets()]                      # doctest: +SKIP

Where files come from (first hit wins): each folder of ``LEARNING_RULES_DATA`` (as
``DIR/<dataset folder>/file`` or ``DIR/file``), the user cache (``LEARNING_RULES_CACHE`` or
``pooch.os_cache("learning-rules")``), then a checksum-verified download into that cache unless
``LEARNING_RULES_OFFLINE=1``. A file whose checksum differs is never used (:class:`ChecksumError`);
a dataset that is nowhere raises :class:`DatasetNotFoundError` with the places searched and the
fixes -- never a substitute dataset.

Modules: :mod:`.registry` (``DATASETS``), :mod:`.parsers` (one per file format),
:mod:`.locate` (search, hashing, download), :mod:`.loaders` (public functions),
:mod:`.generators` (MNIST-parity, Chizat-Bach clusters), :mod:`.cli` (``learning-rules data``).
"""

from __future__ import annotations

from .errors import ChecksumError, DatasetNotFoundError
from .generators import (
    PARITY_MEAN,
    PARITY_STD,
    THESIS_LABEL_MAP,
    cluster_centres,
    make_chizat_bach_clusters,
    make_mnist_parity,
    normalize_parity,
    parity_label,
)
from .loaders import checksums, fetch, list_datasets, load, verify, where
from .registry import DATASETS, DataFile, DatasetInfo, FileForm

__all__ = [
    "DATASETS", "ChecksumError", "DataFile", "DatasetInfo", "DatasetNotFoundError", "FileForm",
    "PARITY_MEAN", "PARITY_STD", "THESIS_LABEL_MAP", "checksums", "cluster_centres", "fetch",
    "list_datasets", "load", "make_chizat_bach_clusters", "make_mnist_parity", "normalize_parity",
    "parity_label", "verify", "where",
]
