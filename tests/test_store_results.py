"""The result store: keys, round trip, atomic writes (an interrupted put leaves no entry)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest

from learning_rules import store as store_mod
from learning_rules.store import Store, canonical_json, config_to_dict, package_hash


@dataclasses.dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    seeds: tuple[int, ...] = (0, 1)
    rule: str = "backprop"


@dataclasses.dataclass
class Mutable:
    lr: float = 0.1


def frame(n=3):
    return pd.DataFrame({"epoch": np.arange(n), "loss": np.linspace(1.0, 0.5, n)})


def test_round_trip_is_exact(tmp_path):
    st = Store(tmp_path, code_hash="v1")
    df = frame()
    assert st.get("exp", Cfg()) is None
    key = st.put("exp", Cfg(), df)
    assert len(key) == 64
    back = st.get("exp", Cfg())
    pd.testing.assert_frame_equal(back, df)
    meta = json.loads((tmp_path / "exp" / f"{key}.json").read_text())
    assert meta["config"] == {"lr": 0.1, "seeds": [0, 1], "rule": "backprop"}
    assert meta["rows"] == 3


def test_key_depends_on_name_config_and_code(tmp_path):
    a = Store(tmp_path, code_hash="v1")
    b = Store(tmp_path, code_hash="v2")
    k = a.key("exp", Cfg())
    assert k == a.key("exp", Cfg())
    assert k != a.key("other", Cfg())
    assert k != a.key("exp", Cfg(lr=0.2))
    assert k != a.key("exp", Cfg(seeds=(0, 2)))
    assert k != b.key("exp", Cfg())
    a.put("exp", Cfg(), frame())
    assert b.get("exp", Cfg()) is None  # new code version: a miss


def test_get_or_compute_calls_once(tmp_path):
    st = Store(tmp_path, code_hash="v1")
    calls = []

    def fn(cfg):
        calls.append(cfg)
        return frame(int(cfg.lr * 10))

    first = st.get_or_compute("exp", Cfg(lr=0.4), fn)
    second = st.get_or_compute("exp", Cfg(lr=0.4), fn)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 4


def test_interrupted_put_leaves_no_entry(tmp_path, monkeypatch):
    st = Store(tmp_path, code_hash="v1")

    def broken_to_pickle(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"half a pickle")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(pd.DataFrame, "to_pickle", broken_to_pickle)
    with pytest.raises(KeyboardInterrupt):
        st.put("exp", Cfg(), frame())
    monkeypatch.undo()
    assert st.get("exp", Cfg()) is None
    assert ("exp", Cfg()) not in st
    assert list((tmp_path / "exp").iterdir()) == []  # no temp file left behind
    assert len(st.list()) == 0


def test_crash_between_data_and_sidecar_is_a_miss(tmp_path, monkeypatch):
    st = Store(tmp_path, code_hash="v1")

    def broken_sidecar(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "atomic_write_text", broken_sidecar)
    with pytest.raises(OSError):
        st.put("exp", Cfg(), frame())
    monkeypatch.undo()
    assert st.get("exp", Cfg()) is None  # the sidecar is the commit marker
    st.put("exp", Cfg(), frame())
    pd.testing.assert_frame_equal(st.get("exp", Cfg()), frame())


def test_unreadable_entry_is_recomputed(tmp_path):
    st = Store(tmp_path, code_hash="v1")
    key = st.put("exp", Cfg(), frame())
    (tmp_path / "exp" / f"{key}.pkl").write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert st.get("exp", Cfg()) is None


def test_list_and_clear(tmp_path):
    st = Store(tmp_path, code_hash="v1")
    st.put("a", Cfg(), frame())
    st.put("a", Cfg(lr=0.3), frame())
    st.put("b", Cfg(), frame())
    listing = st.list()
    assert sorted(listing["experiment"]) == ["a", "a", "b"]
    assert listing["current"].all()
    assert st.clear("a") == 2
    assert list(st.list()["experiment"]) == ["b"]
    assert st.clear() == 1
    assert len(st.list()) == 0


def test_rejects_bad_configs_and_results(tmp_path):
    st = Store(tmp_path, code_hash="v1")
    with pytest.raises(ValueError, match="frozen"):
        st.key("exp", Mutable())
    with pytest.raises(ValueError, match="dataclass"):
        st.key("exp", {"lr": 0.1})
    with pytest.raises(ValueError, match="DataFrame"):
        st.put("exp", Cfg(), [1, 2, 3])
    with pytest.raises(ValueError, match="folder name"):
        st.key("../evil", Cfg())


def test_canonical_json_is_order_free():
    assert canonical_json({"b": 1, "a": (1, 2)}) == canonical_json({"a": [1, 2], "b": 1})
    assert config_to_dict(Cfg(seeds=(np.int64(3),))) == {"lr": 0.1, "seeds": [3], "rule": "backprop"}


def test_package_hash_tracks_source_edits(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    h0 = package_hash(pkg)
    assert h0 == package_hash(pkg)
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    h1 = package_hash(pkg)
    assert h1 != h0
    (pkg / "c.txt").write_text("not python")
    assert package_hash(pkg) == h1
    (pkg / "sub" / "b.py").rename(pkg / "sub" / "c.py")
    assert package_hash(pkg) != h1


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "here"))
    assert Store(code_hash="x").root == tmp_path / "here"
    monkeypatch.delenv("LEARNING_RULES_STORE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert Store(code_hash="x").root == tmp_path / "cache" / "learning-rules" / "store"
