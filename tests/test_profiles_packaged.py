"""A page outside a checkout: the wheel carries a copy of the book's files that pages read at run
time (``learning_rules/_book/``, written by ``setup.py`` from ``_book_copy.py``), and
``profiles.find_root`` falls back to it when no checkout is found; a checkout always wins.

Here the installed package is simulated: ``profiles.PACKAGE_DIR`` (where ``find_root`` searches
upward from) points into a temporary "site-packages" holding the copy, and the working directory
is a folder outside any checkout (Colab's ``/content``). The real wheel is checked by the opt-in
fresh-venv test of ``tests/test_launch.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from learning_rules import _book_copy, book, launch, profiles, report
from learning_rules.profiles import BuildError

ROOT = Path(__file__).resolve().parents[1]
#: The pages whose ledger cells read the profiles (``report.chapter_misses``, ``page_parameters``).
LEDGER_PAGES = {"dfa_parity": "book/dfa/parity.ipynb", "ablation": "book/foundations/ablation.ipynb",
                "dfa_synthetic": "book/dfa/synthetic.ipynb",
                "dual_weight_tables": "book/dual-weight/experiments.ipynb"}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The package as a wheel installs it, with its copy of the book, run from outside a checkout."""
    package = tmp_path / "site-packages" / "learning_rules"
    _book_copy.copy_book(ROOT, package / _book_copy.PACKAGED)
    monkeypatch.setattr(profiles, "PACKAGE_DIR", package)
    monkeypatch.setattr(profiles, "PACKAGED_ROOT", package / _book_copy.PACKAGED)
    content = tmp_path / "content"
    content.mkdir()
    monkeypatch.chdir(content)
    return package / _book_copy.PACKAGED


# --------------------------------------------------------------------------- what the copy holds


def test_the_copy_holds_every_profile_toc_page_and_ledger_a_page_reads():
    files = set(_book_copy.book_files(ROOT))
    wanted = {Path("_toc.yml"), Path("_config.yml")}
    wanted |= {p.relative_to(ROOT) for p in (ROOT / "book" / "profiles").glob("*.yml")}
    wanted |= {p.relative_to(ROOT) for p in (ROOT / "book" / "profiles").glob("*.d/*.yml")}
    wanted |= {p.relative_to(ROOT) for p in (ROOT / "reproduction").glob("*.csv")}
    wanted |= {p for p in profiles.toc_files(ROOT) if (ROOT / p).is_file()}  # not the generated pages
    assert wanted <= files, sorted(wanted - files)
    assert Path("reproduction/paper.csv") in files  # the report page's accepted ledger
    assert not [f for f in files if "_build" in f.parts or ".ipynb_checkpoints" in f.parts]


