"""store verify / export / import: recompute bit for bit, archives with manifests, checked imports."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading

import numpy as np
import pandas as pd
import pytest

from learning_rules import bundle
from learning_rules.cli import main
from learning_rules.experiments.foundations_optimizers import OptimizerPathsConfig
from learning_rules.store import READS_ENV, Store

NAME = "foundations_optimizer_paths"  # a real experiment that runs in milliseconds


def small_configs():
    return [OptimizerPathsConfig(function=f, num_steps=n) for f, n in
            (("ravine", 20), ("saddle", 20), ("ravine", 30))]


@pytest.fixture
def store(tmp_path):
    from learning_rules.experiments import EXPERIMENTS

    st = Store(tmp_path / "store")
    for cfg in small_configs():
        st.get_or_compute(NAME, cfg, EXPERIMENTS[NAME].run)
    return st


def test_config_from_json_round_trips_every_experiment_default():
    from learning_rules.experiments import EXPERIMENTS
    from learning_rules.store import config_to_dict

    for exp in EXPERIMENTS.values():
        cfg = exp.config_cls()
        back = bundle.config_from_json(exp.config_cls, json.loads(json.dumps(config_to_dict(cfg))))
        assert back == cfg, exp.name
    with pytest.raises(ValueError, match="no longer declares"):
        bundle.config_from_json(OptimizerPathsConfig, {"nope": 1})


def test_frames_identical_is_bitwise():
    a = pd.DataFrame({"x": [0.0, np.nan, 1.0], "s": ["a", "b", "c"]})
    assert bundle.frames_identical(a, a.copy()) is None
    b = a.copy()
    b.loc[2, "x"] = np.nextafter(1.0, 2.0)  # one ulp
    assert "first at row 2" in bundle.frames_identical(a, b)
    c = a.copy()
    c.loc[0, "x"] = -0.0
    assert bundle.frames_identical(a, c) is not None
    assert "dtype" in bundle.frames_identical(a, a.astype({"x": "float32"}))


def test_verify_finds_a_stale_entry(store, capsys):
    report = bundle.verify(store)
    assert len(report) == 3 and set(report["status"]) == {"identical"}
    # Tamper with one stored result: the key still promises the old code's numbers.
    victim = next(store.root.glob(f"{NAME}/*.pkl"))
    frame = pd.read_pickle(victim)
    col = next(c for c in frame.columns if frame[c].dtype.kind == "f")
    frame.loc[frame.index[-1], col] += 1e-9
    frame.to_pickle(victim)
    report = bundle.verify(store)
    bad = report[report["status"] != "identical"]
    assert list(bad["key"]) == [victim.stem] and bad["status"].iloc[0] == "differs"
    assert NAME in set(bad["experiment"])
    assert main(["store", "verify", "--store", str(store.root)]) == 1
    err = capsys.readouterr().err
    assert "stale or broken" in err and victim.stem[:12] in err and '"function"' in err
    assert len(bundle.verify(store, sample=2)) == 2


def test_export_import_round_trip(store, tmp_path):
    archive = tmp_path / "results.tar.gz"
    manifest = bundle.export_bundle(store, archive)
    assert len(manifest["entries"]) == 3
    other = Store(tmp_path / "other")
    assert bundle.import_bundle(archive, other) == {"entries": 3, "added": 3, "skipped": 0}
    for cfg in small_configs():
        pd.testing.assert_frame_equal(other.get(NAME, cfg), store.get(NAME, cfg))
    assert bundle.import_bundle(archive, other)["skipped"] == 3


def test_export_selects_the_entries_read(store, tmp_path):
    first = store.key(NAME, small_configs()[0])
    archive = tmp_path / "one.tar.gz"
    bundle.export_bundle(store, archive, entries={(NAME, first)})
    other = Store(tmp_path / "other")
    bundle.import_bundle(archive, other)
    assert (NAME, small_configs()[0]) in other and (NAME, small_configs()[1]) not in other
    with pytest.raises(bundle.BundleError, match="not in the store"):
        bundle.export_bundle(store, archive, entries={(NAME, "0" * 64)})


def test_reads_log_records_gets_and_puts(tmp_path, monkeypatch):
    log = tmp_path / "reads.txt"
    monkeypatch.setenv(READS_ENV, str(log))
    st = Store(tmp_path / "s")
    cfg = small_configs()[0]
    from learning_rules.experiments import EXPERIMENTS

    st.get_or_compute(NAME, cfg, EXPERIMENTS[NAME].run)  # a miss: put
    st.get(NAME, cfg)  # a hit
    assert bundle.read_reads([log]) == {(NAME, st.key(NAME, cfg))}
    assert log.read_text().count("\n") == 2


def _rewrite(archive, out, edit):
    """Copy ``archive`` to ``out`` with ``edit(name, bytes) -> bytes`` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = edit(member.name, src.extractfile(member).read())
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_corrupted_entry_is_rejected_and_nothing_written(store, tmp_path):
    archive = tmp_path / "results.tar.gz"
    bundle.export_bundle(store, archive)
    bad = tmp_path / "bad.tar.gz"
    victim = {}

    def flip(name, data):
        if name.endswith(".pkl") and not victim:
            victim["name"] = name
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    _rewrite(archive, bad, flip)
    other = Store(tmp_path / "other")
    with pytest.raises(bundle.BundleError, match="corrupted") as err:
        bundle.import_bundle(bad, other)
    assert victim["name"].split("/")[1][:12] in str(err.value)
    assert not other.root.exists() or not list(other.root.rglob("*.json"))
    assert main(["store", "import", str(bad), "--store", str(other.root)]) == 2


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(bundle.BundleError, match="not a readable results archive"):
        bundle.import_bundle(junk, Store(tmp_path / "s"))
    with pytest.raises(FileNotFoundError):
        bundle.import_bundle(tmp_path / "missing.tar.gz", Store(tmp_path / "s"))


