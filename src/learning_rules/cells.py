r"""A regenerated cell and the rules that compare it with a published one.

The chapters (``learning_rules.experiments``) describe each number they regenerate with
:func:`record`; :func:`build_ledger` joins such cells with the published tables by the ledger's
rules: a cell reproduces when

.. math::

    |\bar r - p| \le \tau(\text{unit}, p), \qquad
    \tau = \begin{cases} 2 \text{ points} & \text{accuracy or error, in \% or as a fraction}\\
    0.15\,|p| & \text{a loss} \end{cases}

(:func:`tolerance`; a chapter may override it per cell); a row group keeps its ranking
(:func:`rank_preserved`) when no pair of methods the source orders strictly is reversed; a
reprinted comparison counts once (:func:`repeated_comparisons`); a published single run is also
checked against the 95 % prediction interval of one run (``within_seed_range``; the number as
printed, up to half a unit of its last digit either way, :func:`printed_half_unit`); and every
cell outside its tolerance gets the first cause a run supports (:func:`miss_cause`). The report
(:mod:`learning_rules.report`) collects the chapters' cells through its registry and uses these
rules; keeping them here, below both, lets a chapter apply them (the ablation's protocol
candidates) without importing the report.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .analysis.stats import t_half_width

__all__ = [
    "KEY",
    "LEDGER_COLUMNS",
    "PUBLISHED_COLUMNS",
    "REPRODUCED_COLUMNS",
    "TOLERANCES",
    "build_ledger",
    "CAUSES",
    "CHANCE_ALPHA",
    "in_single_run_range",
    "mean_interval",
    "miss_cause",
    "range_calibration",
    "range_calibration_text",
    "printed_half_unit",
    "rank_preserved",
    "record",
    "repeated_comparisons",
    "tolerance",
    "unit_kind",
    "validate_published",
    "validate_reproduced",
]


def record(
    source: str,
    table: str,
    row: str,
    column: str,
    reproduced: float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    profile: str,
    seeds: Any,
    rank_group: str | None = None,
    tolerance: float | None = None,
    note: str | None = None,
    single_run: tuple[float, float] | None = None,
    alternative: tuple[str, float] | None = None,
) -> dict[str, Any]:
    """One reproduced cell as a row of a ``reproduced_cells`` frame.

    ``reproduced`` is the mean over seeds (``None`` when it could not be computed: say why in
    ``note``); ``low``/``high`` the interval over seeds; ``seeds`` the seeds used (``"0,1,2"`` or
    a list, stored as text). ``single_run``: where one more run of the protocol would fall (the
    95 % prediction interval, :func:`learning_rules.analysis.stats.prediction_interval`), for a
    published number that is a single run; the ledger's ``within_seed_range`` uses it when the
    cell has at least :data:`MIN_SEEDS_FOR_RANGE` seeds. ``alternative``: ``(protocol, value)``,
    the same cell regenerated under another named protocol that was actually run (the ablation's
    best candidate protocol, say); :func:`miss_cause` names it as the cause of a miss when that
    value lies within the tolerance.
    """
    if alternative is not None:
        label, value = alternative
        if not (isinstance(label, str) and label.strip()):
            raise ValueError(f"{source} {table} {row} {column}: alternative needs a protocol name, "
                             f"got {label!r}")
    if isinstance(seeds, (list, tuple, range, np.ndarray)):
        seeds = ",".join(str(int(s)) for s in seeds)
    values = {}
    for name, value in (("reproduced", reproduced), ("low", low), ("high", high)):
        values[name] = np.nan if value is None else float(value)
    if not np.isnan(values["low"]) and not np.isnan(values["high"]) and values["low"] > values["high"]:
        raise ValueError(f"{source} {table} {row} {column}: low {low} > high {high}")
    return {
        "source": source, "table": table, "row": row, "column": column, **values,
        "profile": profile, "seeds": "" if seeds is None else str(seeds),
        "rank_group": rank_group, "tolerance": np.nan if tolerance is None else float(tolerance),
        "note": note,
        "single_low": np.nan if single_run is None else float(single_run[0]),
        "single_high": np.nan if single_run is None else float(single_run[1]),
        "alternative_protocol": None if alternative is None else alternative[0],
        "alternative": np.nan if alternative is None or alternative[1] is None else float(alternative[1]),
    }


def range_calibration(cells: int, inside: int, level: float = 0.95) -> dict[str, float]:
    r"""Does the single-run range miss more often than chance? A ``level`` prediction interval
    leaves out a fraction :math:`q = 1 - \text{level}` of single runs by design, so of :math:`n`
    cells about :math:`nq` miss even when every published number is one run of our protocol. With
    :math:`m = n - \text{inside}` misses, the chance of at least as many is the binomial tail

    .. math:: P(X \ge m), \qquad X \sim \operatorname{Binomial}(n, q)

    (cells treated as independent; cells read off the same runs are not, so it is a rough check).

    Returns
    -------
    dict: ``cells``, ``outside`` (m), ``expected_outside`` (nq) and ``p_value`` (1.0 when nothing
    misses; NaN without cells)
    """
    from scipy import stats

    if not 0 <= inside <= cells:
        raise ValueError(f"inside must lie in [0, cells], got inside={inside}, cells={cells}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    outside = cells - inside
    q = 1.0 - level
    p = float(stats.binom.sf(outside - 1, cells, q)) if cells else float("nan")
    return {"cells": cells, "outside": outside, "expected_outside": cells * q, "p_value": p}


#: Below this tail probability, the single-run range misses more often than chance explains.
CHANCE_ALPHA = 0.01


def range_calibration_text(cells: int, inside: int, level: float = 0.95, alpha: float = CHANCE_ALPHA) -> str:
    """:func:`range_calibration` as one sentence with its verdict: the misses are consistent with
    chance unless their tail probability is below ``alpha``."""
    c = range_calibration(cells, inside, level)
    if not cells:
        return "no cell has a single-run range"
    chance = c["p_value"] >= alpha
    return (f"{c['outside']} of {cells} cells miss their {level * 100:g} % single-run range, where "
            f"chance alone would leave out about {c['expected_outside']:.1f} (P(at least {c['outside']}) = "
            f"{c['p_value']:.2g}): "
            + ("as many as chance explains" if chance else
               "more than chance explains, so some of these misses are systematic"))


def mean_interval(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of a handful of per-seed values.

    .. math:: \\bar x \\pm t_{(1+\\text{level})/2,\\,n-1}\\; s / \\sqrt{n}

    Returns ``(mean, low, high)``; ``low``/``high`` are NaN for fewer than two values.
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("mean_interval needs at least one value")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = t_half_width(x, level)
    return mean, mean - half, mean + half


KEY = ["source", "table", "row", "column"]
PUBLISHED_COLUMNS = [*KEY, "published", "unit"]
#: Optional columns of a published table that the ledger carries: ``source_flag`` marks a printed
#: number the source itself contradicts (a typo against the authors' notebook), with the evidence.
OPTIONAL_PUBLISHED = ["source_flag"]
REPRODUCED_COLUMNS = [*KEY, "reproduced", "low", "high", "profile", "seeds"]
OPTIONAL_REPRODUCED = ["rank_group", "tolerance", "note", "comparable", "single_low", "single_high",
                       "alternative_protocol", "alternative"]
_NUMERIC_REPRODUCED = ("reproduced", "low", "high", "tolerance", "single_low", "single_high", "alternative")
LEDGER_COLUMNS = [
    *KEY, "published", "reproduced", "low", "high", "delta", "within_tolerance", "rank_preserved",
    "profile", "seeds",
]
EXTRA_LEDGER_COLUMNS = ["unit", "tolerance", "status", "note", "chapter", "rank_group", "repeats",
                        "source_flag", "single_low", "single_high", "printed_half_unit",
                        "within_seed_range",
                        "alternative_protocol", "alternative", "cause", "cause_detail"]

#: Seeds a chapter needs before its single-run interval is used (``within_seed_range``).
MIN_SEEDS_FOR_RANGE = 10

STATUS_OK, STATUS_OFF, STATUS_NOT_RUN = "reproduced", "outside tolerance", "not run"
#: A cell computed under another protocol than the published one (a preview profile's cuts).
STATUS_NOT_COMPARABLE = "not comparable at this profile"
NOT_REGISTERED = "no chapter regenerates this cell yet"
#: The cause :func:`miss_cause` gives a miss that no run explains.
NO_CAUSE = "no tested cause"

#: Why a cell falls outside its tolerance, in the order :func:`miss_cause` tries them; each is
#: backed by a run (or, for a typo, by the authors' own notebook), never by an argument alone.
CAUSES: dict[str, str] = {
    "source typo": "the source prints a number its own notebook contradicts, and the notebook's "
                   "value is within tolerance",
    "source's other run": "the source's authors ran the same setting again (an output of theirs the "
                          "printed number does not come from), and ours is within tolerance of it",
    "single-run spread": "the published number is one run, and it lies where one run of this "
                         "protocol falls 95 % of the time (the prediction interval from our seeds)",
    "protocol": "the same cell, run under another named protocol, is within tolerance",
    "seed spread": "the published number lies inside the 95 % interval of our mean: our seeds "
                   "cannot tell the two apart, more seeds would",
    NO_CAUSE: "none of the above holds; the chapter discusses what is left",
}
_NOTEBOOK_VALUE = re.compile(r"gives\s+(-?\d+(?:\.\d+)?)")
#: The ``source_flag`` phrase that names the authors' other run of a cell, and its value.
_OTHER_RUN = re.compile(r"^another run of the same setting gives\s+(-?\d+(?:\.\d+)?)")


def miss_cause(cell: Mapping[str, Any]) -> tuple[str, str]:
    r"""The first of :data:`CAUSES` that the cell's own columns support, and the evidence as text.

    ``cell`` is one ledger row outside its tolerance ``tau``, with published ``p``:

    * **source typo**: ``source_flag`` quotes the authors' notebook value ``q`` ("... gives q") and
      :math:`|\bar r - q| \le \tau`;
    * **source's other run**: ``source_flag`` starts "another run of the same setting gives q" (an
      output of the authors' that the printed number does not come from) and
      :math:`|\bar r - q| \le \tau`;
    * **single-run spread**: ``within_seed_range`` (``[p - h, p + h]`` meets
      ``[single_low, single_high]``, :math:`h` half a unit of ``p``'s last printed digit);
    * **protocol**: :math:`|a - p| \le \tau` for the value ``a`` regenerated under
      ``alternative_protocol``;
    * **seed spread**: ``low <= p <= high``, the 95 % interval of our mean holds ``p``;
    * otherwise **no tested cause**.
    """
    p, r, tau = float(cell["published"]), float(cell["reproduced"]), float(cell["tolerance"])
    flag = cell.get("source_flag")
    other = _OTHER_RUN.match(flag) if isinstance(flag, str) else None
    if other is not None:
        if abs(r - float(other.group(1))) <= tau + 1e-12:
            return "source's other run", f"{flag}; ours {r:.4g} is within {tau:.3g} of it"
    elif isinstance(flag, str) and flag:
        match = _NOTEBOOK_VALUE.search(flag)
        if match and abs(r - float(match.group(1))) <= tau + 1e-12:
            return "source typo", f"{flag}; ours {r:.4g} is within {tau:.3g} of it"
    in_range = cell.get("within_seed_range")
    if not _isnan(in_range) and bool(in_range):
        lo, hi = float(cell["single_low"]), float(cell["single_high"])
        h = cell.get("printed_half_unit")
        h = 0.0 if _isnan(h) else float(h)
        holds = (f"which holds {p:.4g}" if lo - 1e-12 <= p <= hi + 1e-12 else
                 f"which meets {p:.4g} as printed ({p - h:.6g} to {p + h:.6g})")
        return "single-run spread", f"one run falls in [{lo:.4g}, {hi:.4g}] (95 %), {holds}"
    alt, label = cell.get("alternative"), cell.get("alternative_protocol")
    if not _isnan(alt) and isinstance(label, str) and label:
        if abs(float(alt) - p) <= tau + 1e-12:
            return "protocol", f"under {label}: {float(alt):.4g}, within {tau:.3g} of {p:.4g}"
    low, high = cell.get("low"), cell.get("high")
    if not (_isnan(low) or _isnan(high)) and float(low) - 1e-12 <= p <= float(high) + 1e-12:
        return "seed spread", f"our mean's 95 % interval [{float(low):.4g}, {float(high):.4g}] holds {p:.4g}"
    tried = f"; under {label}: {float(alt):.4g}" if isinstance(label, str) and label and not _isnan(alt) else ""
    return NO_CAUSE, f"{r:.4g} against {p:.4g} (tolerance {tau:.3g}){tried}"


# --------------------------------------------------------------------------- units and tolerances


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far a regenerated value may sit from the published one.

    Attributes
    ----------
    kind : str
    value : float
        Absolute half-width in the unit (``relative=False``) or a fraction of ``|published|``.
    relative : bool
    """

    kind: str
    value: float
    relative: bool

    def width(self, published: float) -> float:
        """The absolute tolerance for one published value."""
        return self.value * abs(published) if self.relative else self.value


TOLERANCES: dict[str, Tolerance] = {
    "percent": Tolerance("percent", 2.0, False),  # accuracy (or error) in percent: +-2 points
    "fraction": Tolerance("fraction", 0.02, False),  # the same 2 points on a [0, 1] scale
    "loss": Tolerance("loss", 0.15, True),  # a regression or training loss: +-15 % relative
}

UNITS: dict[str, str] = {
    "accuracy %": "percent", "%": "percent", "percent": "percent", "error %": "percent",
    "accuracy percent": "percent", "test accuracy %": "percent", "train accuracy %": "percent",
    "accuracy": "fraction", "fraction": "fraction", "error fraction": "fraction",
    "test error": "fraction", "train error": "fraction", "error": "fraction",
    "loss": "loss", "loss x 1e4": "loss", "loss×1e4": "loss", "loss x1e4": "loss", "mse": "loss",
    "mse x 1e4": "loss", "cost": "loss", "cross-entropy": "loss", "cross entropy": "loss",
}


def unit_kind(unit: str) -> str:
    """The tolerance kind (``"percent"``, ``"fraction"``, ``"loss"``) of a unit string.

    Known spellings are in :data:`UNITS`; otherwise a unit containing ``%``/``percent`` is a
    percentage and one containing ``loss``, ``mse``, ``cost`` or ``entropy`` is a loss.

    Raises
    ------
    ValueError
        For any other unit, listing the known ones.
    """
    text = str(unit).strip().lower()
    if text in UNITS:
        return UNITS[text]
    if "%" in text or "percent" in text:
        return "percent"
    if any(word in text for word in ("loss", "mse", "cost", "entropy")):
        return "loss"
    raise ValueError(
        f"unknown unit {unit!r}; use one of: {', '.join(sorted(UNITS))} "
        "(or give the cell a `tolerance` in its reproduced frame)"
    )


def tolerance(unit: str, published: float, override: float | None = None) -> float:
    """Absolute tolerance of one cell.

    .. math:: \\tau = 2 \\text{ (\\%)},\\quad 0.02 \\text{ (fraction)},\\quad 0.15\\,|p| \\text{ (loss)}

    Parameters
    ----------
    unit : str
    published : float
    override : float, optional
        An absolute tolerance argued by the chapter; wins when given (not NaN).
    """
    if override is not None and not _isnan(override):
        if override < 0:
            raise ValueError(f"tolerance override must be >= 0, got {override}")
        return float(override)
    return TOLERANCES[unit_kind(unit)].width(float(published))


def _isnan(value: Any) -> bool:
    try:
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


# --------------------------------------------------------------------------- published cells


def validate_published(frame: pd.DataFrame, label: str = "published table") -> pd.DataFrame:
    """Check one published table against the layout of ``reference/README.md``; return it clean.

    Raises
    ------
    ValueError
        Wrong or missing columns, empty keys, non-numeric ``published``, unknown units or duplicate
        ``(source, table, row, column)``; the message names the file and the rows.
    """
    columns = list(frame.columns)
    if columns[: len(PUBLISHED_COLUMNS)] != PUBLISHED_COLUMNS:
        raise ValueError(
            f"{label}: columns must start with {','.join(PUBLISHED_COLUMNS)} (in this order); "
            f"got {','.join(map(str, columns))}"
        )
    out = frame.copy()
    for col in (*KEY, "unit"):
        values = out[col]
        bad = values.isna() | (values.astype(str).str.strip() == "")
        if bad.any():
            raise ValueError(f"{label}: empty {col!r} in data rows {_rows(bad)}")
        out[col] = values.astype(str).str.strip()
    numeric = pd.to_numeric(out["published"], errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.astype(float))
    if bad.any():
        raise ValueError(
            f"{label}: 'published' must be a plain number (no % sign) in data rows {_rows(bad)}: "
            f"{out.loc[bad, 'published'].tolist()[:5]}"
        )
    if "printed_half_unit" not in out:  # from the printed text, before it becomes a float
        out["printed_half_unit"] = [printed_half_unit(v) for v in frame["published"]]
    out["printed_half_unit"] = out["printed_half_unit"].astype(float)
    out["published"] = numeric.astype(float)
    for unit in sorted(set(out["unit"])):
        try:
            unit_kind(unit)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
    dup = out.duplicated(KEY, keep=False)
    if dup.any():
        raise ValueError(
            f"{label}: (source, table, row, column) repeats in data rows {_rows(dup)}: "
            f"{out.loc[dup, KEY].drop_duplicates().values.tolist()[:5]}"
        )
    return out


def printed_half_unit(text: Any) -> float:
    """Half a unit of the last decimal a published number was printed with: ``"100.1"`` stands for
    any value in [100.05, 100.15], so 0.05; ``"102.00"``: 0.005; ``"1e-3"``: 0.0005. A number
    printed without decimals is taken as exact (0.0): in these sources that is a stated zero
    ("train error 0"), never a rounded value. A float, not its printed text, has no known
    precision: 0.0."""
    from decimal import Decimal, InvalidOperation

    if not isinstance(text, str):
        return 0.0
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"published value {text!r} is not a plain number") from None
    if not isinstance(exponent, int) or exponent >= 0:  # NaN/infinity (rejected elsewhere); no decimals
        return 0.0
    return 0.5 * 10.0 ** exponent


