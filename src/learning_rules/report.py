"""The reproduction ledger: every published number next to the number this book regenerates.

Three tables meet here.

* **Published cells**, transcribed once per source into ``reference/<source>.csv`` with the columns
  ``source, table, row, column, published, unit`` (:func:`load_published`).
* **Reproduced cells**, computed by the chapters: each registers a function
  ``reproduced_cells(profile) -> DataFrame`` in :data:`REPRODUCTIONS` (:func:`register_reproduction`,
  or a module of :mod:`learning_rules.experiments` exposing ``reproduced_cells`` and ``REPRODUCES``);
  :func:`collect_reproduced` calls them.
* **The ledger** (:func:`build_ledger`), their left join on ``(source, table, row, column)``: a
  published cell nobody regenerated stays in it as *not run*, with the reason.

A cell reproduces when the mean over seeds is within the tolerance of its unit,

.. math::

    |\\bar r - p| \\le \\tau(\\text{unit}, p), \\qquad
    \\tau = \\begin{cases} 2 \\text{ points} & \\text{accuracy or error, in \\% or as a fraction}\\\\
    0.15\\,|p| & \\text{a loss} \\end{cases}

(:func:`tolerance`; a chapter may override it per cell). The method ranking of a row group survives
(:func:`rank_preserved`) when no pair of methods that the source orders strictly is reversed. These
rules, :func:`build_ledger` and :func:`record` live in :mod:`learning_rules.cells` (below the
chapters, which use them) and are re-exported here; this module collects and reports.

``learning-rules report`` (:func:`run_report`) prints the summary (:func:`summarize`), writes
``_build/reproduction.csv`` and exits with status 1 when a cell that reproduced in the last accepted
ledger (``_build/reproduction.prev.csv``) no longer does (:func:`find_regressions`).

Explained in: ``book/report.ipynb`` (the reproduction report) and ``reference/README.md``.
"""

from __future__ import annotations

from .analysis.stats import t_half_width

import contextlib
import dataclasses
import importlib
import io
import math
import os
import pkgutil
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._registry import Registry
from .store import NotStoredError, atomic_write_text, read_only
from .cells import (  # noqa: F401 - the ledger's rules live below the chapters; re-exported
    CAUSES,
    CHANCE_ALPHA,
    EXTRA_LEDGER_COLUMNS,
    KEY,
    LEDGER_COLUMNS,
    MIN_SEEDS_FOR_RANGE,
    NO_CAUSE,
    NOT_REGISTERED,
    OPTIONAL_PUBLISHED,
    OPTIONAL_REPRODUCED,
    PUBLISHED_COLUMNS,
    REPRODUCED_COLUMNS,
    STATUS_NOT_COMPARABLE,
    STATUS_NOT_RUN,
    STATUS_OFF,
    STATUS_OK,
    TOLERANCES,
    Tolerance,
    UNITS,
    _isnan,
    _rows,
    build_ledger,
    default_rank_group,
    mean_interval,
    miss_cause,
    range_calibration,
    range_calibration_text,
    rank_preserved,
    record,
    repeated_comparisons,
    tolerance,
    unit_kind,
    validate_published,
    validate_reproduced,
)

