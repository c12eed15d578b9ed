"""The build end to end: real kernels (papermill), the cache, failing cells, and the rendered book.

Marked ``slow``: each test starts Jupyter kernels. ``test_smoke_book`` is also marked ``book``: it
builds the project's real book under the smoke profile into a temporary folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from learning_rules import book
from learning_rules.book import BuildError

ROOT = Path(__file__).resolve().parents[1]


def write_nb(path: Path, body: str) -> None:
    nb = new_notebook(cells=[
        new_markdown_cell("# Page"),
        new_code_cell('profile = "quick"\nvalue = 1\n', metadata={"tags": ["parameters"]}),
        new_code_cell("import os\nx = value * 2"),
        new_code_cell(body),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.slow
def test_cache_rerun_and_failing_cell(tmp_path, monkeypatch):
    # Pin the code part of the cache key: the package may be edited while this test runs.
    monkeypatch.setattr(book, "notebook_code", lambda path: "0" * 64)
    root = tmp_path / "proj"
    (root / "book" / "profiles").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/a\n  - file: book/b\n"
    )
    (root / "book" / "intro.md").write_text("# Intro\n")
    write_nb(root / "book" / "a.ipynb", "print('quiet' if os.environ.get('LEARNING_RULES_QUIET') else 'loud', x)")
    write_nb(root / "book" / "b.ipynb", "print(profile)")
    profile = root / "book" / "profiles" / "smoke.yml"
    profile.write_text("profile: smoke\nnotebooks:\n  book/a.ipynb: {value: 3}\n")
    out = tmp_path / "out"
    logs: list[str] = []

    first = book.build("smoke", root=root, output=out, n_jobs=2, render=False, log=logs.append)
    assert sorted(first.executed) == ["book/a.ipynb", "book/b.ipynb"] and first.cached == []
    staged = nbformat.read(out / "_build" / "stage" / "book" / "a.ipynb", 4)
    assert staged.cells[-1].outputs[0]["text"] == "quiet 6\n"  # parameter injected, kernel quiet
    staged_b = nbformat.read(out / "_build" / "stage" / "book" / "b.ipynb", 4)
    assert staged_b.cells[-1].outputs[0]["text"] == "smoke\n"  # profile injected
    assert (out / "_build" / "stage" / "book" / "intro.md").exists()
    assert len(list((out / "_build" / "executed").glob("*.ipynb"))) == 2

    again = book.build("smoke", root=root, output=out, n_jobs=2, render=False, log=logs.append)
    assert again.executed == [] and sorted(again.cached) == ["book/a.ipynb", "book/b.ipynb"]

    profile.write_text("profile: smoke\nnotebooks:\n  book/a.ipynb: {value: 4}\n")
    changed = book.build("smoke", root=root, output=out, n_jobs=1, render=False, log=logs.append)
    assert changed.executed == ["book/a.ipynb"] and changed.cached == ["book/b.ipynb"]

    write_nb(root / "book" / "b.ipynb", "def f():\n    raise ValueError('boom at the bottom')\nf()")
    with pytest.raises(BuildError) as err:
        book.build("smoke", root=root, output=out, n_jobs=1, render=False, log=logs.append)
    msg = str(err.value)
    assert "book/b.ipynb" in msg
    assert "cell 4" in msg  # counted in the source notebook (injected cell not counted)
    assert "ValueError" in msg and "boom at the bottom" in msg
    assert "raise ValueError" in msg  # the traceback, not only the message
    assert "\x1b[" not in msg
    assert (out / "_build" / "failed" / "book__b.ipynb").exists()
    # The failed notebook left nothing in the cache or the stage that could be published.
    assert len(list((out / "_build" / "executed").glob("*.ipynb"))) == 3


@pytest.mark.slow
@pytest.mark.book
def test_smoke_book(built_book):
    result = built_book  # tests/conftest.py builds the real book once per session (smoke profile)
    tmp_path = result.html.parents[1]
    html = tmp_path / "_build" / "html"
    assert result.html == html and (html / "index.html").exists()
    pages = {name: (html / "book" / f"{name}.html") for name in ("intro", "conventions", "datasets", "bibliography")}
    for name, page in pages.items():
        assert page.exists(), name
    datasets = pages["datasets"].read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', datasets)
    assert len(images) >= 4  # class balance, example grid, pair plots
    for src in images:
        assert (pages["datasets"].parent / src).resolve().is_file(), src
    assert "Profile <code" in datasets and "smoke" in datasets
    assert "cifar10" in datasets  # the missing dataset is reported, not hidden
    assert "Traceback" not in datasets
    intro = pages["intro"].read_text()
    assert "Okoma" in intro and "Wang" in intro  # citations resolved by sphinxcontrib-bibtex
    conventions = pages["conventions"].read_text()
    assert "batch-first" in conventions or "n_in" in conventions  # the included notation table
    # everything went to the output folder given
    assert (tmp_path / "_build" / "stage" / "book" / "datasets.ipynb").is_file()
    assert len(list((tmp_path / "_build" / "executed").glob("*.ipynb"))) == len(book.toc_notebooks(ROOT))
    report_page = (html / "book" / "report.html").read_text()
    assert "Reproduction report" in report_page and "reproduction-ledger" in report_page


@pytest.mark.slow
@pytest.mark.book
def test_smoke_book_timings_report_and_figures(built_book):
    """The real book's build: timings of every notebook; the report page ran last and only read the
    chapters' stored results; figures are high-DPI PNGs (the project's kernel config)."""
    import base64
    import json
    import struct

    import pandas as pd

    out = built_book.html.parents[1]
    timings = pd.read_csv(out / "_build" / "timings.csv")
    notebooks = [p.as_posix() for p in book.toc_notebooks(ROOT)]
    assert sorted(timings["notebook"]) == sorted(notebooks)
    assert set(timings["cache"]) <= {"hit", "miss"} and (timings["profile"] == "smoke").all()
    report_nb = (out / "_build" / "stage" / "book" / "report.ipynb").read_text()
    assert "results not stored yet" not in report_nb, (
        "the report page found a chapter's results missing from the store: its reproduced_cells "
        "asks for other configs than the chapter's notebook computes"
    )
    nb = json.loads((out / "_build" / "stage" / "book" / "datasets.ipynb").read_text())
    pngs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert pngs
    for o in pngs:
        width = struct.unpack(">I", base64.b64decode(o["data"]["image/png"])[16:20])[0]
        # retina: drawn at twice the DPI, shown at half the pixel size (IPython floors odd sizes)
        assert width // 2 == o["metadata"]["image/png"]["width"], "figures should be retina PNGs"


def _task(tmp_path: Path) -> dict:
    source = tmp_path / "page.ipynb"
    write_nb(source, "y = x + 1")
    return {"source": str(source), "target": str(tmp_path / "out" / "page.ipynb"), "label": "page.ipynb",
            "log": str(tmp_path / "logs" / "page.log"), "failed": str(tmp_path / "failed" / "page.ipynb"),
            "parameters": {"profile": "smoke"}}


def _fake_papermill(monkeypatch, failures: list[Exception], run_cells_before_failing: bool = False):
    """papermill.execute_notebook that raises ``failures`` in turn, then 'executes' the notebook."""
    import papermill

    calls = []

    def execute(source, output, **kwargs):
        calls.append(output)
        nb = nbformat.read(source, as_version=4)
        if failures:
            if run_cells_before_failing:
                nb.cells[1].execution_count = 1
            nbformat.write(nb, output)
            raise failures.pop(0)
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.execution_count = i + 1
        nbformat.write(nb, output)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(book, "_kernel_environment", lambda *a, **k: None)
    monkeypatch.setattr(book.os, "dup2", lambda *a: None)  # keep pytest's stderr
    return calls


def test_kernel_that_fails_before_any_cell_gets_one_fresh_try(tmp_path, monkeypatch):
    calls = _fake_papermill(monkeypatch, [RuntimeError("Kernel didn't respond in 60 seconds")])
    report = book._execute_one(_task(tmp_path))
    assert report["ok"] and len(calls) == 2
    assert "Kernel didn't respond" in report["retried"]
    assert (tmp_path / "out" / "page.ipynb").exists()


def test_kernel_start_failing_twice_is_reported(tmp_path, monkeypatch):
    calls = _fake_papermill(monkeypatch, [RuntimeError("no kernel"), RuntimeError("still no kernel")])
    report = book._execute_one(_task(tmp_path))
    assert not report["ok"] and len(calls) == 2
    assert "still no kernel" in report["error"]


def test_kernel_that_died_after_running_cells_is_not_rerun(tmp_path, monkeypatch):
    """A kernel that ran cells may have changed files or stores: no silent second run."""
    calls = _fake_papermill(monkeypatch, [RuntimeError("kernel died")], run_cells_before_failing=True)
    report = book._execute_one(_task(tmp_path))
    assert not report["ok"] and len(calls) == 1
    assert "kernel died" in report["error"] and "partly executed notebook is kept" in report["error"]


@pytest.mark.slow
@pytest.mark.book
def test_smoke_build_records_what_it_used_and_measured(built_book):
    """The smoke build's store entries recompute bit for bit (store verify on a sample: the safety
    net for a dependency the keys miss), every page's reads are logged for the bundle, and the
    rebuild page shows this build's own times, host and calibration."""
    from learning_rules.bundle import read_reads, verify
    from learning_rules.store import Store

    out = built_book.html.parents[1]
    report = verify(Store(), sample=4, seed=1)
    assert len(report) == 4 and set(report["status"]) == {"identical"}, report.to_string()
    reads = read_reads((out / "_build" / "store-reads" / "smoke").glob("*.txt"))
    store = Store()
    assert reads and all((store.root / n / f"{k}.json").is_file() for n, k in reads)
    record = json.loads((out / "_build" / "build.json").read_text())
    assert record["profile"] == "smoke" and record["calibration"]["matmul_seconds"] > 0
    assert {p["notebook"] for p in record["pages"]} == {nb.as_posix() for nb in book.toc_notebooks(ROOT)}
    rebuild = (out / "_build" / "html" / "book" / "rebuild.html").read_text()
    assert "This copy of the book was built with the" in rebuild and record["calibration"]["cpu"] in rebuild
    assert "precompute pool" in rebuild or "executing the pages" in rebuild


