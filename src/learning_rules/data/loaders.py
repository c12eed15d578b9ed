"""Public functions of the data layer: ``load``, ``list_datasets``, ``where``, ``verify``,
``fetch``, ``checksums``.

Every function takes a registered dataset name (``DATASETS``) or a :class:`DatasetInfo` (for a
dataset defined outside the registry, e.g. in a test).

Conventions of :func:`load`
---------------------------
* Images (``mnist``, ``fashion-mnist``, ``cifar10``, ``digits``): ``dtype=None`` (or ``uint8``)
  keeps the raw pixel values (uint8, 0..255; 0..16 for ``digits``); a floating ``dtype`` gives
  ``pixels / pixel_max`` in [0, 1] in that dtype. ``flatten=True`` returns ``(N, n_pixels)``,
  row-major per image; ``flatten=False`` returns ``(N, 28, 28)``, ``(N, 8, 8)`` or, for CIFAR-10,
  ``(N, 32, 32, 3)`` = height x width x RGB channels (channels last). CIFAR's flattened rows are
  therefore pixel-interleaved (r, g, b of pixel (0, 0), then pixel (0, 1), ...) -- the HWC order
  of the dual-weight code; ``X.reshape(N, 32, 32, 3).transpose(0, 3, 1, 2)`` recovers the file's
  channel-major layout. Labels are int64.
* Tables (``california-housing``, ``california-housing-csv``, ``wine-quality-*``): ``X`` float64
  ``(N, n_features)`` and ``y`` float64 ``(N,)`` exactly as the source defines them (no
  standardisation); a floating ``dtype`` casts both; ``flatten`` has no effect.

Explained in: book/datasets.ipynb (Datasets).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import locate
from .registry import DATASETS, DatasetInfo


def _info(name: str | DatasetInfo) -> DatasetInfo:
    return name if isinstance(name, DatasetInfo) else DATASETS.lookup(name)


def list_datasets() -> list[DatasetInfo]:
    """All registered datasets, in registration order."""
    return list(DATASETS.values())


def _paths(found: dict) -> dict[str, Path]:
    return {key: hit.path for key, (hit, _) in found.items()}


def load(name: str | DatasetInfo, split: str = "train", *, flatten: bool = True,
         dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Load a dataset split as NumPy arrays ``(X, y)``; see the module docstring for conventions.

    Files are searched in ``LEARNING_RULES_DATA``, then the user cache, then downloaded (unless
    ``LEARNING_RULES_OFFLINE=1``), and always checksum-verified before they are parsed.

    Parameters
    ----------
    name : str or DatasetInfo
        A name in ``DATASETS`` (unknown -> ``ValueError`` listing the valid names).
    split : str
        ``"train"`` (every dataset), ``"test"`` where the source has one, and for CIFAR-10 also
        ``"data_batch_1"`` .. ``"data_batch_5"``. Unknown -> ``ValueError`` listing valid splits.
    flatten : bool
        Images as ``(N, n_pixels)`` rows (default) or in their image shape.
    dtype : None or numpy dtype
        ``None`` keeps raw values; a floating dtype scales images to [0, 1] (tables: cast only).

    Returns
    -------
    X : numpy.ndarray, shape (N, n_features) or (N, *image_shape)
    y : numpy.ndarray, shape (N,), int64 labels or float64 targets

    Raises
    ------
    DatasetNotFoundError
        The files are nowhere and cannot be downloaded (message: places searched and fixes).
    ChecksumError
        A file found differs from its pinned checksum.
    """
    info = _info(name)
    keys = info.split_keys(split)
    target_dtype = _check_dtype(info, dtype)
    if info.embedded is not None:
        paths = {}
    else:
        paths = _paths(locate.resolve(info, keys, allow_download=True))
    X, y = info.reader(paths, split)
    if info.image_shape is not None:
        X = _finish_images(info, X, flatten, target_dtype)
    elif target_dtype is not None:
        X, y = X.astype(target_dtype), y.astype(target_dtype)
    return X, y