__all__ = [
    "KEY",
    "LEDGER_COLUMNS",
    "PUBLISHED_COLUMNS",
    "REFERENCE_DIR",
    "REPRODUCED_COLUMNS",
    "REPRODUCTIONS",
    "ReproductionError",
    "TOLERANCES",
    "UNITS",
    "Reproduction",
    "ReportResult",
    "Tolerance",
    "build_ledger",
    "chapter_ledger",
    "chapter_misses",
    "collect_reproduced",
    "default_rank_group",
    "discover_reproductions",
    "find_regressions",
    "format_summary",
    "load_published",
    "misses_markdown",
    "mean_interval",
    "range_calibration_table",
    "rank_preserved",
    "read_ledger",
    "record",
    "register_reproduction",
    "run_report",
    "summarize",
    "tolerance",
    "unit_kind",
    "validate_published",
    "validate_reproduced",
    "write_ledger",
]

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
def load_published(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """All ``<source>.csv`` files of ``directory`` (default :data:`REFERENCE_DIR`), validated.

    Each file's ``source`` column must equal its file name. Returns the concatenation with the
    columns of :data:`PUBLISHED_COLUMNS` (an empty frame when there is no file yet).
    """
    folder = Path(directory) if directory is not None else REFERENCE_DIR
    frames = []
    for path in sorted(folder.glob("*.csv")):
        frame = validate_published(pd.read_csv(path, dtype=str, keep_default_na=False,
                                               na_values=[""]), str(path))
        wrong = sorted(set(frame["source"]) - {path.stem})
        if wrong:
            raise ValueError(f"{path}: source column holds {wrong}; it must be {path.stem!r} (the file name)")
        frames.append(frame[PUBLISHED_COLUMNS + [c for c in OPTIONAL_PUBLISHED if c in frame]
                            + ["printed_half_unit"]])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("published", "printed_half_unit") else object)
                             for c in [*PUBLISHED_COLUMNS, *OPTIONAL_PUBLISHED, "printed_half_unit"]})
    out = pd.concat(frames, ignore_index=True)
    for col in OPTIONAL_PUBLISHED:
        out[col] = out[col].fillna("") if col in out else ""
    return validate_published(out, f"reference tables in {folder}")


# --------------------------------------------------------------------------- registering reproductions


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """A chapter's regenerated cells.

    Attributes
    ----------
    name : str
    cells : callable
        ``cells(profile) -> DataFrame`` with the columns of :data:`REPRODUCED_COLUMNS` (plus the
        optional ``rank_group``, ``tolerance``, ``note``).
    sources : tuple of str
        The published sources whose cells it regenerates (a failure marks them *not run*).
    chapter : str or None
        The page that explains the numbers and their misses (path from the project root).
    description : str
    pages : tuple of str
        Every page whose profile parameters the cells are computed with (default: the chapter):
        a cell is *comparable* at a profile only when none of them cuts the sources' protocol.
    """

    name: str
    cells: Callable[[str], pd.DataFrame]
    sources: tuple[str, ...]
    chapter: str | None = None
    description: str = ""
    pages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.pages and self.chapter:
            object.__setattr__(self, "pages", (self.chapter,))


REPRODUCTIONS: Registry[Reproduction] = Registry("reproduction")


def register_reproduction(
    name: str, *, sources: Sequence[str], chapter: str | None = None, description: str = "",
    pages: Sequence[str] = (),
):
    """Decorator: register ``cells(profile) -> DataFrame`` as reproduction ``name``."""
    if isinstance(sources, str):
        sources = (sources,)
    if not sources:
        raise ValueError(f"reproduction {name!r}: give the sources it regenerates, e.g. sources=('dual-weight',)")

    def decorator(fn: Callable[[str], pd.DataFrame]):
        REPRODUCTIONS.register(name, Reproduction(name, fn, tuple(sources), chapter, description,
                                                  tuple(pages)))
        return fn

    return decorator


def discover_reproductions() -> Registry[Reproduction]:
    """Import every experiment module and register the ones that expose ``reproduced_cells``.

    A module of :mod:`learning_rules.experiments` with a function ``reproduced_cells(profile)`` and
    a mapping ``REPRODUCES = {"sources": [...], "chapter": "book/..."}`` is registered under its
    module name, unless the function was registered already with :func:`register_reproduction`.
    """
    from . import experiments

    registered = {id(r.cells) for r in REPRODUCTIONS.values()}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{experiments.__name__}.{info.name}")
        fn = getattr(module, "reproduced_cells", None)
        # set(...): a Registry's `in` raises ValueError for unknown names instead of answering False
        if not callable(fn) or id(fn) in registered or info.name in set(REPRODUCTIONS):
            continue
        meta = getattr(module, "REPRODUCES", None)
        if not isinstance(meta, Mapping) or not meta.get("sources"):
            raise ValueError(
                f"{module.__name__} defines reproduced_cells but no REPRODUCES = "
                "{'sources': [...], 'chapter': 'book/...'}; add it or use @register_reproduction"
            )
        register_reproduction(info.name, sources=tuple(meta["sources"]), chapter=meta.get("chapter"),
                              description=str(meta.get("description", "")),
                              pages=tuple(meta.get("pages", ())))(fn)
        registered.add(id(fn))
    return REPRODUCTIONS