def in_single_run_range(published: Any, half_unit: Any, low: Any, high: Any) -> Any:
    r"""The second criterion: does the published number, as printed, meet the single-run range?

    .. math:: [p - h,\; p + h] \cap [\ell, u] \ne \emptyset

    with :math:`h` half a unit of :math:`p`'s last printed digit (:func:`printed_half_unit`) and
    :math:`[\ell, u]` the 95 % prediction interval of one run. Element-wise on arrays."""
    p, h = np.asarray(published, dtype=float), np.asarray(half_unit, dtype=float)
    return (np.asarray(low, dtype=float) - 1e-12 <= p + h) & (p - h <= np.asarray(high, dtype=float) + 1e-12)


def _rows(mask: pd.Series) -> list[int]:
    # data row numbers as a spreadsheet shows them (header = line 1)
    return [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())][:10]


def validate_reproduced(frame: pd.DataFrame, label: str = "reproduced cells") -> pd.DataFrame:
    """Check a ``reproduced_cells`` frame; return it with every optional column present.

    Raises
    ------
    ValueError
        Missing columns, non-numeric values or a cell given twice for one profile.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{label}: expected a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty and len(frame.columns) == 0:  # no cell to offer (e.g. a profile without them)
        frame = pd.DataFrame(columns=REPRODUCED_COLUMNS)
    missing = [c for c in REPRODUCED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{label}: missing columns {missing}; required: {','.join(REPRODUCED_COLUMNS)}")
    out = frame.copy()
    for col in OPTIONAL_REPRODUCED:
        if col not in out.columns:
            out[col] = (np.nan if col in _NUMERIC_REPRODUCED
                        else (True if col == "comparable" else None))
    out["comparable"] = [True if _isnan(v) else bool(v) for v in out["comparable"]]
    for col in _NUMERIC_REPRODUCED:
        converted = pd.to_numeric(out[col], errors="coerce")
        bad = converted.isna() & out[col].notna()
        if bad.any():
            raise ValueError(f"{label}: {col!r} must be numeric, got {out.loc[bad, col].tolist()[:5]}")
        out[col] = converted.astype(float)
    for col in (*KEY, "profile"):
        out[col] = out[col].astype(str)
    out["seeds"] = out["seeds"].map(lambda s: "" if _isnan(s) else str(s))
    dup = out.duplicated([*KEY, "profile"], keep=False)
    if dup.any():
        raise ValueError(f"{label}: cells given twice: {out.loc[dup, KEY].values.tolist()[:5]}")
    return out[[*REPRODUCED_COLUMNS, *OPTIONAL_REPRODUCED]]


# --------------------------------------------------------------------------- the ledger


def default_rank_group(source: str, table: str, row: str, column: str) -> str:
    """Cells whose methods are ranked together: same source, table and column, and the same row
    up to its last ``|`` part (the method)."""
    prefix = row.rsplit("|", 1)[0] if "|" in row else ""
    return f"{source} | {table} | {prefix} | {column}"


def rank_preserved(published: Sequence[float], reproduced: Sequence[float]) -> bool | None:
    """Does the order of the methods survive? ``None`` when fewer than two cells are comparable.

    .. math:: \\forall i, j:\\; p_i < p_j \\Rightarrow r_i < r_j

    Pairs the source prints as equal impose no order.
    """
    p = np.asarray(published, dtype=float)
    r = np.asarray(reproduced, dtype=float)
    if p.shape != r.shape:
        raise ValueError(f"published and reproduced differ in length: {p.shape} vs {r.shape}")
    keep = ~(np.isnan(p) | np.isnan(r))
    p, r = p[keep], r[keep]
    if p.size < 2:
        return None
    lower, higher = np.nonzero(p[:, None] < p[None, :])
    return bool(np.all(r[lower] < r[higher]))


def build_ledger(
    published: pd.DataFrame,
    reproduced: pd.DataFrame,
    profile: str,
    *,
    failures: Mapping[str, str] | None = None,
    chapters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Join published and reproduced cells of one profile into the ledger.

    Every published cell gets one row: ``delta = reproduced - published``; ``within_tolerance``
    from :func:`tolerance`; ``rank_preserved`` from :func:`rank_preserved` over its rank group (the
    same value on every cell of the group). Cells not regenerated are *not run*, with the reason in
    ``note``. Reproduced cells that match no published cell are left out and listed in
    ``ledger.attrs["unmatched"]``.
    """
    failures = dict(failures or {})
    chapters = dict(chapters or {})
    pub = validate_published(published.reset_index(drop=True)) if len(published) else published.copy()
    rep = validate_reproduced(reproduced)
    rep = rep[rep["profile"] == profile]
    merged = pub.merge(rep.drop(columns=["profile"]), on=KEY, how="left", indicator=True)
    keyset = set(map(tuple, pub[KEY].itertuples(index=False, name=None)))
    unmatched = [tuple(k) for k in rep[KEY].itertuples(index=False, name=None) if tuple(k) not in keyset]

    out = pd.DataFrame({c: merged[c] for c in KEY})
    out["published"] = merged["published"].astype(float)
    out["reproduced"] = merged["reproduced"].astype(float)
    out["low"] = merged["low"].astype(float)
    out["high"] = merged["high"].astype(float)
    out["delta"] = out["reproduced"] - out["published"]
    tol = [
        tolerance(u, p, o)
        for u, p, o in zip(merged["unit"], merged["published"], merged["tolerance"], strict=True)
    ]
    out["tolerance"] = np.asarray(tol, dtype=float)
    computed = out["reproduced"].notna()
    comparable = np.array([True if _isnan(c) else bool(c) for c in merged["comparable"]], dtype=bool)
    ran = computed & comparable  # compared under the published protocol
    within = pd.Series(pd.NA, index=out.index, dtype="boolean")
    within[ran] = (out.loc[ran, "delta"].abs() <= out.loc[ran, "tolerance"] + 1e-12).to_numpy()
    out["within_tolerance"] = within

    groups = [
        g if isinstance(g, str) and g else default_rank_group(s, t, r, c)
        for g, s, t, r, c in zip(merged["rank_group"], merged["source"], merged["table"],
                                 merged["row"], merged["column"], strict=True)
    ]
    out["rank_group"] = groups
    preserved = pd.Series(pd.NA, index=out.index, dtype="boolean")
    for _, idx in out[ran].groupby("rank_group").groups.items():
        verdict = rank_preserved(out.loc[idx, "published"], out.loc[idx, "reproduced"])
        if verdict is not None:
            preserved[idx] = verdict
    out["rank_preserved"] = preserved
    out["profile"] = profile
    out["seeds"] = merged["seeds"].map(lambda s: "" if _isnan(s) else str(s))
    out["unit"] = merged["unit"]
    out["status"] = np.where(~computed, STATUS_NOT_RUN,
                             np.where(~comparable, STATUS_NOT_COMPARABLE,
                                      np.where(within.fillna(False).to_numpy(bool), STATUS_OK, STATUS_OFF)))
    out["repeats"] = repeated_comparisons(out, computed)
    out["single_low"] = merged["single_low"].astype(float)
    out["single_high"] = merged["single_high"].astype(float)
    n_seeds = merged["seeds"].map(lambda v: 0 if _isnan(v) or not str(v) else len(str(v).split(",")))
    has_range = ran & out["single_low"].notna() & out["single_high"].notna() & (n_seeds >= MIN_SEEDS_FOR_RANGE)
    in_range = pd.Series(pd.NA, index=out.index, dtype="boolean")
    out["printed_half_unit"] = (merged["printed_half_unit"].astype(float) if "printed_half_unit" in merged
                                else 0.0)
    in_range[has_range] = in_single_run_range(
        out.loc[has_range, "published"], out.loc[has_range, "printed_half_unit"].fillna(0.0),
        out.loc[has_range, "single_low"], out.loc[has_range, "single_high"])
    out["within_seed_range"] = in_range
    out["source_flag"] = (merged["source_flag"].fillna("").astype(str) if "source_flag" in merged
                          else "")
    out["alternative_protocol"] = merged["alternative_protocol"].map(
        lambda v: "" if _isnan(v) else str(v))
    out["alternative"] = merged["alternative"].astype(float)
    causes = [miss_cause(r) if r["status"] == STATUS_OFF else ("", "") for _, r in out.iterrows()]
    out["cause"] = [c for c, _ in causes]
    out["cause_detail"] = [d for _, d in causes]
    notes = []
    for source, note, was_ran in zip(merged["source"], merged["note"], computed, strict=True):
        if isinstance(note, str) and note:
            notes.append(note)
        elif not was_ran and source in failures:
            notes.append(failures[source])
        elif not was_ran and source in chapters:
            notes.append("the chapter registered no value for this cell")
        elif not was_ran:
            notes.append(NOT_REGISTERED)
        else:
            notes.append("")
    out["note"] = notes
    out["chapter"] = [chapters.get(s, "") for s in out["source"]]
    out = out[[*LEDGER_COLUMNS, *EXTRA_LEDGER_COLUMNS]].reset_index(drop=True)
    out.attrs["unmatched"] = unmatched
    return out


def repeated_comparisons(ledger: pd.DataFrame, computed: pd.Series | np.ndarray | None = None) -> list[str]:
    """Per cell, ``""`` when it is the first of its comparison, else the first cell's
    ``table / row / column``.

    A comparison is one published value against one regenerated value of one source: cells with
    the same ``(source, published, reproduced)`` restate it (a table that reprints another's
    numbers, computed from the same runs), so the summary counts it once. Regenerated values are
    means of runs compared bit for bit, so two different settings do not share one by chance.
    """
    computed = ledger["reproduced"].notna() if computed is None else pd.Series(computed, index=ledger.index)
    first: dict[tuple, str] = {}
    out = []
    for i, row in ledger.iterrows():
        if not computed[i]:
            out.append("")
            continue
        key = (row["source"], float(row["published"]), float(row["reproduced"]))
        name = f"{row['table']} / {row['row']} / {row['column']}"
        if key in first:
            out.append(first[key])
        else:
            first[key] = name
            out.append("")
    return out
