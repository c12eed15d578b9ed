"""A chapter's regenerated cells: the one function every ``reproduced_cells`` builds its rows with.

The chapters (``learning_rules.experiments``) describe each number they regenerate with
:func:`record`; the report (:mod:`learning_rules.report`) collects those rows through its registry
and compares them with the published tables. Keeping :func:`record` here, below both, lets the
chapters write ledger cells without importing the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .analysis.stats import t_half_width

__all__ = ["mean_interval", "record"]


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
) -> dict[str, Any]:
    """One reproduced cell as a row of a ``reproduced_cells`` frame.

    ``reproduced`` is the mean over seeds (``None`` when it could not be computed: say why in
    ``note``); ``low``/``high`` the interval over seeds; ``seeds`` the seeds used (``"0,1,2"`` or
    a list, stored as text). ``single_run``: where one more run of the protocol would fall (the
    95 % prediction interval, :func:`learning_rules.analysis.stats.prediction_interval`), for a
    published number that is a single run; the ledger's ``within_seed_range`` uses it when the
    cell has at least :data:`learning_rules.report.MIN_SEEDS_FOR_RANGE` seeds.
    """
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
    }


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