class ReproductionError(RuntimeError):
    """A chapter's ``reproduced_cells`` raised something other than "not stored" or "no dataset"."""


def collect_reproduced(
    profile: str, names: Sequence[str] | None = None, *, compute: bool = True,
    comparability: Callable[[str, Sequence[str]], str | None] | None = None,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Call every registered reproduction for ``profile``.

    With ``compute=False`` the reproductions run with the store in read-only mode
    (:func:`learning_rules.store.read_only`): they only read results the chapters stored, and a
    reproduction whose results are missing is reported as not run, with the missing entry named,
    instead of recomputing its chapter (the report page uses this).

    A reproduction whose stored results are missing (:class:`~learning_rules.store.NotStoredError`)
    or whose dataset is not on this machine (``FileNotFoundError``, the data layer's
    ``DatasetNotFoundError``) is *not run*; any other exception is a bug in the chapter's ledger
    code and raises :class:`ReproductionError` (so the report page, the build and the tests fail).

    Returns
    -------
    cells : DataFrame
        Validated reproduced cells of every reproduction that ran.
    failures : dict
        source -> reason, for every source of a reproduction that could not run.
    chapters : dict
        source -> chapter page, from the registrations.

    Python warnings and anything written to ``sys.stderr`` while a reproduction runs are kept in
    ``cells.attrs["diagnostics"]`` (name -> messages) instead of being shown.

    ``comparability(profile, pages)`` says what the profile cuts of the sources' protocols on a
    reproduction's pages (``None``: nothing, the cells are comparable; :func:`protocol_cuts` in
    :func:`run_report`); the cells of a reproduction with cuts get ``comparable = False`` and the
    cuts in their note.
    """
    discover_reproductions()
    chosen = list(REPRODUCTIONS) if names is None else [REPRODUCTIONS.lookup(n).name for n in names]
    frames, failures, chapters, diagnostics = [], {}, {}, {}
    for name in chosen:
        rep = REPRODUCTIONS[name]
        for source in rep.sources:
            if rep.chapter:
                chapters.setdefault(source, rep.chapter)
        # Warnings and stderr chatter of a chapter's code are collected, not printed: on the report
        # page, stderr would be a build warning (and -W makes it an error) caused by another page.
        stderr = io.StringIO()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr), \
                read_only(not compute):
            warnings.simplefilter("always")
            try:
                frame = validate_reproduced(rep.cells(profile), f"reproduction {name!r}")
            except NotStoredError as exc:
                frame = None
                reason = (f"{name}: results not stored yet: {exc} (`learning-rules build --profile "
                          f"{profile}`, or `learning-rules report --profile {profile} --compute`)")
                for source in rep.sources:
                    failures[source] = reason
            except FileNotFoundError as exc:  # a dataset missing here (DatasetNotFoundError): not run
                frame = None
                reason = f"{name}: not run here: {type(exc).__name__}: {exc}".strip()
                for source in rep.sources:
                    failures[source] = reason
            except Exception as exc:  # a bug in a chapter's ledger code fails the report and the build
                raise ReproductionError(f"reproduction {name!r} ({rep.chapter or 'no chapter'}) raised "
                                        f"{type(exc).__name__}: {exc}") from exc
        messages = [f"{w.category.__name__}: {w.message}" for w in caught]
        messages += [line for line in stderr.getvalue().splitlines() if line.strip()]
        if messages:
            diagnostics[name] = list(dict.fromkeys(messages))
        if frame is not None and comparability is not None and len(frame):
            cuts = comparability(profile, rep.pages)
            if cuts:
                frame["comparable"] = False
                frame["note"] = [f"{STATUS_NOT_COMPARABLE}: {cuts}" + (f"; {n}" if isinstance(n, str) and n else "")
                                 for n in frame["note"]]
        if frame is not None:
            frames.append(frame)
    cells = (pd.concat(frames, ignore_index=True) if frames
             else validate_reproduced(pd.DataFrame(columns=REPRODUCED_COLUMNS)))
    cells.attrs["diagnostics"] = diagnostics
    return cells, failures, chapters


#: The columns a page shows for its own misses (:func:`chapter_misses`).
MISS_COLUMNS = ["table", "row", "column", "published", "reproduced", "low", "high", "tolerance",
                "cause", "cause_detail"]


def chapter_ledger(name: str, profile: str, tables: Sequence[str] | None = None, *,
                   reference: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ledger of one registered reproduction ``name`` (its sources only) under ``profile``,
    read from the store as the report page reads it (``compute=False``, the profile's cuts
    applied), restricted to ``tables`` (default: the tables the chapter registers cells for).
    ``reference``: the folder of published tables (default: the package's)."""
    discover_reproductions()
    rep = REPRODUCTIONS.lookup(name)
    published = load_published(reference)
    published = published[published["source"].isin(rep.sources)]
    cells, failures, chapters = collect_reproduced(profile, [rep.name], compute=False,
                                                   comparability=protocol_cuts)
    cells = cells[cells["source"].isin(rep.sources)] if len(cells) else cells
    ledger = build_ledger(published, cells, profile, failures=failures, chapters=chapters)
    if tables is None and len(cells):  # the tables this chapter regenerates (a source may span several)
        tables = sorted(set(cells["table"]))
    if tables is not None:
        unknown = sorted(set(tables) - set(ledger["table"]))
        if unknown:
            raise ValueError(f"chapter_ledger({name!r}): no published table {unknown}; "
                             f"tables of its sources: {sorted(set(ledger['table']))}")
        ledger = ledger[ledger["table"].isin(list(tables))]
    return ledger.reset_index(drop=True)


