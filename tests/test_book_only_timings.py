"""Build features on a tiny project with real kernels: ``--only``, ``_build/timings.csv``, the
report-last ordering, the project's figure settings (high-DPI PNG) and the generated equation
index; one rendered build checks the index page and the vendored MathJax.

Marked ``slow``: every build starts Jupyter kernels (a few seconds each).
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from learning_rules import book, cli
from learning_rules.book import BuildError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

FIGURE = """
import time
started = time.time()
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot([0, 1], [0, 1])
ax.set_xlabel("x (a.u.)")
plt.show()
print(f"started {started!r}")
"""
SLOW = """
import time
time.sleep(1.5)
print(f"finished {time.time()!r}")
"""


def write_nb(path: Path, body: str, *, last: bool = False, title: str = "Page") -> None:
    nb = new_notebook(cells=[
        new_markdown_cell(f"# {title}\n\nSome text.\n\n$$\na = b + c\n$$ (eq-{path.stem}-sum)\n"),
        new_code_cell('profile = "quick"\n', metadata={"tags": ["parameters"]}),
        new_code_cell(body),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if last:
        nb.metadata["learning_rules"] = {"run_after_others": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def make_project(root: Path) -> Path:
    (root / "book" / "profiles").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/a\n  - file: book/b\n"
        "  - file: book/equations\n"
    )
    (root / "_config.yml").write_text(
        "title: tiny\nexecute:\n  execute_notebooks: 'off'\nonly_build_toc_files: true\n"
        "exclude_patterns: [_build, 'book/profiles/*', 'book/_static/*']\n"
        "parse:\n  myst_enable_extensions: [amsmath, dollarmath]\n"
        "sphinx:\n  config:\n    html_static_path: [book/_static]\n"
        "    mathjax_path: mathjax/tex-mml-chtml.js\n    math_numfig: true\n    numfig: true\n"
    )
    (root / "book" / "_static").mkdir()
    (root / "book" / "intro.md").write_text(
        "# Intro\n\nText.\n\n## The update\n\n```{math}\n:label: intro-update\n\nw \\leftarrow w - "
        "\\eta g\n```\n\n```text\n$$ not an equation $$ (not-a-label)\n```\n"
    )
    (root / "book" / "equation-names.yml").write_text("intro-update: Zebra gradient step\n")
    (root / "book" / "profiles" / "smoke.yml").write_text("profile: smoke\nnotebooks: {}\n")
    kernel = root / book.KERNEL_CONFIG
    kernel.parent.mkdir(parents=True)
    shutil.copy(ROOT / book.KERNEL_CONFIG, kernel)
    write_nb(root / "book" / "a.ipynb", FIGURE, last=True, title="Alpha")
    write_nb(root / "book" / "b.ipynb", SLOW, title="Beta")
    return root


def quiet(_msg: str) -> None:
    pass


def stdout_text(nb: dict) -> str:
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module", autouse=True)
def fixed_code_hash():
    """Other work may edit the package while these tests run; pin the code part of the cache key."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(book, "notebook_code", lambda path: "0" * 64)
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory, fixed_code_hash):
    root = make_project(tmp_path_factory.mktemp("tiny") / "proj")
    first = book.build("smoke", root=root, n_jobs=2, render=False, log=quiet)
    return root, first


def timings(root: Path) -> pd.DataFrame:
    return book.read_timings(root).set_index("notebook")


def executed(root: Path, notebook: str) -> dict:
    return json.loads((root / "_build" / "stage" / notebook).read_text())


def test_first_build_executes_all_and_records_timings(project):
    root, first = project
    assert sorted(first.executed) == ["book/a.ipynb", "book/b.ipynb"] and first.cached == []
    t = timings(root)
    assert list(t.columns) == list(book.TIMINGS_COLUMNS[1:])
    assert set(t["cache"]) == {"miss"}
    assert (t["seconds"] > 0).all() and (t["seconds"] == t["executed_seconds"]).all()
    assert t.loc["book/b.ipynb", "seconds"] >= 1.5  # it sleeps 1.5 s
    assert (t["profile"] == "smoke").all()
    assert not list((root / "_build").glob(".timings.csv.*"))  # atomic write leaves no temp file


def test_run_after_others_starts_when_the_rest_finished(project):
    root, _ = project
    started = float(stdout_text(executed(root, "book/a.ipynb")).split("started ")[1].split()[0])
    finished = float(stdout_text(executed(root, "book/b.ipynb")).split("finished ")[1].split()[0])
    assert started > finished, "book/a (run_after_others) ran before book/b had finished"


