"""The build pipeline's pure parts: parameter parsing and validation, profiles, toc, cache keys,
and the refusal to publish notebooks with error outputs. Fast (no kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from learning_rules import book
from learning_rules.book import BuildError, ParameterError
from learning_rules.profiles import INSTALL_CELL_ID

PARAMS_CELL = """
profile = "quick"
n_epochs = 5  # epochs
lr = 0.1
seeds = [0, 1]
label: str = "x"
maybe: int | None = None
flag = False
anything = None
"""


def write_nb(path: Path, params_source: str = PARAMS_CELL, body: str = "print(n_epochs)", meta=None):
    cells = [new_markdown_cell("# T")]
    if params_source is not None:
        cells.append(new_code_cell(params_source, metadata={"tags": ["parameters"]}))
    cells.append(new_code_cell(body))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if meta:
        nb.metadata["learning_rules"] = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_parameters_are_parsed_with_types(tmp_path):
    params = book.notebook_parameters(write_nb(tmp_path / "a.ipynb"))
    assert list(params) == ["profile", "n_epochs", "lr", "seeds", "label", "maybe", "flag", "anything"]
    assert params["n_epochs"].default == 5 and params["n_epochs"].type_name == "int"
    assert params["lr"].type_name == "float"
    assert params["label"].type_name == "str"
    assert params["maybe"].type_name == "int | None"
    assert params["anything"].types is None


@pytest.mark.parametrize(
    "value_ok",
    [{"n_epochs": 3}, {"lr": 1}, {"lr": 0.5}, {"seeds": [1, 2, 3]}, {"maybe": None}, {"maybe": 4},
     {"flag": True}, {"anything": {"a": 1}}, {"profile": "smoke"}, {}],
)
def test_valid_parameters_pass(tmp_path, value_ok):
    book.validate_parameters(write_nb(tmp_path / "a.ipynb"), value_ok)


def test_unknown_parameter_names_the_allowed_ones(tmp_path):
    nb = write_nb(tmp_path / "a.ipynb")
    with pytest.raises(ParameterError) as err:
        book.validate_parameters(nb, {"n_epoch": 3}, label="book/a.ipynb (profile quick)")
    msg = str(err.value)
    assert "'n_epoch'" in msg and "book/a.ipynb" in msg
    for name in ("n_epochs", "lr", "seeds", "profile"):
        assert name in msg


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"n_epochs": "5"}, "must be int"),
        ({"n_epochs": 2.5}, "must be int"),
        ({"n_epochs": True}, "must be int"),
        ({"lr": "1e-3"}, "write 1.0e-3"),
        ({"label": 3}, "must be str"),
        ({"flag": 1}, "must be bool"),
        ({"seeds": 3}, "must be list"),
        ({"maybe": "x"}, "int | None"),
    ],
)
def test_wrong_type_names_parameter_and_type(tmp_path, params, expected):
    nb = write_nb(tmp_path / "a.ipynb")
    with pytest.raises(ParameterError, match=expected) as err:
        book.validate_parameters(nb, params)
    assert repr(next(iter(params))) in str(err.value)


def test_missing_parameters_cell_and_profile_hint(tmp_path):
    with pytest.raises(ParameterError, match="tagged 'parameters'"):
        book.notebook_parameters(write_nb(tmp_path / "a.ipynb", params_source=None))
    nb = write_nb(tmp_path / "b.ipynb", params_source="n = 1\n")
    with pytest.raises(ParameterError, match="add `profile"):
        book.validate_parameters(nb, {"profile": "quick"})
    late = new_notebook(cells=[new_code_cell("import os"),
                               new_code_cell("n = 1", metadata={"tags": ["parameters"]})])
    nbformat.write(late, tmp_path / "d.ipynb")
    with pytest.raises(ParameterError, match="must be the first code cell"):
        book.notebook_parameters(tmp_path / "d.ipynb")
    with pytest.raises(ParameterError, match="not valid Python"):
        book.notebook_parameters(write_nb(tmp_path / "c.ipynb", params_source="n = = 1\n"))


def make_root(tmp_path: Path, profile_text: str | None = None) -> Path:
    root = tmp_path / "proj"
    (root / "book" / "profiles").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/a\n  - file: book/b.ipynb\n"
    )
    (root / "book" / "intro.md").write_text("# Intro\n")
    write_nb(root / "book" / "a.ipynb", meta={"datasets": ["digits"]})
    write_nb(root / "book" / "b.ipynb")
    text = profile_text or (
        "profile: smoke\nnotebooks:\n  book/a.ipynb:\n    n_epochs: 1\n"
        "datasets:\n  book/b.ipynb: [mnist]\n"
    )
    (root / "book" / "profiles" / "smoke.yml").write_text(text)
    return root


def test_toc_and_profile(tmp_path):
    root = make_root(tmp_path)
    assert book.toc_notebooks(root) == [Path("book/a.ipynb"), Path("book/b.ipynb")]
    assert book.toc_files(root)[0] == Path("book/intro.md")
    prof = book.load_profile(root, "smoke")
    params = book.resolve_parameters(root, prof, Path("book/a.ipynb"))
    assert params == {"profile": "smoke", "n_epochs": 1}
    assert book.resolve_parameters(root, prof, Path("book/b.ipynb")) == {"profile": "smoke"}
    assert book.notebook_datasets(root, prof, Path("book/a.ipynb")) == ["digits"]  # metadata
    assert book.notebook_datasets(root, prof, Path("book/b.ipynb")) == ["mnist"]  # profile override


def test_profile_fragments_merge_and_refuse_clashes(tmp_path):
    root = make_root(tmp_path)
    frag_dir = root / "book" / "profiles" / "smoke.d"
    frag_dir.mkdir()
    (frag_dir / "chapter.yml").write_text(
        "notebooks:\n  book/b.ipynb: {n: 2}\ndatasets:\n  book/c.ipynb: [wine-quality-red]\n")
    prof = book.load_profile(root, "smoke")
    assert prof.notebooks["book/b.ipynb"] == {"n": 2}
    assert prof.notebooks["book/a.ipynb"] == {"n_epochs": 1}  # the main file still counts
    assert prof.datasets["book/c.ipynb"] == ["wine-quality-red"]
    (frag_dir / "other.yml").write_text("notebooks:\n  book/a.ipynb: {n_epochs: 3}\n")
    with pytest.raises(BuildError, match="already set elsewhere"):
        book.load_profile(root, "smoke")
    (frag_dir / "other.yml").write_text("params: {}\n")
    with pytest.raises(BuildError, match="only the keys notebooks, datasets"):
        book.load_profile(root, "smoke")


def test_profile_errors(tmp_path):
    root = make_root(tmp_path)
    with pytest.raises(BuildError, match="unknown profile 'nope'; available: smoke"):
        book.load_profile(root, "nope")
    bad = make_root(tmp_path / "x", "profile: smoke\nnotebooks:\n  book/a.ipynb:\n    profile: quick\n")
    with pytest.raises(BuildError, match="injected"):
        book.load_profile(bad, "smoke")
    bad = make_root(tmp_path / "y", "profile: quick\n")
    with pytest.raises(BuildError, match="must match its file name"):
        book.load_profile(bad, "smoke")
    bad = make_root(tmp_path / "z", "profile: smoke\nnotebooks:\n  book/zzz.ipynb: {n: 1}\n")
    with pytest.raises(BuildError, match="not a notebook of _toc.yml"):
        book.build("smoke", root=bad, output=tmp_path / "out", render=False)
    bad = make_root(tmp_path / "w", "profile: smoke\nnotebooks:\n  book/a.ipynb: {n_epochs: x}\n")
    with pytest.raises(ParameterError, match="'n_epochs' must be int"):
        book.build("smoke", root=bad, output=tmp_path / "out", render=False)
    assert not (tmp_path / "out" / "_build" / "executed").exists()  # validated before running


def test_toc_with_missing_file(tmp_path):
    root = make_root(tmp_path)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/gone\n")
    with pytest.raises(BuildError, match="book/gone"):
        book.toc_files(root)


def test_cache_key_changes_with_each_input():
    nb, params, code, data = b'{"cells": []}', {"profile": "smoke", "n": 1}, "c0", {"mnist": {"f": "s0"}}
    key = book.notebook_cache_key(nb, params, code, data)
    assert key == book.notebook_cache_key(nb, dict(reversed(list(params.items()))), code, data)
    variants = [
        book.notebook_cache_key(b'{"cells": [1]}', params, code, data),
        book.notebook_cache_key(nb, {"profile": "quick", "n": 1}, code, data),
        book.notebook_cache_key(nb, {"profile": "smoke", "n": 2}, code, data),
        book.notebook_cache_key(nb, params, "c1", data),
        book.notebook_cache_key(nb, params, code, {"mnist": {"f": "s1"}}),
        book.notebook_cache_key(nb, params, code, {"mnist": "missing"}),
        book.notebook_cache_key(nb, params, code, {}),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_dataset_fingerprint_tracks_files(shared_data, tmp_path, monkeypatch):
    present = book._dataset_fingerprint(["wine-quality-red"])
    assert set(present) == {"wine-quality-red"}
    assert list(present["wine-quality-red"].values()) == [
        "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e"
    ]
    monkeypatch.setenv("LEARNING_RULES_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    assert book._dataset_fingerprint(["wine-quality-red"]) == {"wine-quality-red": "missing"}
    with pytest.raises(BuildError, match="unknown dataset"):
        book._dataset_fingerprint(["no-such-data"])


def test_check_executed_refuses_errors_and_unrun_cells():
    ok = {"cells": [{"cell_type": "code", "source": "1", "execution_count": 1, "outputs": []}]}
    book.check_executed(ok, "nb")
    failed = {"cells": [{"cell_type": "markdown", "source": "#"},
                        {"cell_type": "code", "source": "1/0", "execution_count": 1, "outputs": [
                            {"output_type": "error", "ename": "ZeroDivisionError",
                             "evalue": "division by zero", "traceback": ["\x1b[31mTraceback\x1b[0m"]}]}]}
    with pytest.raises(BuildError, match=r"cell 2 \(code cell 1\).*ZeroDivisionError") as err:
        book.check_executed(failed, "book/x.ipynb")
    assert "\x1b" not in str(err.value)
    unrun = {"cells": [{"cell_type": "code", "source": "x = 1", "execution_count": None, "outputs": []}]}
    with pytest.raises(BuildError, match="never executed"):
        book.check_executed(unrun, "nb")


def test_project_book_profiles_are_valid():
    """Every shipped profile validates against every notebook of the real _toc.yml."""
    root = Path(__file__).resolve().parents[1]
    for name in book.PROFILES:
        prof = book.load_profile(root, name)
        for nb in book.toc_notebooks(root):
            params = book.resolve_parameters(root, prof, nb)
            assert params["profile"] == name
            first_code = next(c for c in json.loads((root / nb).read_text())["cells"]  # after the
                              if c["cell_type"] == "code" and c.get("id") != INSTALL_CELL_ID)  # install cell
            assert "parameters" in first_code["metadata"].get("tags", []), nb
            assert all(not c.get("outputs") for c in json.loads((root / nb).read_text())["cells"]
                       if c["cell_type"] == "code"), f"{nb} is committed with outputs"
            cells = json.loads((root / nb).read_text())["cells"]
            ids = [c.get("id") for c in cells]
            # nbformat 4.5: every cell carries a unique id (the student export maps cells by it)
            assert all(ids) and len(set(ids)) == len(ids), f"{nb}: a cell without an id, or a repeated one"


def test_papermill_reads_every_parameter_of_every_page():
    """papermill's own reading of each parameters cell (what `papermill --help-notebook` shows and
    what it checks injected names against) finds every name the cell assigns: a line it cannot
    parse (a second '=' in the comment) is skipped with "Unable to parse line", and the injected
    value is then logged as an unknown parameter."""
    import ast

    from papermill.translators import PythonTranslator

    root = Path(__file__).resolve().parents[1]
    for nb in book.toc_notebooks(root):
        cell = next(c for c in json.loads((root / nb).read_text())["cells"]
                    if "parameters" in c["metadata"].get("tags", []))
        source = "".join(cell["source"])
        assigned = [node.targets[0].id if isinstance(node, ast.Assign) else node.target.id
                    for node in ast.parse(source).body if isinstance(node, (ast.Assign, ast.AnnAssign))]
        read = [p.name for p in PythonTranslator.inspect({"source": source})]
        assert read == assigned, f"{nb}: papermill reads {sorted(set(assigned) - set(read))} as missing"


def test_progress_is_silent_under_quiet(monkeypatch, capsys):
    from learning_rules._progress import progress, quiet

    monkeypatch.setenv("LEARNING_RULES_QUIET", "1")
    assert quiet()
    bar = progress(range(3), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LEARNING_RULES_QUIET", "0")
    assert not quiet()
    bar = progress(range(2), disable=False, file=None)
    assert not bar.disable and list(bar) == [0, 1]


def test_profile_cuts_and_banner(tmp_path):
    """The banner lists what a preview profile changes relative to the paper profile."""
    root = tmp_path
    (root / "book" / "profiles").mkdir(parents=True)
    write_nb(root / "book" / "a.ipynb")
    (root / "book" / "profiles" / "quick.yml").write_text(
        "profile: quick\nnotebooks:\n  book/a.ipynb: {n_epochs: 2, seeds: [0]}\n")
    (root / "book" / "profiles" / "paper.yml").write_text(
        "profile: paper\nnotebooks:\n  book/a.ipynb: {n_epochs: 20}\n")
    cuts = book.profile_cuts(root, "quick", Path("book/a.ipynb"))
    assert cuts == [("n_epochs", 2, 20), ("seeds", [0], [0, 1])]
    banner = book.profile_banner("quick", cuts)
    assert "`n_epochs` = 2 (paper: 20)" in banner and "`seeds` = (0,) (paper: (0, 1))" in banner
    assert banner.startswith(":::{admonition} Built with the quick profile") and banner.endswith(":::")
    assert book.profile_cuts(root, "paper", Path("book/a.ipynb")) == []
    (root / "book" / "profiles" / "paper.yml").unlink()
    assert book.profile_cuts(root, "quick", Path("book/a.ipynb")) is None
    nb = json.dumps({"cells": [{"cell_type": "markdown", "source": "(label)=\n# T\n\nA long intro.",
                                "metadata": {}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    cells = json.loads(book._with_banner(nb, banner))["cells"]
    assert cells[0]["source"] == f"(label)=\n# T\n\n{banner}\n\nA long intro."  # right under the title
    untitled = json.dumps({"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    cells = json.loads(book._with_banner(untitled, banner))["cells"]
    assert cells[0]["source"] == banner and cells[0]["id"] == "profile-banner"


def test_build_report_states_times_next_to_the_calibration():
    record = {"profile": "paper", "finished": "2026-01-01 10:00", "commit": "abc1234",
              "calibration": {"cpu": "Some CPU", "cores": 2, "python": "3.11", "numpy": "2.0",
                              "matmul_seconds": 0.1, "parity_epoch_seconds": 0.8, "measured": "t"},
              "stages": {"precompute": 4000.0, "notebooks": 90.0}, "seconds": 4100.0,
              "cpu_seconds": 8000.0, "precompute_runs": 220, "stored_runs": 3, "stored_run_seconds": 50.0,
              "pages": [{"notebook": "book/a.ipynb", "cache": "miss", "seconds": 12.0, "executed_seconds": 12.0},
                        {"notebook": "book/b.ipynb", "cache": "hit", "seconds": 0.0, "executed_seconds": 300.0}]}
    text = book.build_report_markdown(record)
    assert "**paper** profile at commit `abc1234`" in text and "2-core Some CPU" in text
    assert "0.1 s for 300 float32" in text and "0.8 s for one DFA + SGD parity epoch" in text
    assert "| precompute pool (planned runs) | 66.7 min |" in text and "| whole build before rendering | 68.3 min |" in text
    assert text.index("book/b.ipynb") < text.index("book/a.ipynb")  # slowest page first
    assert "220 runs" in text and "2.22 h" in text
    assert "local Dask cluster" not in text  # measured by paper builds only, absent here
    record["calibration"]["cluster"] = {"runs": 8, "epochs": 2, "n_train": 10000, "one_worker_seconds": 9.1,
                                        "two_workers_seconds": 5.2, "speedup": 1.75}
    assert "9.1 s on one worker process and 5.2 s on two, a speed-up of **1.75x**" in \
        book.build_report_markdown(record)
    record.update(calibration=None, precompute_runs=None, stored_runs=0, commit="")
    text = book.build_report_markdown(record)
    assert "Calibration" not in text and "commit" not in text.split("\n")[0]


def test_a_build_from_the_cache_keeps_the_times_of_the_build_that_executed(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "_stored_run_seconds", lambda output, profile: (0, 0.0))
    pages = [{"notebook": "book/a.ipynb", "cache": "miss", "seconds": 12.0, "executed_seconds": 12.0}]
    cal = {"cpu": "Some CPU", "cores": 2, "python": "3.11", "numpy": "2.0", "matmul_seconds": 0.1,
           "parity_epoch_seconds": None, "measured": "t"}
    first = book.build_record(tmp_path, tmp_path, "paper", pages, {"notebooks": 5000.0}, cal, None, 5100.0)
    cached = [{**pages[0], "cache": "hit", "seconds": 0.0}]
    second = book.build_record(tmp_path, tmp_path, "paper", cached, {}, None, None, 4.0)
    assert second["executed_by"]["seconds"] == 5100.0 and second["executed_by"]["calibration"] == cal
    text = book.build_report_markdown(second)
    assert "executed no page" in text and "| whole build before rendering | 85.0 min |" in text
    third = book.build_record(tmp_path, tmp_path, "paper", cached, {}, None, None, 3.0)
    assert third["executed_by"] == second["executed_by"]  # still the build that executed
    assert first["seconds"] == 5100.0
