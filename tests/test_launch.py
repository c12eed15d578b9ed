"""The install cell (``learning_rules.launch``): every notebook of the toc starts with it, it is
silent where the package is importable, it pip-installs the pinned release (or the requirement in
``LEARNING_RULES_INSTALL``) where it is not, and ``learning-rules install-cell [--check]`` writes or
checks it.

The last test is opt-in (``LEARNING_RULES_TEST_NETWORK=1``, marker ``network``): it builds the
project's wheel, makes a fresh venv holding only ``nbclient`` and ``ipykernel``, and executes real
chapters in it, outside the checkout, as Colab would: the install cell installs the wheel (pip
pulls its dependencies from the package index) and the chapters run top to bottom, the ones whose
ledger cells read the book's profiles included (they read the copy of the book's files the wheel
carries, ``learning_rules/_book/``: ``tests/test_profiles_packaged.py``).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import learning_rules
from learning_rules import _book_copy, cli, launch
from learning_rules.profiles import (
    INSTALL_CELL_ID,
    load_profile,
    notebook_parameters,
    repository_url,
    resolve_parameters,
    toc_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
URL = "https://example.org/someone/fork"


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _notebook(*cells) -> dict:
    nb = new_notebook(cells=[new_markdown_cell("# Title"),
                             new_code_cell("profile = 'quick'\n", metadata={"tags": ["parameters"]}),
                             *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.loads(nbformat.writes(nb))  # a plain dict, as the helper reads a file


# --------------------------------------------------------------------------- the cell


def test_the_cell_pins_this_version_of_the_repository_in_config():
    cell = launch.install_cell()
    assert cell["id"] == INSTALL_CELL_ID and cell["cell_type"] == "code"
    assert cell["metadata"]["tags"] == ["remove-cell"]  # hidden on the page, run in Colab
    assert cell["outputs"] == [] and cell["execution_count"] is None
    ref = launch.install_ref()
    assert ref == f"v{learning_rules.__version__}"
    url = repository_url(ROOT)
    assert url == _config_url() and not url.endswith((".git", "/"))
    source = _source(cell)
    assert f'"learning-rules @ git+{url}@{ref}"' in source
    assert f'os.environ.get("{launch.INSTALL_ENV}",' in source
    ast.parse(source)  # plain Python: no IPython magic, so any kernel runs it
    lines = source.splitlines()
    assert lines[0].startswith("# ") and sum(line.lstrip().startswith("#") for line in lines) == 1
    assert "@main" not in source


def _config_url() -> str:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def test_the_version_is_written_once_per_file_and_agrees():
    """The pin is ``v<version>``: pyproject's version and ``learning_rules.__version__`` agree."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == learning_rules.__version__


def test_the_repository_is_named_in_config_only():
    """``repository.url`` of ``_config.yml`` is the one place: no module spells it out."""
    url = repository_url(ROOT)
    for path in (ROOT / "src").rglob("*.py"):
        assert url not in path.read_text(encoding="utf-8"), f"{path} hard-codes {url}"


def test_an_explicit_ref_and_url_are_used_verbatim():
    source = _source(launch.install_cell("v9.9.9", URL + "/"))
    assert f'"learning-rules @ git+{URL}@v9.9.9"' in source