def chapter_misses(name: str, profile: str, tables: Sequence[str] | None = None, *,
                   reference: str | os.PathLike | None = None) -> pd.DataFrame:
    """A chapter's own cells outside tolerance under ``profile``, each with its tested cause.

    The cells of :func:`chapter_ledger`. A page calls this to list its misses next to its figures;
    the report page lists the same cells with the same causes. ``attrs["status"]`` counts the cells
    of those tables per status, ``attrs["reason"]`` says why none was compared (nothing stored, or
    a preview profile's cuts) or is empty, and ``attrs["profile"]`` is ``profile``.
    """
    ledger = chapter_ledger(name, profile, tables, reference=reference)
    out = ledger[ledger["status"] == STATUS_OFF][MISS_COLUMNS].reset_index(drop=True)
    out.attrs["status"] = ledger["status"].value_counts().to_dict()
    reasons = ledger.loc[ledger["status"] != STATUS_OK, "note"].dropna()
    compared = ledger["status"].isin([STATUS_OK, STATUS_OFF]).any()
    out.attrs["reason"] = "" if compared or reasons.empty else str(reasons.iloc[0])
    out.attrs["profile"] = profile
    return out


def range_calibration_table(ledger: pd.DataFrame, part: int = 0, level: float = 0.95) -> pd.DataFrame:
    """:func:`~learning_rules.cells.range_calibration` per group of a ledger's distinct cells with
    a single-run range, the group being part ``part`` of the row key (0: the dataset of
    ``"house|2L|n=500|GD"``, -1: the method). Columns ``group, cells, outside, expected_outside,
    p_value``, most significant first."""
    has = ledger["within_seed_range"].notna()
    if "repeats" in ledger:
        has &= ~ledger["repeats"].fillna("").astype(str).str.len().astype(bool)
    part_of = ledger.loc[has, "row"].astype(str).str.split("|").str[part]
    inside = ledger.loc[has, "within_seed_range"].astype(bool)
    rows = [{"group": g, **range_calibration(int(len(v)), int(v.sum()), level)}
            for g, v in inside.groupby(part_of, sort=True)]
    out = pd.DataFrame(rows, columns=["group", "cells", "outside", "expected_outside", "p_value"])
    return out.sort_values(["p_value", "group"], kind="stable").reset_index(drop=True)


