"""The book's files a page reads at run time, and the copy of them the wheel carries.

A chapter opened outside a checkout (Colab, Binder, a bare Jupyter: the install cell of
:mod:`learning_rules.launch` installed the wheel) still reads some of the book's own files: the
profiles (``book/profiles/<profile>.yml`` and ``<profile>.d/*.yml``) and the defaults of the
notebooks' ``parameters`` cells (:func:`learning_rules.profiles.page_parameters`, which the ledger
code of a chapter calls), ``_toc.yml`` and ``_config.yml`` (the report page's links) and the
accepted ledger ``reproduction/*.csv`` (the report page). The wheel carries a copy of exactly these
under ``learning_rules/_book/``, laid out as in the checkout, and
:func:`learning_rules.profiles.find_root` falls back to it when no checkout is found.

There is one source of truth: the files of the checkout. The copy is never committed; ``setup.py``
writes it into the wheel at build time (:func:`copy_book`, called by its ``build_py``), and
``MANIFEST.in`` puts the same files into the sdist, so a wheel built from the sdist carries them too.
An editable install gets no copy: it reads the checkout itself.

Standard library only: ``setup.py`` loads this file by path in a build environment that holds only
setuptools.

Explained in: ``CONTRIBUTING.md`` (a page outside a checkout).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["PACKAGED", "REQUIRED", "book_files", "copy_book"]

#: The folder, inside the installed package, that holds the copy.
PACKAGED = "_book"

#: Globs, relative to the project root, of the files the copy holds.
PATTERNS = (
    "_toc.yml",
    "_config.yml",
    "book/**/*.ipynb",             # the notebooks: their parameters cells' defaults, their metadata
    "book/**/*.md",                # the other pages of the toc (the report page lists the toc)
    "book/profiles/*.yml",         # the profiles ...
    "book/profiles/*.d/*.yml",     # ... and their chapter fragments
    "reproduction/*.csv",          # the accepted ledger (the report page)
)
#: Files without which the copy is useless: a build that lacks them fails.
REQUIRED = ("_toc.yml", "_config.yml", "book/profiles/smoke.yml", "book/profiles/quick.yml",
            "book/profiles/paper.yml")


def _skipped(rel: Path) -> bool:
    """Build outputs, checkpoints and the book's private folders (``_build``, ``_static``, ...)."""
    return any(part.startswith(("_", ".")) for part in rel.parts[1:-1])


def book_files(root: str | os.PathLike) -> list[Path]:
    """The files of :data:`PATTERNS` under ``root``, relative to it, sorted.

    Raises
    ------
    FileNotFoundError
        A file of :data:`REQUIRED` is missing (``root`` is not the project checkout or its sdist).
    """
    root = Path(root)
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} lacks {', '.join(missing)}: the wheel carries a copy of the book's profiles "
            "and pages, so build it from the project checkout (or its sdist)")
    found = {p.relative_to(root) for pattern in PATTERNS for p in root.glob(pattern) if p.is_file()}
    return sorted(rel for rel in found if not _skipped(rel))


def copy_book(root: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Replace ``dest`` with a copy of :func:`book_files` of ``root`` (same relative paths, same
    bytes). Returns the copied paths, relative to ``dest``."""
    root, dest = Path(root), Path(dest)
    files = book_files(root)
    if dest.exists():
        shutil.rmtree(dest)  # a file deleted from the book leaves no stale copy behind
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest / rel)
    return files