def _run_cell(source: str, env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", prelude + source], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_the_cell_is_silent_where_the_package_is_importable():
    # a requirement pip could never install: were pip called, the run would fail loudly
    done = _run_cell(_source(launch.install_cell()), {launch.INSTALL_ENV: "/nonexistent/x.whl"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


# Makes ``learning_rules`` unimportable until "pip" (a stand-in for subprocess.check_call) runs,
# and prints the command the cell ran.
_NO_PACKAGE = '''
import importlib.abc, subprocess, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "learning_rules":
            raise ImportError("not installed")
sys.meta_path.insert(0, _Block())
def _pip(cmd, **kwargs):
    sys.meta_path.remove(next(f for f in sys.meta_path if isinstance(f, _Block)))
    print(repr(cmd))
subprocess.check_call = _pip
'''


@pytest.mark.parametrize("override", [None, "/tmp/learning_rules-0.1.0-py3-none-any.whl"])
def test_a_kernel_without_the_package_pip_installs_the_pin_or_the_override(override):
    source = _source(launch.install_cell("v1.2.3", URL))
    env = {launch.INSTALL_ENV: override} if override else {}
    if not override:
        env_clean = {k: v for k, v in os.environ.items() if k != launch.INSTALL_ENV}
        done = subprocess.run([sys.executable, "-c", _NO_PACKAGE + source], capture_output=True,
                              text=True, env=env_clean, timeout=120)
    else:
        done = _run_cell(source, env, prelude=_NO_PACKAGE)
    assert done.returncode == 0, done.stderr
    cmd = ast.literal_eval(done.stdout.strip())
    assert cmd[:5] == [sys.executable, "-m", "pip", "install", "-q"]
    assert cmd[5] == (override or f"learning-rules @ git+{URL}@v1.2.3")


# --------------------------------------------------------------------------- the helper


def test_ensure_inserts_first_and_is_idempotent():
    nb = _notebook(new_code_cell("x = 1"))
    before = copy.deepcopy(nb["cells"])
    assert launch.cell_status(nb, launch.install_cell("v1", URL)) == "missing"
    assert launch.ensure_install_cell(nb, "v1", URL) is True
    assert nb["cells"][0] == launch.install_cell("v1", URL)
    assert nb["cells"][1:] == before  # the other cells untouched, in order
    once = copy.deepcopy(nb)
    assert launch.ensure_install_cell(nb, "v1", URL) is False and nb == once


def test_ensure_replaces_a_stale_or_misplaced_cell_wherever_it_is():
    nb = _notebook(new_code_cell("x = 1"))
    launch.ensure_install_cell(nb, "v1", URL)
    others = copy.deepcopy(nb["cells"][1:])
    assert launch.cell_status(nb, launch.install_cell("v2", URL)) == "stale"
    assert launch.ensure_install_cell(nb, "v2", URL) is True
    assert nb["cells"][0] == launch.install_cell("v2", URL) and nb["cells"][1:] == others

    moved = copy.deepcopy(nb)
    moved["cells"] = [*others[:1], nb["cells"][0], *others[1:]]  # after the title
    assert launch.cell_status(moved, launch.install_cell("v2", URL)) == "misplaced"
    launch.ensure_install_cell(moved, "v2", URL)
    assert moved == nb

    ran = copy.deepcopy(nb)  # executed and saved in Colab: outputs make it stale
    ran["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    ran["cells"][0]["execution_count"] = 1
    assert launch.cell_status(ran, launch.install_cell("v2", URL)) == "stale"
    launch.ensure_install_cell(ran, "v2", URL)
    assert ran == nb


def test_ensure_accepts_an_nbformat_node():
    node = nbformat.reads(json.dumps(_notebook()), as_version=4)
    assert launch.ensure_install_cell(node, "v1", URL)
    nbformat.validate(node)
    assert node.cells[0].id == INSTALL_CELL_ID and node.cells[0].metadata.tags == ["remove-cell"]
    assert node.cells[0].source == _source(launch.install_cell("v1", URL))
    assert launch.ensure_install_cell(node, "v1", URL) is False


def test_the_parameters_cell_is_the_first_code_cell_after_the_install_cell(tmp_path):
    nb = _notebook(new_code_cell("x = 1"))
    launch.ensure_install_cell(nb, "v1", URL)
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(nb))
    assert list(notebook_parameters(path)) == ["profile"]


def test_the_student_edition_keeps_the_install_cell():
    from learning_rules.student import student_notebook

    nb = nbformat.reads(json.dumps(_notebook(new_markdown_cell(":::{admonition} Solution\n:class: dropdown\n"
                                                        "Forty-two.\n:::"))), as_version=4)
    launch.ensure_install_cell(nb, "v1", URL)
    student, _ = student_notebook(nb, "page", "page.ipynb")
    assert student.cells[0] == nb.cells[0]


def _tiny_book(root: Path, n: int = 2) -> list[Path]:
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(f"title: T\nrepository:\n  url: {URL}.git\n  branch: main\n")
    pages = [Path(f"book/p{i}.ipynb") for i in range(n)]
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/p0\nchapters:\n"
                                   + "".join(f"  - file: {p.with_suffix('').as_posix()}\n" for p in pages[1:]))
    for i, page in enumerate(pages):
        (root / page).write_text(nbformat.writes(nbformat.from_dict(_notebook(new_code_cell(f"y = {i}")))))
    return pages


def test_the_command_writes_and_checks_every_toc_notebook(tmp_path, capsys):
    pages = _tiny_book(tmp_path)
    assert cli.main(["install-cell", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert all(f"{p}: install cell missing" in err for p in pages)
    assert "2 of 2 notebook(s) need `learning-rules install-cell`" in err
    before = {p: json.loads((tmp_path / p).read_text()) for p in pages}

    assert cli.main(["install-cell", "--root", str(tmp_path)]) == 0
    assert "2 notebook(s) written, 0 already current" in capsys.readouterr().out
    wanted = launch.install_cell(launch.install_ref(), URL)  # the url of the tiny book's config
    for page in pages:
        text = (tmp_path / page).read_text()
        nb = json.loads(text)
        cells = before[page]["cells"]  # a title, the parameters cell, the page's own cell
        assert nb["cells"] == [wanted, *cells[:2], launch.profile_cell(page), *cells[2:]]
        assert text == nbformat.writes(nbformat.reads(text, as_version=4)) + "\n"  # Jupyter's format
        nbformat.validate(nbformat.reads(text, as_version=4))
    assert cli.main(["install-cell", "--check", "--root", str(tmp_path)]) == 0
    assert "all 2 notebooks start with the install cell" in capsys.readouterr().out

    stale = json.loads((tmp_path / pages[1]).read_text())
    stale["cells"][0]["source"] = ["import learning_rules\n"]
    (tmp_path / pages[1]).write_text(json.dumps(stale))
    untouched = (tmp_path / pages[0]).read_bytes()
    assert cli.main(["install-cell", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{pages[1]}: install cell stale" in err and str(pages[0]) not in err
    assert cli.main(["install-cell", "--root", str(tmp_path)]) == 0
    assert "1 notebook(s) written, 1 already current" in capsys.readouterr().out
    assert (tmp_path / pages[0]).read_bytes() == untouched
    assert json.loads((tmp_path / pages[1]).read_text())["cells"][0] == wanted


def test_every_notebook_of_the_book_starts_with_the_current_install_cell(capsys):
    """After adding a notebook or changing the version or repository.url, run
    ``learning-rules install-cell``."""
    assert cli.main(["install-cell", "--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err
    wanted = launch.install_cell()
    for rel in toc_notebooks(ROOT):
        cells = json.loads((ROOT / rel).read_text(encoding="utf-8"))["cells"]
        assert [c.get("id") for c in cells].count(INSTALL_CELL_ID) == 1, rel
        assert cells[0] == wanted, rel
        at = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
        assert cells[at + 1] == launch.profile_cell(rel), rel


# --------------------------------------------------------------------------- the profile cell
# Every page runs at the classroom (quick) setting by default, and the paper's protocol is one
# parameter away: ``profile = "paper"`` or LEARNING_RULES_PROFILE=paper.


def _defaults(rel) -> dict:
    return {k: p.default for k, p in notebook_parameters(ROOT / rel).items()}


def _canon(params: dict) -> dict:
    return {k: json.loads(json.dumps(v)) for k, v in params.items()}


def test_every_page_defaults_to_the_classroom_profile():
    """The parameters cell holds the quick profile's values, so a page opened in Colab runs its
    classroom size; a profile that once relied on a paper-size default now states its value."""
    for rel in toc_notebooks(ROOT):
        defaults = _defaults(rel)
        assert defaults["profile"] == "quick", rel
        quick = {**defaults, **resolve_parameters(ROOT, load_profile(ROOT, "quick"), Path(rel))}
        assert _canon(quick) == _canon(defaults), rel


@pytest.mark.parametrize("rel", ["book/dfa/alignment.ipynb", "book/foundations/ablation.ipynb",
                                 "book/dual-weight/unsupervised.ipynb"])
def test_naming_a_profile_loads_its_parameters(rel, capsys, monkeypatch):
    monkeypatch.delenv(launch.PROFILE_ENV, raising=False)
    ns = {**_defaults(rel), "profile": "paper"}
    changed = launch.use_profile(ns, rel, ROOT)
    paper = {**_defaults(rel), **resolve_parameters(ROOT, load_profile(ROOT, "paper"), Path(rel))}
    assert _canon({k: ns[k] for k in paper}) == _canon(paper)
    assert changed and "profile" not in changed  # the name was the reader's; the values follow
    out = capsys.readouterr().out
    assert out.startswith("profile 'paper': ") and all(f"{n} = " in out for n in changed)


def test_the_build_injection_and_the_readers_own_values_stay(capsys, monkeypatch):
    rel = "book/dfa/alignment.ipynb"
    monkeypatch.delenv(launch.PROFILE_ENV, raising=False)  # the build's kernels never see it
    for profile in ("smoke", "quick", "paper"):  # what papermill leaves after the injected cell
        ns = {**_defaults(rel), **resolve_parameters(ROOT, load_profile(ROOT, profile), Path(rel)),
              "profile": profile}
        before = copy.deepcopy(ns)
        assert launch.use_profile(ns, rel, ROOT) == [] and ns == before
    monkeypatch.setenv(launch.PROFILE_ENV, "smoke")  # ignored: the namespace names another profile
    ns = {**_defaults(rel), **resolve_parameters(ROOT, load_profile(ROOT, "paper"), Path(rel)),
          "profile": "paper"}
    assert launch.use_profile(ns, rel, ROOT) == [] and ns["profile"] == "paper"
    assert capsys.readouterr().out == ""
    monkeypatch.delenv(launch.PROFILE_ENV)
    ns = {**_defaults(rel), "profile": "paper", "seeds": 1, "num_epochs": 3}  # edited by a reader
    launch.use_profile(ns, rel, ROOT)
    assert (ns["seeds"], ns["num_epochs"]) == (1, 3)
    assert ns["k"] == 3 and ns["n_train"] == 0  # the parameters left alone take the paper's values


def test_the_environment_names_the_profile_when_the_cell_does_not(monkeypatch, capsys):
    rel = "book/dfa/feedback.ipynb"
    monkeypatch.setenv(launch.PROFILE_ENV, "paper")
    ns = _defaults(rel)
    launch.use_profile(ns, rel, ROOT)
    assert ns["profile"] == "paper" and ns["k"] == 3 and ns["num_epochs"] == 20
    monkeypatch.setenv(launch.PROFILE_ENV, "nonesuch")
    with pytest.raises(ValueError, match=r"cannot load profile 'nonesuch' \(from LEARNING_RULES_PROFILE\)"
                                         r".*available: .*paper.*quick.*smoke"):
        launch.use_profile(_defaults(rel), rel, ROOT)


def test_bad_calls_say_what_to_do(monkeypatch):
    monkeypatch.delenv(launch.PROFILE_ENV, raising=False)
    rel = "book/dfa/feedback.ipynb"
    with pytest.raises(ValueError, match="after the parameters cell"):
        launch.use_profile({}, rel, ROOT)
    with pytest.raises(ValueError, match="unknown profile 'papr'; available"):
        launch.use_profile({**_defaults(rel), "profile": "papr"}, rel, ROOT)
    with pytest.raises(ValueError, match="a profile's name"):
        launch.use_profile({**_defaults(rel), "profile": 3}, rel, ROOT)
    with pytest.raises(ValueError, match="cannot read the parameters of book/nope.ipynb"):
        launch.use_profile({"profile": "paper"}, "book/nope.ipynb", ROOT)
    for bad in ("/abs/page.ipynb", "../page.ipynb", 'a"b.ipynb'):
        with pytest.raises(ValueError, match="relative to the project root"):
            launch.profile_cell(bad)


def test_the_cell_runs_use_profile_on_its_own_globals(monkeypatch):
    """The cell's source, executed as the kernel would (its globals are the page's)."""
    monkeypatch.delenv(launch.PROFILE_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    rel = "book/dfa/optimizers.ipynb"
    cell = launch.profile_cell(rel)
    assert cell["id"] == launch.PROFILE_CELL_ID and cell["metadata"]["tags"] == ["remove-cell"]
    source = _source(cell)
    assert 'profile = "paper"' in source and launch.PROFILE_ENV in source
    ns = {**_defaults(rel), "profile": "paper"}
    exec(compile(source, "<profile cell>", "exec"), ns)
    assert ns["k"] == 3 and ns["seeds"] == 3 and ns["n_train"] == 0


def test_the_build_keeps_a_readers_profile_variable_out_of_its_kernels(monkeypatch):
    from learning_rules import book

    saved = dict(os.environ)
    try:
        os.environ[launch.PROFILE_ENV] = "paper"
        book._kernel_environment()
        assert launch.PROFILE_ENV not in os.environ
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_ensure_profile_cell_places_it_after_the_parameters_cell():
    nb = _notebook(new_code_cell("x = profile"))
    launch.ensure_install_cell(nb, "v1", URL)
    cell = launch.profile_cell("book/a.ipynb")
    assert launch.ensure_profile_cell(nb, cell)
    assert [c.get("id") for c in nb["cells"]].index(launch.PROFILE_CELL_ID) == 3  # install, title, params
    assert launch.ensure_profile_cell(nb, cell) is False
    nb["cells"].append(nb["cells"].pop(3))  # moved to the end: misplaced, put back
    assert launch.cell_status(nb, cell, 3) == "misplaced" and launch.ensure_profile_cell(nb, cell)
    assert nb["cells"][3] == cell and len(nb["cells"]) == 5
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        launch.ensure_profile_cell({"cells": [new_code_cell("x = 1")]}, cell)


# --------------------------------------------------------------------------- a fresh venv (opt-in)

NETWORK_ENV = "LEARNING_RULES_TEST_NETWORK"
#: A chapter without data, one that reads MNIST through the data layer (checksums verified), the
#: chapters whose ledger cells read the book's profiles (``report.chapter_misses``,
#: ``profiles.page_parameters``) and, last, the report page (toc, ``_config.yml``, the accepted
#: ledger, and the ledger of what the chapters before it stored).
FRESH_PAGES = ("book/foundations/backprop.ipynb", "book/foundations/regularization.ipynb",
               "book/dfa/parity.ipynb", "book/foundations/ablation.ipynb", "book/dfa/synthetic.ipynb",
               "book/dual-weight/experiments.ipynb", "book/report.ipynb")

_EXECUTE = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


def _with_parameters(path: Path, params: dict) -> dict:
    """The notebook with papermill's injected-parameters cell after its ``parameters`` cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    at = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c["metadata"].get("tags", []))
    source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    injected["id"] = "injected-parameters"
    nb["cells"].insert(at + 1, json.loads(json.dumps(injected)))
    return nb


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.skipif(not os.environ.get(NETWORK_ENV),
                    reason=f"opt-in ({NETWORK_ENV}=1): installs the package's dependencies from "
                    "the package index into a fresh venv, minutes")
def test_chapters_run_top_to_bottom_in_a_fresh_venv_with_only_jupyter(tmp_path, shared_data):
    timings: dict[str, float] = {}
    start = time.perf_counter()
    src = tmp_path / "src"  # build from a copy: the checkout gets no build/ or egg-info
    _book_copy.copy_book(ROOT, src)  # the book's files setup.py copies into the wheel (first: it
    shutil.copytree(ROOT / "src", src / "src",  # replaces the folder it writes)
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(wheels)],
                   check=True, timeout=600)
    (wheel,) = wheels.glob("learning_rules-*.whl")
    timings["wheel"] = time.perf_counter() - start
    with zipfile.ZipFile(wheel) as archive:  # the copy of the book's files, byte for byte
        packaged = f"learning_rules/{_book_copy.PACKAGED}/"
        held = {n.removeprefix(packaged): archive.read(n) for n in archive.namelist() if n.startswith(packaged)}
    assert held == {f.as_posix(): (ROOT / f).read_bytes() for f in _book_copy.book_files(ROOT)}

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "nbclient", "ipykernel"], check=True, timeout=600)
    timings["venv"] = time.perf_counter() - start - timings["wheel"]
    assert subprocess.run([python, "-c", "import learning_rules"], capture_output=True).returncode != 0

    home = tmp_path / "home"  # a bare Jupyter: no user kernels, configs or IPython profile
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEARNING_RULES_", "JUPYTER", "IPYTHON", "PYTHON", "VIRTUAL_ENV", "MPL"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
               IPYTHONDIR=str(home / "ipython"), MPLCONFIGDIR=str(home / "mpl"),
               LEARNING_RULES_INSTALL=str(wheel),           # the wheel stands in for the pinned tag
               LEARNING_RULES_DATA=str(shared_data),        # no download here: the verified copies
               LEARNING_RULES_CACHE=str(home / "cache"), LEARNING_RULES_STORE=str(home / "store"))
    profile = load_profile(ROOT, "smoke")
    work = tmp_path / "content"  # outside the checkout, like Colab's /content
    work.mkdir()
    for rel in FRESH_PAGES:
        t0 = time.perf_counter()
        notebook = work / rel.removeprefix("book/").replace("/", "-")
        notebook.write_text(json.dumps(_with_parameters(ROOT / rel, resolve_parameters(ROOT, profile, Path(rel)))))
        out = work / f"executed-{notebook.name}"
        done = subprocess.run([python, "-c", _EXECUTE, str(notebook), str(work), str(out)], env=env,
                              cwd=work, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{rel}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        executed = nbformat.read(out, as_version=4)
        code = [c for c in executed.cells if c.cell_type == "code"]
        assert code[0].id == INSTALL_CELL_ID and all(c.execution_count for c in code if c.source.strip())
        assert not [o for c in code for o in c.outputs if o.output_type == "error"]
        shown = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
                          for c in code for o in c.outputs)
        if rel == "book/report.ipynb":  # the accepted ledger the wheel carries
            assert "Accepted paper ledger" in shown
        else:  # a page's ledger cells find the runs the page just stored (same parameters)
            assert "results not stored yet" not in shown, f"{rel}: {shown[-3000:]}"
        timings[rel] = time.perf_counter() - t0

    # the install cell of the first page installed the wheel (pip records where it came from)
    origin = subprocess.run([python, "-c", "import importlib.metadata as m; "
                             "print(m.distribution('learning-rules').read_text('direct_url.json'))"],
                            capture_output=True, text=True, env=env, check=True).stdout
    assert wheel.name in origin
    print("fresh venv timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
