"""Resolution order, checksum verification, downloads and the missing-dataset error.

Uses a tiny IDX dataset defined here (its checksums are computed from the files this test writes)
and temporary LEARNING_RULES_DATA / LEARNING_RULES_CACHE folders; downloads are simulated by
replacing ``pooch.retrieve``.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import struct
import tarfile

import numpy as np
import pytest

from learning_rules import data
from learning_rules.data import locate
from learning_rules.data.registry import (
    CIFAR_SPLITS,
    DataFile,
    DatasetInfo,
    FileForm,
    _read_cifar,
    _read_idx_pair,
)


def idx_bytes(array: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return head + struct.pack(">" + "I" * array.ndim, *array.shape) + array.astype(">u1").tobytes()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


RNG = np.random.default_rng(42)
IMAGES = RNG.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 3, 4, 5], dtype=np.uint8)
RAW = {"tiny-images-idx3-ubyte": idx_bytes(IMAGES), "tiny-labels-idx1-ubyte": idx_bytes(LABELS)}
GZ = {k: gzip.compress(v, mtime=0) for k, v in RAW.items()}


def tiny_info(urls=("https://example.invalid/a/", "https://example.invalid/b/")) -> DatasetInfo:
    files = tuple(
        DataFile(key=key, canonical=FileForm(stem + ".gz", sha256=sha(GZ[stem])),
                 urls=tuple(u + stem + ".gz" for u in urls),
                 alternatives=(FileForm(stem, sha256=sha(RAW[stem])),))
        for key, stem in (("train-images", "tiny-images-idx3-ubyte"),
                          ("train-labels", "tiny-labels-idx1-ubyte")))
    return DatasetInfo(name="tiny", description="test", task="classification", folders=("tiny",),
                       files=files, splits={"train": ("train-images", "train-labels")},
                       reader=_read_idx_pair, license="-", citation="-", homepage="-",
                       image_shape=(28, 28), n_classes=10)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Two empty data dirs and an empty cache; downloads off unless a test turns them on."""
    d1, d2, cache = tmp_path / "d1", tmp_path / "d2", tmp_path / "cache"
    for d in (d1, d2):
        d.mkdir()
    monkeypatch.setenv("LEARNING_RULES_DATA", f"{d1}{locate.os.pathsep}{d2}")
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(cache))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    return d1, d2, cache


def place(folder, compressed=True):
    folder.mkdir(parents=True, exist_ok=True)
    for stem in RAW:
        if compressed:
            (folder / (stem + ".gz")).write_bytes(GZ[stem])
        else:
            (folder / stem).write_bytes(RAW[stem])


# --------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["folder", "flat", "raw", "cache"])
def test_found_in_every_accepted_layout(env, layout):
    d1, d2, cache = env
    target = {"folder": d2 / "tiny", "flat": d2, "raw": d1 / "tiny", "cache": cache / "tiny"}[layout]
    place(target, compressed=(layout != "raw"))
    X, y = data.load(tiny_info())
    np.testing.assert_array_equal(X, IMAGES.reshape(6, -1))
    np.testing.assert_array_equal(y, LABELS)
    assert all(p.parent == target for p in data.where(tiny_info()))


def test_first_directory_wins_over_later_ones_and_cache(env):
    d1, d2, cache = env
    for folder in (d2 / "tiny", cache / "tiny", d1):
        place(folder)
    assert {p.parent for p in data.where(tiny_info())} == {d1}


def test_flatten_false_and_float_dtype(env):
    place(env[0] / "tiny")
    X, _ = data.load(tiny_info(), flatten=False)
    assert X.shape == (6, 28, 28) and X.dtype == np.uint8
    Xf, _ = data.load(tiny_info(), dtype=np.float32)
    assert Xf.dtype == np.float32 and Xf.shape == (6, 784)
    np.testing.assert_array_equal(Xf, IMAGES.reshape(6, -1).astype(np.float32) / np.float32(255))
    assert 0.0 <= Xf.min() and Xf.max() <= 1.0
    with pytest.raises(ValueError, match="floating dtype"):
        data.load(tiny_info(), dtype=np.int32)


def test_unknown_split_and_unknown_name_list_the_valid_ones(env):
    place(env[0])
    with pytest.raises(ValueError, match="valid splits: train$"):
        data.load(tiny_info(), split="test")
    with pytest.raises(ValueError, match="valid splits: train, test"):
        data.load("mnist", split="validation")
    with pytest.raises(ValueError, match="valid names: mnist, fashion-mnist"):
        data.load("mnits")


# --------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------


def test_checksum_mismatch_raises_and_names_file_expected_got_fix(env):
    d1 = env[0]
    place(d1 / "tiny")
    bad = d1 / "tiny" / "tiny-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_bytes(LABELS[::-1].copy()), mtime=0))
    with pytest.raises(data.ChecksumError) as err:
        data.load(tiny_info())
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert str(bad) in msg and sha(GZ["tiny-labels-idx1-ubyte"]) in msg
    assert sha(bad.read_bytes()) in msg and "learning-rules data fetch tiny" in msg
    with pytest.raises(data.ChecksumError):
        data.verify(tiny_info())


