"""The install cell: what makes a chapter run top to bottom in Colab, Binder or a bare Jupyter.

A launch button (Colab, Binder) opens the *source* notebook from the repository (Jupyter Book builds
its address from ``repository.url``, ``repository.branch`` and the page's path in ``_config.yml``),
where nothing has installed this package. So every notebook of the toc starts with one code cell,
written here and nowhere else (``learning-rules install-cell``), that

* does nothing, and prints nothing, where ``learning_rules`` is importable (the build, a checkout);
* otherwise pip-installs the package pinned to the book's release, the tag ``v<version>``
  (:func:`install_ref`) of the repository named in ``_config.yml``; the variable
  ``LEARNING_RULES_INSTALL`` (any pip requirement: a wheel, a URL, a fork) replaces that
  requirement, which is how the tests install a locally built wheel.

The cell is tagged ``remove-cell``: the rendered page hides it, the notebook runs it. Datasets
need no cell of their own: the data layer downloads what a page reads into the user cache and
verifies its checksums (``learning_rules.data``) when ``LEARNING_RULES_DATA`` is not set.

A second generated cell follows the ``parameters`` cell: the *profile cell*. The parameters cell
holds the page's classroom setting (the ``quick`` profile's values: seconds to a minute or two of
compute per page on a laptop), and the profile cell loads another profile's values when the reader
names one, so the publication's protocol is one parameter away: ``profile = "paper"`` in the
parameters cell, or ``LEARNING_RULES_PROFILE=paper`` in the environment (:func:`use_profile`). It
changes nothing under ``learning-rules build``, which injects the profile's values itself.

Explained in: ``README.md`` (run a chapter in Colab / Binder / your Jupyter) and
``CONTRIBUTING.md`` (after adding a notebook, run ``learning-rules install-cell``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .profiles import (
    INSTALL_CELL_ID,
    PROFILE_CELL_ID,
    ParameterError,
    _parameters_cell,
    find_root,
    notebook_parameters,
    page_parameters,
    repository_url,
    toc_notebooks,
)

__all__ = [
    "INSTALL_CELL_ID",
    "INSTALL_ENV",
    "PROFILE_CELL_ID",
    "PROFILE_ENV",
    "cell_status",
    "ensure_install_cell",
    "install_cell",
    "install_ref",
    "install_requirement",
    "profile_cell",
    "sync_install_cells",
    "use_profile",
]

#: The variable whose value (a pip requirement) replaces the pinned one in the install cell.
INSTALL_ENV = "LEARNING_RULES_INSTALL"
INSTALL_TAGS = ["remove-cell"]  # Jupyter Book hides the cell; Colab and Jupyter run it
#: The variable that names the profile a page loads outside the build (``paper``, ``smoke``).
PROFILE_ENV = "LEARNING_RULES_PROFILE"

_SOURCE = '''\
# Colab, Binder, a bare Jupyter: install this book's package (pinned to its release) if missing.
try:
    import learning_rules
except ImportError:
    import importlib, os, subprocess, sys
    spec = os.environ.get("{env}",
                          "{requirement}")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", spec])
    importlib.invalidate_caches()
    import learning_rules'''


def install_ref() -> str:
    """The git ref the install cell pins: the tag ``v<version>`` of this package's version, an
    immutable name for the commit the book's release is built from (``_build/build.json`` records
    the exact commit of every build)."""
    from . import __version__

    return f"v{__version__}"


def install_requirement(ref: str, url: str | None = None) -> str:
    """The pip requirement of the package at ``ref``: ``learning-rules @ git+<url>@<ref>``, with
    ``url`` by default ``repository.url`` of ``_config.yml``."""
    url = repository_url(find_root()) if url is None else url.rstrip("/")
    return f"learning-rules @ git+{url}@{ref}"


def install_cell(ref: str | None = None, url: str | None = None) -> dict[str, Any]:
    """The install cell (an nbformat 4.5 code cell, as a dict) pinned to ``ref`` (default
    :func:`install_ref`) of the repository at ``url`` (default ``repository.url``)."""
    requirement = install_requirement(install_ref() if ref is None else ref, url)
    source = _SOURCE.format(env=INSTALL_ENV, requirement=requirement)
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_CELL_ID,
        "metadata": {"tags": list(INSTALL_TAGS)},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


_PROFILE_SOURCE = '''\
# Outside `learning-rules build` the cell above is this page's classroom setting (profile "{default}").
# For the publication's protocol set profile = "paper" there, or {env}=paper, and run on:
# this cell then loads that profile's values for every parameter you left as it was.
from learning_rules.launch import use_profile
use_profile(globals(), "{notebook}")'''


def profile_cell(notebook: str | os.PathLike, default: str = "quick") -> dict[str, Any]:
    """The profile cell of ``notebook`` (its path relative to the project root, as the toc names
    it), an nbformat 4.5 code cell as a dict: it calls :func:`use_profile` right after the
    parameters cell, whose ``profile`` default is ``default``."""
    rel = Path(notebook).as_posix()
    if Path(rel).is_absolute() or ".." in Path(rel).parts or '"' in rel or "\\" in rel:
        raise ValueError(f"profile_cell takes the notebook's path relative to the project root "
                         f"(e.g. 'book/dfa/parity.ipynb'), got {rel!r}")
    source = _PROFILE_SOURCE.format(default=default, env=PROFILE_ENV, notebook=rel)
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": PROFILE_CELL_ID,
        "metadata": {"tags": list(INSTALL_TAGS)},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def use_profile(namespace: MutableMapping[str, Any], notebook: str | os.PathLike,
                root: str | os.PathLike | None = None) -> list[str]:
    """Give the page the parameters of the profile it names: what the profile cell runs.

    ``namespace`` is the notebook's ``globals()`` after its parameters cell (and, under the build
    or papermill, after the injected parameters). The profile is ``namespace["profile"]``; while
    that still equals the parameters cell's default, :data:`PROFILE_ENV` (when set) names it
    instead. Every parameter of the profile's :func:`~learning_rules.profiles.page_parameters`
    whose current value is still the parameters cell's default takes the profile's value; a value
    the reader (or papermill) set stays. Under ``learning-rules build`` this changes nothing: the
    build injects exactly the profile's values (and keeps :data:`PROFILE_ENV` out of its kernels).

    Prints one line naming what changed, nothing when nothing did, and returns the changed names.

    Raises
    ------
    ValueError
        The namespace has no ``profile`` (the cell must run after the parameters cell), the
        profile is not one of ``book/profiles`` (the message lists them), or the notebook's
        parameters cannot be read.
    """
    from .profiles import BuildError
    from .store import canonical_json

    if "profile" not in namespace:
        raise ValueError("use_profile runs after the parameters cell, which assigns `profile`; run "
                         "the notebook from its first cell")
    try:
        base = find_root(root)
        defaults = {k: p.default for k, p in notebook_parameters(base / notebook).items()}
    except BuildError as exc:
        raise ValueError(f"use_profile cannot read the parameters of {notebook}: {exc}") from exc
    chosen = namespace["profile"]
    env = os.environ.get(PROFILE_ENV, "").strip()
    if env and chosen == defaults.get("profile"):
        chosen = env
    if not isinstance(chosen, str) or not chosen:
        raise ValueError(f"profile must be a profile's name (a string such as 'paper'), got {chosen!r}")
    try:
        wanted = page_parameters(chosen, notebook, base)
    except (BuildError, ParameterError) as exc:
        where = f" (from {PROFILE_ENV})" if chosen == env and env != namespace["profile"] else ""
        raise ValueError(f"cannot load profile {chosen!r}{where} for {notebook}: {exc}") from exc
    changed = []
    for name, value in wanted.items():
        if name not in namespace or name not in defaults:
            continue
        current = canonical_json(namespace[name])
        if current == canonical_json(defaults[name]) and current != canonical_json(value):
            namespace[name] = value
            changed.append(name)
    if changed:
        shown = ", ".join(f"{n} = {namespace[n]!r}" for n in changed if n != "profile")
        print(f"profile {chosen!r}: {shown or 'no other parameter differs'}")
    return changed


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _same_cell(cell: Mapping, wanted: Mapping) -> bool:
    return (cell.get("cell_type") == wanted["cell_type"]
            and _text(cell.get("source")) == _text(wanted["source"])
            and list((cell.get("metadata") or {}).get("tags") or []) == wanted["metadata"]["tags"]
            and not cell.get("outputs") and cell.get("execution_count") is None)


def cell_status(nb: Mapping, cell: Mapping, at: int = 0) -> str:
    """``"ok"`` when ``cell`` is cell ``at`` of ``nb`` (the install cell: the first) and its only
    cell with that id, else ``"missing"``, ``"stale"`` (another source, tags or outputs) or
    ``"misplaced"`` (elsewhere, or repeated)."""
    cells = list(nb.get("cells", []))
    found = [i for i, c in enumerate(cells) if c.get("id") == cell["id"]]
    if not found:
        return "missing"
    if found != [at]:
        return "misplaced"
    return "ok" if _same_cell(cells[at], cell) else "stale"


def _place(nb: MutableMapping, wanted: Mapping, at: int) -> bool:
    """Make ``wanted`` cell ``at`` of ``nb`` counted among the *other* cells (any cell with its id
    is removed first). Returns whether ``nb`` changed."""
    others = [c for c in nb.get("cells", []) if c.get("id") != wanted["id"]]
    cell = copy.deepcopy(dict(wanted))
    if type(nb) is not dict:  # an nbformat node (nbformat.read): a node, its source one string
        import nbformat

        cell = nbformat.from_dict({**cell, "source": _text(cell["source"])})
    nb["cells"] = [*others[:at], cell, *others[at:]]
    return True


def ensure_install_cell(nb: MutableMapping, ref: str | None = None, url: str | None = None,
                        cell: Mapping | None = None) -> bool:
    """Make the install cell ``nb``'s first cell (``nb`` is a notebook as a dict or an nbformat
    node): replace the cell with its id wherever it is, or insert it. Idempotent; the other cells
    are untouched. Returns whether ``nb`` changed."""
    wanted = dict(install_cell(ref, url) if cell is None else cell)
    return cell_status(nb, wanted) != "ok" and _place(nb, wanted, 0)


def _profile_slot(nb: Mapping) -> int:
    """Where the profile cell belongs: right after the parameters cell (counted with the
    profile cell itself left out)."""
    others = {"cells": [c for c in nb.get("cells", []) if c.get("id") != PROFILE_CELL_ID]}
    found = _parameters_cell(others)
    if found is None:
        raise ParameterError("the notebook has no cell tagged 'parameters', so it has no place for "
                             "the profile cell; tag its first code cell 'parameters'")
    return found[0] + 1


def ensure_profile_cell(nb: MutableMapping, cell: Mapping) -> bool:
    """Make ``cell`` (:func:`profile_cell`) the cell right after ``nb``'s parameters cell: replace
    the cell with its id wherever it is, or insert it. Idempotent. Returns whether ``nb`` changed."""
    at = _profile_slot(nb)
    return cell_status(nb, cell, at) != "ok" and _place(nb, cell, at)


def _dumps(nb: Mapping) -> str:
    """A notebook as Jupyter and nbformat write it (so an untouched cell keeps its bytes)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def sync_install_cells(root: str | os.PathLike | None = None, check: bool = False,
                       ref: str | None = None) -> dict[Path, str]:
    """``learning-rules install-cell [--check]``: the two generated cells of every toc notebook,
    the install cell (first) and the profile cell (after the parameters cell).

    Returns ``{notebook (relative to root): status before}``: ``"ok"``, or what was wrong, e.g.
    ``"install cell stale"``, ``"install cell missing, profile cell missing"``
    (:func:`cell_status`). Unless ``check``, every notebook not ``"ok"`` is rewritten with the
    current cells in place (its other cells unchanged); with ``check`` nothing is written.
    """
    root = find_root(root, packaged=False)  # it rewrites the notebooks: a checkout only
    wanted = install_cell(ref, repository_url(root))
    statuses: dict[Path, str] = {}
    for rel in toc_notebooks(root):
        path = root / rel
        nb = json.loads(path.read_text(encoding="utf-8"))
        default = notebook_parameters(path).get("profile")
        profile = profile_cell(rel, default.default if default is not None else "quick")
        wrong = [f"install cell {st}" for st in [cell_status(nb, wanted)] if st != "ok"]
        changed = ensure_install_cell(nb, cell=wanted)
        wrong += [f"profile cell {st}" for st in [cell_status(nb, profile, _profile_slot(nb))]
                  if st != "ok"]
        changed = ensure_profile_cell(nb, profile) or changed
        statuses[rel] = ", ".join(wrong) or "ok"
        if changed and not check:
            path.write_text(_dumps(nb), encoding="utf-8")
    return statuses
