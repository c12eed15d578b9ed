"""The package's import graph has no circle, and nothing below the top imports the top.

Every ``import`` of a package module counts, at module level or inside a function (a lazy import
is still a dependency). A module that names a package's submodule depends on that file; one that
takes a name from a package depends on its ``__init__``. Loading the experiments package by name
(``catalog.load``, a plugin import) is not an import statement and is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "learning_rules"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: Modules that only the command line, the build and the report sit on: no module of the
#: computations (experiments, engine, data, ...) may import them.
TOP = {"cli", "book", "report", "student", "launch", "bundle"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports (dotted, relative to the package; "" = its root)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1:])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                base = node.module[len(PACKAGE) + 1:]
            else:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_reader_sees_the_graph_it_should():
    graph = _graph()
    assert "catalog" in graph["fingerprint"] and "fingerprint" in graph["store"]
    assert "experiments.ablation" in graph["experiments.ablation_claims"]
    assert "engine" in graph["training"] or "training" in graph["engine"]


def test_no_import_circle():
    assert _circles(_graph()) == []


def test_a_circle_would_be_found():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_below_the_top_imports_the_top():
    graph = _graph()
    below = [m for m in graph if m.split(".")[0] not in TOP and m != ""]
    upward = {m: sorted(graph[m] & TOP) for m in below if graph[m] & TOP}
    assert upward == {}
