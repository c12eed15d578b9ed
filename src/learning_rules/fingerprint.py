"""Which package code a result depends on: the static closure of the definitions a function uses.

A stored result must be recomputed when, and only when, code that *computes* it changes: a kernel,
a credit or update rule, an optimizer, an initializer, a dataset parser or checksum, the
experiment's own run function. Editing a plotting function, the reproduction report, the book
pipeline or the command line must not throw away hours of runs. So a result's key holds the
fingerprint of the code reachable from its experiment's ``run`` function (and its config class),
found statically, without importing or running anything:

* Every module of the package is parsed once. Its **units** are its top-level definitions
  (functions, classes, assignments; a class is one unit with its methods) and its other top-level
  statements (``ACTIVATIONS.register("relu", ReLU())``, a registration loop).
* A unit **uses** every package unit its code names: a bare name (looked up in the function's own
  imports, then the module's definitions and imports, re-exports followed to the defining module),
  or an attribute path through a module (``_kernels.dfa_step``, ``F.gradient_flow``). A module
  named without an attribute (``getattr(_kernels, name)``) is used whole. Annotations are skipped
  (they are not executed).
* **Registrations** close the gap that lookups by name leave (``OPTIMIZERS["adam"]``): a top-level
  statement, or a definition's decorators, that reach a module-level object (a registry) *register
  into* it; whoever uses the registry also uses everything registered into it.
* The fingerprint of a set of roots is the sha256 of every unit in their closure, each as its
  module, name and token stream, with comments, blank lines, docstrings and spacing removed, so a
  reworded docstring or a re-wrapped line changes nothing, and the token stream is the same on
  every Python version.

Dataset checksums are pinned in :mod:`learning_rules.data.registry`, which every run that reads
data reaches, so a key also changes when the data a run reads would. What static analysis cannot
see (code called through an object built outside the package, ``eval``) is what
``learning-rules store verify`` is for: it recomputes stored results and compares them bit for bit.

Explained in: ``book/rebuild.md`` (what a rebuild recomputes) and ``CONTRIBUTING.md``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import os
import token
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog

#: Method names whose call on a module-level object writes into it rather than reading it.
_WRITES = frozenset({"register", "append", "extend", "add", "update", "setdefault", "__setitem__"})

__all__ = [
    "CodeIndex",
    "Unit",
    "code_index",
    "experiment_fingerprint",
    "experiment_units",
    "notebook_fingerprint",
    "notebook_units",
    "package_hash",
    "store_code",
]

#: Modules whose definitions are hashed where used but whose own uses are not followed: the key
#: machinery, which looks experiments up by name to key their results, not to compute them.
OPAQUE_MODULES = frozenset({"fingerprint"})

#: Units left out of every closure: registration decorators, which record a function in a registry
#: and return it unchanged (``tests/test_fingerprint.py`` checks that they do), so no result
#: depends on their code, and editing them (a new field of ``Experiment``) must not throw every
#: stored result away.
EXCLUDED_UNITS = frozenset({("experiments", "register_experiment"),
                            ("experiments", "register_planner"),
                            ("experiments", "register_artifact")})
#: Modules left out of every closure: progress bars, which wrap an iterable and yield it unchanged.
EXCLUDED_MODULES = frozenset({"_progress"})

PACKAGE = "learning_rules"
PACKAGE_DIR = Path(__file__).resolve().parent


def package_hash(package_dir: str | os.PathLike | None = None) -> str:
    """sha256 of the package's code and data: every ``*.py`` file and the transcribed published
    numbers ``reference/*.csv`` (relative path and bytes, sorted by path).

    Parameters
    ----------
    package_dir : path, optional
        The package directory; defaults to the installed ``learning_rules``.

    Returns
    -------
    str
        64 hex digits; changes when any source file is added, removed, renamed or edited.
    """
    base = Path(package_dir) if package_dir is not None else PACKAGE_DIR
    digest = hashlib.sha256()
    files = [*base.rglob("*.py"), *base.glob("reference/*.csv")]
    for path in sorted(files, key=lambda p: p.relative_to(base).as_posix()):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(base).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(rel).to_bytes(8, "little") + rel)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


#: A unit: (module, name). ``module`` is dotted relative to the package ("" is the package's
#: ``__init__``); ``name`` is a top-level name, or ``"#<n>"`` for the module's n-th top-level
#: statement that defines no name (numbered in order, not by line, so that editing a function
#: above a registration does not rename it).
Unit = tuple[str, str]


@dataclass
class _Module:
    name: str
    path: Path
    is_package: bool
    source: str
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    stmts: dict[str, ast.stmt] = field(default_factory=dict)  # anonymous top-level statements
    imports: dict[str, tuple] = field(default_factory=dict)
    star: list[str] = field(default_factory=list)
    _tokens: list[tokenize.TokenInfo] | None = None

    @property
    def tokens(self) -> list[tokenize.TokenInfo]:
        if self._tokens is None:
            self._tokens = list(tokenize.generate_tokens(io.StringIO(self.source).readline))
        return self._tokens


def _flatten(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, descending into module-level ``if``/``try``/``with`` blocks."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _flatten(node.body)
            yield from _flatten(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _flatten(node.body)
            for handler in node.handlers:
                yield from _flatten(handler.body)
            yield from _flatten(node.orelse)
            yield from _flatten(node.finalbody)
        elif isinstance(node, ast.With):
            yield from _flatten(node.body)
        else:
            yield node


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    return []


class CodeIndex:
    """The parsed package: units, what each uses, and fingerprints of closures.

    Parameters
    ----------
    package_dir : path, optional
        The package folder (default: the installed ``learning_rules``); tests pass an edited copy.
    """

    def __init__(self, package_dir: str | os.PathLike | None = None):
        self.package_dir = Path(package_dir) if package_dir is not None else PACKAGE_DIR
        self.modules: dict[str, _Module] = {}
        for path in sorted(self.package_dir.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(self.package_dir).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            name = ".".join(rel[:-1] if is_package else rel)
            self.modules[name] = self._parse(name, path, is_package)
        self._uses: dict[Unit, dict[Unit, bool]] = {}
        self._registered: dict[Unit, set[Unit]] | None = None
        self._digests: dict[Unit, bytes] = {}

    # ------------------------------------------------------------------ parsing
    def _parse(self, name: str, path: Path, is_package: bool) -> _Module:
        source = path.read_text(encoding="utf-8")
        mod = _Module(name, path, is_package, source)
        tree = ast.parse(source, filename=str(path))
        for node in _flatten(tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                mod.defs.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n for t in targets for n in _target_names(t)]
                if names:
                    for n in names:
                        mod.defs.setdefault(n, []).append(node)
                else:
                    mod.stmts[f"#{len(mod.stmts)}"] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self._bind_imports(mod, node, mod.imports)
            else:
                mod.stmts[f"#{len(mod.stmts)}"] = node
        return mod

    def _base(self, mod: _Module, level: int, module: str | None) -> str | None:
        """The package-relative module an import names, or None when it is outside the package."""
        if level == 0:
            if module is None or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
                return None
            return module[len(PACKAGE) + 1:] if module != PACKAGE else ""
        parts = mod.name.split(".") if mod.name else []
        if not mod.is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
        if module:
            parts = [*parts, *module.split(".")]
        return ".".join(parts)

    def _bind_imports(self, mod: _Module, node: ast.stmt, table: dict[str, tuple]) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                base = self._base(mod, 0, alias.name)
                if base is None:
                    continue
                if alias.asname:
                    table[alias.asname] = ("module", base)
                else:  # `import learning_rules.x` binds `learning_rules`
                    table[alias.name.split(".")[0]] = ("module", "")
            return
        assert isinstance(node, ast.ImportFrom)
        base = self._base(mod, node.level, node.module)
        if base is None:
            return
        for alias in node.names:
            if alias.name == "*":
                mod.star.append(base)
                continue
            sub = f"{base}.{alias.name}" if base else alias.name
            if sub in self.modules or self._is_module_file(sub):
                table[alias.asname or alias.name] = ("module", sub)
            else:
                table[alias.asname or alias.name] = ("attr", base, alias.name)

    def _is_module_file(self, dotted: str) -> bool:
        path = self.package_dir.joinpath(*dotted.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    # ------------------------------------------------------------------ resolution
    def _resolve_attr(self, module: str, name: str, seen: frozenset = frozenset()) -> tuple:
        """What ``module.name`` is: ("unit", (module, name)), ("module", sub) or ("whole", module)."""
        if (module, name) in seen or module not in self.modules:
            return ("none",)
        seen = seen | {(module, name)}
        mod = self.modules[module]
        sub = f"{module}.{name}" if module else name
        if sub in self.modules:
            return ("module", sub)
        if name in mod.defs:
            return ("unit", (module, name))
        if name in mod.imports:
            return self._follow(mod.imports[name], seen)
        for base in mod.star:
            found = self._resolve_attr(base, name, seen)
            if found[0] != "none":
                return found
        return ("whole", module)  # unknown attribute (set at run time): the module as a whole

    def _follow(self, binding: tuple, seen: frozenset = frozenset()) -> tuple:
        if binding[0] == "module":
            return binding
        return self._resolve_attr(binding[1], binding[2], seen)

    def _lookup(self, mod: _Module, local: dict[str, tuple], name: str) -> tuple:
        if name in local:
            return self._follow(local[name])
        if name in mod.defs:
            return ("unit", (mod.name, name))
        if name in mod.imports:
            return self._follow(mod.imports[name])
        for base in mod.star:
            found = self._resolve_attr(base, name)
            if found[0] not in ("none", "whole"):
                return found
        return ("none",)

    def _module_units(self, module: str) -> set[Unit]:
        """A module used whole: its definitions and statements, and the definitions it re-exports
        (a package's ``__init__`` holds little else)."""
        mod = self.modules[module]
        units = {(module, n) for n in mod.defs} | {(module, n) for n in mod.stmts}
        for binding in mod.imports.values():
            found = self._follow(binding)
            if found[0] == "unit":
                units.add(found[1])
        return units

    def _references(self, mod: _Module, node: ast.AST) -> dict[Unit, bool]:
        """Package units that ``node`` names (its own function-level imports included), each with
        ``True`` when it is *read* and ``False`` when it is only written into
        (``REGISTRY.register(...)``, ``TABLE[key] = value``)."""
        local: dict[str, tuple] = {}
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                self._bind_imports(mod, sub, local)
        found: dict[Unit, bool] = {}

        def resolve(result: tuple, chain: list[str], read: bool) -> None:
            while result[0] == "module" and chain:
                result = self._resolve_attr(result[1], chain.pop(0))
            if result[0] == "unit":
                found[result[1]] = found.get(result[1], False) or read
            elif result[0] in ("module", "whole"):
                for unit in self._module_units(result[1]):
                    found[unit] = True

        def visit(n: ast.AST, read: bool = True) -> None:
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _WRITES:
                visit(n.func.value, read=False)  # REGISTRY.register(...): a write
                for arg in [*n.args, *(k.value for k in n.keywords)]:
                    visit(arg)
                return
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, (ast.Store, ast.Del)):
                visit(n.value, read=False)  # TABLE[key] = value
                visit(n.slice)
                return
            if isinstance(n, ast.Attribute):
                chain, base = [], n
                while isinstance(base, ast.Attribute):
                    chain.append(base.attr)
                    base = base.value
                if isinstance(base, ast.Name):
                    result = self._lookup(mod, local, base.id)
                    if result[0] == "module":
                        resolve(result, chain[::-1], read)
                        return
                visit(base, read)
                return
            if isinstance(n, ast.Name):
                resolve(self._lookup(mod, local, n.id), [], read)
                return
            for name, value in ast.iter_fields(n):
                if name in ("annotation", "returns"):
                    continue  # annotations are not executed (from __future__ import annotations)
                if isinstance(value, ast.AST):
                    visit(value)
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.AST):
                            visit(item)

        visit(node)
        return found

    def _nodes(self, unit: Unit) -> list[ast.stmt]:
        mod = self.modules[unit[0]]
        if unit[1] in mod.defs:
            return mod.defs[unit[1]]
        return [mod.stmts[unit[1]]]

    def _direct(self, unit: Unit) -> dict[Unit, bool]:
        """The package units ``unit``'s code names, read (True) or only written into (cached)."""
        if unit not in self._uses:
            mod = self.modules[unit[0]]
            refs: dict[Unit, bool] = {}
            for node in self._nodes(unit):
                for ref, read in self._references(mod, node).items():
                    refs[ref] = refs.get(ref, False) or read
            refs.pop(unit, None)
            self._uses[unit] = refs
        return self._uses[unit]

    def uses(self, unit: Unit) -> frozenset[Unit]:
        """The package units ``unit`` names, plus whatever is registered into the objects it
        reads (a lookup in a registry may return any of its entries); nothing for a unit of
        :data:`OPAQUE_MODULES`."""
        if unit[0] in OPAQUE_MODULES:
            return frozenset()
        direct = self._direct(unit)
        out = set(direct)
        for ref, read in direct.items():
            if read:
                out |= self.registered_into(ref)
        return frozenset(out)

    # ------------------------------------------------------------------ registrations
    def _writes(self, unit: Unit) -> set[Unit]:
        """Module-level objects ``unit`` writes into itself or through the package functions it
        calls directly (``register(info)`` whose body does ``DATASETS.register(...)``)."""
        direct = self._direct(unit)
        out = {ref for ref, read in direct.items() if not read and self._is_object(ref)}
        for ref in direct:
            if ref[1][:1] != "#" and not self._is_object(ref):
                out |= {r for r, read in self._direct(ref).items() if not read and self._is_object(r)}
        return out

    def _is_object(self, unit: Unit) -> bool:
        """A module-level object built by an assignment (a registry, a table), not a def."""
        return unit[1][:1] != "#" and any(
            isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) for n in self._nodes(unit))

    def registered_into(self, unit: Unit) -> set[Unit]:
        """Top-level statements and decorated definitions that register something into the
        module-level object ``unit`` (empty for functions and classes)."""
        if self._registered is None:
            registered: dict[Unit, set[Unit]] = {}
            for mod in self.modules.values():
                for key in mod.stmts:
                    for target in self._writes((mod.name, key)):
                        registered.setdefault(target, set()).add((mod.name, key))
                for name, nodes in mod.defs.items():
                    decorators = [d for n in nodes for d in getattr(n, "decorator_list", [])]
                    targets: set[Unit] = set()
                    for d in decorators:
                        refs = self._references(mod, d)
                        targets |= {r for r, read in refs.items() if not read and self._is_object(r)}
                        for ref in refs:
                            if not self._is_object(ref) and ref[1][:1] != "#":
                                targets |= {r for r, read in self._direct(ref).items()
                                            if not read and self._is_object(r)}
                    for target in targets:
                        registered.setdefault(target, set()).add((mod.name, name))
            self._registered = registered
        return self._registered.get(unit, set())

    # ------------------------------------------------------------------ closures and hashes
    def closure(self, roots: Iterable[Unit]) -> set[Unit]:
        """Every unit reachable from ``roots`` through uses and registrations."""
        seen: set[Unit] = set()
        todo = list(roots)
        for unit in todo:
            if unit[0] not in self.modules or (
                unit[1] not in self.modules[unit[0]].defs and unit[1] not in self.modules[unit[0]].stmts
            ):
                raise ValueError(f"{PACKAGE}.{unit[0]} has no top-level definition {unit[1]!r}")
        while todo:
            unit = todo.pop()
            if unit in seen or unit in EXCLUDED_UNITS or unit[0] in EXCLUDED_MODULES:
                continue
            seen.add(unit)
            todo.extend(self.uses(unit) - seen)
        return seen

    def tokens_of(self, unit: Unit) -> str:
        """The unit's source as a token stream: no comments, blank lines, docstrings or spacing."""
        mod = self.modules[unit[0]]
        parts = []
        for node in self._nodes(unit):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            last = node.end_lineno or node.lineno
            docstrings = set()
            for sub in ast.walk(node):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.body:
                    head = sub.body[0]
                    if (isinstance(head, ast.Expr) and isinstance(head.value, ast.Constant)
                            and isinstance(head.value.value, str)):
                        docstrings.add((head.lineno, head.col_offset))
            started = False
            for tok in mod.tokens:
                if tok.start[0] < first or tok.start[0] > last:
                    continue
                if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING):
                    continue
                # the DEDENTs on a unit's first line close the block *before* it: how deep that
                # block ended is not this unit's code (a function inserted above must not re-key it)
                if not started and tok.type == token.DEDENT:
                    continue
                started = True
                if tok.type == token.STRING and tok.start in docstrings:
                    continue
                if tok.type in (token.INDENT, token.DEDENT, token.NEWLINE):
                    parts.append(token.tok_name[tok.type])
                else:
                    parts.append(tok.string)
        return "\x1f".join(parts)

    def fingerprint(self, roots: Iterable[Unit]) -> str:
        """sha256 of the closure of ``roots`` (units sorted; each as module, name, tokens)."""
        digest = hashlib.sha256()
        for unit in sorted(self.closure(roots)):
            if unit not in self._digests:
                text = f"{unit[0]}:{unit[1]}\x1e{self.tokens_of(unit)}".encode()
                self._digests[unit] = hashlib.sha256(text).digest()
            digest.update(self._digests[unit])
        return digest.hexdigest()


def _unit_of(obj) -> Unit:
    """The (module, top-level name) of a package function or class."""
    module = getattr(obj, "__module__", "") or ""
    if not (module == PACKAGE or module.startswith(PACKAGE + ".")):
        raise ValueError(f"{obj!r} is not defined in the {PACKAGE} package")
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", ""))
    return (module[len(PACKAGE) + 1:] if module != PACKAGE else "", qualname.split(".")[0])


def experiment_units(name: str) -> list[Unit]:
    """The roots of experiment ``name``'s key: its run function and its config class."""
    catalog.load()
    exp = catalog.EXPERIMENTS.lookup(name)
    return [_unit_of(exp.run), _unit_of(exp.config_cls)]


@functools.lru_cache(maxsize=1)
def code_index() -> CodeIndex:
    """The installed package's index (parsed once per process)."""
    return CodeIndex()


@functools.lru_cache(maxsize=None)
def experiment_fingerprint(name: str) -> str:
    """Fingerprint of the code experiment ``name`` runs (cached per process)."""
    return code_index().fingerprint(experiment_units(name))


@functools.lru_cache(maxsize=None)
def store_code(name: str) -> str:
    """The code part of the store keys of ``name``: the experiment's fingerprint, or the whole
    package's source hash for a name that is not a registered experiment (coarse but safe)."""
    catalog.load()
    return experiment_fingerprint(name) if name in catalog.EXPERIMENTS else package_hash()


def notebook_units(sources: Iterable[str], index: CodeIndex | None = None) -> set[Unit]:
    """Package units that notebook code cells ``sources`` name (IPython ``%``/``!`` lines
    skipped); a cell that does not parse is skipped too (it fails when the notebook runs)."""
    index = code_index() if index is None else index
    body: list[ast.stmt] = []
    for source in sources:
        text = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            body.extend(ast.parse(text).body)
        except SyntaxError:
            continue
    # one module of all cells: an import in one cell binds names used in the later ones
    page = _Module("__notebook__", Path("<notebook>"), False, "")
    return set(index._references(page, ast.Module(body=body, type_ignores=[])))


def notebook_fingerprint(sources: Iterable[str], index: CodeIndex | None = None) -> str:
    """Fingerprint of the package code a page's cells reach. A page also reads results from the
    store by experiment name, which static analysis cannot follow: the build adds the code of the
    experiments the page's last execution read (``learning_rules.book``: the reads log), so a page
    re-executes when its plotting code changed (reading its unchanged results from the store) or
    when a result it shows would be computed differently."""
    index = code_index() if index is None else index
    return index.fingerprint(notebook_units(sources, index))