def misses_markdown(misses: pd.DataFrame, what: str = "this page's published cells",
                    max_rows: int = 25) -> str:
    """A page's paragraph and table for :func:`chapter_misses`: how many cells were compared and
    reproduced, the misses per cause, then the misses (those without a tested cause first, at most
    ``max_rows``; none: says so; nothing compared: says why)."""
    status = misses.attrs.get("status", {})
    ok, off = status.get(STATUS_OK, 0), status.get(STATUS_OFF, 0)
    if ok + off == 0:
        reason = misses.attrs.get("reason") or "no cell was compared"
        where = f" (profile `{misses.attrs['profile']}`)" if misses.attrs.get("profile") else ""
        return f"None of {what} was compared in this build{where}: {reason}."
    head = f"Of {what}, {ok + off} were compared under the published protocol and {ok} reproduce"
    if not off:
        return head + "; none falls outside its tolerance."
    counts = misses["cause"].value_counts()
    by_cause = ", ".join(f"{counts[c]} {c}" for c in CAUSES if c in counts)
    shown = misses.assign(_first=misses["cause"] != NO_CAUSE).sort_values("_first", kind="stable")
    lines = ["| table | row | column | published | ours | our 95 % interval | tolerance | cause | evidence |",
             "|" + "---|" * 9]
    for r in shown.head(max_rows).itertuples(index=False):
        interval = "" if _isnan(r.low) or _isnan(r.high) else f"[{r.low:.4g}, {r.high:.4g}]"
        lines.append(f"| {r.table} | {r.row.replace('|', ' / ')} | {r.column} | {r.published:.4g} | "
                     f"{r.reproduced:.4g} | {interval} | {r.tolerance:.3g} | {r.cause} | {r.cause_detail} |")
    more = (f"\n\n({off - max_rows} more, all in the reproduction report's ledger.)"
            if off > max_rows else "")
    return (head + f"; {off} {'falls' if off == 1 else 'fall'} outside it: {by_cause} "
            "(the first cause a run supports, `learning_rules.cells.miss_cause`; the reproduction "
            "report explains each):\n\n" + "\n".join(lines) + more)


SUMMARY_COLUMNS = ["source", "profile", "cells", "run", "reproduced", "outside", "not_comparable",
                   "not_run", "distinct_run", "distinct_reproduced", "range_cells", "within_seed_range",
                   "distinct_range_cells", "distinct_within_seed_range", "explained", "no_cause",
                   "rank_groups", "rank_preserved", "chapter"]


def _seed_range_counts(part: pd.DataFrame, first: pd.Series) -> dict[str, int]:
    """Cells with a single-run interval and how many hold the published value (all; distinct)."""
    if "within_seed_range" not in part:
        return {"range_cells": 0, "within_seed_range": 0, "distinct_range_cells": 0,
                "distinct_within_seed_range": 0}
    has = part["within_seed_range"].notna()
    inside = part["within_seed_range"].fillna(False).astype(bool)
    return {"range_cells": int(has.sum()), "within_seed_range": int(inside.sum()),
            "distinct_range_cells": int((has & first).sum()),
            "distinct_within_seed_range": int((inside & first).sum())}