def _check_dtype(info: DatasetInfo, dtype) -> np.dtype | None:
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return dt
    if dt == np.uint8 and info.image_shape is not None:
        return None
    raise ValueError(f"dtype {dt} is not supported for dataset {info.name!r}: pass None "
                     "(raw values) or a floating dtype such as np.float32 / np.float64"
                     + (" (uint8 also means raw pixels)" if info.image_shape else ""))


def pixels_to_unit(X: np.ndarray, pixel_max: int, dtype: np.dtype) -> np.ndarray:
    """Scale raw pixel counts to [0, 1].

    .. math:: x = x_\\text{raw} / x_\\text{max}

    Parameters
    ----------
    X : uint8 array, any shape
    pixel_max : 255 for 8-bit images (16 for scikit-learn's digits)
    dtype : floating dtype of the result (the division is done in it)
    """
    out = X.astype(dtype)
    out /= dtype.type(pixel_max)
    return out


def _finish_images(info: DatasetInfo, X: np.ndarray, flatten: bool, dtype) -> np.ndarray:
    if X.shape[1:] != info.image_shape:
        raise ValueError(f"{info.name}: parsed images have shape {X.shape[1:]}, "
                         f"expected {info.image_shape}")
    if flatten:
        X = X.reshape(X.shape[0], -1)
    return X if dtype is None else pixels_to_unit(X, info.pixel_max, dtype)


def where(name: str | DatasetInfo) -> list[Path]:
    """Paths of the dataset's files on this machine (no download, no hashing).

    Raises :class:`DatasetNotFoundError` naming the places searched when any file is missing.
    """
    info = _info(name)
    if info.embedded is not None:
        return info.embedded()
    found = locate.resolve(info, allow_download=False, verify=False)
    return [hit.path for hit, _ in found.values()]


def fetch(name: str | DatasetInfo) -> list[Path]:
    """Make every file of the dataset available locally (downloading what is missing) and
    verified; return their paths."""
    info = _info(name)
    if info.embedded is not None:
        return info.embedded()
    found = locate.resolve(info, allow_download=True)
    return [hit.path for hit, _ in found.values()]


def verify(name: str | DatasetInfo) -> dict[str, str]:
    """Re-hash every file of the dataset (ignoring the in-memory memo) against its pinned checksum.

    Returns
    -------
    dict
        file path -> ``"ok"``; for data embedded in an installed package (``digits``), which has
        no pinned checksum, the value is ``"embedded (not pinned)"``.

    Raises
    ------
    ChecksumError, DatasetNotFoundError
    """
    info = _info(name)
    if info.embedded is not None:
        return {str(p): "embedded (not pinned)" for p in info.embedded()}
    found = locate.resolve(info, allow_download=False, verify=False)
    out = {}
    for hit, _ in found.values():
        for path in locate.verify_found(hit.path, hit.form, info.name, use_cache=False):
            out[path] = "ok"
    return out


def checksums(name: str | DatasetInfo) -> dict[str, str]:
    """sha256 of every file the dataset reads, keyed by file name (``folder/file`` for the members
    of an extracted folder such as ``cifar-10-batches-py/data_batch_1``), sorted by key.

    The keys do not depend on where the files were found. Files are verified on the way
    (memoised), so the build pipeline can put these values in a cache key: a result computed from
    different bytes gets a different key. No download.
    """
    info = _info(name)
    if info.embedded is not None:
        return {p.name: locate.digests(p)[0] for p in info.embedded()}
    found = locate.resolve(info, allow_download=False)
    out = {}
    for hit, files in found.values():
        for path, sha in files.items():
            key = f"{hit.form.name}/{Path(path).name}" if hit.form.is_folder else hit.form.name
            out[key] = sha
    return dict(sorted(out.items()))