def test_the_copy_is_the_books_files_byte_for_byte_and_drops_stale_ones(tmp_path):
    dest = tmp_path / "_book"
    (dest / "book").mkdir(parents=True)
    (dest / "book" / "deleted-page.ipynb").write_text("{}")  # from an earlier build
    copied = _book_copy.copy_book(ROOT, dest)
    assert copied == _book_copy.book_files(ROOT)
    assert sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file()) == copied
    for rel in copied:
        assert (dest / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_a_tree_without_the_book_builds_no_wheel(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    with pytest.raises(FileNotFoundError, match="build it from the project checkout"):
        _book_copy.book_files(tmp_path)


def test_the_sdist_carries_what_the_copy_is_made_from():
    """``MANIFEST.in`` includes every file of the copy, so a wheel built from the sdist has it."""
    filelist = pytest.importorskip("setuptools._distutils.filelist")
    listing = filelist.FileList()
    candidates = {p.relative_to(ROOT).as_posix() for folder in ("book", "reproduction")
                  for p in (ROOT / folder).rglob("*") if p.is_file()}
    listing.set_allfiles(sorted(candidates | {"_toc.yml", "_config.yml", "setup.py"}))
    for line in (ROOT / "MANIFEST.in").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            listing.process_template_line(line)
    included = set(listing.files)
    missing = [f.as_posix() for f in _book_copy.book_files(ROOT) if f.as_posix() not in included]
    assert not missing, f"MANIFEST.in leaves out {missing}: add them beside _book_copy.PATTERNS"
    assert "setup.py" in included and not any("/_build/" in f for f in included)


def _setup_commands(monkeypatch) -> dict:
    """The command classes ``setup.py`` gives ``setup()`` (run with ``setup`` captured)."""
    import runpy

    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    runpy.run_path(str(ROOT / "setup.py"), run_name="setup")
    return captured["cmdclass"]


@pytest.mark.parametrize("editable", [False, True])
def test_setup_pys_build_py_copies_the_book_into_the_build_and_never_into_src(tmp_path, monkeypatch, editable):
    from setuptools import Distribution
    from setuptools.command.build_py import build_py

    command = _setup_commands(monkeypatch)["build_py"](Distribution({"name": "learning-rules"}))
    monkeypatch.setattr(build_py, "run", lambda self: None)  # the package's modules: setuptools' job
    command.build_lib, command.editable_mode = str(tmp_path / "lib"), editable
    command.run()
    copy = tmp_path / "lib" / "learning_rules" / _book_copy.PACKAGED
    if editable:  # an editable install reads the checkout itself
        assert not copy.exists()
    else:
        assert sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file()) == _book_copy.book_files(ROOT)
    assert not (ROOT / "src" / "learning_rules" / _book_copy.PACKAGED).exists()  # one source of truth


# --------------------------------------------------------------------------- find_root


def test_outside_a_checkout_find_root_falls_back_to_the_copy(installed):
    assert profiles.find_root() == installed
    assert book.find_root() == installed


def test_a_checkout_wins_over_the_copy(installed, monkeypatch):
    monkeypatch.chdir(ROOT / "book" / "dfa")  # the working directory is in a checkout
    assert profiles.find_root() == ROOT
    assert profiles.find_root(ROOT) == ROOT
    monkeypatch.chdir(installed.parent.parent.parent / "content")
    monkeypatch.setattr(profiles, "PACKAGE_DIR", ROOT / "src" / "learning_rules")  # an editable install
    assert profiles.find_root() == ROOT


def test_without_checkout_or_copy_the_error_says_to_run_from_a_checkout(installed, monkeypatch):
    monkeypatch.setattr(profiles, "PACKAGED_ROOT", installed.parent / "nothing")
    with pytest.raises(BuildError, match="cannot find the book.*run the command from the project checkout"):
        profiles.find_root()


def test_commands_that_write_into_the_book_refuse_the_copy(installed):
    with pytest.raises(BuildError, match="writes into the book"):
        profiles.find_root(packaged=False)
    with pytest.raises(BuildError, match="writes into the book"):
        launch.sync_install_cells()  # it would rewrite the notebooks
    with pytest.raises(BuildError, match="writes into the book"):
        book.build("smoke", log=lambda s: None)
    with pytest.raises(BuildError, match="writes into the book"):
        book.read_timings()


# --------------------------------------------------------------------------- what the pages call


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize("page", sorted(set(LEDGER_PAGES.values())))
def test_page_parameters_outside_a_checkout_equal_the_checkouts(installed, page, profile):
    assert profiles.page_parameters(profile, page) == profiles.page_parameters(profile, page, ROOT)


def test_the_report_page_reads_the_toc_config_and_accepted_ledger_from_the_copy(installed):
    root = book.find_root()
    assert book.toc_files(root) == book.toc_files(ROOT)
    assert profiles.repository_url(root) == profiles.repository_url(ROOT)
    assert report.committed_ledger(root).read_bytes() == report.committed_ledger(ROOT).read_bytes()
    assert launch.install_cell() == launch.install_cell(url=profiles.repository_url(ROOT))


def test_protocol_cuts_outside_a_checkout_equal_the_checkouts(installed, monkeypatch):
    pages = list(LEDGER_PAGES.values())
    outside = report.protocol_cuts("smoke", pages)
    assert outside  # the smoke profile cuts the protocol: its cells are never counted as reproduced
    monkeypatch.setattr(profiles, "PACKAGE_DIR", ROOT / "src" / "learning_rules")
    assert report.protocol_cuts("smoke", pages) == outside


@pytest.mark.parametrize("name", sorted(LEDGER_PAGES))
def test_chapter_misses_outside_a_checkout_reports_what_is_not_stored(installed, name, tmp_path, monkeypatch):
    """The call that stopped parity, ablation, synthetic and experiments ("cannot find the book"):
    with nothing stored it now says why no cell was compared."""
    from learning_rules.store import READONLY_ENV, STORE_ENV

    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store"))
    monkeypatch.delenv(READONLY_ENV, raising=False)
    misses = report.chapter_misses(name, "smoke")
    assert misses.empty and misses.attrs["profile"] == "smoke"
    assert "results not stored yet" in misses.attrs["reason"]
    assert "None of" in report.misses_markdown(misses)


def test_no_module_reads_the_book_by_a_path_of_its_own():
    """A module that finds the book by ``Path(__file__).parents[...]`` above the package reads a
    folder that does not exist in a wheel (``site-packages/..``); it must ask ``profiles.find_root``
    (a checkout, else the wheel's copy)."""
    import re

    package = ROOT / "src" / "learning_rules"
    bad = []
    for path in sorted(package.rglob("*.py")):
        depth = len(path.relative_to(package).parts) - 1  # parents[depth] is the package itself
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in re.finditer(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]", line):
                if int(match.group(1)) > depth:
                    bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bad, ("these lines reach above the installed package; use "
                     "`find_root(Path(__file__).resolve().parent)` (learning_rules.profiles):\n"
                     + "\n".join(bad))
