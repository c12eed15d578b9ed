"""One parser per file format. Pure I/O: a path in, NumPy arrays out; no searching, no checksums.

Each parser accepts every form in which the data layer finds its file (gzip-compressed or raw,
archive or extracted folder) and fails with a ``ValueError`` naming the file and the problem when
the bytes are not what the format promises.

Explained in: book/datasets.ipynb (Datasets).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------------------

#: IDX type code (third magic byte) -> big-endian NumPy dtype (LeCun et al., the MNIST page).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Whole file content, transparently gunzipped when it starts with the gzip magic."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=f) as g:
                return g.read()
        return f.read()


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels), gzipped or raw.

    Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then ``ndim``
    big-endian uint32 sizes, then the values in C order.

    Parameters
    ----------
    path : path-like
        The file, gzip-compressed (``.gz``, detected by its magic bytes, not its name) or raw.

    Returns
    -------
    numpy.ndarray
        Shape given by the header, native byte order (``uint8`` for MNIST).
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic {buf[:4].hex()!r}); "
                         "expected the MNIST-format files train-images-idx3-ubyte(.gz) etc.")
    dtype = IDX_DTYPES[buf[2]]
    ndim = buf[3]
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(buf) != expected:
        raise ValueError(f"{path}: IDX header promises shape {shape} ({expected} bytes) but the "
                         f"file holds {len(buf)} bytes; the file is truncated or corrupt")
    data = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# --------------------------------------------------------------------------------------------------

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCHES = ("test_batch",)


def parse_cifar_batch(raw: bytes, source: str = "CIFAR batch") -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled CIFAR-10 batch into HWC images and labels.

    The pickle is a dict with ``b"data"``: uint8 ``(N, 3072)`` where each row is channel-major
    (1024 red, then 1024 green, then 1024 blue values, each a 32x32 image in row-major order),
    and ``b"labels"``: N integers in 0..9 (Krizhevsky 2009, the CIFAR page).

    Returns
    -------
    images : numpy.ndarray, uint8, shape (N, 32, 32, 3)
        Height, width, channel (RGB last), i.e. ``data.reshape(N, 3, 32, 32).transpose(0, 2, 3, 1)``.
    labels : numpy.ndarray, int64, shape (N,)
    """
    # The bytes are only unpickled after their checksum matched the pinned one (or, for parser
    # tests, when the test wrote them itself).
    batch = pickle.loads(raw, encoding="bytes")  # noqa: S301
    if not isinstance(batch, dict):
        raise ValueError(f"{source}: expected a pickled dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{source}: the dict lacks b'data' or b'labels' (keys: {list(batch)})")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{source}: b'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{source}: {labels.shape[0]} labels for {data.shape[0]} images")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar(path: str | Path, batches: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10 python batches from the archive or from its extracted folder.

    Parameters
    ----------
    path : path-like
        ``cifar-10-python.tar.gz`` (any tar compression) or a ``cifar-10-batches-py`` folder.
    batches : sequence of str
        Batch names in the order wanted, e.g. ``CIFAR_TRAIN_BATCHES`` or ``("test_batch",)``.

    Returns
    -------
    images : uint8 (N, 32, 32, 3);  labels : int64 (N,)
    """
    path = Path(path)
    raw: dict[str, bytes] = {}
    if path.is_dir():
        for name in batches:
            member = path / name
            if not member.is_file():
                raise ValueError(f"{path} lacks the CIFAR-10 batch file {name}")
            raw[name] = member.read_bytes()
    else:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # one sequential pass: no re-decompression per batch
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in batches and name not in raw:
                    raw[name] = tar.extractfile(member).read()
        missing = [b for b in batches if b not in raw]
        if missing:
            raise ValueError(f"{path} lacks the CIFAR-10 batch files {missing}")
    parts = [parse_cifar_batch(raw[name], f"{path}:{name}") for name in batches]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


# --------------------------------------------------------------------------------------------------
# California housing, StatLib file
# --------------------------------------------------------------------------------------------------

CAL_HOUSING_MEMBER = "CaliforniaHousing/cal_housing.data"
CAL_HOUSING_COLUMNS = ("longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms",
                       "population", "households", "medianIncome", "medianHouseValue")


def read_cal_housing(path: str | Path) -> np.ndarray:
    """Read StatLib's ``cal_housing.data`` (from ``cal_housing.tgz`` or the extracted file).

    Returns
    -------
    numpy.ndarray, float64, shape (20640, 9)
        Columns ``CAL_HOUSING_COLUMNS`` (Pace & Barry 1997), comma-separated, no header.
    """
    path = Path(path)
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("cal_housing.data"):
                    text = tar.extractfile(member).read()
                    break
            else:
                raise ValueError(f"{path} does not contain {CAL_HOUSING_MEMBER}")
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64)
    else:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    table = np.atleast_2d(table)
    if table.shape[1] != len(CAL_HOUSING_COLUMNS):
        raise ValueError(f"{path}: expected {len(CAL_HOUSING_COLUMNS)} comma-separated columns "
                         f"({', '.join(CAL_HOUSING_COLUMNS)}), got {table.shape[1]}")
    return table


# --------------------------------------------------------------------------------------------------
# housing.csv (Geron's variant with ocean_proximity and blanked total_bedrooms)
# --------------------------------------------------------------------------------------------------

HOUSING_CSV_INPUTS = ("longitude", "latitude", "housing_median_age", "total_rooms",
                      "total_bedrooms", "population", "households", "median_income")
HOUSING_CSV_TARGET = "median_house_value"


def read_housing_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``housing.csv`` the way the dual-weight code does.

    Drop the text column ``ocean_proximity``, then every row with a missing value (the 207 blank
    ``total_bedrooms``), keeping file order.

    Returns
    -------
    X : float64 (n_rows, 8), columns ``HOUSING_CSV_INPUTS`` (raw units)
    y : float64 (n_rows,), ``median_house_value`` in dollars
    """
    import pandas as pd

    frame = pd.read_csv(path)
    needed = [*HOUSING_CSV_INPUTS, HOUSING_CSV_TARGET]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ValueError(f"{path}: missing columns {absent}; expected the housing.csv header "
                         f"{', '.join(needed)}, ocean_proximity")
    frame = frame.drop(columns=["ocean_proximity"], errors="ignore").dropna()
    X = frame[list(HOUSING_CSV_INPUTS)].to_numpy(dtype=np.float64)
    y = frame[HOUSING_CSV_TARGET].to_numpy(dtype=np.float64)
    return X, y


# --------------------------------------------------------------------------------------------------
# Wine Quality CSV (UCI)
# --------------------------------------------------------------------------------------------------

WINE_FEATURES = ("fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
                 "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates",
                 "alcohol")
WINE_TARGET = "quality"


def read_wine_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCI Wine Quality file: ``;``-separated, quoted header, 11 inputs then ``quality``.

    Returns
    -------
    X : float64 (n_rows, 11), columns ``WINE_FEATURES``
    y : float64 (n_rows,), the quality score (an integer 0..10 stored as float)
    """
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        header = [h.strip().strip('"') for h in f.readline().strip().split(";")]
        if tuple(header) != (*WINE_FEATURES, WINE_TARGET):
            raise ValueError(f"{path}: header {header} is not the Wine Quality header "
                             f"{[*WINE_FEATURES, WINE_TARGET]}")
        table = np.atleast_2d(np.loadtxt(f, delimiter=";", dtype=np.float64))
    return table[:, :-1].copy(), table[:, -1].copy()