def test_import_from_a_url(store, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    bundle.export_bundle(store, served / "results.tar.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/results.tar.gz"
        other = Store(tmp_path / "other")
        assert bundle.import_bundle(url, other)["added"] == 3
        with pytest.raises(bundle.BundleError, match="(?i)hash"):
            bundle.import_bundle(url, Store(tmp_path / "third"), known_hash="sha256:" + "0" * 64)
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_cli_export_by_profile_reads(store, tmp_path, capsys):
    out = tmp_path / "proj"
    reads = out / "_build" / "store-reads" / "smoke"
    reads.mkdir(parents=True)
    key = store.key(NAME, small_configs()[1])
    (reads / "book__page.txt").write_text(f"{NAME} {key}\n")
    archive = tmp_path / "smoke.tar.gz"
    assert main(["store", "export", str(archive), "--profile", "smoke", "--output", str(out),
                 "--store", str(store.root)]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["store", "export", str(archive), "--profile", "quick", "--output", str(out),
                 "--store", str(store.root)]) == 2
    assert "build it first" in capsys.readouterr().err
    assert main(["store", "export", "--store", str(store.root)]) == 2


def test_verify_leaves_declared_timing_columns_out(tmp_path, monkeypatch):
    import dataclasses
    import time

    from learning_rules import experiments as E

    @dataclasses.dataclass(frozen=True)
    class Timed:
        n: int = 3

    def timed(cfg):
        start = time.process_time()
        values = np.arange(cfg.n, dtype=float) ** 2
        return pd.DataFrame({"value": values, "cpu_s": time.process_time() - start + time.time() % 1})

    monkeypatch.setitem(E.EXPERIMENTS._entries, "timed", E.Experiment("timed", Timed, timed, "test"))
    st = Store(tmp_path, code_hash="t")
    st.put("timed", Timed(), timed(Timed()))
    assert bundle.verify(st)["status"].tolist() == ["differs"]  # the timing moved
    monkeypatch.setitem(E.EXPERIMENTS._entries, "timed",
                        E.Experiment("timed", Timed, timed, "test", timing_columns=("cpu_s",)))
    assert bundle.verify(st)["status"].tolist() == ["identical"]


def test_clear_stale_removes_only_entries_of_edited_code(store, tmp_path, monkeypatch, capsys):
    from learning_rules import fingerprint

    cfg = small_configs()[0]
    assert store.clear_stale() == 0
    real = fingerprint.store_code
    monkeypatch.setattr(fingerprint, "store_code", lambda name: "edited" if name == NAME else real(name))
    assert (NAME, cfg) not in store  # the edited code's key differs: the old entries are stale
    assert main(["store", "list", "--summary", "--store", str(store.root)]) == 0
    assert "0 current" in capsys.readouterr().out
    assert main(["store", "clear", "--stale", "--store", str(store.root)]) == 0
    assert "removed 3 stale entries" in capsys.readouterr().out
    assert not list(store.root.rglob("*.json")) and not list(store.root.rglob("*.pkl"))
    assert main(["store", "verify", "--stale", "--store", str(store.root)]) == 2
