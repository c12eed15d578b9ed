"""Profiles and notebook parameters: which parameters each page of the book runs with.

The one place where a profile (``book/profiles/<profile>.yml`` and its chapter fragments
``<profile>.d/*.yml``) is read and resolved into a notebook's parameters, shared by the build
(:mod:`learning_rules.book`), the command line (``learning-rules make``), the chapters' ledger
cells and the report. It imports nothing of the package but the store's JSON canonicalization
and the name of the wheel's copy of the book (``_book_copy``), so every layer above may use it.

* :func:`find_root`, :func:`toc_files`: where the book is (a checkout, else the copy of the
  book's files the installed wheel carries, :data:`PACKAGED_ROOT`) and which pages it has;
  :func:`book_config`, :func:`repository_url`: its ``_config.yml`` and the one place the
  project's repository is named.
* :func:`notebook_parameters`, :func:`validate_parameters`: a notebook's ``parameters`` cell
  (names, defaults, types) and the check of a profile's values against it.
* :func:`load_profile`, :func:`resolve_parameters`, :func:`page_parameters`: a profile, the
  values papermill injects, and the values a page runs with (its defaults overridden).
* :func:`profile_cuts`: what a preview profile cuts of the paper protocol, per page.

Explained in: ``CONTRIBUTING.md`` (profiles) and ``book/rebuild.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ._book_copy import PACKAGED
from .store import canonical_json

__all__ = [
    "BuildError",
    "INSTALL_CELL_ID",
    "PROFILE_CELL_ID",
    "NotebookParameter",
    "PAPER_PROFILE",
    "PROFILES",
    "ParameterError",
    "Profile",
    "book_config",
    "find_root",
    "load_profile",
    "notebook_datasets",
    "notebook_parameters",
    "page_parameters",
    "profile_cuts",
    "repository_url",
    "resolve_parameters",
    "toc_files",
    "toc_notebooks",
    "validate_parameters",
]

PROFILES = ("smoke", "quick", "paper")
#: Toc pages the build writes itself (the equation index: ``book.GENERATED_PAGES`` holds their
#: generators and must name exactly these).
GENERATED_PAGE_PATHS = frozenset({"book/equations.md"})
#: Id of the cell that :mod:`learning_rules.launch` writes first into every notebook (it installs
#: the package in Colab or a bare Jupyter); the ``parameters`` cell is the first code cell after it.
INSTALL_CELL_ID = "install-learning-rules"
#: The id of the cell after the parameters cell that loads a named profile outside the build
#: (:func:`learning_rules.launch.use_profile`).
PROFILE_CELL_ID = "profile-parameters"


class BuildError(RuntimeError):
    """The book cannot be built; the message says which notebook / page and why."""


class ParameterError(ValueError):
    """A profile gives a notebook a parameter it does not declare, or a value of the wrong type."""


# --------------------------------------------------------------------------- locating things


#: Where this module lives; :func:`find_root` searches upward from it (an editable install sits in
#: ``<root>/src/learning_rules``).
PACKAGE_DIR = Path(__file__).resolve().parent
#: The copy of the book's files that a wheel carries (``_book_copy.py``, written by ``setup.py``):
#: the root :func:`find_root` falls back to outside a checkout. An editable install has none.
PACKAGED_ROOT = PACKAGE_DIR / PACKAGED


def _is_root(folder: Path) -> bool:
    return (folder / "_toc.yml").is_file() and (folder / "book").is_dir()


def find_root(start: str | os.PathLike | None = None, *, packaged: bool = True) -> Path:
    """The project root: the first folder holding ``_toc.yml`` and ``book/``.

    Searches upward from ``start`` (default: the working directory), then from this package's
    source location (an editable install sits in ``<root>/src/learning_rules``), so a checkout's
    files always win. Outside a checkout (a chapter in Colab, Binder or a bare Jupyter, the package
    installed from its wheel) it returns, unless ``packaged`` is false, the copy of the book's files
    the wheel carries, :data:`PACKAGED_ROOT` (profiles, notebooks, toc, ``_config.yml``, the
    accepted ledger; no build outputs). Commands that write into the book pass ``packaged=False``.
    """
    candidates = [Path(start or os.getcwd()).resolve(), PACKAGE_DIR]
    for base in candidates:
        for folder in (base, *base.parents):
            if _is_root(folder):
                return folder
    if packaged and _is_root(PACKAGED_ROOT):
        return PACKAGED_ROOT
    raise BuildError(
        "cannot find the book: no folder with _toc.yml and book/ above "
        f"{candidates[0]}; run the command from the project checkout"
        + ("" if packaged else " (this command writes into the book, so the copy of its files "
           "that the installed package carries will not do)")
    )


def book_config(root: Path) -> Mapping[str, Any]:
    """The book's ``_config.yml`` (Jupyter Book's configuration) as a mapping."""
    return _yaml_mapping(Path(root) / "_config.yml", "must be a mapping (Jupyter Book's configuration)")


def repository_url(root: Path) -> str:
    """``repository.url`` of ``_config.yml``: the project's home, named there and nowhere else.

    The launch buttons (Binder, Colab) open the notebooks from it, and the install cell of every
    notebook (:mod:`learning_rules.launch`) installs the package from it.
    """
    repository = book_config(root).get("repository")
    url = repository.get("url") if isinstance(repository, Mapping) else None
    if not isinstance(url, str) or not url.strip():
        raise BuildError(f"{Path(root) / '_config.yml'}: set repository.url to the project's home "
                         "(e.g. https://github.com/OWNER/REPO)")
    url = url.strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def _toc_entries(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from _toc_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_entries(child)


def toc_files(root: Path) -> list[Path]:
    """Every page of ``_toc.yml`` as a path relative to ``root`` (extension resolved)."""
    toc_path = root / "_toc.yml"
    try:
        toc = yaml.safe_load(toc_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError(f"cannot read {toc_path}: {exc}") from exc
    pages = []
    for entry in _toc_entries(toc):
        rel = Path(entry)
        if rel.suffix in (".md", ".ipynb", ".rst"):
            options = [rel]
        else:
            options = [rel.with_name(rel.name + s) for s in (".ipynb", ".md", ".rst")]
        found = next((o for o in options if (root / o).is_file()), None)
        if found is None and rel.with_suffix(".md").as_posix() in GENERATED_PAGE_PATHS:
            found = rel.with_suffix(".md")
        if found is None:
            raise BuildError(f"_toc.yml lists {entry!r} but no such .md/.ipynb file exists in {root}")
        pages.append(found)
    return pages


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks (``.ipynb``) of ``_toc.yml``, relative to ``root``, in toc order."""
    return [p for p in toc_files(root) if p.suffix == ".ipynb"]


