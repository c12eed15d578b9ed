"""Results that travel: verify stored entries, export them as one archive, import an archive.

* :func:`verify` recomputes stored entries and compares them with what is stored, bit for bit
  (every run is deterministic for its seed on one machine). It is the safety net for a dependency
  the keys miss (:mod:`learning_rules.fingerprint` sees only what the code names).
* :func:`export_bundle` writes entries into one ``.tar.gz`` with a ``manifest.json`` (experiment,
  key, and each file's size and sha256), so a reader can render the paper book from published
  results in minutes instead of recomputing hours of runs.
* :func:`import_bundle` reads such an archive (a path, or a URL fetched with pooch), checks every
  file against the manifest and every sidecar against its own key *before* writing anything, and
  adds the entries to a store (data first, sidecar last, as :meth:`Store.put` does).

Which entries a profile's pages use is recorded by the build: each executed page and the
precompute pool append the store entries they read or write to ``_build/store-reads/<profile>.txt``
(:data:`READS_ENV`), and ``export_bundle(..., reads=...)`` takes exactly those.

Explained in: ``book/rebuild.md`` (a results bundle; verifying a store).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
import time
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .store import Store, atomic_write_bytes

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "config_from_json",
    "export_bundle",
    "frames_identical",
    "import_bundle",
    "read_reads",
    "verify",
]

BUNDLE_FORMAT = 1


class BundleError(ValueError):
    """A results archive is malformed, corrupted or does not match its manifest."""


# --------------------------------------------------------------------------- configs back from JSON


def _from_json(value: Any, tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return config_from_json(tp, value)
    if origin in (typing.Union, types.UnionType):
        for arg in (a for a in args if a is not type(None)):
            try:
                return _from_json(value, arg)
            except (TypeError, ValueError):
                continue
        return value
    if (origin is tuple or tp is tuple) and isinstance(value, list):
        if args and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(v, args[0]) for v in value)
        if args and len(args) == len(value):
            return tuple(_from_json(v, a) for v, a in zip(value, args, strict=True))
        return tuple(_from_json(v, Any) for v in value)
    if tp is float and isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if tp is Any and isinstance(value, list):
        return tuple(_from_json(v, Any) for v in value)
    return value


def config_from_json(config_cls: type, data: dict) -> Any:
    """Rebuild a frozen dataclass config from its stored JSON (lists back to tuples by the field
    types); :class:`ValueError` when the fields do not fit the class."""
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"stored config has fields {sorted(unknown)} that {config_cls.__name__} "
                         "no longer declares")
    try:
        return config_cls(**{k: _from_json(v, hints.get(k, Any)) for k, v in data.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"stored config does not fit {config_cls.__name__}: {exc}") from None


# --------------------------------------------------------------------------- verify


def frames_identical(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """``None`` when the two frames hold the same columns, dtypes, index and values bit for bit
    (floats compared by their bytes, so NaN equals NaN and -0.0 differs from 0.0); otherwise
    what differs first."""
    if list(a.columns) != list(b.columns):
        return f"columns {list(a.columns)} != {list(b.columns)}"
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    if not a.index.equals(b.index):
        return "index differs"
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype != y.dtype:
            return f"column {col!r}: dtype {x.dtype} != {y.dtype}"
        if x.dtype.kind in "fc":
            xv, yv = np.ascontiguousarray(x.to_numpy()), np.ascontiguousarray(y.to_numpy())
            if xv.tobytes() != yv.tobytes():
                rows = np.flatnonzero(xv.view(np.uint8).reshape(len(xv), -1)
                                      != yv.view(np.uint8).reshape(len(yv), -1))
                row = int(rows[0]) // xv.itemsize if len(rows) else 0
                with np.errstate(invalid="ignore"):
                    diff = float(np.nanmax(np.abs(xv - yv)))
                return f"column {col!r}: values differ (first at row {row}, largest difference {diff:.3g})"
        elif not x.equals(y):
            return f"column {col!r}: values differ"
    return None


def verify(store: Store, *, sample: int | None = None, experiment: str | None = None,
           seed: int = 0, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Recompute stored entries and compare each with its stored result, bit for bit.

    Parameters
    ----------
    store : Store
    sample : int, optional
        Check this many entries, drawn at random (``seed``) among the current ones; default all.
    experiment : str, optional
        Only this experiment's entries.

    Returns
    -------
    pandas.DataFrame
        One row per checked entry: ``experiment, key, status, seconds, detail, config``
        (columns an experiment declares as timings are left out of the comparison), with
        ``status`` one of ``identical``, ``differs`` (stale: the result the key promises is not
        what the code computes now), ``failed`` (the run raised) or ``unrunnable`` (the config no
        longer fits the experiment). Entries of an older code version (not current) are skipped:
        no page reads them.
    """
    from .experiments import EXPERIMENTS

    entries = []
    for meta_path, meta in store._entries():
        name = meta.get("experiment", meta_path.parent.name)
        if experiment is not None and name != experiment:
            continue
        if name not in EXPERIMENTS or meta.get("code_hash") != store.code_of(name):
            continue
        entries.append((meta_path, meta))
    if sample is not None and sample < len(entries):
        entries = random.Random(seed).sample(entries, sample)
    rows = []
    for meta_path, meta in entries:
        name = meta["experiment"]
        exp = EXPERIMENTS[name]
        row = {"experiment": name, "key": meta_path.stem, "status": "identical", "seconds": None,
               "detail": "", "config": json.dumps(meta.get("config", {}), sort_keys=True)}
        try:
            config = config_from_json(exp.config_cls, meta.get("config", {}))
            if store.key(name, config) != meta_path.stem:
                raise ValueError("the config read back does not give the entry's key")
        except ValueError as exc:
            row.update(status="unrunnable", detail=str(exc))
            rows.append(row)
            continue
        stored = pd.read_pickle(meta_path.with_suffix(".pkl"))
        start = time.perf_counter()
        try:
            fresh = exp.run(config)
        except Exception as exc:  # a run that fails is reported, the others still checked
            row.update(status="failed", detail=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            continue
        row["seconds"] = round(time.perf_counter() - start, 3)
        timing = [c for c in exp.timing_columns if c in stored.columns and c in fresh.columns]
        problem = frames_identical(stored.drop(columns=timing), fresh.drop(columns=timing))
        if problem is not None:
            row.update(status="differs", detail=problem)
        rows.append(row)
        if log is not None:
            log(f"verify: {name} {meta_path.stem[:12]} {row['status']} {row['detail']}".rstrip())
    return pd.DataFrame(rows, columns=["experiment", "key", "status", "seconds", "detail", "config"])


# --------------------------------------------------------------------------- reads log


def read_reads(paths: Iterable[str | os.PathLike]) -> set[tuple[str, str]]:
    """The ``(experiment, key)`` pairs listed in store-read logs (one ``name key`` per line)."""
    out: set[tuple[str, str]] = set()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out.add((parts[0], parts[1]))
    return out


# --------------------------------------------------------------------------- export / import


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_bundle(store: Store, path: str | os.PathLike, *,
                  entries: Iterable[tuple[str, str]] | None = None,
                  experiment: str | None = None) -> dict:
    """Write stored entries into one ``.tar.gz`` archive with a manifest; return the manifest.

    ``entries`` (pairs ``(experiment, key)``, e.g. from :func:`read_reads`) selects entries;
    default: every entry of the current code. A listed entry missing from the store is an error
    (the archive would not render the pages it is for).
    """
    wanted = None if entries is None else set(entries)
    chosen = []
    for meta_path, meta in store._entries():
        name = meta.get("experiment", meta_path.parent.name)
        key = meta_path.stem
        if experiment is not None and name != experiment:
            continue
        if wanted is not None:
            if (name, key) not in wanted:
                continue
        elif name in _registered() and meta.get("code_hash") != store.code_of(name):
            continue
        if meta_path.with_suffix(".pkl").exists():
            chosen.append((name, key, meta_path))
    if wanted is not None:
        missing = wanted - {(n, k) for n, k, _ in chosen}
        if missing:
            name, key = sorted(missing)[0]
            raise BundleError(f"{len(missing)} listed entries are not in the store {store.root}, "
                              f"e.g. {name} {key[:12]}; build the profile first")
    manifest = {"format": BUNDLE_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "entries": []}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, key, meta_path in sorted(chosen):
            record = {"experiment": name, "key": key, "files": {}}
            for suffix in (".pkl", ".json"):
                data = meta_path.with_suffix(suffix).read_bytes()
                arcname = f"{name}/{key}{suffix}"
                info = tarfile.TarInfo(arcname)
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
                record["files"][suffix[1:]] = {"path": arcname, "size": len(data), "sha256": _sha256(data)}
            manifest["entries"].append(record)
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    atomic_write_bytes(path, buffer.getvalue())
    return manifest


def _registered() -> set[str]:
    from .experiments import EXPERIMENTS

    return set(EXPERIMENTS)


def _fetch(source: str, known_hash: str | None) -> Path:
    """A local path for ``source``: itself, or a pooch download of a URL into a temporary cache."""
    if "://" not in source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no results archive at {path}")
        if known_hash is not None and _sha256(path.read_bytes()) != known_hash.removeprefix("sha256:"):
            raise BundleError(f"{path}: sha256 differs from the given {known_hash}")
        return path
    import pooch

    folder = Path(tempfile.mkdtemp(prefix="lr-bundle-"))
    try:
        return Path(pooch.retrieve(source, known_hash=known_hash, path=folder, progressbar=False))
    except ValueError as exc:  # pooch: hash mismatch
        raise BundleError(f"{source}: {exc}") from exc
    except Exception as exc:
        raise BundleError(f"cannot download {source}: {type(exc).__name__}: {exc}") from exc


def import_bundle(source: str | os.PathLike, store: Store, *, known_hash: str | None = None) -> dict:
    """Add every entry of a results archive (path or URL) to ``store``.

    Every file is checked against the manifest (size, sha256) and every sidecar against its own
    key and experiment before anything is written; one bad entry rejects the whole archive with
    a :class:`BundleError` naming it. Entries the store already holds are left as they are.

    Returns ``{"entries": n, "added": n_new, "skipped": n_present}``.
    """
    path = _fetch(str(source), known_hash)
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if "manifest.json" not in members:
                raise BundleError(f"{source} has no manifest.json: not a learning-rules results archive")
            manifest = json.loads(tar.extractfile(members["manifest.json"]).read())
            if manifest.get("format") != BUNDLE_FORMAT:
                raise BundleError(f"{source}: archive format {manifest.get('format')!r}, this version "
                                  f"reads format {BUNDLE_FORMAT}")
            checked = []
            for record in manifest.get("entries", []):
                name, key = record["experiment"], record["key"]
                Store._check_name(name)
                if not all(c in "0123456789abcdef" for c in key) or len(key) != 64:
                    raise BundleError(f"{source}: entry {name} {key!r} has a malformed key")
                blobs = {}
                for kind in ("pkl", "json"):
                    spec = record["files"][kind]
                    if spec["path"] != f"{name}/{key}.{kind}" or spec["path"] not in members:
                        raise BundleError(f"{source}: entry {name} {key[:12]} lacks its {kind} file")
                    data = tar.extractfile(members[spec["path"]]).read()
                    if len(data) != spec["size"] or _sha256(data) != spec["sha256"]:
                        raise BundleError(f"{source}: entry {name} {key[:12]}: {spec['path']} is "
                                          "corrupted (its sha256 differs from the manifest's)")
                    blobs[kind] = data
                meta = json.loads(blobs["json"])
                if meta.get("key") != key or meta.get("experiment") != name:
                    raise BundleError(f"{source}: entry {name} {key[:12]}: its sidecar names "
                                      f"{meta.get('experiment')} {str(meta.get('key'))[:12]}")
                checked.append((name, key, blobs))
    except (tarfile.TarError, EOFError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise BundleError(f"{source} is not a readable results archive: {type(exc).__name__}: {exc}") from exc
    added = 0
    for name, key, blobs in checked:
        folder = store.root / name
        if (folder / f"{key}.json").exists() and (folder / f"{key}.pkl").exists():
            continue
        atomic_write_bytes(folder / f"{key}.pkl", blobs["pkl"])
        atomic_write_bytes(folder / f"{key}.json", blobs["json"])  # the commit marker, last
        added += 1
    return {"entries": len(checked), "added": added, "skipped": len(checked) - added}