def _cause_counts(part: pd.DataFrame) -> dict[str, int]:
    """Cells outside tolerance with a tested cause (:func:`~learning_rules.cells.miss_cause`) and
    without one; an older ledger without causes counts every miss as without one."""
    off = part["status"] == STATUS_OFF
    if "cause" not in part:
        return {"explained": 0, "no_cause": int(off.sum())}
    cause = part["cause"].fillna("").astype(str)
    none = off & ((cause == NO_CAUSE) | (cause == ""))
    return {"explained": int((off & ~none).sum()), "no_cause": int(none.sum())}


def summarize(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per source and profile: cells published; run (compared under the published protocol),
    reproduced, outside tolerance, not comparable at this profile, not run; the **distinct
    comparisons** among the run cells (:func:`repeated_comparisons`: a reprinted number counts
    once) and how many of them reproduce; rank groups compared / preserved."""
    rows = []
    for (source, profile), part in ledger.groupby(["source", "profile"], sort=True):
        status = part["status"]
        groups = part.dropna(subset=["rank_preserved"]).drop_duplicates("rank_group") \
            if "rank_group" in part else part.iloc[0:0]
        chapter = next((c for c in part.get("chapter", []) if isinstance(c, str) and c), "")
        compared = status.isin([STATUS_OK, STATUS_OFF])
        repeats = (part["repeats"] if "repeats" in part  # an older ledger: found from its values
                   else pd.Series(repeated_comparisons(part, part["reproduced"].notna()), index=part.index))
        first = compared & ~repeats.fillna("").astype(str).str.len().astype(bool)
        rows.append({
            "source": source, "profile": profile, "cells": len(part),
            "run": int(compared.sum()),
            "reproduced": int((status == STATUS_OK).sum()),
            "outside": int((status == STATUS_OFF).sum()),
            "not_comparable": int((status == STATUS_NOT_COMPARABLE).sum()),
            "not_run": int((status == STATUS_NOT_RUN).sum()),
            "distinct_run": int(first.sum()),
            "distinct_reproduced": int((first & (status == STATUS_OK)).sum()),
            **_seed_range_counts(part, first),
            **_cause_counts(part),
            "rank_groups": len(groups),
            "rank_preserved": int(groups["rank_preserved"].astype(bool).sum()) if len(groups) else 0,
            "chapter": chapter,
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as terminal text, one line per source and profile."""
    if summary.empty:
        return "no published cells: add reference/<source>.csv files (see reference/README.md)"
    lines = []
    for row in summary.itertuples(index=False):
        rank = (f"ranking kept in {row.rank_preserved}/{row.rank_groups} row groups"
                if row.rank_groups else "no row group to rank")
        where = f"  (see {row.chapter})" if row.chapter else ""
        other = f", {row.not_comparable} not comparable at this profile" if row.not_comparable else ""
        if row.outside:
            other += f" ({row.explained} with a tested cause)"
        if row.range_cells:
            other += (f"; single-run range holds {row.within_seed_range}/{row.range_cells} "
                      f"(distinct {row.distinct_within_seed_range}/{row.distinct_range_cells})")
        lines.append(
            f"{row.source:<16} {row.profile:<6} {row.reproduced:>4}/{row.cells:<4} reproduce "
            f"({row.run} run, {row.outside} outside tolerance{other}, {row.not_run} not run; "
            f"distinct comparisons {row.distinct_reproduced}/{row.distinct_run}); {rank}{where}"
        )
        if row.distinct_range_cells:
            lines.append(f"{'':<24}single-run range, distinct cells: "
                         + range_calibration_text(row.distinct_range_cells, row.distinct_within_seed_range))
    total = summary[["cells", "run", "reproduced", "distinct_run", "distinct_reproduced"]].sum()
    total_misses = summary[["explained", "no_cause"]].sum()
    explained = (f"; misses with a tested cause: {total_misses['explained']} of {total_misses.sum()}"
                 if total_misses.sum() else "")
    lines.append(f"{'all':<16} {'':<6} {total['reproduced']:>4}/{total['cells']:<4} reproduce "
                 f"({total['run']} run; distinct comparisons {total['distinct_reproduced']}/"
                 f"{total['distinct_run']}){explained})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- files and the guard


def write_ledger(ledger: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the ledger CSV atomically (columns :data:`LEDGER_COLUMNS`, then the extras)."""
    path = Path(path)
    columns = [c for c in (*LEDGER_COLUMNS, *EXTRA_LEDGER_COLUMNS) if c in ledger.columns]
    atomic_write_text(path, ledger[columns].to_csv(index=False))
    return path


_TEXT_COLUMNS = ("repeats", "source_flag", "alternative_protocol", "cause", "cause_detail")


def read_ledger(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ledger CSV written by :func:`write_ledger` (booleans back as nullable booleans)."""
    frame = pd.read_csv(path, dtype={c: str for c in (*KEY, "profile", "seeds", "status", "note",
                                                      *_TEXT_COLUMNS)},
                        keep_default_na=False, na_values=[""])
    for col in _TEXT_COLUMNS:
        if col in frame:
            frame[col] = frame[col].fillna("")
    missing = [c for c in LEDGER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a reproduction ledger: missing columns {missing}")
    for col in ("within_tolerance", "rank_preserved", "within_seed_range"):
        if col not in frame:
            continue
        frame[col] = frame[col].map(
            lambda v: pd.NA if _isnan(v) else {"true": True, "false": False}[str(v).strip().lower()]
        ).astype("boolean")
    return frame


def find_regressions(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Cells that reproduced in ``previous`` and no longer do in ``current``.

    Only profiles present in ``current`` are compared. A cell that was within tolerance and is now
    outside it, not run, or gone from the ledger is a regression; one that is now "not comparable
    at this profile" (a preview's cut protocol) is not judged, so it is not one.
    """
    if previous.empty or current.empty:
        return pd.DataFrame(columns=[*KEY, "profile", "before", "now"])
    keys = [*KEY, "profile"]
    prev = previous[previous["profile"].isin(set(current["profile"]))]
    prev = prev[prev["within_tolerance"].fillna(False).astype(bool)]
    both = prev[keys + ["reproduced"]].merge(
        current[keys + ["reproduced", "within_tolerance", "status"]], on=keys, how="left",
        suffixes=("_before", "_now"), indicator=True,
    )
    lost = both["_merge"] == "left_only"
    # a cell now judged "not comparable at this profile" is not compared, so it cannot regress
    judged = both["status"].fillna("") != STATUS_NOT_COMPARABLE
    bad = lost | (~both["within_tolerance"].fillna(False).astype(bool) & judged)
    out = both[bad].copy()
    out["before"] = out["reproduced_before"]
    out["now"] = np.where(lost[bad], "gone from the ledger",
                          out["status"].fillna("").astype(str) + " " + out["reproduced_now"].map(
                              lambda v: "" if _isnan(v) else f"{v:.4g}"))
    return out[[*keys, "before", "now"]].reset_index(drop=True)


def protocol_cuts(profile: str, pages: Sequence[str]) -> str | None:
    """What ``profile`` cuts of the sources' protocols on ``pages``, as text (the profile banner's
    list, :func:`learning_rules.book.profile_cuts`); ``None`` when it cuts nothing, so the cells
    computed with those pages' parameters are comparable with the published ones."""
    from .profiles import PACKAGE_DIR, PAPER_PROFILE, _short, find_root, profile_cuts

    if profile == PAPER_PROFILE:
        return None
    # the checkout this package sits in; installed from its wheel, the copy of the book it carries
    root = find_root(PACKAGE_DIR)
    parts = []
    for page in pages:
        if not (root / page).is_file():  # no page here, so no parameters it could cut
            continue
        cuts = profile_cuts(root, profile, Path(page))
        if cuts is None:
            return f"the {profile} profile is a preview (no paper profile here to compare it with)"
        parts += [f"{k} = {_short(k, v)} (paper: {_short(k, q)})" for k, v, q in cuts]
    return "; ".join(dict.fromkeys(parts)) or None


@dataclasses.dataclass
class ReportResult:
    """What :func:`run_report` found and wrote."""

    ledger: pd.DataFrame
    summary: pd.DataFrame
    regressions: pd.DataFrame
    path: Path
    baseline: Path
    accepted: bool


#: The profile whose accepted ledger is committed (``reproduction/<profile>.csv``).
COMMITTED_PROFILE = "paper"


def committed_ledger(root: str | os.PathLike, profile: str = COMMITTED_PROFILE) -> Path:
    """``<root>/reproduction/<profile>.csv``: the accepted ledger of the paper build, committed."""
    return Path(root) / "reproduction" / f"{profile}.csv"


def run_report(
    profiles: Sequence[str] = ("quick",),
    *,
    output: str | os.PathLike,
    reference: str | os.PathLike | None = None,
    names: Sequence[str] | None = None,
    accept: bool = False,
    compute: bool = False,
    log: Callable[[str], None] = print,
) -> ReportResult:
    """Build the ledger of ``profiles``, write ``<output>/_build/reproduction.csv`` and compare it
    with the accepted ledgers: ``<output>/reproduction/paper.csv`` (committed) for the paper
    profile, ``<output>/_build/reproduction.prev.csv`` for the others.

    The store is read only (``compute=False``, the default): a reproduction whose runs are not
    stored is reported as not run, naming the build that computes them, instead of starting hours
    of runs; ``compute=True`` computes what is missing. A preview profile's new ledger becomes its
    accepted one when it has no regression, or when ``accept`` is set (rows of profiles not run
    this time are kept from the old one); the committed paper ledger changes only with ``accept``.
    ``reference`` is the folder of published CSVs (default :data:`REFERENCE_DIR`); ``names`` limits
    the reproductions called (default: all registered).
    """
    published = load_published(reference)
    ledgers = []
    for profile in profiles:
        cells, failures, chapters = collect_reproduced(profile, names, compute=compute,
                                                       comparability=protocol_cuts)
        for name, messages in cells.attrs.get("diagnostics", {}).items():
            log(f"note: {name} ({profile}) emitted {len(messages)} warning(s), first: {messages[0]}")
        ledger = build_ledger(published, cells, profile, failures=failures, chapters=chapters)
        for key in ledger.attrs.get("unmatched", []):
            log(f"warning: reproduced cell {' / '.join(key)} matches no published cell")
        ledgers.append(ledger)
    ledger = pd.concat(ledgers, ignore_index=True) if ledgers else build_ledger(
        published, pd.DataFrame(columns=REPRODUCED_COLUMNS), "quick")
    build_dir = Path(output) / "_build"
    path = write_ledger(ledger, build_dir / "reproduction.csv")
    baseline = build_dir / "reproduction.prev.csv"
    committed = committed_ledger(output)
    previous = read_ledger(baseline) if baseline.is_file() else pd.DataFrame()
    if len(previous):
        previous = previous[previous["profile"] != COMMITTED_PROFILE]
    if committed.is_file():
        paper = read_ledger(committed)
        previous = pd.concat([previous, paper], ignore_index=True) if len(previous) else paper
    current = read_ledger(path)
    regressions = find_regressions(previous, current)
    accepted = regressions.empty or accept
    previews = [p for p in profiles if p != COMMITTED_PROFILE]
    if accepted and previews:
        kept = previous[~previous["profile"].isin({*profiles, COMMITTED_PROFILE})] if len(previous) else previous
        now = current[current["profile"].isin(previews)]
        merged = pd.concat([kept, now], ignore_index=True) if len(kept) else now
        write_ledger(merged, baseline)
    if accept and COMMITTED_PROFILE in profiles:
        write_ledger(current[current["profile"] == COMMITTED_PROFILE], committed)
        baseline = committed
    elif COMMITTED_PROFILE in profiles and not previews:
        baseline = committed
    return ReportResult(ledger, summarize(ledger), regressions, path, baseline, accepted)