# --------------------------------------------------------------------------- parameters


@dataclasses.dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell.

    Attributes
    ----------
    name : str
    default : Any
        The literal default (``None`` when the right-hand side is not a literal).
    types : tuple of type, or None
        Accepted Python types (``None``: anything).
    type_name : str
        How the type is written in error messages (``"int"``, ``"float"``, ``"list | None"``).
    """

    name: str
    default: Any
    types: tuple[type, ...] | None
    type_name: str


_ANNOTATION_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "List": (list, tuple),
    "Tuple": (list, tuple),
    "Sequence": (list, tuple),
    "dict": (dict,),
    "Dict": (dict,),
    "Mapping": (dict,),
    "None": (type(None),),
}


def _types_from_annotation(node: ast.expr) -> tuple[tuple[type, ...], str] | None:
    """Accepted types for an annotation node, or ``None`` when it is not understood."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "int" (string annotation)
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return (type(None),), "None"
    if isinstance(node, ast.Name):
        if node.id in _ANNOTATION_TYPES:
            return _ANNOTATION_TYPES[node.id], node.id
        return None
    if isinstance(node, ast.Attribute):  # typing.Sequence
        return _types_from_annotation(ast.Name(id=node.attr))
    if isinstance(node, ast.Subscript):
        base = node.value
        base_name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        if base_name == "Optional":
            inner = _types_from_annotation(node.slice)
            return None if inner is None else (inner[0] + (type(None),), f"{inner[1]} | None")
        if base_name == "Literal":
            return None
        outer = _types_from_annotation(base)
        return None if outer is None else (outer[0], ast.unparse(node))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _types_from_annotation(node.left), _types_from_annotation(node.right)
        if left is None or right is None:
            return None
        return left[0] + right[0], f"{left[1]} | {right[1]}"
    return None


