"""Results that travel: verify stored entries, export them as one archive, import an archive.

* :func:`verify` recomputes stored entries and compares them with what is stored, bit for bit
  (every run is deterministic for its seed on one machine). It is the safety net for a dependency
  the keys miss (:mod:`learning_rules.fingerprint` sees only what the code names).
* :func:`compare` compares the entries of two stores by experiment and config, whatever code
  version computed them: the oracle of a restructuring, which changes every key (the code moved)
  and must change no result.
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

from .store import Store, atomic_write_bytes, canonical_json, config_to_dict

__all__ = [
    "BUNDLE_FORMAT",
    "COMPARE_STATUSES",
    "BundleError",
    "compare",
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
           seed: int = 0, log: Callable[[str], None] | None = None,
           current_only: bool = True) -> pd.DataFrame:
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
        no page reads them; with ``current_only=False`` they are recomputed too, which is the
        oracle of a restructuring that changes every key but should change no result (the store
        of a build made before it, recomputed by the code after it).
    """
    from .experiments import EXPERIMENTS

    entries = []
    for meta_path, meta in store._entries():
        name = meta.get("experiment", meta_path.parent.name)
        if experiment is not None and name != experiment:
            continue
        if name not in EXPERIMENTS or (current_only and meta.get("code_hash") != store.code_of(name)):
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
            if meta.get("code_hash") == store.code_of(name) and store.key(name, config) != meta_path.stem:
                raise ValueError("the config read back does not give the entry's key")
            if canonical_json(config_to_dict(config)) != canonical_json(meta.get("config", {})):
                raise ValueError("the config read back differs from the stored one")
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


# --------------------------------------------------------------------------- compare two stores

#: The statuses of :func:`compare`, in the order its summary shows them.
COMPARE_STATUSES = ("identical", "differs", "missing", "ambiguous", "only in other")


@dataclasses.dataclass(frozen=True)
class _Entry:
    name: str
    key: str
    config: str  # canonical JSON of the stored config
    code_hash: str | None
    meta_path: Path

    @property
    def data_path(self) -> Path:
        return self.meta_path.with_suffix(".pkl")


def _open_store_folder(root: Path, role: str, fix: str) -> None:
    """Raise a :class:`BundleError` naming ``root`` when it is not a readable folder."""
    if not root.is_dir():
        what = "a file, not a folder" if root.exists() else "no such folder"
        raise BundleError(f"{role} {root} cannot be read ({what}); {fix}")
    try:
        os.listdir(root)
    except OSError as exc:
        raise BundleError(f"{role} {root} cannot be read ({type(exc).__name__}: {exc}); {fix}") from exc


def _store_entries(root: Path, experiment: str | None) -> list[_Entry]:
    """Every committed entry under ``root`` (of ``experiment``, or all), reading nothing but the
    sidecars; a :class:`BundleError` naming the first corrupt one."""
    try:
        paths = sorted(p for p in root.glob("*/*.json") if not p.name.startswith("."))
    except OSError as exc:
        raise BundleError(f"cannot list the store {root}: {type(exc).__name__}: {exc}") from exc
    entries = []
    for meta_path in paths:
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
                raise ValueError("not a store sidecar (no config)")
        except (OSError, ValueError) as exc:
            raise BundleError(
                f"corrupt store entry {meta_path} ({type(exc).__name__}: {exc}); delete it and its "
                f"{meta_path.with_suffix('.pkl').name} (or rebuild that store), then compare again"
            ) from exc
        name = meta.get("experiment", meta_path.parent.name)
        if experiment is not None and name != experiment:
            continue
        if not meta_path.with_suffix(".pkl").is_file():
            raise BundleError(
                f"incomplete store entry {meta_path}: its result {meta_path.with_suffix('.pkl')} is "
                "missing; delete the sidecar (or rebuild that store), then compare again"
            )
        entries.append(_Entry(name, meta_path.stem, canonical_json(meta["config"]),
                              meta.get("code_hash"), meta_path))
    return entries


def _entry_frame(entry: _Entry) -> pd.DataFrame:
    try:
        frame = pd.read_pickle(entry.data_path)
    except Exception as exc:  # a damaged file, a pickle of another pandas version
        raise BundleError(
            f"corrupt store entry {entry.data_path} ({type(exc).__name__}: {exc}); delete it and "
            f"{entry.meta_path.name} (or rebuild that store), then compare again"
        ) from exc
    if not isinstance(frame, pd.DataFrame):
        raise BundleError(f"corrupt store entry {entry.data_path}: holds a {type(frame).__name__}, "
                          "not a DataFrame; delete it and its sidecar (or rebuild that store)")
    return frame


def _results_differ(a: pd.DataFrame, b: pd.DataFrame, timing: tuple[str, ...]) -> str | None:
    """:func:`frames_identical` with the timing columns both frames have left out."""
    drop = [c for c in timing if c in a.columns and c in b.columns]
    return frames_identical(a.drop(columns=drop), b.drop(columns=drop))