def test_figures_are_high_dpi_pngs(project):
    root, _ = project
    nb = executed(root, "book/a.ipynb")
    images = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 1
    out = images[0]
    width, height = png_size(base64.b64decode(out["data"]["image/png"]))
    shown = out["metadata"]["image/png"]  # retina: drawn at 2x, displayed at the nominal size
    assert width // 2 == shown["width"] and height // 2 == shown["height"]  # IPython floors odd sizes
    assert width >= 700  # a 4 in wide figure at 200 dpi, minus the tight bounding box


def test_second_build_is_all_cache_hits(project):
    root, _ = project
    again = book.build("smoke", root=root, n_jobs=2, render=False, log=quiet)
    assert again.executed == [] and sorted(again.cached) == ["book/a.ipynb", "book/b.ipynb"]
    t = timings(root)
    assert set(t["cache"]) == {"hit"} and (t["seconds"] == 0).all()
    assert (t["executed_seconds"] > 0).all()  # the recorded duration of the published execution
    printed = book.format_timings(again.timings)
    assert "0 executed" in printed and "2 from cache" in printed and "book/b.ipynb" in printed


def test_only_executes_just_that_notebook(project, capsys):
    root, _ = project
    result = book.build("smoke", root=root, n_jobs=2, render=False, only=["book/b"], log=quiet)
    assert result.executed == ["book/b.ipynb"] and result.cached == ["book/a.ipynb"]
    assert timings(root)["cache"].to_dict() == {"book/a.ipynb": "hit", "book/b.ipynb": "miss"}
    # An edited page that is not selected is shown from its last execution, and the build says so.
    nb = nbformat.read(root / "book" / "a.ipynb", as_version=4)
    nb.cells[0].source += "\nEdited."
    nbformat.write(nb, root / "book" / "a.ipynb")
    messages = []
    result = book.build("smoke", root=root, n_jobs=2, render=False, only=[str(root / "book" / "b.ipynb")],
                        log=messages.append)
    assert result.stale == ["book/a.ipynb"] and result.executed == ["book/b.ipynb"]
    assert timings(root).loc["book/a.ipynb", "cache"] == "stale"
    assert any("book/a.ipynb" in m and "older execution" in m for m in messages)
    assert "started" in stdout_text(executed(root, "book/a.ipynb"))  # outputs kept
    # ... under a banner that says so; the executed page carries none.
    shown = "".join(executed(root, "book/a.ipynb")["cells"][0]["source"])
    assert "Not executed in this build" in shown and "older execution" in shown
    assert shown.index("Not executed in this build") < shown.index("Built with the smoke profile")
    assert "Not executed in this build" not in json.dumps(executed(root, "book/b.ipynb"))
    with pytest.raises(BuildError, match=r"book/nope.ipynb.*not a notebook of _toc.yml.*book/a.ipynb"):
        book.build("smoke", root=root, render=False, only=["book/nope.ipynb"], log=quiet)
    # The command line reaches the same code and shows the timings.
    assert cli.main(["report", "--timings", "--root", str(root), "--output", str(root)]) == 0
    out = capsys.readouterr().out
    assert "book/a.ipynb" in out and "stale" in out and "slowest" in out


def test_equation_index_reads_labels_and_names(project):
    root, _ = project
    entries = book.equation_index(root)
    assert [e["label"] for e in entries] == ["intro-update", "eq-a-sum", "eq-b-sum"]
    first = entries[0]
    assert first["name"] == "Zebra gradient step" and first["section"] == "The update"
    assert first["page"] == "book/intro" and first["tex"] == "w \\leftarrow w - \\eta g"
    assert entries[1]["name"] == "eq a sum" and entries[1]["title"] == "Alpha"
    assert "book/equations.md" in {p.as_posix() for p in book.toc_files(root)}


@pytest.mark.book
def test_rendered_index_page_and_local_mathjax(project):
    root, _ = project
    result = book.build("smoke", root=root, n_jobs=2, log=quiet)
    html = result.html
    page = (html / "book" / "equations.html").read_text()
    assert "Zebra gradient step" in page and "intro.html#equation-intro-update" in page
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    intro = (html / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-mml-chtml.js" in intro and "cdn.jsdelivr" not in intro
    index = (html / "searchindex.js").read_text().lower()
    assert "zebra" in index
