"""Parsers on tiny files written here in each canonical format (independent writers, no fixtures)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from learning_rules.data import parsers
from learning_rules.data.registry import california_features


def write_idx(path, array, type_code=0x08, compress=False):
    """An IDX writer from the format description: 0, 0, type, ndim, big-endian sizes, data."""
    dtypes = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}
    head = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    head += struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = head + np.asarray(array).astype(dtypes[type_code]).tobytes()
    if compress:
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


# --------------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_and_labels_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    pi = write_idx(tmp_path / f"imgs{suffix}", images, compress=compress)
    pl = write_idx(tmp_path / f"lbls{suffix}", labels, compress=compress)
    got_i, got_l = parsers.read_idx(pi), parsers.read_idx(pl)
    assert got_i.dtype == np.uint8 and got_i.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = write_idx(tmp_path / "no-suffix", a, compress=True)
    np.testing.assert_array_equal(parsers.read_idx(p), a)


@pytest.mark.parametrize("code,values", [(0x0B, [-300, 2, 7]), (0x0D, [0.5, -1.25, 3.0])])
def test_idx_other_types_are_big_endian_decoded(tmp_path, code, values):
    a = np.array(values)
    got = parsers.read_idx(write_idx(tmp_path / "x", a, type_code=code))
    np.testing.assert_array_equal(got, a)
    assert got.dtype.isnative


def test_idx_bad_magic_and_truncation_raise(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        parsers.read_idx(bad)
    p = write_idx(tmp_path / "t", np.zeros((4, 2, 2), np.uint8))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        parsers.read_idx(p)


# --------------------------------------------------------------------------------------------------
# CIFAR-10 pickle batches
# --------------------------------------------------------------------------------------------------


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {b"batch_label": b"tiny", b"labels": labels, b"data": data, b"filenames": []}


def write_cifar_folder(root, sizes):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([*parsers.CIFAR_TRAIN_BATCHES, "test_batch"]):
        batches[name] = cifar_batch(sizes[i], seed=i)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"]}))
    return folder, batches


def hwc_oracle(data):
    """Per-pixel rebuild: channel ch of pixel (r, c) is data[ch * 1024 + r * 32 + c]."""
    n = data.shape[0]
    out = np.empty((n, 32, 32, 3), np.uint8)
    for ch in range(3):
        out[..., ch] = data[:, ch * 1024:(ch + 1) * 1024].reshape(n, 32, 32)
    return out


def test_cifar_folder_and_archive_give_same_arrays(tmp_path):
    folder, batches = write_cifar_folder(tmp_path / "x", sizes=[2, 3, 1, 2, 2, 4])
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    for source in (folder, archive):
        X, y = parsers.read_cifar(source, parsers.CIFAR_TRAIN_BATCHES)
        assert X.shape == (10, 32, 32, 3) and X.dtype == np.uint8 and y.dtype == np.int64
        data = np.concatenate([batches[b][b"data"] for b in parsers.CIFAR_TRAIN_BATCHES])
        np.testing.assert_array_equal(X, hwc_oracle(data))
        np.testing.assert_array_equal(
            y, sum((batches[b][b"labels"] for b in parsers.CIFAR_TRAIN_BATCHES), []))
        Xt, yt = parsers.read_cifar(source, ("test_batch",))
        np.testing.assert_array_equal(Xt, hwc_oracle(batches["test_batch"][b"data"]))
        X1, _ = parsers.read_cifar(source, ("data_batch_2",))
        assert X1.shape[0] == 3


def test_cifar_missing_batch_and_bad_content_raise(tmp_path):
    folder, _ = write_cifar_folder(tmp_path, sizes=[1] * 6)
    (folder / "data_batch_3").unlink()
    with pytest.raises(ValueError, match="data_batch_3"):
        parsers.read_cifar(folder, parsers.CIFAR_TRAIN_BATCHES)
    with pytest.raises(ValueError, match="uint8"):
        parsers.parse_cifar_batch(pickle.dumps({b"data": np.zeros((2, 10)), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match="labels"):
        parsers.parse_cifar_batch(pickle.dumps(
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))


# --------------------------------------------------------------------------------------------------
# California housing: cal_housing.data (plain and inside cal_housing.tgz), housing.csv
# --------------------------------------------------------------------------------------------------

CAL_LINES = ("-122.230000,37.880000,41.000000,880.000000,129.000000,322.000000,126.000000,"
             "8.325200,452600.000000\n"
             "-122.220000,37.860000,21.000000,7099.000000,1106.000000,2401.000000,1138.000000,"
             "8.301400,358500.000000\n")


def test_cal_housing_plain_and_tgz(tmp_path):
    plain = tmp_path / "cal_housing.data"
    plain.write_text(CAL_LINES)
    tgz = tmp_path / "cal_housing.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("CaliforniaHousing/cal_housing.data")
        raw = CAL_LINES.encode()
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    for p in (plain, tgz):
        t = parsers.read_cal_housing(p)
        assert t.shape == (2, 9)
        assert t[0, 0] == -122.23 and t[1, 8] == 358500.0


def test_cal_housing_crlf_reads_the_same(tmp_path):
    lf, crlf = tmp_path / "a.data", tmp_path / "b.data"
    lf.write_text(CAL_LINES)
    crlf.write_bytes(CAL_LINES.replace("\n", "\r\n").encode())
    np.testing.assert_array_equal(parsers.read_cal_housing(lf), parsers.read_cal_housing(crlf))


def test_california_features_hand_worked_row():
    # Row 0 of cal_housing.data; expected values worked by hand from the README's formulas:
    # AveRooms = 880 / 126 = 6.984126..., AveBedrms = 129 / 126 = 1.023809...,
    # AveOccup = 322 / 126 = 2.555555..., target = 452600 / 1e5 = 4.526.
    table = np.array([[-122.23, 37.88, 41.0, 880.0, 129.0, 322.0, 126.0, 8.3252, 452600.0]])
    X, y = california_features(table)
    np.testing.assert_allclose(
        X[0], [8.3252, 41.0, 6.984126984126984, 1.0238095238095237, 322.0, 2.5555555555555554,
               37.88, -122.23], rtol=1e-15)
    assert y[0] == 4.526


HOUSING_CSV = (
    "longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,"
    "median_income,median_house_value,ocean_proximity\n"
    "-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0,NEAR BAY\n"
    "-122.25,37.84,52.0,1627.0,,1103.0,508.0,1.675,153300.0,NEAR BAY\n"
    "-117.9,33.6,20.0,1000.0,200.0,500.0,180.0,4.5,300000.0,<1H OCEAN\n")


def test_housing_csv_drops_text_column_and_missing_rows(tmp_path):
    p = tmp_path / "housing.csv"
    p.write_text(HOUSING_CSV)
    X, y = parsers.read_housing_csv(p)
    assert X.shape == (2, 8) and X.dtype == np.float64
    np.testing.assert_array_equal(X[1], [-117.9, 33.6, 20.0, 1000.0, 200.0, 500.0, 180.0, 4.5])
    np.testing.assert_array_equal(y, [452600.0, 300000.0])


def test_housing_csv_wrong_header_raises(tmp_path):
    p = tmp_path / "housing.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        parsers.read_housing_csv(p)


# --------------------------------------------------------------------------------------------------
# Wine Quality CSV
# --------------------------------------------------------------------------------------------------

WINE_HEADER = ('"fixed acidity";"volatile acidity";"citric acid";"residual sugar";"chlorides";'
               '"free sulfur dioxide";"total sulfur dioxide";"density";"pH";"sulphates";'
               '"alcohol";"quality"\n')


def test_wine_csv(tmp_path):
    p = tmp_path / "winequality-red.csv"
    p.write_text(WINE_HEADER + "7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5\n"
                               "7.8;0.88;0;2.6;0.098;25;67;0.9968;3.2;0.68;9.8;6\n")
    X, y = parsers.read_wine_csv(p)
    assert X.shape == (2, 11)
    np.testing.assert_array_equal(X[0], [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4])
    np.testing.assert_array_equal(y, [5, 6])


def test_wine_csv_wrong_header_raises(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text('"a";"b"\n1;2\n')
    with pytest.raises(ValueError, match="Wine Quality header"):
        parsers.read_wine_csv(p)
