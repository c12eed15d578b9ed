"""A page opened on a bare machine (Colab) fetches the datasets its parameters name.

``dual_weight.missing_reasons`` and ``ablation.dataset_status`` (what the dual-weight pages and the
ablation page ask first) download a missing dataset with the real pooch over real HTTP, from a
server on this machine that stands in for the canonical source, checksum-verified, into the user
cache. Offline, unreachable or corrupt sources give the reason with its fix, and a failed download
is tried once per process. Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading

import pytest

from learning_rules.data.registry import DATASETS
from learning_rules.experiments import ablation as ab
from learning_rules.experiments import datasets as D
from learning_rules.experiments import dual_weight as E

WINE = E.DATASETS.lookup("wine").loader  # the dual-weight paper's wine: the white vinho verde
WINE_FILE = DATASETS.lookup(WINE).files[0].canonical.name


@pytest.fixture
def serve(tmp_path):
    """``serve(folder) -> (base URL, requested paths)``: a local HTTP server for ``folder``."""
    servers = []

    def start(folder):
        requests: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                functools.partial(Handler, directory=str(folder)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/", requests

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No dataset in LEARNING_RULES_DATA, an empty user cache, downloads allowed, no failure
    remembered from other tests. Returns the cache folder."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("LEARNING_RULES_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LEARNING_RULES_OFFLINE", raising=False)
    monkeypatch.setattr(D, "_FAILED", {})
    return tmp_path / "cache"


def source_at(monkeypatch, base: str) -> None:
    """Point the wine's download URL at ``base`` (the pinned checksum stays)."""
    info = DATASETS.lookup(WINE)
    files = tuple(dataclasses.replace(f, urls=(base + f.canonical.name,)) for f in info.files)
    monkeypatch.setitem(DATASETS._entries, WINE, dataclasses.replace(info, files=files))


def test_a_page_downloads_what_it_names(bare_machine, serve, monkeypatch, shared_data):
    base, requests = serve(shared_data / "wine-quality")
    source_at(monkeypatch, base)
    assert E.dataset_status("wine") is not None  # only looks: not on this machine yet
    assert requests == []
    assert E.missing_reasons(["wine"]) == {}
    assert requests == [f"/{WINE_FILE}"]
    cached = bare_machine / "wine-quality" / WINE_FILE
    assert cached.read_bytes() == (shared_data / "wine-quality" / WINE_FILE).read_bytes()
    assert E.dataset_status("wine") is None  # the runs find it in the cache
    assert E.missing_reasons(["wine"]) == {} and requests == [f"/{WINE_FILE}"]  # no second download
    X, y = E.load_raw("wine", "train")
    assert X.shape == (4898, 11) and y.shape == (4898,)


def test_the_ablation_page_uses_the_same_path(bare_machine, serve, monkeypatch, shared_data):
    base, requests = serve(shared_data / "wine-quality")
    source_at(monkeypatch, base)
    status = ab.dataset_status([WINE])
    assert status["available"].tolist() == [True] and status["message"].tolist() == [""]
    assert requests == [f"/{WINE_FILE}"]


def test_an_unreachable_source_is_reported_with_its_fix_and_tried_once(bare_machine, serve, tmp_path,
                                                                         monkeypatch):
    (tmp_path / "nothing").mkdir()
    base, requests = serve(tmp_path / "nothing")  # answers 404
    source_at(monkeypatch, base)
    reasons = E.missing_reasons(["wine"])
    assert set(reasons) == {"wine"}
    assert f"learning-rules data fetch {WINE}" in reasons["wine"]
    assert requests == [f"/{WINE_FILE}"]
    assert E.missing_reasons(["wine"]) == reasons and len(requests) == 1  # remembered, not retried
    assert not (bare_machine / "wine-quality" / WINE_FILE).exists()


def test_a_corrupt_source_is_refused(bare_machine, serve, tmp_path, monkeypatch):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / WINE_FILE).write_text("fixed acidity;quality\n7.4;5\n")
    base, requests = serve(tmp_path / "bad")
    source_at(monkeypatch, base)
    reasons = E.missing_reasons(["wine"])
    assert reasons["wine"].startswith("ChecksumError")
    assert requests == [f"/{WINE_FILE}"]
    assert not (bare_machine / "wine-quality" / WINE_FILE).exists()  # never kept, never used


def test_offline_never_asks_the_network(bare_machine, serve, monkeypatch, shared_data):
    base, requests = serve(shared_data / "wine-quality")
    source_at(monkeypatch, base)
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    reasons = E.missing_reasons(["wine", "house"])
    assert set(reasons) == {"wine", "house"} and requests == []
    assert f"learning-rules data fetch {WINE}" in reasons["wine"]


def test_a_page_with_no_usable_dataset_says_so_at_its_top():
    missing = {"wine": "not found. Fix: learning-rules data fetch wine-quality-white",
               "mnist": "not found. Fix: learning-rules data fetch mnist"}
    assert D.require_present(["wine", "house", "mnist"], missing) == ["house"]
    with pytest.raises(RuntimeError, match="none of this page's datasets") as err:
        D.require_present(["wine", "mnist"], missing)
    assert "learning-rules data fetch mnist" in str(err.value) and "LEARNING_RULES_DATA" in str(err.value)
    with pytest.raises(ValueError, match="datasets is empty"):
        D.require_present([], {})
