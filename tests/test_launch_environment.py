"""What a reader's launch button gets: Binder builds binder/environment.yml (it takes precedence over
the root environment.yml), which installs the package and what the chapters import, without the
developer's book and test extras."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    return [line for dep in env["dependencies"] if isinstance(dep, dict) for line in dep.get("pip", [])]


def test_binder_installs_the_package_without_the_test_extras():
    lines = _pip_lines(ROOT / "binder" / "environment.yml")
    assert lines == ["."], lines  # the package, base dependencies only
    assert not any("test" in line or "playwright" in line or "dask" in line for line in lines)
    # the developer's environment keeps its extras (make test needs them)
    assert any("[book,test]" in line for line in _pip_lines(ROOT / "environment.yml"))


def _third_party_imports(nb_path: Path) -> set[str]:
    import nbformat

    names = set()
    for cell in nbformat.read(nb_path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_chapter_import_is_a_base_dependency_or_the_standard_library():
    """A chapter launched on Binder or Colab must not need the book or test extras."""
    import sys

    from learning_rules.profiles import toc_notebooks

    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = ["):text.index("]", text.index("dependencies = ["))]
    base = {re.split(r"[<>=\[ ]", d.strip().strip('",'))[0].lower().replace("-", "_")
            for d in block.splitlines()[1:] if d.strip().startswith('"')}
    provided = base | {"sklearn", "yaml", "learning_rules", "IPython"}  # import names; Jupyter gives IPython
    for nb in toc_notebooks(ROOT):
        missing = {n for n in _third_party_imports(ROOT / nb)
                   if n not in sys.stdlib_module_names and n.lower() not in provided and n not in provided}
        assert not missing, f"{nb} imports {sorted(missing)}, which the launch environment lacks"
