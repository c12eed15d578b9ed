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

from .profiles import INSTALL_CELL_ID, find_root, repository_url, toc_notebooks

__all__ = [
    "INSTALL_CELL_ID",
    "INSTALL_ENV",
    "cell_status",
    "ensure_install_cell",
    "install_cell",
    "install_ref",
    "install_requirement",
    "sync_install_cells",
]

#: The variable whose value (a pip requirement) replaces the pinned one in the install cell.
INSTALL_ENV = "LEARNING_RULES_INSTALL"
INSTALL_TAGS = ["remove-cell"]  # Jupyter Book hides the cell; Colab and Jupyter run it

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


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _same_cell(cell: Mapping, wanted: Mapping) -> bool:
    return (cell.get("cell_type") == wanted["cell_type"]
            and _text(cell.get("source")) == _text(wanted["source"])
            and list((cell.get("metadata") or {}).get("tags") or []) == wanted["metadata"]["tags"]
            and not cell.get("outputs") and cell.get("execution_count") is None)


def cell_status(nb: Mapping, cell: Mapping) -> str:
    """``"ok"`` when ``cell`` is ``nb``'s first cell and its only cell with that id, else
    ``"missing"``, ``"stale"`` (another source, tags or outputs) or ``"misplaced"`` (not first,
    or repeated)."""
    cells = list(nb.get("cells", []))
    found = [i for i, c in enumerate(cells) if c.get("id") == cell["id"]]
    if not found:
        return "missing"
    if found != [0]:
        return "misplaced"
    return "ok" if _same_cell(cells[0], cell) else "stale"


def ensure_install_cell(nb: MutableMapping, ref: str | None = None, url: str | None = None,
                        cell: Mapping | None = None) -> bool:
    """Make the install cell ``nb``'s first cell (``nb`` is a notebook as a dict or an nbformat
    node): replace the cell with its id wherever it is, or insert it. Idempotent; the other cells
    are untouched. Returns whether ``nb`` changed."""
    wanted = dict(install_cell(ref, url) if cell is None else cell)
    if cell_status(nb, wanted) == "ok":
        return False
    others = [c for c in nb.get("cells", []) if c.get("id") != wanted["id"]]
    first = copy.deepcopy(wanted)
    if type(nb) is not dict:  # an nbformat node (nbformat.read): a node, its source one string
        import nbformat

        first = nbformat.from_dict({**first, "source": _text(first["source"])})
    nb["cells"] = [first, *others]
    return True


def _dumps(nb: Mapping) -> str:
    """A notebook as Jupyter and nbformat write it (so an untouched cell keeps its bytes)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def sync_install_cells(root: str | os.PathLike | None = None, check: bool = False,
                       ref: str | None = None) -> dict[Path, str]:
    """``learning-rules install-cell [--check]``: the install cell of every notebook of the toc.

    Returns ``{notebook (relative to root): status before}`` (:func:`cell_status`). Unless
    ``check``, every notebook whose status is not ``"ok"`` is rewritten with the current cell
    first (its other cells unchanged); with ``check`` nothing is written.
    """
    root = find_root(root, packaged=False)  # it rewrites the notebooks: a checkout only
    wanted = install_cell(ref, repository_url(root))
    statuses: dict[Path, str] = {}
    for rel in toc_notebooks(root):
        path = root / rel
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        statuses[rel] = cell_status(nb, wanted)
        if not check and ensure_install_cell(nb, cell=wanted):
            path.write_text(_dumps(nb), encoding="utf-8")
    return statuses
