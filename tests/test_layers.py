"""The package's layers: the chapters (``experiments/``) never import the build pipeline, the
report or the command line, and the low-level modules they use import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "learning_rules"


def _imports(path: Path) -> set[str]:
    """Absolute names of the package modules ``path`` imports (any depth, any function)."""
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = module[:-1] if path.name != "__init__.py" else module[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n for n in found if n.startswith("learning_rules")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "experiments").glob("*.py")), ids=lambda p: p.name)
def test_chapters_do_not_import_the_build_the_cli_or_the_report(path):
    bad = {n for n in _imports(path) if n.split(".")[1:2] in (["book"], ["cli"], ["report"])}
    assert not bad, f"{path.name} imports {sorted(bad)}; use learning_rules.profiles / cells instead"


@pytest.mark.parametrize("name", ["profiles.py", "cells.py"])
def test_low_level_modules_import_nothing_above_them(name):
    above = {"book", "cli", "report", "experiments", "student", "bundle"}
    bad = {n for n in _imports(PACKAGE / name) if n.split(".")[1:2] and n.split(".")[1] in above}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_the_scan_sees_relative_imports():
    assert "learning_rules.profiles.page_parameters" in _imports(PACKAGE / "experiments" / "ablation.py")


def test_every_registered_run_computes_with_one_blas_thread():
    """A product's last bits depend on its thread count: a run recomputed in a plain process (the
    CLI, ``store verify``) must use the single thread the build's workers use."""
    from learning_rules import report
    from learning_rules.experiments import EXPERIMENTS

    report.discover_reproductions()
    missing = [name for name, exp in EXPERIMENTS.items() if not getattr(exp.run, "one_blas_thread", False)]
    assert not missing, f"register these runs with @one_blas_thread: {missing}"


def test_one_blas_thread_limits_the_threads_and_returns_the_result():
    from threadpoolctl import threadpool_info

    from learning_rules.experiments import one_blas_thread

    @one_blas_thread
    def threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    assert threads() <= {1}