def test_corrupt_copy_is_not_skipped_for_a_good_later_copy(env):
    d1, d2, _ = env
    place(d2)
    (d1 / "tiny-images-idx3-ubyte").write_bytes(b"\0" * 10)  # raw form, wrong content
    with pytest.raises(data.ChecksumError):
        data.load(tiny_info())


def test_real_registry_rejects_a_wrong_file(env):
    folder = env[0] / "wine-quality"
    folder.mkdir()
    (folder / "winequality-red.csv").write_text('"fixed acidity";"quality"\n1;5\n')
    with pytest.raises(data.ChecksumError, match="winequality-red.csv"):
        data.load("wine-quality-red")


def test_digests_are_memoised_per_path_size_mtime(env, monkeypatch):
    place(env[0] / "tiny")
    info = tiny_info()  # (computes its pins with hashlib before the spy is installed)
    data.load(info)
    calls = []
    real = locate.hashlib.sha256
    monkeypatch.setattr(locate.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    data.load(info)
    assert calls == []  # second load: no re-hash
    data.verify(info)
    assert len(calls) == 2  # verify re-hashes both files
    f = env[0] / "tiny" / "tiny-labels-idx1-ubyte.gz"
    locate.os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    data.load(info)
    assert len(calls) == 3  # a touched file is hashed again


def test_checksums_keys_do_not_depend_on_location(env):
    d1, d2, _ = env
    place(d1 / "tiny")
    first = data.checksums(tiny_info())
    assert first == {s + ".gz": sha(GZ[s]) for s in sorted(RAW)}
    for p in (d1 / "tiny").iterdir():
        p.rename(d2 / p.name)
    assert data.checksums(tiny_info()) == first


# --------------------------------------------------------------------------------------------------
# Missing data and downloads
# --------------------------------------------------------------------------------------------------


def test_missing_dataset_message_lists_places_and_fixes(env):
    d1, d2, cache = env
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load(tiny_info())
    assert isinstance(err.value, FileNotFoundError)
    msg = str(err.value)
    assert "'tiny'" in msg and "tiny-images-idx3-ubyte.gz" in msg
    for place_ in (d1 / "tiny", d1, d2 / "tiny", d2, cache / "tiny", cache):
        assert f"{place_}{locate.os.sep}" in msg
    assert "LEARNING_RULES_DATA" in msg and "learning-rules data fetch tiny" in msg
    assert "LEARNING_RULES_OFFLINE is set" in msg and "Why nothing was downloaded" in msg


def test_partially_present_dataset_names_only_missing_file(env):
    (env[0] / "tiny-images-idx3-ubyte.gz").write_bytes(GZ["tiny-images-idx3-ubyte"])
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.where(tiny_info())
    assert err.value.missing == ["tiny-labels-idx1-ubyte.gz (or tiny-labels-idx1-ubyte)"]


def test_cifar10_absent_offline_raises_clear_error(env):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("cifar10")
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and "cifar-10-batches-py" in msg
    assert "learning-rules data fetch cifar10" in msg


def test_errors_survive_pickling():
    e = data.DatasetNotFoundError("x", ["a.gz"], ["/tmp/"], ["offline"], folder="x")
    e2 = pickle.loads(pickle.dumps(e))
    assert str(e2) == str(e)
    c = data.ChecksumError("/f", "sha256", "aa", "bb", "x")
    assert str(pickle.loads(pickle.dumps(c))) == str(c)


def test_network_failure_becomes_dataset_not_found(env, monkeypatch):
    monkeypatch.delenv("LEARNING_RULES_OFFLINE")
    tried = []

    def no_network(url, **kw):
        tried.append(url)
        raise ConnectionError(f"cannot reach {url}")

    monkeypatch.setattr("pooch.retrieve", no_network)
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load(tiny_info())
    assert len(tried) == 4  # both files, both mirrors, in order
    assert tried[0].startswith("https://example.invalid/a/")
    assert tried[1].startswith("https://example.invalid/b/")
    assert "ConnectionError" in str(err.value)


def fake_retrieve(fail_first: bool, payload=None):
    """Stand-in for pooch.retrieve: writes the canonical bytes (or ``payload``) and checks the hash
    it was given, like pooch does."""
    seen = []

    def retrieve(url, known_hash=None, fname=None, path=None, progressbar=False):
        seen.append((url, known_hash, progressbar))
        if fail_first and url.startswith("https://example.invalid/a/"):
            raise OSError("mirror down")
        content = payload if payload is not None else GZ[fname[:-3]]
        if known_hash != "sha256:" + sha(content):
            raise ValueError(f"SHA256 hash of downloaded file ({fname}) does not match the known "
                             f"hash: expected {known_hash}")
        path.mkdir(parents=True, exist_ok=True)
        (path / fname).write_bytes(content)
        return str(path / fname)

    return retrieve, seen


def test_download_goes_to_cache_and_falls_back_to_mirror(env, monkeypatch):
    cache = env[2]
    monkeypatch.delenv("LEARNING_RULES_OFFLINE")
    retrieve, seen = fake_retrieve(fail_first=True)
    monkeypatch.setattr("pooch.retrieve", retrieve)
    paths = data.fetch(tiny_info())
    assert {p.parent for p in paths} == {cache / "tiny"}
    assert all(pb for _, _, pb in seen)  # progress bar on
    X, _ = data.load(tiny_info())  # now found in the cache, no further download
    np.testing.assert_array_equal(X, IMAGES.reshape(6, -1))
    assert len(seen) == 4


def test_download_hash_mismatch_is_a_checksum_error(env, monkeypatch):
    monkeypatch.delenv("LEARNING_RULES_OFFLINE")
    retrieve, _ = fake_retrieve(fail_first=False, payload=b"not the file")
    monkeypatch.setattr("pooch.retrieve", retrieve)
    with pytest.raises(data.ChecksumError, match="example.invalid"):
        data.load(tiny_info())


def test_where_never_downloads(env, monkeypatch):
    monkeypatch.delenv("LEARNING_RULES_OFFLINE")
    monkeypatch.setattr("pooch.retrieve", lambda *a, **k: pytest.fail("where() downloaded"))
    with pytest.raises(data.DatasetNotFoundError, match="download not requested"):
        data.where(tiny_info())


def tiny_cifar_info(folder, archive) -> DatasetInfo:
    """A CIFAR-shaped dataset pinned to the tiny batches this test wrote (md5 per member)."""
    members = tuple(FileForm(p.name, md5=hashlib.md5(p.read_bytes()).hexdigest())
                    for p in sorted(folder.iterdir()))
    file = DataFile(key="archive",
                    canonical=FileForm(archive.name, sha256=sha(archive.read_bytes())),
                    urls=("https://example.invalid/c.tar.gz",),
                    alternatives=(FileForm(folder.name, members=members),))
    return DatasetInfo(name="tinycifar", description="test", task="classification",
                       folders=("tinycifar",), files=(file,),
                       splits={s: ("archive",) for s in CIFAR_SPLITS}, reader=_read_cifar,
                       license="-", citation="-", homepage="-", image_shape=(32, 32, 3))


def test_cifar_archive_and_extracted_folder_through_load(env, tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for i, name in enumerate([*CIFAR_SPLITS["train"], "test_batch"]):
        batches[name] = {b"data": rng.integers(0, 256, (i + 1, 3072), dtype=np.uint8),
                         b"labels": list(range(i + 1))}
        (src / name).write_bytes(pickle.dumps(batches[name]))
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    info = tiny_cifar_info(src, archive)
    d1, d2, _ = env
    for where_, place_ in ((d1 / "tinycifar", archive), (d2, src)):
        for p in (*d1.iterdir(), *d2.iterdir()):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        where_.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if place_.is_dir() else shutil.copy)(place_, where_ / place_.name)
        X, y = data.load(info, "test", flatten=True)
        raw = batches["test_batch"][b"data"]
        assert X.shape == (6, 3072)
        # flattened rows are HWC: element 3 * (32 r + c) + ch = channel ch of pixel (r, c)
        np.testing.assert_array_equal(X[:, 3 * (32 * 5 + 7) + 2], raw[:, 2 * 1024 + 32 * 5 + 7])
        Xtr, ytr = data.load(info, "train", flatten=False)
        assert Xtr.shape == (15, 32, 32, 3) and ytr.tolist() == [0, 0, 1, 0, 1, 2, 0, 1, 2, 3,
                                                                0, 1, 2, 3, 4]
        assert data.load(info, "data_batch_3")[0].shape == (3, 3072)
    keys = set(data.checksums(info))
    assert keys == {f"cifar-10-batches-py/{b}" for b in batches}
    (d2 / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"tampered")
    with pytest.raises(data.ChecksumError, match="md5"):
        data.load(info, "test")


# --------------------------------------------------------------------------------------------------
# Registry contents
# --------------------------------------------------------------------------------------------------


def test_registry_entries_are_complete():
    names = [d.name for d in data.list_datasets()]
    assert names == ["mnist", "fashion-mnist", "cifar10", "california-housing",
                     "california-housing-csv", "wine-quality-white", "wine-quality-red", "digits"]
    for info in data.list_datasets():
        assert info.license and info.citation and info.description and "train" in info.splits
        for f in info.files:
            assert f.urls and all(u.startswith(("http://", "https://")) for u in f.urls)
            for form in f.forms:
                members = form.members or (form,)
                assert all(m.sha256 or m.md5 for m in members), (info.name, form.name)
                assert all(len(m.sha256 or "") in (0, 64) and len(m.md5 or "") in (0, 32)
                           for m in members)
    cifar = data.DATASETS["cifar10"].files[0].canonical
    assert cifar.md5 == "c58f30108f718f92721af3b95e74349a"
    assert data.DATASETS["mnist"].files[0].urls[0].startswith(
        "https://ossci-datasets.s3.amazonaws.com/mnist/")