def _types_from_default(value: Any) -> tuple[tuple[type, ...], str] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return (bool,), "bool"
    if isinstance(value, int):
        return (int,), "int"
    if isinstance(value, float):
        return (float, int), "float"
    if isinstance(value, str):
        return (str,), "str"
    if isinstance(value, (list, tuple)):
        return (list, tuple), type(value).__name__
    if isinstance(value, dict):
        return (dict,), "dict"
    return None


def _parameters_cell(nb: Mapping) -> tuple[int, Mapping] | None:
    for index, cell in enumerate(nb.get("cells", [])):
        if "parameters" in (cell.get("metadata", {}).get("tags") or []):
            return index, cell
    return None


def _read_notebook(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read notebook {path}: {exc}") from exc


def notebook_parameters(path: str | os.PathLike) -> dict[str, NotebookParameter]:
    """Parse the first cell tagged ``parameters`` of a notebook (with :mod:`ast`, no execution).

    Each top-level ``name = literal`` or ``name: type = literal`` is a parameter. The accepted
    type comes from the annotation when it is a plain one (``int``, ``float``, ``str``, ``bool``,
    ``list[...]``, ``tuple[...]``, ``dict[...]``, ``X | None``), else from the default's type; a
    default of ``None`` without annotation accepts anything.

    Raises
    ------
    ParameterError
        The notebook has no ``parameters`` cell, or the cell is not valid Python.
    """
    path = Path(path)
    nb = _read_notebook(path)
    found = _parameters_cell(nb)
    if found is None:
        raise ParameterError(
            f"{path}: no code cell is tagged 'parameters'; tag the notebook's first code cell "
            "'parameters' (papermill) and assign every parameter there"
        )
    index, cell = found
    first_code = next((i for i, c in enumerate(nb["cells"])
                       if c.get("cell_type") == "code" and c.get("id") != INSTALL_CELL_ID), index)
    if index != first_code:
        raise ParameterError(
            f"{path}: the cell tagged 'parameters' is cell {index + 1}, but it must be the first "
            f"code cell (cell {first_code + 1}; the install cell before it aside); move the "
            "parameter assignments there"
        )
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{path}: the parameters cell (cell {index + 1}) is not valid Python: {exc}")
    params: dict[str, NotebookParameter] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        else:
            continue
        try:
            default = ast.literal_eval(value_node)
        except ValueError:
            default = None
        spec = _types_from_annotation(annotation) if annotation is not None else None
        if spec is None:
            spec = _types_from_default(default)
        types, type_name = spec if spec is not None else (None, "any")
        params[name] = NotebookParameter(name, default, types, type_name)
    return params


def _type_ok(value: Any, types: tuple[type, ...] | None) -> bool:
    if types is None:
        return True
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int to Python, not to a notebook parameter
    return isinstance(value, types)


def validate_parameters(
    path: str | os.PathLike, params: Mapping[str, Any], *, label: str | None = None
) -> None:
    """Check ``params`` against the notebook's ``parameters`` cell before execution.

    Raises
    ------
    ParameterError
        Naming the parameter and the allowed names (unknown name) or the declared type (wrong type).
    """
    label = label or str(path)
    declared = notebook_parameters(path)
    for name, value in params.items():
        if name not in declared:
            allowed = ", ".join(sorted(declared)) or "(none)"
            hint = ""
            if name == "profile":
                hint = "; add `profile = \"quick\"` to the parameters cell so captions can state it"
            raise ParameterError(
                f"{label}: unknown parameter {name!r}; the parameters cell declares: {allowed}{hint}"
            )
        spec = declared[name]
        if not _type_ok(value, spec.types):
            hint = ""
            if isinstance(value, str) and spec.types and float in spec.types:
                try:
                    float(value)
                    hint = " (YAML reads 1e-3 as a string: write 1.0e-3)"
                except ValueError:
                    pass
            raise ParameterError(
                f"{label}: parameter {name!r} must be {spec.type_name} (declared default "
                f"{spec.default!r}), got {type(value).__name__} {value!r}{hint}"
            )


# --------------------------------------------------------------------------- profiles


@dataclasses.dataclass(frozen=True)
class Profile:
    """A named parameter set: ``notebooks`` maps a notebook path (relative to the root) to its
    parameters; ``datasets`` optionally overrides the datasets a notebook declares."""

    name: str
    description: str
    notebooks: Mapping[str, Mapping[str, Any]]
    datasets: Mapping[str, Sequence[str]]
    path: Path


def _yaml_mapping(path: Path, shape: str) -> Mapping:
    """The YAML mapping in ``path`` (empty file: ``{}``); a :class:`BuildError` naming the file
    when it is not valid YAML or not a mapping (``shape`` says what it must be)."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BuildError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise BuildError(f"{path} {shape}")
    return raw


def load_profile(root: Path, profile: str) -> Profile:
    """Read ``book/profiles/<profile>.yml`` and its chapter fragments ``<profile>.d/*.yml``.

    The file is a mapping with ``profile`` (its name), an optional ``description``, ``notebooks``
    (notebook path -> parameter mapping) and an optional ``datasets`` (notebook path -> list of
    dataset names).
    """
    folder = root / "book" / "profiles"
    path = folder / f"{profile}.yml"
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.yml"))
        raise BuildError(
            f"unknown profile {profile!r}; available: {', '.join(available) or '(none)'} "
            f"(files in {folder})"
        )
    raw = _yaml_mapping(path, "must be a mapping with keys profile, notebooks (and datasets)")
    unknown = set(raw) - {"profile", "description", "notebooks", "datasets"}
    if unknown:
        raise BuildError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: profile, description, "
            "notebooks, datasets"
        )
    name = raw.get("profile", profile)
    if name != profile:
        raise BuildError(f"{path} says profile: {name!r}; it must match its file name {profile!r}")
    notebooks = raw.get("notebooks") or {}
    datasets = raw.get("datasets") or {}
    for label, table in (("notebooks", notebooks), ("datasets", datasets)):
        if not isinstance(table, Mapping):
            raise BuildError(f"{path}: {label} must map notebook paths to {label[:-1]} settings")
    for nb, params in notebooks.items():
        if not isinstance(params, Mapping):
            raise BuildError(f"{path}: parameters of {nb} must be a mapping name -> value")
        if "profile" in params:
            raise BuildError(f"{path}: {nb} sets 'profile'; it is injected from the profile name")
    notebooks, datasets = dict(notebooks), dict(datasets)
    # Chapter fragments: book/profiles/<profile>.d/*.yml, each with `notebooks` and/or `datasets`
    # (so every chapter owns its own parameter file; a notebook may be set in one place only).
    for frag in sorted((folder / f"{profile}.d").glob("*.yml")):
        try:
            part = yaml.safe_load(frag.read_text()) or {}
        except yaml.YAMLError as exc:
            raise BuildError(f"{frag} is not valid YAML: {exc}") from exc
        if not isinstance(part, Mapping) or set(part) - {"notebooks", "datasets"}:
            raise BuildError(f"{frag} must be a mapping with only the keys notebooks, datasets")
        for key, table in (("notebooks", notebooks), ("datasets", datasets)):
            extra = part.get(key) or {}
            if not isinstance(extra, Mapping):
                raise BuildError(f"{frag}: {key} must map notebook paths to settings")
            clash = sorted(set(extra) & set(table))
            if clash:
                raise BuildError(f"{frag}: {key} for {clash} are already set elsewhere in "
                                 f"profile {profile!r}; set each notebook in one file only")
            table.update(extra)
    for nb, params in notebooks.items():
        if not isinstance(params, Mapping):
            raise BuildError(f"{path}: parameters of {nb} must be a mapping name -> value")
        if "profile" in params:
            raise BuildError(f"{path}: {nb} sets 'profile'; it is injected from the profile name")
    for nb, names in datasets.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BuildError(f"{path}: datasets of {nb} must be a list of dataset names")
    return Profile(profile, str(raw.get("description", "")), notebooks, datasets, path)


def resolve_parameters(root: Path, profile: Profile, notebook: Path) -> dict[str, Any]:
    """The validated parameters papermill injects into ``notebook`` under ``profile``."""
    rel = notebook.as_posix()
    params = {"profile": profile.name, **dict(profile.notebooks.get(rel, {}))}
    validate_parameters(root / notebook, params, label=f"{rel} (profile {profile.name})")
    return params


def notebook_datasets(root: Path, profile: Profile, notebook: Path) -> list[str]:
    """Datasets ``notebook`` reads: the profile's override, else the notebook's metadata."""
    rel = notebook.as_posix()
    if rel in profile.datasets:
        return list(profile.datasets[rel])
    meta = _read_notebook(root / notebook).get("metadata", {}).get("learning_rules", {})
    names = meta.get("datasets", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BuildError(f"{rel}: metadata learning_rules.datasets must be a list of dataset names")
    return names


PAPER_PROFILE = "paper"
#: Page parameters that say how to compute, not what: never listed as cuts.
_NOT_PROTOCOL = frozenset({"profile", "n_jobs", "jobs"})


def _short(name: str, value: Any, limit: int = 48) -> str:
    """A parameter value for the banner; a sample count of 0 or None reads "all"."""
    if value is None or (name.startswith("n_") and value == 0 and not isinstance(value, bool)):
        return "all"
    text = repr(tuple(value) if isinstance(value, list) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def profile_cuts(root: Path, profile: str, notebook: Path) -> list[tuple[str, Any, Any]] | None:
    """``(parameter, this profile's value, the paper profile's value)`` for every parameter of
    ``notebook`` that ``profile`` sets differently from the paper profile (both on top of the
    notebook's defaults); ``None`` when the project has no paper profile."""
    if not (root / "book" / "profiles" / f"{PAPER_PROFILE}.yml").is_file():
        return None
    defaults = {name: spec.default for name, spec in notebook_parameters(root / notebook).items()}
    ours = {**defaults, **resolve_parameters(root, load_profile(root, profile), notebook)}
    paper = {**defaults, **resolve_parameters(root, load_profile(root, PAPER_PROFILE), notebook)}
    return [(k, ours[k], paper.get(k)) for k in ours
            if k not in _NOT_PROTOCOL and not k.endswith("_jobs")
            and canonical_json(ours[k]) != canonical_json(paper.get(k))]


def page_parameters(profile: str, notebook: str | os.PathLike, root: str | os.PathLike | None = None
                    ) -> dict[str, Any]:
    """The parameters ``notebook`` runs with under ``profile``: the defaults of its ``parameters``
    cell, overridden by the profile's validated values (exactly what the build gives the page,
    ``profile`` included). The chapters' ledger code and ``learning-rules make`` read their
    parameters here, so a page and its ledger cells never disagree."""
    root_path = find_root(root)
    rel = Path(notebook)
    params = {k: p.default for k, p in notebook_parameters(root_path / rel).items()}
    params.update(resolve_parameters(root_path, load_profile(root_path, profile), rel))
    return params
