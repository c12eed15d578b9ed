"""Find, verify and download dataset files. Plumbing only: no parsing.

Resolution order for every file of a dataset, first hit wins:

1. each directory listed in ``LEARNING_RULES_DATA`` (``os.pathsep``-separated), looking in
   ``DIR/<dataset folder>/`` then ``DIR/`` itself, for the canonical form and then each accepted
   alternative (e.g. ``train-images-idx3-ubyte.gz``, then ``train-images-idx3-ubyte``);
2. the user cache, ``LEARNING_RULES_CACHE`` or ``pooch.os_cache("learning-rules")``, same layout;
3. a download of the canonical form with pooch (hash verified by pooch) into
   ``<cache>/<dataset folder>/``, unless ``LEARNING_RULES_OFFLINE=1``.

Every file found is verified against its pinned checksum before use; a mismatch raises
:class:`ChecksumError` (the file is never used, and the search does not go on to another copy).
Digests are remembered in memory per (path, size, mtime), so repeated loads hash a file once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ENV_CACHE, ENV_DATA, ENV_OFFLINE, ChecksumError, DatasetNotFoundError
from .registry import DataFile, DatasetInfo, FileForm
from .._progress import quiet

CACHE_APP = "learning-rules"


# --------------------------------------------------------------------------------------------------
# Where to look
# --------------------------------------------------------------------------------------------------


def data_dirs() -> list[Path]:
    """Directories named by ``LEARNING_RULES_DATA``, in order (empty entries skipped)."""
    raw = os.environ.get(ENV_DATA, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def cache_dir() -> Path:
    """The user cache: ``LEARNING_RULES_CACHE`` or ``pooch.os_cache("learning-rules")``."""
    override = os.environ.get(ENV_CACHE, "").strip()
    if override:
        return Path(override).expanduser()
    import pooch

    return Path(pooch.os_cache(CACHE_APP))


def offline() -> bool:
    """``LEARNING_RULES_OFFLINE`` set to a true value (1/true/yes/on) disables downloads."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Root:
    """A directory searched, and why (for error messages)."""

    path: Path
    origin: str


def roots() -> list[Root]:
    """All search roots in resolution order: data dirs, then the cache."""
    return [Root(d, ENV_DATA) for d in data_dirs()] + [Root(cache_dir(), "user cache")]


def candidate_dirs(info: DatasetInfo, root: Path) -> list[Path]:
    """``root/<folder>`` for each of the dataset's folder names, then ``root`` itself."""
    return [root / f for f in info.folders] + [root]


# --------------------------------------------------------------------------------------------------
# Hashing and verification
# --------------------------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], tuple[str, str]] = {}