def compare(store: Store, other_root: str | os.PathLike, *, experiment: str | None = None,
            current_only: bool = True) -> pd.DataFrame:
    """Compare the entries of ``store`` with those of the same experiment and config in another
    store, bit for bit, whatever code version computed either. Reads both stores, writes neither.

    A restructuring (code moved, nothing meant to change) changes every key, since the key holds
    the fingerprint of the code a run reaches; the results recomputed into new entries must equal
    the old ones. Build into one store before the change and into another after it, then compare.

    Parameters
    ----------
    store : Store
        The store whose entries are checked (the one built by the code under test).
    other_root : path
        The folder of the store to compare with (``<experiment>/<key>.json`` and ``.pkl``).
    experiment : str, optional
        Only this experiment's entries, in both stores.
    current_only : bool
        Check only the entries of ``store`` whose code hash is the current code's (as
        :func:`verify` decides); ``False``: every entry, whatever its code version.

    Returns
    -------
    pandas.DataFrame
        One row per checked entry of ``store``, then one per unmatched entry of the other store:
        ``experiment, key, other_keys, status, detail, config`` (``key`` is empty for an entry
        only in the other store; ``other_keys`` lists, comma-separated, the other store's entries
        of the same config). Entries match by experiment name and canonical JSON of their config
        (the config class and code hash are ignored: a restructuring moves them). Columns an
        experiment declares as timings are left out of the comparison. ``status`` is one of
        :data:`COMPARE_STATUSES`: ``identical``; ``differs`` (``detail`` says what differs first);
        ``missing`` (the other store has no entry of that config); ``ambiguous`` (the other store
        has several entries of that config and they disagree; several that agree count as one);
        ``only in other`` (an entry of the other store, one row each, whose config no checked
        entry has: a result the code under test no longer produces).

    Raises
    ------
    BundleError
        When either store folder is missing or unreadable, the other store holds no entries or is
        the same folder as ``store``, or an entry is corrupt (the message names its path).
    """
    from .experiments import EXPERIMENTS

    other = Path(other_root).expanduser()
    _open_store_folder(store.root, "the store in use", "point LEARNING_RULES_STORE (or --store) "
                       "at the store built by the code under test")
    _open_store_folder(other, "the store to compare with", "give the folder of the other store "
                       "(what LEARNING_RULES_STORE pointed to when it was built)")
    if other.resolve() == store.root.resolve():
        raise BundleError(f"{other} is the store in use itself; point LEARNING_RULES_STORE (or "
                          "--store) at the other store, the one built after the change")
    theirs = _store_entries(other, None)
    if not theirs:
        raise BundleError(f"{other} holds no store entries (<experiment>/<key>.json with its "
                          ".pkl); give the folder of a store, e.g. ~/.cache/learning-rules/store")
    if experiment is not None:
        theirs = [e for e in theirs if e.name == experiment]
    mine = _store_entries(store.root, experiment)
    if current_only:
        codes: dict[str, str] = {}
        chosen = []
        for entry in mine:
            if entry.name not in EXPERIMENTS:
                continue
            if entry.name not in codes:
                codes[entry.name] = store.code_of(entry.name)
            if entry.code_hash == codes[entry.name]:
                chosen.append(entry)
        mine = chosen

    def by_config(entries: list[_Entry]) -> dict[tuple[str, str], list[_Entry]]:
        groups: dict[tuple[str, str], list[_Entry]] = {}
        for entry in entries:
            groups.setdefault((entry.name, entry.config), []).append(entry)
        return groups

    mine_groups, their_groups = by_config(mine), by_config(theirs)
    rows = []
    for (name, config), entries in sorted(mine_groups.items()):
        timing = tuple(EXPERIMENTS[name].timing_columns) if name in EXPERIMENTS else ()
        matches = their_groups.get((name, config), [])
        base = {"experiment": name, "other_keys": ",".join(m.key for m in matches), "config": config}
        if not matches:
            rows += [{**base, "key": e.key, "status": "missing",
                      "detail": f"no entry of this config in {other}"} for e in entries]
            continue
        # the other store's entries of this config, in classes of identical results
        frames = [_entry_frame(m) for m in matches]
        classes: list[list[int]] = []
        disagreement = ""
        for i, frame in enumerate(frames):
            for members in classes:
                if _results_differ(frames[members[0]], frame, timing) is None:
                    members.append(i)
                    break
            else:
                if classes and not disagreement:
                    first = matches[classes[0][0]].key[:12]
                    disagreement = (f"{first} vs {matches[i].key[:12]}: "
                                    f"{_results_differ(frames[classes[0][0]], frame, timing)}")
                classes.append([i])
        for entry in entries:
            frame = _entry_frame(entry)
            if len(classes) == 1:
                problem = _results_differ(frame, frames[0], timing)
                status = "identical" if problem is None else "differs"
                detail = "" if problem is None else problem
            else:
                agree = [len(members) for members in classes
                         if _results_differ(frame, frames[members[0]], timing) is None]
                status = "ambiguous"
                detail = (f"the other store's {len(matches)} entries of this config disagree "
                          f"({disagreement}); this entry is identical to {sum(agree)} of them")
            rows.append({**base, "key": entry.key, "status": status, "detail": detail})
    for (name, config), matches in sorted(their_groups.items()):
        if (name, config) not in mine_groups:
            rows += [{"experiment": name, "key": "", "other_keys": m.key, "status": "only in other",
                      "detail": f"no {'current ' if current_only else ''}entry of this config in "
                      f"{store.root}", "config": config} for m in matches]
    return pd.DataFrame(rows, columns=["experiment", "key", "other_keys", "status", "detail", "config"])


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
