"""store compare: two stores' entries matched by experiment and config, whatever code computed them."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from learning_rules import bundle
from learning_rules import experiments as E
from learning_rules.cli import main
from learning_rules.store import STORE_ENV, Store

_ticks = itertools.count()


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    n: int = 4
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class MovedToyConfig:  # the same config class after a restructuring moved it
    n: int = 4
    scale: float = 1.0


def toy(cfg):
    values = np.arange(cfg.n, dtype=float) * cfg.scale
    return pd.DataFrame({"i": np.arange(cfg.n), "value": values,
                         "cpu_s": np.full(cfg.n, 0.001 * next(_ticks))})  # a timing: never equal


CONFIGS = [ToyConfig(n=3), ToyConfig(n=4, scale=0.5), ToyConfig(n=5, scale=2.0)]


@pytest.fixture(autouse=True)
def toy_experiments(monkeypatch):
    from learning_rules import fingerprint

    real = fingerprint.store_code  # the CLI's Store(): the toys' current code is "after"
    monkeypatch.setattr(fingerprint, "store_code",
                        lambda name: "after" if name.startswith("toy") else real(name))
    monkeypatch.setitem(E.EXPERIMENTS._entries, "toy",
                        E.Experiment("toy", ToyConfig, toy, "test", timing_columns=("cpu_s",)))
    monkeypatch.setitem(E.EXPERIMENTS._entries, "toy_other",
                        E.Experiment("toy_other", ToyConfig, toy, "test", timing_columns=("cpu_s",)))


def make_store(root, code, configs=CONFIGS, name="toy"):
    st = Store(root, code_hash=code)
    for cfg in configs:
        st.put(name, cfg, toy(cfg))
    return st


@pytest.fixture
def stores(tmp_path):
    """``after`` (the store in use, code "after") and ``before`` (code "before"): same results."""
    before = make_store(tmp_path / "before", "before")
    make_store(before.root, "before", CONFIGS[:1], name="toy_other")
    after = make_store(tmp_path / "after", "after")
    make_store(after.root, "after", CONFIGS[:1], name="toy_other")
    return after, before


def statuses(report):
    return sorted(report["status"])


def snapshot(*roots):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for root in roots for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_identical_across_code_versions_and_read_only(stores, capsys):
    after, before = stores
    files = snapshot(after.root, before.root)
    report = bundle.compare(after, before.root)
    assert statuses(report) == ["identical"] * 4
    assert set(report["experiment"]) == {"toy", "toy_other"}
    # matched by config although every key differs (the code hash is part of the key)
    assert not set(report["key"]) & set(report["other_keys"])
    assert main(["store", "compare", str(before.root), "--store", str(after.root)]) == 0
    out = capsys.readouterr().out
    assert "toy_other" in out and "4 of 4 entries found in both stores are identical" in out
    assert snapshot(after.root, before.root) == files  # neither store written


def test_moved_config_class_still_matches(stores, tmp_path):
    after, _ = stores
    moved = Store(tmp_path / "moved", code_hash="moved")
    for cfg in CONFIGS:
        moved.put("toy", MovedToyConfig(**dataclasses.asdict(cfg)), toy(cfg))
    report = bundle.compare(after, moved.root, experiment="toy")
    assert statuses(report) == ["identical"] * 3


def test_one_changed_value_differs(stores, capsys):
    after, before = stores
    victim = before.root / "toy" / f"{before.key('toy', CONFIGS[1])}.pkl"
    frame = pd.read_pickle(victim)
    frame.loc[2, "value"] = np.nextafter(frame.loc[2, "value"], np.inf)  # one ulp
    frame.to_pickle(victim)
    report = bundle.compare(after, before.root)
    bad = report[report["status"] != "identical"]
    assert list(bad["status"]) == ["differs"] and list(bad["other_keys"]) == [victim.stem]
    assert "'value'" in bad["detail"].iloc[0] and "row 2" in bad["detail"].iloc[0]
    assert main(["store", "compare", str(before.root), "--store", str(after.root),
                 "--allow-missing"]) == 1
    captured = capsys.readouterr()
    assert "differs: toy" in captured.err and '"scale":0.5' in captured.err
    assert victim.stem[:12] in captured.err


def test_missing_and_only_in_other(tmp_path, capsys, monkeypatch):
    after = make_store(tmp_path / "after", "after", CONFIGS[:2])
    before = make_store(tmp_path / "before", "before", CONFIGS[1:])
    report = bundle.compare(after, before.root)
    assert statuses(report) == ["identical", "missing", "only in other"]
    only = report[report["status"] == "only in other"]
    assert list(only["key"]) == [""] and list(only["other_keys"]) == [before.key("toy", CONFIGS[2])]
    monkeypatch.setenv(STORE_ENV, str(after.root))  # the store in use, as the docs run it
    assert main(["store", "compare", str(before.root)]) == 1
    captured = capsys.readouterr()
    assert "missing: toy" in captured.err and "only in other: toy" in captured.err
    assert "--allow-missing" in captured.err
    table = captured.out.splitlines()
    assert any(line.split() == ["toy", "1", "0", "1", "0", "1"] for line in table), captured.out
    assert main(["store", "compare", str(before.root), "--allow-missing"]) == 0


def test_only_in_other_alone_fails(tmp_path):
    after = make_store(tmp_path / "after", "after", CONFIGS[:2])
    before = make_store(tmp_path / "before", "before", CONFIGS)
    assert statuses(bundle.compare(after, before.root)) == ["identical", "identical", "only in other"]
    assert main(["store", "compare", str(before.root), "--store", str(after.root)]) == 1


def test_ambiguous_when_the_other_store_disagrees_with_itself(stores, tmp_path):
    after, before = stores
    cfg = CONFIGS[0]
    old = Store(before.root, code_hash="older")  # a second code version of the same config
    old.put("toy", cfg, toy(cfg))  # identical result: still one answer
    report = bundle.compare(after, before.root, experiment="toy")
    assert statuses(report) == ["identical"] * 3
    assert report.set_index("key").loc[after.key("toy", cfg), "other_keys"].count(",") == 1
    frame = toy(cfg)
    frame.loc[0, "value"] = 7.0
    Store(before.root, code_hash="oldest").put("toy", cfg, frame)
    report = bundle.compare(after, before.root, experiment="toy")
    assert statuses(report) == ["ambiguous", "identical", "identical"]
    detail = report.loc[report["status"] == "ambiguous", "detail"].iloc[0]
    assert "3 entries of this config disagree" in detail and "identical to 2 of them" in detail
    assert main(["store", "compare", str(before.root), "--store", str(after.root)]) == 1


def test_timing_columns_are_left_out(stores, monkeypatch):
    after, before = stores
    assert statuses(bundle.compare(after, before.root, experiment="toy")) == ["identical"] * 3
    monkeypatch.setitem(E.EXPERIMENTS._entries, "toy", E.Experiment("toy", ToyConfig, toy, "test"))
    report = bundle.compare(after, before.root, experiment="toy")
    assert statuses(report) == ["differs"] * 3
    assert report["detail"].str.contains("'cpu_s'").all()


def test_current_only_by_default_all_on_request(stores, monkeypatch):
    after, before = stores
    stale = Store(after.root, code_hash="stale")  # an entry of an older code version
    frame = toy(CONFIGS[0])
    frame["value"] += 1.0
    stale.put("toy", CONFIGS[0], frame)
    assert statuses(bundle.compare(after, before.root, experiment="toy")) == ["identical"] * 3
    report = bundle.compare(after, before.root, experiment="toy", current_only=False)
    assert statuses(report) == ["differs", "identical", "identical", "identical"]
    assert report.set_index("key").loc[stale.key("toy", CONFIGS[0]), "status"] == "differs"
    assert main(["store", "compare", str(before.root), "--store", str(after.root),
                 "--experiment", "toy"]) == 0
    assert main(["store", "compare", str(before.root), "--store", str(after.root),
                 "--experiment", "toy", "--all"]) == 1
    # nothing current: the store in use holds nothing of the code under test
    monkeypatch.setattr(after, "code_hash", "newer")
    report = bundle.compare(after, before.root, experiment="toy")
    assert statuses(report) == ["only in other"] * 3
    assert main(["store", "compare", str(before.root), "--store", str(tmp_empty(after)),
                 "--allow-missing"]) == 1  # nothing compared proves nothing


def tmp_empty(store):
    path = store.root.parent / "empty"
    path.mkdir(exist_ok=True)
    return path


def test_errors_name_the_path_and_the_fix(stores, tmp_path, capsys):
    after, before = stores
    nowhere = tmp_path / "nowhere"
    with pytest.raises(bundle.BundleError, match="nowhere.*no such folder.*LEARNING_RULES_STORE"):
        bundle.compare(after, nowhere)
    assert main(["store", "compare", str(nowhere), "--store", str(after.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(nowhere) in err and "Traceback" not in err
    with pytest.raises(bundle.BundleError, match="holds no store entries"):
        bundle.compare(after, tmp_empty(after))
    with pytest.raises(bundle.BundleError, match="is the store in use itself"):
        bundle.compare(after, after.root)
    with pytest.raises(bundle.BundleError,
                       match=r"the store in use .*typo cannot be read \(no such folder\)"):
        bundle.compare(Store(tmp_path / "typo"), before.root)
    assert main(["store", "compare", "--store", str(after.root)]) == 2
    assert main(["store", "list", "--all", "--store", str(after.root)]) == 2
    assert main(["store", "compare", str(before.root), "--stale", "--store", str(after.root)]) == 2
    assert main(["store", "compare", str(before.root), "--sample", "2", "--store", str(after.root)]) == 2

    sidecar = before.root / "toy" / f"{before.key('toy', CONFIGS[0])}.json"
    sidecar.write_text("{not json")
    with pytest.raises(bundle.BundleError, match=f"corrupt store entry {sidecar}.*delete it"):
        bundle.compare(after, before.root)
    sidecar.unlink()
    data = after.root / "toy" / f"{after.key('toy', CONFIGS[1])}.pkl"
    data.write_bytes(b"garbage")
    with pytest.raises(bundle.BundleError, match=f"corrupt store entry {data}"):
        bundle.compare(after, before.root)
    data.unlink()
    with pytest.raises(bundle.BundleError, match=f"incomplete store entry {data.with_suffix('.json')}"):
        bundle.compare(after, before.root)


def test_verify_all_recomputes_a_store_of_another_code_version(stores, monkeypatch, capsys):
    """The restructuring oracle without a second build: the store made before, recomputed by the
    code after (``store verify --all``); without --all its entries are not current and are skipped."""
    _, before = stores
    in_use = Store(before.root)  # current code "after": every entry of "before" is stale
    assert bundle.verify(in_use).empty
    report = bundle.verify(in_use, current_only=False)
    assert statuses(report) == ["identical"] * 4  # the timing column is left out
    assert main(["store", "verify", "--all", "--store", str(before.root)]) == 0
    assert "4 of 4 entries recomputed bit for bit" in capsys.readouterr().out
    monkeypatch.setitem(E.EXPERIMENTS._entries, "toy", E.Experiment(
        "toy", ToyConfig, lambda cfg: toy(cfg).assign(value=lambda f: f["value"] + 1e-12), "test",
        timing_columns=("cpu_s",)))
    report = bundle.verify(in_use, current_only=False)
    assert sorted(report["status"]) == ["differs"] * 3 + ["identical"]
    assert main(["store", "verify", "--all", "--store", str(before.root)]) == 1
    assert main(["store", "list", "--allow-missing", "--store", str(before.root)]) == 2