def digests(path: Path, *, use_cache: bool = True) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of a file, in one pass; memoised per (path, size, mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if use_cache and key in _DIGESTS:
        return _DIGESTS[key]
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    result = (sha.hexdigest(), md5.hexdigest())
    _DIGESTS[key] = result
    return result


def verify_file(path: Path, form: FileForm, dataset: str, *, use_cache: bool = True) -> str:
    """Check one file against ``form``'s pinned checksum; return its sha256.

    Raises :class:`ChecksumError` on a mismatch, ``ValueError`` when nothing is pinned.
    """
    sha, md5 = digests(path, use_cache=use_cache)
    if form.sha256:
        if sha != form.sha256:
            raise ChecksumError(path, "sha256", form.sha256, sha, dataset)
    elif form.md5:
        if md5 != form.md5:
            raise ChecksumError(path, "md5", form.md5, md5, dataset)
    else:
        raise ValueError(f"no checksum pinned for {form.name} of dataset {dataset!r}; "
                         "add sha256= to its FileForm in learning_rules/data/registry.py")
    return sha


def verify_found(path: Path, form: FileForm, dataset: str, *,
                 use_cache: bool = True) -> dict[str, str]:
    """Verify a found file or folder form; return ``{file path: sha256}`` for what was checked."""
    if not form.is_folder:
        return {str(path): verify_file(path, form, dataset, use_cache=use_cache)}
    out = {}
    for member in form.members:
        p = path / member.name
        if not p.is_file():
            raise DatasetNotFoundError(
                dataset, [f"{form.name}/{member.name}"], [f"{path} (folder present, file absent)"],
                folder=None)
        out[str(p)] = verify_file(p, member, dataset, use_cache=use_cache)
    return out


# --------------------------------------------------------------------------------------------------
# Finding and downloading
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A dataset file located on disk: which :class:`DataFile`, in which form, where."""

    file: DataFile
    form: FileForm
    path: Path


def find(info: DatasetInfo, file: DataFile, search: Iterable[Root]) -> Found | None:
    """First existing form of ``file`` under ``search`` (no verification)."""
    for root in search:
        for d in candidate_dirs(info, root.path):
            for form in file.forms:
                p = d / form.name
                if (p.is_dir() if form.is_folder else p.is_file()):
                    return Found(file, form, p)
    return None


def _searched_lines(info: DatasetInfo, search: Iterable[Root]) -> list[str]:
    lines = []
    for root in search:
        for d in candidate_dirs(info, root.path):
            note = "" if d.is_dir() else " (does not exist)"
            lines.append(f"{d}{os.sep}  [{root.origin}]{note}")
    return lines


def download(info: DatasetInfo, file: DataFile) -> tuple[Path | None, list[str]]:
    """Download ``file``'s canonical form into the cache; ``(path, [])`` or ``(None, reasons)``.

    Tries each URL in order. Network failures are collected as reasons; a hash mismatch raises
    :class:`ChecksumError` at once (a wrong file from a mirror is never used).
    """
    import pooch

    form = file.canonical
    if not file.urls:
        return None, [f"{form.name} has no download URL"]
    target = cache_dir() / (info.folders[0] if info.folders else info.name)
    known = f"sha256:{form.sha256}" if form.sha256 else (f"md5:{form.md5}" if form.md5 else None)
    reasons = []
    for url in file.urls:
        try:
            path = pooch.retrieve(url, known_hash=known, fname=form.name, path=target,
                                  progressbar=not quiet())
        except ValueError as exc:  # pooch: "... hash of downloaded file ... does not match ..."
            if "hash" in str(exc).lower():
                raise ChecksumError(url, known.split(":")[0], known.split(":")[1],
                                    "(see pooch's message: " + str(exc) + ")", info.name) from exc
            reasons.append(f"{url}: {exc}")
        except Exception as exc:  # noqa: BLE001 -- network stack errors vary by backend
            reasons.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            return Path(path), []
    return None, reasons


def resolve(info: DatasetInfo, keys: Iterable[str] | None = None, *, allow_download: bool,
            verify: bool = True) -> dict[str, tuple[Found, dict[str, str]]]:
    """Locate (and optionally download) the files ``keys`` of ``info``.

    Returns
    -------
    dict
        key -> (Found, {file path: sha256}) -- the digests empty when ``verify`` is false.

    Raises
    ------
    DatasetNotFoundError
        Some file is in no searched place and could not be downloaded.
    ChecksumError
        A file found or downloaded does not match its pinned checksum.
    """
    wanted = [info.file(k) for k in (keys if keys is not None else [f.key for f in info.files])]
    search = roots()
    out: dict[str, tuple[Found, dict[str, str]]] = {}
    missing: list[DataFile] = []
    for file in wanted:
        hit = find(info, file, search)
        if hit is None:
            missing.append(file)
        else:
            out[file.key] = (hit, verify_found(hit.path, hit.form, info.name) if verify else {})
    reasons: list[str] = []
    if missing:
        if not allow_download:
            reasons.append("download not requested (use fetch(), `learning-rules data fetch`, "
                           "or load())")
        elif offline():
            reasons.append(f"{ENV_OFFLINE} is set")
        else:
            still = []
            for file in missing:
                path, why = download(info, file)
                if path is None:
                    still.append(file)
                    reasons += why
                else:
                    hit = Found(file, file.canonical, path)
                    out[file.key] = (hit, verify_found(path, file.canonical, info.name))
            missing = still
    if missing:
        folder = info.folders[0] if info.folders else None
        raise DatasetNotFoundError(info.name, [f.describe() for f in missing],
                                   _searched_lines(info, search), reasons, folder=folder)
    return out
