"""Content-addressed result store: (experiment, config, the code it runs) -> tidy DataFrame.

An experiment's result depends on three things only: which experiment ran, with which configuration,
and the package code that computed it. The store hashes exactly those,

.. math::

    \\mathrm{key} = \\mathrm{sha256}\\big(\\mathrm{name} \\,\\|\\, \\mathrm{json}(\\mathrm{config})
    \\,\\|\\, \\mathrm{fingerprint}(\\text{code the run function reaches})\\big),

so the book, the command line and the tests share results instead of recomputing them. The code part
is :func:`learning_rules.fingerprint.experiment_fingerprint`: the definitions the run function
reaches (kernels, rules, optimizers, initializers, the data layer with its pinned checksums), never
the presentation layer, so editing a plot, the report or the book pipeline keeps every result, and
editing a kernel invalidates exactly the results whose runs reach it. ``learning-rules store verify``
recomputes stored entries and compares them bit for bit: the safety net for a dependency the
static analysis cannot see.

Layout: ``<root>/<name>/<key>.pkl`` (the DataFrame, ``pandas.to_pickle``) plus
``<root>/<name>/<key>.json`` (the config, the code hash, the pandas version, the time). Both are
written to a temporary file in the same directory and moved into place with :func:`os.replace`;
the JSON sidecar is moved last and is the commit marker, so an interrupted write never leaves an
entry that :meth:`Store.get` would return.

The root is ``LEARNING_RULES_STORE`` when set, else ``<user cache>/learning-rules/store``.

**Read-only mode** (:func:`read_only`, or ``LEARNING_RULES_STORE_READONLY=1``): a lookup that misses
raises :class:`NotStoredError` instead of computing, in :meth:`Store.get_or_compute` and in
:func:`learning_rules.sweep.run_sweep`. Pages that only *show* results computed elsewhere (the
reproduction report) use it, so a configuration mismatch shows up as a named missing entry instead
of a silent recomputation of a whole chapter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import fingerprint
from .fingerprint import package_hash  # the whole package's source hash, re-exported

__all__ = [
    "READONLY_ENV",
    "READS_ENV",
    "STORE_ENV",
    "NotStoredError",
    "Store",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "config_to_dict",
    "default_cache_dir",
    "is_read_only",
    "package_hash",
    "read_only",
]

STORE_ENV = "LEARNING_RULES_STORE"
READONLY_ENV = "LEARNING_RULES_STORE_READONLY"
#: When set, a file to which every entry read or written is appended as ``name key`` (the build
#: records which entries each page uses, for ``learning-rules store export --profile``).
READS_ENV = "LEARNING_RULES_STORE_READS"


class NotStoredError(RuntimeError):
    """A result was asked for in read-only mode and is not in the store."""


def is_read_only() -> bool:
    """True when ``LEARNING_RULES_STORE_READONLY`` is set to a true value (1, true, yes, on)."""
    return os.environ.get(READONLY_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def read_only(enabled: bool = True) -> Iterator[None]:
    """Within the block, store misses raise :class:`NotStoredError` instead of computing.

    Sets ``LEARNING_RULES_STORE_READONLY`` (so worker processes inherit it) and restores the
    previous value on exit.
    """
    old = os.environ.get(READONLY_ENV)
    if enabled:
        os.environ[READONLY_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(READONLY_ENV, None)
        else:
            os.environ[READONLY_ENV] = old


def _jsonable(value: Any) -> Any:
    """Convert a config value to plain JSON types (tuples -> lists, numpy -> Python, ...)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return repr(value)  # JSON has no inf/nan; keep them distinct and stable
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    raise ValueError(
        f"config value {value!r} of type {type(value).__name__} cannot be hashed; use numbers, "
        "strings, booleans, None, tuples, dicts or nested dataclasses in configs"
    )


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen dataclass config as a plain JSON-able dict (field order kept).

    Raises
    ------
    ValueError
        If ``config`` is not an instance of a frozen dataclass.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(
            f"config must be a frozen dataclass instance, got {type(config).__name__}; "
            "declare it with @dataclass(frozen=True)"
        )
    if not type(config).__dataclass_params__.frozen:
        raise ValueError(
            f"config class {type(config).__name__} is not frozen; declare it with "
            "@dataclass(frozen=True) so a stored result cannot drift from its key"
        )
    return _jsonable(config)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces, tuples as lists."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --------------------------------------------------------------------------- atomic files


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def default_cache_dir() -> Path:
    """The per-user cache directory (XDG on Linux, ``~/Library/Caches`` on macOS, LOCALAPPDATA)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "learning-rules"


# --------------------------------------------------------------------------- the store


class Store:
    """A directory of results keyed by (experiment name, config, package source hash).

    Parameters
    ----------
    root : path, optional
        Where entries live. Default: ``$LEARNING_RULES_STORE`` or ``<user cache>/learning-rules/store``.
    code_hash : str, optional
        One code version for every key (tests use it). Default: each experiment's own
        :func:`~learning_rules.fingerprint.experiment_fingerprint`, and :func:`package_hash` for a
        name that is not a registered experiment.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, code_hash: str | None = None):
        if root is None:
            env = os.environ.get(STORE_ENV)
            root = Path(env) if env else default_cache_dir() / "store"
        self.root = Path(root).expanduser()
        self.code_hash = code_hash

    def code_of(self, name: str) -> str:
        """The code fingerprint in experiment ``name``'s keys."""
        if self.code_hash is not None:
            return self.code_hash
        return fingerprint.store_code(name)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- keys and paths
    @staticmethod
    def _check_name(name: str) -> str:
        if not isinstance(name, str) or not name or any(c in name for c in '/\\:*?"<>|') or name[0] == ".":
            raise ValueError(
                f"experiment name must be a non-empty string usable as a folder name, got {name!r}"
            )
        return name

    def key(self, name: str, config: Any) -> str:
        """The sha256 key of (``name``, canonical JSON of ``config``, code hash)."""
        self._check_name(name)
        payload = canonical_json(
            {"experiment": name, "config": config_to_dict(config), "code": self.code_of(name)}
        )
        return hashlib.sha256(payload.encode("ascii")).hexdigest()

    def _paths(self, name: str, key: str) -> tuple[Path, Path]:
        folder = self.root / name
        return folder / f"{key}.pkl", folder / f"{key}.json"

    # -- read / write
    @staticmethod
    def _note_use(name: str, key: str) -> None:
        """Append ``name key`` to the reads log (:data:`READS_ENV`) when one is set."""
        log = os.environ.get(READS_ENV)
        if log:
            with open(log, "a", encoding="ascii") as fh:  # one short line: an atomic append
                fh.write(f"{name} {key}\n")

    def get(self, name: str, config: Any) -> pd.DataFrame | None:
        """The stored DataFrame for (``name``, ``config``) or ``None`` when absent or unreadable."""
        key = self.key(name, config)
        data_path, meta_path = self._paths(name, key)
        if not meta_path.exists() or not data_path.exists():
            return None
        try:
            frame = pd.read_pickle(data_path)
        except Exception as exc:  # a pickle from another pandas version, a damaged file
            warnings.warn(
                f"ignoring unreadable store entry {data_path} ({type(exc).__name__}: {exc}); "
                "it will be recomputed",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        if not isinstance(frame, pd.DataFrame):
            return None
        self._note_use(name, key)
        return frame

    def put(self, name: str, config: Any, frame: pd.DataFrame, seconds: float | None = None) -> str:
        """Store ``frame`` under (``name``, ``config``) atomically; return the key. ``seconds``:
        how long computing it took (kept in the sidecar; :meth:`list` shows it)."""
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                f"the store keeps tidy pandas DataFrames; experiment {name!r} returned "
                f"{type(frame).__name__}"
            )
        key = self.key(name, config)
        data_path, meta_path = self._paths(name, key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        # Data first, sidecar last: the sidecar is the commit marker.
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".pkl.tmp", dir=data_path.parent)
        os.close(fd)
        try:
            frame.to_pickle(tmp)
            os.replace(tmp, data_path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        meta = {
            "experiment": name,
            "key": key,
            "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
            "config": config_to_dict(config),
            "code_hash": self.code_of(name),
            "pandas": pd.__version__,
            "rows": int(len(frame)),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": None if seconds is None else round(float(seconds), 3),
        }
        atomic_write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        self._note_use(name, key)
        return key

    def get_or_compute(
        self, name: str, config: Any, fn: Callable[[Any], pd.DataFrame]
    ) -> pd.DataFrame:
        """Return the stored result, or compute ``fn(config)``, store it and return it.

        Raises
        ------
        NotStoredError
            In read-only mode (:func:`read_only`), when the result is not stored.
        """
        found = self.get(name, config)
        if found is not None:
            return found
        if is_read_only():
            raise NotStoredError(
                f"{name} is not in the store {self.root} for config {config!r} (read-only mode: "
                "nothing is computed); build the chapter that computes it first, with the same "
                "profile, code and store"
            )
        frame = fn(config)
        self.put(name, config, frame)
        return frame

    def __contains__(self, item: tuple[str, Any]) -> bool:
        name, config = item
        data_path, meta_path = self._paths(name, self.key(name, config))
        return data_path.exists() and meta_path.exists()

    # -- housekeeping
    def _entries(self) -> Iterator[tuple[Path, dict]]:
        if not self.root.is_dir():
            return
        for meta_path in sorted(self.root.glob("*/*.json")):
            if meta_path.name.startswith("."):
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            yield meta_path, meta

    def _current_code(self, meta: dict) -> str | None:
        try:
            return self.code_of(str(meta.get("experiment", "")))
        except ValueError:
            return None

    def list(self) -> pd.DataFrame:
        """One row per complete entry: experiment, key, rows, created, seconds (compute time, when
        recorded), current (same code hash), bytes."""
        rows = []
        for meta_path, meta in self._entries():
            data_path = meta_path.with_suffix(".pkl")
            if not data_path.exists():
                continue
            rows.append(
                {
                    "experiment": meta.get("experiment", meta_path.parent.name),
                    "key": meta.get("key", meta_path.stem)[:12],
                    "rows": meta.get("rows"),
                    "created": meta.get("created"),
                    "seconds": meta.get("seconds"),
                    "current": meta.get("code_hash") == self._current_code(meta),
                    "bytes": data_path.stat().st_size,
                    "config": canonical_json(meta.get("config", {})),
                }
            )
        columns = ["experiment", "key", "rows", "created", "seconds", "current", "bytes", "config"]
        return pd.DataFrame(rows, columns=columns)

    def clear(self, name: str | None = None) -> int:
        """Delete all entries (or those of experiment ``name``); return how many were removed."""
        if name is not None:
            self._check_name(name)
            folders = [self.root / name]
        else:
            folders = [p for p in self.root.glob("*") if p.is_dir()] if self.root.is_dir() else []
        removed = 0
        for folder in folders:
            if not folder.is_dir():
                continue
            removed += sum(1 for p in folder.glob("*.json") if not p.name.startswith("."))
            shutil.rmtree(folder)
        return removed

    def clear_stale(self, name: str | None = None) -> int:
        """Delete the entries (of experiment ``name``, or all) that no current key can reach: their
        code fingerprint is not the one their experiment's code has now (the code they were
        computed with was edited since). Returns how many were removed."""
        removed = 0
        for meta_path, meta in list(self._entries()):
            if name is not None and meta.get("experiment") != name:
                continue
            if meta.get("code_hash") == self._current_code(meta):
                continue
            meta_path.unlink(missing_ok=True)  # the commit marker first: never a half entry
            meta_path.with_suffix(".pkl").unlink(missing_ok=True)
            removed += 1
        return removed
