"""The two errors of the data layer; each message carries its fix.

* :class:`DatasetNotFoundError` -- a dataset's files are in none of the places searched and could
  not be downloaded. It names the dataset, every place searched, and the two ways to fix it.
* :class:`ChecksumError` -- a file was found (or downloaded) but its content differs from the pinned
  checksum. Such a file is never used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

ENV_DATA = "LEARNING_RULES_DATA"
ENV_CACHE = "LEARNING_RULES_CACHE"
ENV_OFFLINE = "LEARNING_RULES_OFFLINE"


class ChecksumError(ValueError):
    """A dataset file whose content differs from its pinned checksum.

    Attributes
    ----------
    path : pathlib.Path or str
        The offending file (or the URL it was downloaded from).
    algorithm : str
        ``"sha256"`` or ``"md5"``.
    expected, actual : str
        The pinned and the measured hex digests.
    """

    def __init__(self, path: Path | str, algorithm: str, expected: str, actual: str,
                 dataset: str | None = None) -> None:
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.dataset = dataset
        fetch = f"`learning-rules data fetch {dataset}`" if dataset else "`learning-rules data fetch NAME`"
        super().__init__(
            f"checksum mismatch for {path}: expected {algorithm} {expected}, got {actual}. "
            "The file is corrupt, truncated or a different version, so it is not used. "
            f"Fix: delete or replace that file (or point {ENV_DATA} at a verified copy), "
            f"then run {fetch} with network to download a verified one."
        )

    def __reduce__(self):  # picklable, so parallel workers can re-raise it
        return (type(self), (self.path, self.algorithm, self.expected, self.actual, self.dataset))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset whose files are nowhere on this machine and could not be downloaded.

    Attributes
    ----------
    dataset : str
        The dataset's registered name.
    missing : list of str
        File names (with accepted alternatives) that were not found.
    searched : list of str
        Every directory searched, in order, each with where it came from.
    reasons : list of str
        Why no download happened (offline switch, network error per URL).
    """

    def __init__(self, dataset: str, missing: Sequence[str], searched: Sequence[str],
                 reasons: Sequence[str] = (), folder: str | None = None) -> None:
        self.dataset = dataset
        self.missing = list(missing)
        self.searched = list(searched)
        self.reasons = list(reasons)
        self.folder = folder
        lines = [f"dataset {dataset!r} not found: missing {', '.join(self.missing)}.",
                 "Searched, in order:"]
        lines += [f"  - {s}" for s in self.searched] or ["  - (no directory)"]
        if self.reasons:
            lines.append("Why nothing was downloaded: " + "; ".join(self.reasons))
        where = f"{folder}/" if folder else ""
        names = ", ".join(f"{where}{m.split(' (or ')[0]}" for m in self.missing)
        if any(" (or " in m for m in self.missing):
            names += " (or the alternatives named above)"
        lines += [
            "Fix it in one of two ways:",
            f"  1. set {ENV_DATA} to a folder containing {names} "
            f"(several folders: separate them with {os.pathsep!r});",
            f"  2. run `learning-rules data fetch {dataset}` on a machine with network access "
            f"(downloads into the user cache, checksum-verified; unset {ENV_OFFLINE}).",
        ]
        super().__init__("\n".join(lines))

    def __reduce__(self):  # picklable, so parallel workers can re-raise it
        return (type(self), (self.dataset, self.missing, self.searched, self.reasons, self.folder))
