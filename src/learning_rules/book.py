"""The book's build pipeline: stage, execute (papermill, parallel, cached), check, render.

``learning-rules build --profile quick`` (what ``make book`` runs) does four things:

1. **Stage** the book into ``_build/stage/``: ``_config.yml``, ``_toc.yml``, ``references.bib``,
   files the pages include (``CONTRIBUTING.md``) and every non-notebook file under ``book/``. Files
   are copied only when their bytes changed, so Sphinx's incremental build stays incremental.
2. **Execute** every notebook of ``_toc.yml`` with papermill, with the parameters that
   ``book/profiles/<profile>.yml`` gives it plus ``profile`` (so captions can name it), several
   notebooks at a time in a process pool. Parameters are validated against the notebook's
   ``parameters`` cell *before* anything runs. An executed notebook is kept as
   ``_build/executed/<key>.ipynb`` where ``key`` hashes the notebook file, its parameters, the
   package code its cells reach (:func:`notebook_code`, with the transcribed published numbers),
   the checksums of the datasets it declares, and the code of every experiment whose stored
   results its last execution read (:func:`page_key`: the kernel logs each store entry it reads);
   an unchanged notebook is therefore never re-run, a page whose plotting code changed re-runs
   reading its results from the store, and a kernel edit re-runs only the pages that show results
   of the experiments it changes.
3. **Check** every executed notebook: an error output or a code cell without an execution count
   stops the build, so no page is published with a failed or missing output.
4. **Render** the stage with ``jupyter-book build`` (execution off, ``-W --keep-going``: every
   warning is an error) into ``_build/html``.

Every build writes ``_build/timings.csv`` (one row per notebook: cache hit or miss, the wall time
spent in this build and the wall time of the execution whose output is published) and prints the
slowest notebooks. ``only=[...]`` (``learning-rules build --only PATH ...``) executes just those
notebooks and renders the rest from the cache. Kernels get the project's figure settings
(``book/_kernel/ipython_kernel_config.py``: high-DPI "retina" PNGs) through ``IPYTHONDIR``. Pages
listed in :data:`GENERATED_PAGES` (the equation index) are written into the stage by the build.
A notebook whose metadata says ``{"learning_rules": {"run_after_others": true}}`` (the reproduction
report, which only reads what the chapters stored) is executed after all the others.

A notebook declares the datasets it reads in its metadata (``{"learning_rules": {"datasets":
[...]}}``); a profile may override that list per notebook with a ``datasets`` key.

Explained in: ``CONTRIBUTING.md`` and ``book/intro.md`` (how to rebuild).
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ._progress import QUIET_ENV, quiet
from .store import READS_ENV, atomic_write_bytes, canonical_json
from .profiles import (  # noqa: F401 - re-exported: the build's public names
    GENERATED_PAGE_PATHS,
    BuildError,
    NotebookParameter,
    PAPER_PROFILE,
    PROFILES,
    ParameterError,
    Profile,
    _NOT_PROTOCOL,
    _read_notebook,
    _short,
    _yaml_mapping,
    find_root,
    load_profile,
    notebook_datasets,
    notebook_parameters,
    page_parameters,
    profile_cuts,
    resolve_parameters,
    toc_files,
    toc_notebooks,
    validate_parameters,
)

__all__ = [
    "GENERATED_PAGES",
    "TIMINGS_COLUMNS",
    "BUILD_REPORT",
    "BuildError",
    "BuildResult",
    "NotebookParameter",
    "ParameterError",
    "PAPER_PROFILE",
    "PROFILES",
    "Profile",
    "build",
    "build_record",
    "build_report_markdown",
    "check_executed",
    "equation_index",
    "read_timings",
    "reads_folder",
    "find_root",
    "load_profile",
    "notebook_cache_key",
    "notebook_code",
    "notebook_datasets",
    "notebook_parameters",
    "profile_banner",
    "profile_cuts",
    "resolve_parameters",
    "stale_banner",
    "toc_files",
    "toc_notebooks",
    "validate_parameters",
]

KEY_VERSION = 2  # bump when the executed-notebook format or the key recipe changes
STAGED_ROOT_FILES = ("_config.yml", "_toc.yml", "references.bib", "CONTRIBUTING.md")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "profiles", "_build", "_kernel"}
KERNEL_CONFIG = Path("book") / "_kernel" / "ipython_kernel_config.py"
TIMINGS_COLUMNS = ("notebook", "profile", "cache", "seconds", "executed_seconds", "key")


# --------------------------------------------------------------------------- cache keys


def _dataset_fingerprint(names: Sequence[str]) -> dict[str, Any]:
    """Checksums of every file of every dataset (``"missing"`` when it is not on this machine)."""
    if not names:
        return {}
    try:
        from . import data
    except ImportError as exc:
        raise BuildError(f"the data layer (learning_rules.data) cannot be imported: {exc}") from exc
    out: dict[str, Any] = {}
    for name in sorted(set(names)):
        try:
            out[name] = dict(data.checksums(name))
        except data.DatasetNotFoundError:
            out[name] = "missing"
        except ValueError as exc:  # unknown dataset name
            raise BuildError(f"a notebook declares dataset {name!r}: {exc}") from exc
    return out


def notebook_code(path: Path) -> str:
    """Fingerprint of the package code an executed page's cells reach
    (:func:`learning_rules.fingerprint.notebook_fingerprint`) and of the package's transcribed
    published numbers (``reference/*.csv``)."""
    from .fingerprint import PACKAGE_DIR, notebook_fingerprint

    cells = [c.get("source", "") for c in _read_notebook(path).get("cells", [])
             if c.get("cell_type") == "code"]
    cells = ["".join(c) if isinstance(c, list) else c for c in cells]
    digest = hashlib.sha256(notebook_fingerprint(cells).encode())
    for csv in sorted((PACKAGE_DIR / "reference").glob("*.csv")):
        digest.update(csv.name.encode() + b"\0" + hashlib.sha256(csv.read_bytes()).digest())
    return digest.hexdigest()


def notebook_cache_key(
    notebook_bytes: bytes,
    params: Mapping[str, Any],
    code_hash: str,
    data_checksums: Mapping[str, Any],
) -> str:
    """sha256 of (notebook file, parameters, package code it depends on, dataset checksums)."""
    payload = canonical_json(
        {
            "version": KEY_VERSION,
            "notebook": hashlib.sha256(notebook_bytes).hexdigest(),
            "parameters": dict(params),
            "code": code_hash,
            "data": dict(data_checksums),
        }
    )
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- checks and errors


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def check_executed(nb: Mapping, label: str) -> None:
    """Raise :class:`BuildError` if an executed notebook has an error output or an unrun cell."""
    problems = []
    number = 0
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                tb = _strip_ansi("\n".join(output.get("traceback", [])))
                problems.append(
                    f"cell {index + 1} (code cell {number}) has an error output: "
                    f"{output.get('ename')}: {output.get('evalue')}\n{tb}"
                )
        if source.strip() and cell.get("execution_count") is None:
            problems.append(f"cell {index + 1} (code cell {number}) was never executed")
    if problems:
        raise BuildError(f"{label}: refusing to publish:\n  " + "\n  ".join(problems))


def _format_papermill_error(exc: Any, nb_path: Path | None, label: str) -> str:
    """Notebook, cell number (in the source notebook) and the traceback of a failing cell."""
    cell_index = getattr(exc, "cell_index", None)
    shift = 0
    total = None
    if nb_path is not None and nb_path.exists() and cell_index is not None:
        try:
            # papermill counts cells before it inserts its error-marker cells; drop those, then
            # discount the injected-parameters cell, which the source notebook does not have.
            cells = [
                c
                for c in json.loads(nb_path.read_text()).get("cells", [])
                if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
            ]
            total = len(cells)
            shift = sum(
                1
                for c in cells[:cell_index]
                if "injected-parameters" in c.get("metadata", {}).get("tags", [])
            )
        except (OSError, ValueError):
            pass
    where = "a cell"
    if cell_index is not None:
        where = f"cell {cell_index - shift + 1}"
        if total is not None:
            where += " (counting markdown cells)"
    if getattr(exc, "exec_count", None) is not None:
        where += f", In [{exc.exec_count}]"
    source = getattr(exc, "source", "") or ""
    excerpt = "\n".join("    | " + line for line in source.splitlines()[:12])
    tb = _strip_ansi("\n".join(getattr(exc, "traceback", []) or []))
    return (
        f"{label}: {where} failed with {getattr(exc, 'ename', type(exc).__name__)}: "
        f"{getattr(exc, 'evalue', exc)}\n  source:\n{excerpt}\n  traceback:\n{tb}"
    )


# --------------------------------------------------------------------------- execution (worker)


def _kernel_environment(blas_threads: int | None = None, ipython_dir: str | None = None) -> None:
    """Environment for the kernels a worker starts: quiet bars, inline figures, this Python, the
    project's IPython profile folder (figure format and DPI), and (when given) the number of
    BLAS/OpenMP threads each kernel may use."""
    if ipython_dir:
        os.environ["IPYTHONDIR"] = ipython_dir
    if blas_threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS"):
            os.environ[var] = str(blas_threads)
    os.environ[QUIET_ENV] = "1"
    os.environ["TQDM_DISABLE"] = "1"  # bars of other libraries (pooch downloads) stay off too
    os.environ.pop("MPLBACKEND", None)  # the kernel must use its inline backend to show figures
    # the build injects the profile's parameters itself; a reader's LEARNING_RULES_PROFILE (the
    # profile cell's choice outside the build, learning_rules.launch) must not override them
    os.environ.pop("LEARNING_RULES_PROFILE", None)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # Kernel "python3" must be this interpreter's ipykernel, even if a user-level spec exists.
    prefix_share = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if prefix_share not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([prefix_share, *paths])


def _never_started(notebook: Path) -> bool:
    """True when ``notebook`` (papermill's output) is missing or no code cell in it has run."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not any(c.get("cell_type") == "code" and c.get("execution_count") for c in nb.get("cells", []))


def page_key(base_key: str, reads: Path) -> str | None:
    """The executed-notebook key of a page: its ``base_key`` (:func:`notebook_cache_key`) and the
    current code of every experiment its last execution read from the store (``reads``: one
    ``name key`` line per entry). ``None`` when the page has no reads log yet (never executed)."""
    if not reads.is_file():
        return None
    from .bundle import read_reads
    from .fingerprint import store_code

    names = sorted({name for name, _ in read_reads([reads])})
    payload = canonical_json({"page": base_key, "reads": {n: store_code(n) for n in names}})
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def reads_folder(output: Path, profile: str) -> Path:
    """``_build/store-reads/<profile>/``: one file per page, the store entries its last execution
    read or wrote (``name key`` lines)."""
    return Path(output) / "_build" / "store-reads" / profile


def _execute_one(task: dict) -> dict:
    """Run one notebook with papermill; runs in a pool worker. Never raises: returns a report."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    _kernel_environment(task.get("blas_threads"), task.get("ipython_dir"))
    source, target, label = Path(task["source"]), Path(task["target"]), task["label"]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.ipynb")
    # The kernel inherits this process's stderr: send its chatter to a log file, not the terminal.
    log_path = Path(task["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        os.dup2(log_file.fileno(), 2)
    reads = Path(task["reads"]) if task.get("reads") else None
    if reads is not None:  # the kernel appends every store entry it uses here
        reads.parent.mkdir(parents=True, exist_ok=True)
        reads_tmp = reads.with_name(f".{reads.name}.{os.getpid()}.tmp")
        reads_tmp.write_text("")
        os.environ[READS_ENV] = str(reads_tmp)
    start = time.perf_counter()
    retried = None
    try:
        for attempt in (1, 2):
            try:
                papermill.execute_notebook(
                    str(source),
                    str(tmp),
                    parameters=task["parameters"],
                    kernel_name=task.get("kernel", "python3"),
                    cwd=str(source.parent),
                    progress_bar=False,
                    log_output=False,
                    request_save_on_cell_execute=False,
                    execution_timeout=task.get("timeout"),
                )
                break
            except (PapermillExecutionError, BuildError):
                raise
            except Exception as exc:
                if attempt == 2 or not _never_started(tmp):
                    raise
                # The kernel failed before running a cell (start-up timeout, a dead kernel, a
                # port clash on a loaded machine): nothing ran, so one fresh try is safe.
                retried = f"{type(exc).__name__}: {exc}".strip()
                tmp.unlink(missing_ok=True)
        nb = json.loads(tmp.read_text(encoding="utf-8"))
        check_executed(nb, label)
        os.replace(tmp, target)
        if reads is not None:
            os.replace(reads_tmp, reads)
        return {"ok": True, "label": label, "seconds": time.perf_counter() - start, "retried": retried}
    except PapermillExecutionError as exc:
        message = _format_papermill_error(exc, tmp, label)
    except BuildError as exc:
        message = str(exc)
    except Exception as exc:  # kernel died, timeout, bad notebook JSON ...
        message = f"{label}: execution failed: {type(exc).__name__}: {exc}\n" + traceback.format_exc()
    failed = Path(task["failed"])
    try:
        kernel_log = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        kernel_log = []
    interesting = [line for line in kernel_log if "without encryption" not in line]
    if interesting:
        message += "\n  kernel log (tail):\n    " + "\n    ".join(interesting[-15:])
    if tmp.exists():
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, failed)
        message += f"\n  the partly executed notebook is kept at {failed}"
    if reads is not None:  # a failed page's reads say nothing about a published output
        reads_tmp.unlink(missing_ok=True)
    return {"ok": False, "label": label, "error": message, "seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------- profile banner

#: The profile whose parameters are the sources' protocols; every other profile's pages carry a
#: banner naming what they cut relative to it.
def profile_banner(profile: str, cuts: list[tuple[str, Any, Any]] | None) -> str:
    """The Markdown admonition a page of a non-paper build carries: which profile made it, what
    it cuts relative to the sources' protocols, and that its numbers are therefore not the
    papers'."""
    lines = [f":::{{admonition}} Built with the {profile} profile: these are not the papers' numbers",
             ":class: warning", ""]
    if cuts:
        listed = "; ".join(f"`{k}` = {_short(k, v)} (paper: {_short(k, p)})" for k, v, p in cuts)
        lines.append(f"This page was executed with the **{profile}** profile, a preview that cuts "
                     f"the sources' protocols: {listed}.")
    elif cuts is None:
        lines.append(f"This page was executed with the **{profile}** profile, a preview.")
    else:
        lines.append(f"This page was executed with the **{profile}** profile; its own parameters "
                     "are the paper profile's, but the build it belongs to is a preview.")
    lines += ["Its numbers therefore differ from the papers' and from the paper build's; "
              "`make book PROFILE=paper` rebuilds it with the full protocols.", ":::"]
    return "\n".join(lines)


def stale_banner(profile: str, executed: bool) -> str:
    """The Markdown admonition of a page that a ``--only`` build did not execute and whose current
    execution the cache does not hold: shown from an older execution (its notebook, parameters,
    data or package code changed since), or, never executed, without outputs."""
    what = ("from an older execution: its notebook, its parameters, its data or the package code it "
            "uses changed since, so its outputs may not be what the page computes now"
            if executed else "without outputs: it has never been executed with this profile")
    return "\n".join([":::{admonition} Not executed in this build", ":class: warning", "",
                      f"This build executed only some pages (`--only`); this one is shown {what}. "
                      f"`learning-rules build --profile {profile}` executes it.", ":::"])


def _with_banner(data: bytes, banner: str) -> bytes:
    """The executed notebook ``data`` with ``banner`` right under the page's title: inside its
    first Markdown cell after the first ``#`` heading (a title cell often holds the whole
    introduction), else as a Markdown cell of its own at the top."""
    nb = json.loads(data)
    cells = nb.get("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        lines = ("".join(source) if isinstance(source, list) else source).split("\n")
        title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        if title is not None:
            blank_next = title + 1 < len(lines) and not lines[title + 1].strip()
            lines[title + 1:title + 1] = ["", *banner.split("\n"), *([] if blank_next else [""])]
            cell["source"] = "\n".join(lines)
            return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        break
    cell = {"cell_type": "markdown", "metadata": {"tags": ["profile-banner"]}, "source": banner}
    if nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 0) >= 5:
        cell["id"] = "profile-banner"  # cell ids are required from nbformat 4.5 on
    cells.insert(0, cell)
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _announce(config: bytes, profile: str) -> bytes:
    """The staged ``_config.yml`` with a site-wide announcement naming the profile."""
    data = yaml.safe_load(config) or {}
    options = data.setdefault("sphinx", {}).setdefault("config", {}).setdefault("html_theme_options", {})
    options["announcement"] = (f"Built with the <b>{profile}</b> profile: a preview that cuts "
                               "epochs, samples or seeds, so its numbers are not the papers'.")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


# --------------------------------------------------------------------------- staging


def _sync_bytes(data: bytes, dst: Path) -> bool:
    """Write ``data`` to ``dst`` only when it differs (keeps mtimes for Sphinx); True if written."""
    try:
        if dst.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write_bytes(dst, data)
    return True


def _stage_sources(root: Path) -> dict[Path, Path]:
    """Non-notebook files to stage: relative stage path -> source path."""
    files: dict[Path, Path] = {}
    for name in STAGED_ROOT_FILES:
        if (root / name).is_file():
            files[Path(name)] = root / name
    book = root / "book"
    for path in sorted(book.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or path.suffix == ".ipynb" or SKIP_PARTS & set(rel.parts[1:]):
            continue
        files[rel] = path
    return files


MATHJAX_STAGE = Path("book") / "_static" / "mathjax"
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "output/chtml.js", "ui", "a11y", "sre",
                 "adaptors")


def _mathjax_sources() -> dict[Path, Path]:
    """MathJax 3's files the pages need (relative stage path -> installed file), from the
    ``django-static-mathjax`` wheel, so math renders without a CDN (``mathjax_path`` in
    ``_config.yml`` points at ``_static/mathjax/tex-mml-chtml.js``)."""
    try:
        import mathjax  # the django-static-mathjax distribution's package
    except ImportError as exc:
        raise BuildError(
            "MathJax is not installed; the book serves its own copy so that formulas render "
            "offline: pip install 'django-static-mathjax>=3.2' (part of the [book] extra)"
        ) from exc
    es5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise BuildError(f"{es5 / 'tex-mml-chtml.js'} is missing; reinstall django-static-mathjax")
    files: dict[Path, Path] = {}
    for part in MATHJAX_PARTS:
        src = es5 / part
        for path in ([src] if src.is_file() else sorted(src.rglob("*")) if src.is_dir() else []):
            if path.is_file():
                files[MATHJAX_STAGE / path.relative_to(es5)] = path
    return files


def _prune(stage: Path, keep: set[Path]) -> None:
    if not stage.is_dir():
        return
    for path in sorted(stage.rglob("*"), reverse=True):
        rel = path.relative_to(stage)
        if path.is_file() and rel not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


# --------------------------------------------------------------------------- render


def _render(stage: Path, output: Path, log: Callable[[str], None]) -> Path:
    """``jupyter-book build <stage> --path-output <output> -W --keep-going``; returns the html dir."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; main()",
        "build",
        str(stage),
        "--path-output",
        str(output),
        "--builder",
        "html",
        "-W",
        "--keep-going",
        "-q",
    ]
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=stage)
    html = output / "_build" / "html"
    text = _strip_ansi((proc.stdout or "") + (proc.stderr or ""))
    warnings = [line for line in text.splitlines() if re.search(r"WARNING|ERROR|CRITICAL", line)]
    if proc.returncode != 0 or warnings:
        tail = "\n".join(text.strip().splitlines()[-40:])
        listed = "\n".join(warnings[:50]) or "(no warning lines; output tail below)"
        raise BuildError(
            "jupyter-book failed (warnings are errors):\n"
            f"{listed}\n--- jupyter-book output (tail) ---\n{tail}"
        )
    if not (html / "index.html").exists():
        raise BuildError(f"jupyter-book finished but {html / 'index.html'} is missing")
    return html


# --------------------------------------------------------------------------- build


# --------------------------------------------------------------------------- what a build measured

#: The generated Markdown the rebuild page includes: this build's times, host and calibration.
BUILD_REPORT = Path("book") / "_generated" / "this-build.md"


def _git_commit(root: Path) -> str:
    """The checkout's commit (short), with ``+changes`` when the work tree differs; "" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def _stored_run_seconds(output: Path, profile: str) -> tuple[int, float]:
    """(runs, compute seconds) of the store entries this profile's pages read, from the reads
    logs and the store's sidecars (runs computed in earlier builds included)."""
    from .bundle import read_reads
    from .store import Store

    folder = reads_folder(output, profile)
    pairs = read_reads(sorted(folder.glob("*.txt"))) if folder.is_dir() else set()
    store, total, runs = Store(), 0.0, 0
    for name, key in pairs:
        try:
            meta = json.loads((store.root / name / f"{key}.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("seconds") is not None:
            total += float(meta["seconds"])
            runs += 1
    return runs, total


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have finished (the
    notebook workers and their kernels; pool workers still alive for reuse are not counted)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_record(root: Path, output: Path, profile: str, timings: Sequence[Mapping[str, Any]],
                 stages: Mapping[str, float], calibration: Mapping[str, Any] | None,
                 precompute: Mapping[str, Any] | None, seconds: float) -> dict[str, Any]:
    """What this build measured, written to ``_build/build.json``: profile, commit, host,
    calibration, stage and page times. A build that executed nothing (every page from the cache)
    keeps the times, host and calibration of the last build of this profile that did, under
    ``"executed_by"``: the published pages are that build's outputs."""
    build_dir = Path(output) / "_build"
    previous = {}
    try:
        previous = json.loads((build_dir / "build.json").read_text())
    except (OSError, ValueError):
        pass
    if previous.get("profile") != profile:
        previous = {}
    runs, run_seconds = _stored_run_seconds(Path(output), profile)
    if calibration is None and not stages and previous:  # nothing ran: the last executing build
        executed_by = previous.get("executed_by") or {
            k: previous.get(k) for k in ("finished", "commit", "calibration", "stages", "seconds",
                                         "cpu_seconds", "precompute_runs")}
        record = {"profile": profile, "finished": time.strftime("%Y-%m-%d %H:%M"),
                  "commit": _git_commit(root), "executed_by": executed_by,
                  "stored_runs": runs, "stored_run_seconds": round(run_seconds, 1),
                  "pages": [dict(t) for t in timings]}
        atomic_write_bytes(build_dir / "build.json", (json.dumps(record, indent=1) + "\n").encode())
        return record
    record = {
        "profile": profile,
        "finished": time.strftime("%Y-%m-%d %H:%M"),
        "commit": _git_commit(root),
        "calibration": calibration,
        "stages": {k: round(v, 1) for k, v in stages.items()},
        "seconds": round(seconds, 1),
        "cpu_seconds": round(_cpu_seconds(), 1),
        "precompute_runs": None if precompute is None else precompute.get("tasks"),
        "stored_runs": runs,
        "stored_run_seconds": round(run_seconds, 1),
        "pages": [dict(t) for t in timings],
    }
    atomic_write_bytes(build_dir / "build.json", (json.dumps(record, indent=1) + "\n").encode())
    return record


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def build_report_markdown(record: Mapping[str, Any]) -> str:
    """This build's times as Markdown (the rebuild page includes it): nothing typed by hand. For
    a build that only rendered cached pages, the times of the build that executed them."""
    if record.get("executed_by"):
        executed = {**record["executed_by"], "profile": record["profile"],
                    "stored_runs": record.get("stored_runs"),
                    "stored_run_seconds": record.get("stored_run_seconds"), "pages": record["pages"]}
        note = (f"This rendering (finished {record['finished']}) executed no page; the pages and the "
                "times below come from the last build that executed them.\n\n")
        return note + build_report_markdown(executed)
    cal = record.get("calibration") or {}
    host = (f"a {cal.get('cores', '?')}-core {cal.get('cpu', 'unknown CPU')} (Python "
            f"{cal.get('python', '?')}, NumPy {cal.get('numpy', '?')})" if cal else "this machine")
    commit = f" at commit `{record['commit']}`" if record.get("commit") else ""
    lines = [f"This copy of the book was built with the **{record['profile']}** profile"
             f"{commit}, finished {record['finished']}, on {host}.", ""]
    if cal:
        epoch = cal.get("parity_epoch_seconds")
        lines += [f"Calibration, measured by the same build before its runs: "
                  f"{cal.get('matmul_seconds')} s for 300 float32 256 x 256 matrix products on one "
                  "thread" + (f", and {epoch} s for one DFA + SGD parity epoch (k = 3) on 10,000 "
                              "images" if epoch is not None else "") +
                  f" (measured {cal.get('measured', '?')}). Scale the times below by your machine's "
                  "ratio to these.", ""]
        cl = cal.get("cluster")
        if cl:
            lines += [f"The precompute pool on a local Dask cluster, measured by the same build: "
                      f"{cl['runs']} parity runs ({cl['epochs']} epochs on {cl['n_train']:,} images) took "
                      f"{cl['one_worker_seconds']} s on one worker process and {cl['two_workers_seconds']} s "
                      f"on two, a speed-up of **{cl['speedup']:.2f}x** (2.0 would be perfect).", ""]
    lines += ["| stage | wall time |", "|---|---|"]
    names = {"calibration": "calibration", "precompute": "precompute pool (planned runs)",
             "notebooks": "executing the pages"}
    for key, label in names.items():
        if key in record["stages"]:
            lines.append(f"| {label} | {_duration(record['stages'][key])} |")
    lines.append(f"| whole build before rendering | {_duration(record['seconds'])} |")
    if record.get("cpu_seconds") == record.get("cpu_seconds"):  # not NaN
        lines += ["", f"CPU time of the build and its finished worker processes: "
                      f"{_duration(record['cpu_seconds'])}."]
    lines.append("")
    if record.get("precompute_runs"):
        lines.append(f"The precompute pool computed {record['precompute_runs']} runs in this build. ")
    if record.get("stored_runs"):
        lines.append(f"The stored runs this profile's pages read took {_duration(record['stored_run_seconds'])} "
                     f"of compute in all ({record['stored_runs']} runs, counted from the store, "
                     "including runs computed by earlier builds).")
    lines += ["", "| page | this build | executed in |", "|---|---|---|"]
    for row in sorted(record["pages"], key=lambda r: -(r.get("executed_seconds") or 0)):
        how = {"miss": f"executed, {_duration(row.get('seconds'))}", "hit": "from the cache",
               "stale": "older execution", "none": "not executed"}.get(row.get("cache"), "-")
        lines.append(f"| `{row['notebook']}` | {how} | {_duration(row.get('executed_seconds'))} |")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class BuildResult:
    """What a build did: where the HTML is, which notebooks ran and which came from the cache.

    ``timings`` holds one dict per notebook with the keys of :data:`TIMINGS_COLUMNS` (also
    written to ``_build/timings.csv``); ``stale`` lists notebooks shown from an older execution
    or without outputs (only with ``only=``).
    """

    profile: str
    html: Path | None
    executed: list[str]
    cached: list[str]
    seconds: float
    timings: list[dict] = dataclasses.field(default_factory=list)
    stale: list[str] = dataclasses.field(default_factory=list)
    precompute: dict | None = None

    @property
    def index(self) -> Path | None:
        return None if self.html is None else self.html / "index.html"


def _progress_bar(iterable, total: int):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc="notebooks", unit="nb", disable=True if quiet() else None)


def _resolve_only(root: Path, only: Iterable[str | os.PathLike], notebooks: Sequence[Path]) -> set[str]:
    """``--only`` arguments (``book/x.ipynb``, ``book/x``, ``./book/x.ipynb`` or an absolute path)
    as toc notebook paths; unknown ones raise :class:`BuildError` listing the notebooks."""
    listed = {nb.as_posix(): nb for nb in notebooks}
    chosen: set[str] = set()
    for item in only:
        path = Path(item)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(root)
            except ValueError:
                raise BuildError(f"--only {item}: not inside the project {root}") from None
        rel = path.as_posix().removeprefix("./")
        if not rel.endswith(".ipynb"):
            rel = rel.removesuffix(".md") + ".ipynb"
        if rel not in listed:
            raise BuildError(
                f"--only {item}: not a notebook of _toc.yml; notebooks: " + ", ".join(sorted(listed))
            )
        chosen.add(rel)
    if not chosen:
        raise BuildError("--only needs at least one notebook path, e.g. --only book/datasets.ipynb")
    return chosen


def _executed_seconds(nb: Mapping) -> float | None:
    """Wall time papermill recorded for an executed notebook (``metadata.papermill.duration``)."""
    value = nb.get("metadata", {}).get("papermill", {}).get("duration")
    return float(value) if isinstance(value, (int, float)) else None


def _write_timings(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TIMINGS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in TIMINGS_COLUMNS})
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def read_timings(output: str | os.PathLike | None = None):
    """``_build/timings.csv`` of the last build under ``output`` (default: the project root) as a
    DataFrame with the columns :data:`TIMINGS_COLUMNS`.

    Raises
    ------
    FileNotFoundError
        No build has written the file yet (run ``learning-rules build``).
    """
    import pandas as pd

    folder = find_root(packaged=False) if output is None else Path(output)
    path = folder / "_build" / "timings.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist yet; `learning-rules build` writes it")
    return pd.read_csv(path, dtype={"notebook": str, "profile": str, "cache": str, "key": str})


def format_timings(rows: Sequence[Mapping[str, Any]], top: int = 8) -> str:
    """A short text summary of a build's timings: totals and the slowest notebooks."""
    if not rows:
        return "no notebooks"
    misses = [r for r in rows if r["cache"] == "miss"]
    hits = [r for r in rows if r["cache"] == "hit"]
    spent = sum(float(r["seconds"] or 0.0) for r in misses)
    lines = [f"timings: {len(misses)} executed ({spent:.1f} s of kernel time, summed over "
             f"parallel workers), {len(hits)} from cache, {len(rows) - len(misses) - len(hits)} "
             "shown stale or without outputs"]

    def cost(r):
        return float(r["executed_seconds"]) if r.get("executed_seconds") not in (None, "") else -1.0

    ranked = sorted((r for r in rows if cost(r) >= 0), key=cost, reverse=True)[:top]
    if ranked:
        lines.append("slowest (execution wall time of the published output):")
        for r in ranked:
            lines.append(f"  {cost(r):8.1f} s  {r['cache']:<5} {r['notebook']}")
    return "\n".join(lines)


def _latest_index(executed_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((executed_dir / "latest.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- equation index


_DOLLAR_LABEL = re.compile(r"\$\$(?P<body>(?:(?!\$\$).)+?)\$\$[ \t]*\((?P<label>[A-Za-z0-9_:.-]+)\)", re.S)
_MATH_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{math\}[^\n]*\n(?P<options>(?:[ \t]*:[A-Za-z_-]+:[^\n]*\n)+)(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.S | re.M,
)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def _page_markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = _read_notebook(path)
        parts = []
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                parts.append("".join(src) if isinstance(src, list) else src)
        return "\n\n".join(parts)
    return path.read_text(encoding="utf-8")


def _strip_fences(text: str) -> str:
    """Blank out ``` code blocks that are not {math} directives (their $$ are not equations)."""
    out, fence, math_fence = [], None, None
    for line in text.splitlines():
        stripped = line.strip()
        ticks = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        if math_fence is not None:  # inside a {math} directive: keep, until its closing fence
            if ticks == math_fence and stripped == ticks:
                math_fence = None
            out.append(line)
            continue
        if fence is None and len(ticks) >= 3:
            if stripped[len(ticks):].startswith("{math}"):
                math_fence = ticks
                out.append(line)
            else:
                fence = ticks
                out.append("")
            continue
        if fence is not None:
            if ticks == fence and stripped == ticks:
                fence = None
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


def equation_index(root: str | os.PathLike) -> list[dict[str, str]]:
    """Every labelled display equation of the book's pages, in toc order.

    Finds MyST ``$$ ... $$ (label)`` blocks and ``{math}`` directives with ``:label:`` in the
    ``.md`` pages and the markdown cells of the notebooks of ``_toc.yml``. The name of an equation
    is its ``:name:``-like entry in ``book/equation-names.yml`` (label -> name) when there is one,
    else its label with dashes read as spaces.

    Returns
    -------
    list of dict
        Keys ``label``, ``name``, ``page`` (toc path without suffix), ``title`` (the page's first
        heading), ``section`` (the heading above the equation) and ``tex``.
    """
    root = Path(root)
    names_file = root / "book" / "equation-names.yml"
    names: dict[str, str] = {}
    if names_file.is_file():
        raw = _yaml_mapping(names_file, "must map equation labels to names")
        names = {str(k): str(v) for k, v in raw.items()}
    found: list[dict[str, str]] = []
    for page in toc_files(root):
        if page.as_posix() in GENERATED_PAGES or not (root / page).is_file():
            continue
        text = _strip_fences(_page_markdown(root / page))
        headings = [(m.start(), m.group(2).strip()) for m in _HEADING.finditer(text)]
        title = headings[0][1] if headings else page.stem
        hits = []
        for m in _DOLLAR_LABEL.finditer(text):
            hits.append((m.start(), m.group("label"), m.group("body")))
        for m in _MATH_DIRECTIVE.finditer(text):
            label = re.search(r":label:[ \t]*(\S+)", m.group("options"))
            if label:
                hits.append((m.start(), label.group(1), m.group("body")))
        for start, label, body in sorted(hits):
            section = next((h for pos, h in reversed(headings) if pos < start), title)
            found.append({
                "label": label,
                "name": names.get(label, label.replace("-", " ").replace("_", " ")),
                "page": page.with_suffix("").as_posix(),
                "title": title,
                "section": section,
                "tex": textwrap.dedent(body).strip(),
            })
    return found


def _equations_page(root: Path) -> str:
    entries = equation_index(root)
    lines = [
        "(equation-index)=",
        "# Equations",
        "",
        "Every numbered equation of the book, by name, with the page and section that derive it.",
        "The search box finds an equation by any word of its name. This page is generated by",
        "`learning-rules build` from the labels of the pages (names: `book/equation-names.yml`).",
        "",
    ]
    if not entries:
        lines.append("No page has a labelled equation yet.")
    for e in entries:
        lines += [
            f"## {e['name']}",
            "",
            f"{{eq}}`{e['label']}` in {{doc}}`/{e['page']}`, section *{e['section']}* "
            f"(label `{e['label']}`).",
            "",
            "$$",
            e["tex"],
            "$$",
            "",
        ]
    return "\n".join(lines) + "\n"


GENERATED_PAGES: dict[str, Callable[[Path], str]] = {"book/equations.md": _equations_page}
if set(GENERATED_PAGES) != GENERATED_PAGE_PATHS:  # the toc reader (profiles) must know them
    raise RuntimeError("book.GENERATED_PAGES and profiles.GENERATED_PAGE_PATHS name different pages")
"""Pages the build writes into the stage (toc path -> generator of the page's MyST text)."""


# --------------------------------------------------------------------------- build


def build(
    profile: str = "quick",
    *,
    root: str | os.PathLike | None = None,
    output: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    force: bool = False,
    render: bool = True,
    timeout: int | None = None,
    only: Sequence[str | os.PathLike] | None = None,
    precompute: bool = True,
    scheduler: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Stage, execute (cached, parallel), check and render the book.

    Parameters
    ----------
    profile : {"smoke", "quick", "paper"}
        Which ``book/profiles/<profile>.yml`` to use.
    root : path, optional
        Project root (default: :func:`find_root`).
    output : path, optional
        Folder that receives ``_build/{stage,executed,html}`` (default: ``root``).
    n_jobs : int, optional
        Notebooks executed at once (default ``os.cpu_count()``).
    force : bool
        Re-execute every notebook even when its cached copy is current.
    render : bool
        Run Jupyter Book after execution (``False``: execute and check only).
    timeout : int, optional
        Per-cell timeout in seconds (papermill ``execution_timeout``).
    only : sequence of paths, optional
        Execute just these notebooks (always, even when cached). The other pages are still
        rendered: from their current cached execution, else from their last execution under any
        key (an older code or parameter version; logged), else without outputs (logged).
    precompute : bool
        Before any kernel starts, compute in one pool of ``n_jobs`` processes every run the
        notebooks to execute will ask the result store for, as their planners
        (:data:`learning_rules.experiments.PLANNERS`) list them: a run two pages share is
        computed once, the longest runs start first, and no more processes than cores compete
        for the caches. The notebooks then read their runs from the store. ``False``: each
        notebook computes its own runs while it executes (as before).
    scheduler : str, optional
        A dask scheduler address: the precompute pool runs every planned run as one task on that
        cluster (results stored here as each finishes; a rerun resumes), and the kernels' own
        sweeps go there too (``LEARNING_RULES_SCHEDULER``).

    Raises
    ------
    BuildError
        A notebook failed (notebook, cell and traceback in the message), a parameter is invalid,
        an executed notebook holds an error output, or Jupyter Book reported a warning.
    """
    start = time.perf_counter()
    root = find_root(packaged=False) if root is None else Path(root).resolve()
    output = root if output is None else Path(output).resolve()
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    if n_jobs < 1:
        raise BuildError(f"--jobs must be at least 1, got {n_jobs}")
    build_dir = output / "_build"
    stage, executed_dir, failed_dir = build_dir / "stage", build_dir / "executed", build_dir / "failed"

    prof = load_profile(root, profile)
    notebooks = toc_notebooks(root)
    listed = {nb.as_posix() for nb in notebooks}
    for table in (prof.notebooks, prof.datasets):
        for rel in table:
            if rel not in listed:
                raise BuildError(
                    f"{prof.path} names {rel!r}, which is not a notebook of _toc.yml; notebooks: "
                    + ", ".join(sorted(listed))
                )
    selected = None if only is None else _resolve_only(root, only, notebooks)

    # Validate every notebook's parameters before running anything.
    plans = []
    for nb in notebooks:
        params = resolve_parameters(root, prof, nb)
        fingerprint = _dataset_fingerprint(notebook_datasets(root, prof, nb))
        base = notebook_cache_key((root / nb).read_bytes(), params, notebook_code(root / nb), fingerprint)
        key = page_key(base, executed_dir / f"{base}.reads")
        meta = _read_notebook(root / nb).get("metadata", {}).get("learning_rules", {})
        # without a reads log the page was never executed under this base key: no file matches
        target = executed_dir / (f"{key}.ipynb" if key else f"{base}.never-executed")
        plans.append({"nb": nb, "params": params, "base": base, "key": key or base, "target": target,
                      "last": bool(meta.get("run_after_others", False))})

    if selected is None:
        todo = [p for p in plans if force or not p["target"].exists()]
    else:
        todo = [p for p in plans if p["nb"].as_posix() in selected]
    cached = [p["nb"].as_posix() for p in plans if p not in todo and p["target"].exists()]
    log(
        f"profile {profile}: {len(plans)} notebooks, {len(todo)} to execute, "
        f"{len(cached)} unchanged (cached)"
        + ("" if selected is None else f", {len(plans) - len(todo) - len(cached)} not current")
    )
    reports: dict[str, dict] = {}
    failures: list[str] = []
    ipython_dir = _prepare_ipython_dir(root, build_dir)
    stages: dict[str, float] = {}
    calibration = None
    if todo:  # the host's speed now, next to this build's times (learning_rules.calibration)
        from .calibration import calibrate

        t0 = time.perf_counter()
        calibration = calibrate(parity=profile == PAPER_PROFILE, cluster=profile == PAPER_PROFILE)
        stages["calibration"] = time.perf_counter() - t0
        log(f"calibration: {calibration['matmul_seconds']:.3f} s float32 product loop, "
            f"parity epoch {calibration['parity_epoch_seconds']} s, on {calibration['cpu']}")
    pre = None
    if todo and precompute:
        pre = _precompute(root, [p for p in todo if not p["last"]], n_jobs, log, scheduler)
        if pre is not None:
            stages["precompute"] = pre["seconds"]
    t_execute = time.perf_counter()
    if todo:
        # Kernels running side by side share the cores: give each its share of BLAS threads, or
        # OpenBLAS threads oversubscribe the machine (measured: far slower, not just 2x).
        def task(p, workers):
            return {
                "source": str(root / p["nb"]),
                "target": str(executed_dir / f"{p['base']}.executed.ipynb"),
                "reads": str(executed_dir / f"{p['base']}.reads"),
                "failed": str(failed_dir / p["nb"].as_posix().replace("/", "__")),
                "log": str(build_dir / "logs" / (p["nb"].with_suffix(".log").as_posix().replace("/", "__"))),
                "label": p["nb"].as_posix(),
                "parameters": p["params"],
                "timeout": timeout,
                # at least 2 shares even for a single notebook: its own sweep workers need cores
                # too (one DFA run alone: 0.55 s with 1 thread, 5.2 s with 2 under that load)
                "blas_threads": max(1, (os.cpu_count() or 1) // max(workers, 2)),
                "ipython_dir": ipython_dir,
            }

        # Notebooks marked run_after_others (the report, which reads what the chapters stored)
        # start only when every other notebook has finished.
        for phase in ([p for p in todo if not p["last"]], [p for p in todo if p["last"]]):
            if not phase or failures:
                continue
            workers = min(n_jobs, len(phase))
            done, failed = _run_tasks([task(p, workers) for p in phase], workers, log)
            reports.update({r["label"]: r for r in done})
            failures += failed
            # Each executed page is filed under its key, which now includes the code of the
            # experiments it read (its reads log, written by its kernel).
            for p in phase:
                if p["nb"].as_posix() in reports:
                    p["key"] = page_key(p["base"], executed_dir / f"{p['base']}.reads") or p["base"]
                    p["target"] = executed_dir / f"{p['key']}.ipynb"
                    os.replace(executed_dir / f"{p['base']}.executed.ipynb", p["target"])
        stages["notebooks"] = time.perf_counter() - t_execute
    # the entries each current page read, per profile (`learning-rules store export --profile`)
    folder = reads_folder(output, profile)
    for p in plans:
        log_file = executed_dir / f"{p['base']}.reads"
        if p["target"].exists() and log_file.is_file():
            _sync_bytes(log_file.read_bytes(), folder / (p["nb"].with_suffix(".txt").as_posix()
                                                         .replace("/", "__")))

    # latest.json: each notebook's newest execution, what `only=` shows for a page it does not run.
    latest = _latest_index(executed_dir)
    current = {p["nb"].as_posix(): p["key"] for p in plans if p["target"].exists()}
    if current and any(latest.get(k) != v for k, v in current.items()):
        latest.update(current)
        executed_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(executed_dir / "latest.json",
                           (json.dumps(latest, indent=1, sort_keys=True) + "\n").encode())

    # Timings: this build's wall time per notebook and the execution time of what is published.
    timings, stale = [], []
    for p in plans:
        label = p["nb"].as_posix()
        row = {"notebook": label, "profile": profile, "key": p["key"], "seconds": 0.0}
        if label in reports:
            row.update(cache="miss", seconds=round(reports[label]["seconds"], 2),
                       executed_seconds=round(reports[label]["seconds"], 2))
        elif p["target"].exists():
            nb_json = json.loads(p["target"].read_bytes())
            row.update(cache="hit", executed_seconds=_executed_seconds(nb_json))
        else:
            old = executed_dir / f"{latest.get(label, '')}.ipynb"
            if label in latest and old.exists():
                row.update(cache="stale", key=latest[label],
                           executed_seconds=_executed_seconds(json.loads(old.read_bytes())))
                p["target"] = old
            else:
                row.update(cache="none", key="")
                p["target"] = None
            stale.append(label)
        timings.append(row)
    if timings:
        build_dir.mkdir(parents=True, exist_ok=True)
        _write_timings(build_dir / "timings.csv", timings)
    record = build_record(root, output, profile, timings, stages, calibration, pre,
                          time.perf_counter() - start)
    if failures:
        raise BuildError("notebook execution failed:\n" + "\n\n".join(failures))
    if stale:
        log(f"{len(stale)} notebook(s) not executed in this build and not current in the cache, "
            "shown from an older execution or without outputs: " + ", ".join(stale))

    # Stage: pages and assets, then the executed notebooks (checked again before publishing).
    keep: set[Path] = set()
    for rel, src in {**_stage_sources(root), **_mathjax_sources()}.items():
        data = src.read_bytes()
        if rel == Path("_config.yml") and profile != PAPER_PROFILE:
            data = _announce(data, profile)
        _sync_bytes(data, stage / rel)
        keep.add(rel)
    _sync_bytes(build_report_markdown(record).encode("utf-8"), stage / BUILD_REPORT)
    keep.add(BUILD_REPORT)
    toc_pages = {p.as_posix() for p in toc_files(root)}
    for rel, generate in GENERATED_PAGES.items():
        if rel in toc_pages:
            _sync_bytes(generate(root).encode("utf-8"), stage / rel)
            keep.add(Path(rel))
    for p in plans:
        if p["target"] is None:  # only with --only: the source notebook, without outputs
            data = (root / p["nb"]).read_bytes()
        else:
            data = p["target"].read_bytes()
            check_executed(json.loads(data), p["nb"].as_posix())
            if profile != PAPER_PROFILE:  # injected here, never written per page
                data = _with_banner(data, profile_banner(profile, profile_cuts(root, profile, p["nb"])))
        if p["nb"].as_posix() in stale:  # above the profile's banner: the page is not this build's
            data = _with_banner(data, stale_banner(profile, p["target"] is not None))
        _sync_bytes(data, stage / p["nb"])
        keep.add(p["nb"])
    _prune(stage, keep)

    html = None
    if render:
        log("rendering HTML with jupyter-book (warnings are errors) ...")
        html = _render(stage, output, log)
        log(f"open {html / 'index.html'}")
    log(format_timings(timings))
    log(f"timings written to {build_dir / 'timings.csv'}")
    if pre is not None and pre["tasks"]:
        log(f"precompute: {pre['tasks']} run(s) in {pre['seconds']:.1f} s before the notebooks")
    return BuildResult(
        profile, html, [p["nb"].as_posix() for p in todo], cached, time.perf_counter() - start,
        timings=timings, stale=stale, precompute=pre,
    )


def _precompute(root: Path, plans: Sequence[Mapping], n_jobs: int, log: Callable[[str], None],
                scheduler: str | None = None) -> dict | None:
    """Run :func:`learning_rules.experiments.plan_runs` for the notebooks of ``plans`` that have a
    planner, with each notebook's full parameters (its defaults updated with the profile's)."""
    from .experiments import PLANNERS, plan_runs
    from .store import Store

    pages = {}
    for p in plans:
        rel = p["nb"].as_posix()
        if rel in PLANNERS:
            defaults = {name: spec.default for name, spec in notebook_parameters(root / p["nb"]).items()}
            pages[rel] = {**defaults, **p["params"]}
    if not pages:
        return None
    # the pool's workers get one BLAS thread each when n_jobs equals the cores (joblib's loky)
    try:
        return plan_runs(pages, Store(), n_jobs=n_jobs, log=log, scheduler=scheduler)
    except Exception as exc:
        raise BuildError(f"precomputing the runs of {', '.join(pages)} failed: "
                         f"{type(exc).__name__}: {exc}") from exc


def _prepare_ipython_dir(root: Path, build_dir: Path) -> str | None:
    """``_build/ipython`` holding ``profile_default/ipython_kernel_config.py`` copied from the
    project's ``book/_kernel/ipython_kernel_config.py`` (figure format and DPI for every kernel);
    ``None`` when the project has no such file (kernels then use the user's IPython profile)."""
    src = root / KERNEL_CONFIG
    if not src.is_file():
        return None
    folder = build_dir / "ipython"
    _sync_bytes(src.read_bytes(), folder / "profile_default" / "ipython_kernel_config.py")
    return str(folder)


def _run_tasks(tasks: list[dict], workers: int, log: Callable[[str], None]) -> tuple[list[dict], list[str]]:
    """Execute ``tasks`` in a process pool; returns (reports of successes, failure messages).
    After the first failure the tasks not yet started are cancelled."""
    failures: list[str] = []
    done: list[dict] = []
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_execute_one, t) for t in tasks]
        try:
            for future in _progress_bar(cf.as_completed(futures), total=len(futures)):
                if future.cancelled():
                    continue
                report = future.result()
                if report["ok"]:
                    if report.get("retried"):
                        log(f"  {report['label']}: its kernel failed before running a cell "
                            f"({report['retried'][:200]}); ran it again from the start")
                    log(f"  executed {report['label']} in {report['seconds']:.1f} s")
                    done.append(report)
                else:
                    failures.append(report["error"])
                    for other in futures:
                        other.cancel()
        except BaseException:
            for other in futures:
                other.cancel()
            raise
    return done, failures
