"""Build hook (the configuration itself is in pyproject.toml): the wheel carries a copy of the book's
files that a page reads at run time (profiles, the notebooks' parameters cells, the toc, the
accepted ledger), so a chapter runs outside a checkout (Colab, Binder, a bare Jupyter).

The files under ``book/``, ``_toc.yml``, ``_config.yml`` and ``reproduction/`` stay the only
originals: ``build_py`` copies them into ``learning_rules/_book/`` of the build, never into ``src/``
(``src/learning_rules/_book_copy.py`` says which files and why). An editable install gets no copy:
it reads the checkout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _book_copy():
    """``learning_rules._book_copy``, loaded by path (the package's dependencies are not installed
    in the build environment; that module uses the standard library only)."""
    spec = importlib.util.spec_from_file_location("_book_copy", HERE / "src" / "learning_rules" / "_book_copy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class build_py_with_book(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        copy = _book_copy()
        files = copy.copy_book(HERE, Path(self.build_lib) / "learning_rules" / copy.PACKAGED)
        self.announce(f"copied {len(files)} book files into learning_rules/{copy.PACKAGED}", level=2)


setup(cmdclass={"build_py": build_py_with_book})