@pytest.mark.slow
@pytest.mark.book
def test_smoke_book_renders_from_its_exported_bundle_alone(built_book, tmp_path, monkeypatch):
    """The results bundle is enough to render the book: export what the smoke pages read, import
    it into an empty store, and every page executes again with that store read-only."""
    from learning_rules.bundle import export_bundle, import_bundle, read_reads
    from learning_rules.store import Store

    out = built_book.html.parents[1]
    entries = read_reads((out / "_build" / "store-reads" / "smoke").glob("*.txt"))
    archive = tmp_path / "smoke-results.tar.gz"
    manifest = export_bundle(Store(), archive, entries=entries)
    assert len(manifest["entries"]) == len(entries) > 0
    fresh = tmp_path / "fresh-store"
    monkeypatch.setenv("LEARNING_RULES_STORE", str(fresh))
    assert import_bundle(archive, Store())["added"] == len(entries)
    monkeypatch.setenv("LEARNING_RULES_STORE_READONLY", "1")
    result = book.build("smoke", root=ROOT, output=tmp_path / "out", n_jobs=2, render=False,
                        precompute=False, force=True, log=lambda s: None)
    assert len(result.executed) == len(book.toc_notebooks(ROOT))


@pytest.mark.slow
def test_a_page_reexecutes_when_an_experiment_it_read_changes(tmp_path, monkeypatch):
    """A page's key includes the code of the experiments its last execution read from the store:
    changing that code re-executes the page, and only that page."""
    from learning_rules import fingerprint

    monkeypatch.setattr(book, "notebook_code", lambda path: "0" * 64)
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    root = tmp_path / "proj"
    (root / "book" / "profiles").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/a\n  - file: book/b\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    write_nb(root / "book" / "a.ipynb",
             "from learning_rules.experiments import EXPERIMENTS\n"
             "from learning_rules.experiments.foundations_optimizers import OptimizerPathsConfig\n"
             "from learning_rules.store import Store\n"
             "exp = EXPERIMENTS['foundations_optimizer_paths']\n"
             "print(len(Store().get_or_compute(exp.name, OptimizerPathsConfig(num_steps=5), exp.run)))")
    write_nb(root / "book" / "b.ipynb", "print(x)")
    (root / "book" / "profiles" / "smoke.yml").write_text("profile: smoke\nnotebooks: {}\n")
    out = tmp_path / "out"

    def build():
        return book.build("smoke", root=root, output=out, n_jobs=2, render=False, log=lambda s: None)

    assert sorted(build().executed) == ["book/a.ipynb", "book/b.ipynb"]
    reads = out / "_build" / "store-reads" / "smoke" / "book__a.txt"
    assert reads.read_text().startswith("foundations_optimizer_paths ")
    assert (out / "_build" / "store-reads" / "smoke" / "book__b.txt").read_text() == ""
    assert build().executed == []  # nothing changed
    real = fingerprint.store_code
    monkeypatch.setattr(fingerprint, "store_code",
                        lambda name: "edited" if name == "foundations_optimizer_paths" else real(name))
    again = build()
    assert again.executed == ["book/a.ipynb"] and again.cached == ["book/b.ipynb"]
