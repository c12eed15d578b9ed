r"""Summaries for the feedback-alignment chapter: final numbers over seeds, published comparisons.

* :func:`mean_interval` -- mean and 95 % Student-t interval over independent repeats;
* :func:`final_summary` -- per group, the mean / sd / interval of a column at the last epoch;
* :func:`load_published` -- the thesis' stored numbers (``reference/dfa_thesis.csv``);
* :func:`compare_to_published` -- a regenerated summary next to the published cells, with the
  difference ``reproduced - published``.

Explained in: book/dfa/index.md.
"""

from __future__ import annotations

from .stats import t_half_width

from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["compare_to_published", "epoch_comparison", "final_summary", "load_published",
           "mean_interval"]


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    r"""Mean and Student-t confidence interval of independent repeats.

    .. math:: \bar x \pm t_{n-1,\,(1+\text{level})/2}\; s/\sqrt{n}

    with ``s`` the sample standard deviation. One value gives ``(x, nan, nan)``.

    Parameters
    ----------
    values : 1-D array-like of finite numbers
    level : confidence level in (0, 1)
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("mean_interval needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("mean_interval needs finite values (drop NaNs first)")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    m = float(x.mean())
    if x.size == 1:
        return m, float("nan"), float("nan")
    half = t_half_width(x, level)
    return m, m - half, m + half


def final_summary(frame: pd.DataFrame, by: Sequence[str], value: str = "test_acc",
                  epoch: int | None = None) -> pd.DataFrame:
    """Per group of ``by``: the value at ``epoch`` (default: each run's last epoch) over seeds.

    Returns one row per group with ``n`` (runs), ``mean``, ``sd`` (ddof 1), ``low``/``high``
    (95 % t-interval, :func:`mean_interval`) and ``seeds`` (comma-joined).
    """
    by = list(by)
    missing = [c for c in [*by, value, "epoch", "seed"] if c not in frame.columns]
    if missing:
        raise ValueError(f"final_summary: frame lacks column(s) {missing}; it has {list(frame.columns)}")
    keys = [*by, "seed"]
    if epoch is None:
        last = frame.groupby(keys, sort=False)["epoch"].transform("max")
        pick = frame[frame["epoch"] == last]
    else:
        pick = frame[frame["epoch"] == epoch]
    rows = []
    for key, g in pick.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        vals = g[value].to_numpy(dtype=float)
        m, lo, hi = mean_interval(vals)
        rows.append({**dict(zip(by, key)), "n": len(vals), "mean": m,
                     "sd": float(vals.std(ddof=1)) if len(vals) > 1 else float("nan"),
                     "low": lo, "high": hi,
                     "seeds": ",".join(str(s) for s in sorted(g["seed"].unique()))})
    return pd.DataFrame(rows)


def load_published(table: str | None = None) -> pd.DataFrame:
    """The thesis' stored results (``learning_rules/reference/dfa_thesis.csv``), optionally one table."""
    path = resources.files("learning_rules") / "reference" / "dfa_thesis.csv"
    with resources.as_file(path) as p:
        frame = pd.read_csv(p)
    if table is not None:
        tables = sorted(frame["table"].unique())
        if table not in tables:
            raise ValueError(f"unknown table {table!r}; valid tables: {', '.join(tables)}")
        frame = frame[frame["table"] == table].reset_index(drop=True)
    return frame


def compare_to_published(summary: pd.DataFrame, table: str, column: str,
                         row_key: str = "row") -> pd.DataFrame:
    """Join a :func:`final_summary` (with a ``row`` column naming the published row) to the
    published cells of ``table``/``column``; adds ``published`` and ``difference`` (= mean -
    published). Rows without a published counterpart keep ``published = NaN``."""
    if row_key not in summary.columns:
        raise ValueError(f"summary needs a {row_key!r} column holding the published row names")
    pub = load_published(table)
    pub = pub[pub["column"] == column][["row", "published"]]
    if pub.empty:
        raise ValueError(f"table {table!r} has no column {column!r}")
    out = summary.merge(pub, left_on=row_key, right_on="row", how="left",
                        suffixes=("", "_published"))
    if row_key != "row" and "row" in out.columns:
        out = out.drop(columns="row")
    out["difference"] = out["mean"] - out["published"]
    return out


def epoch_comparison(runs: pd.DataFrame, table: str, metrics: dict[str, str],
                     epochs: Sequence[int], comparable: bool) -> pd.DataFrame:
    """Per published row and epoch: the regenerated mean over seeds next to the thesis' number.

    Parameters
    ----------
    runs : frame with columns ``row`` (published row key), ``seed``, ``epoch`` and the metric columns
    table : published table (e.g. ``"Fig. 3.2/3.5"``)
    metrics : frame column -> published column prefix; the published column is
        ``f"{prefix} epoch {e}"``
    epochs : epochs to compare (those the runs lack are skipped)
    comparable : whether the runs follow the thesis' protocol (see ``comparison_table``)
    """
    pub = load_published(table)
    out = []
    for row, g in runs.groupby("row", sort=False):
        for col, prefix in metrics.items():
            if col not in g.columns:
                continue
            for e in epochs:
                vals = g.loc[g["epoch"] == e, col].dropna()
                if vals.empty:
                    continue
                m, lo, hi = mean_interval(vals)
                hit = pub[(pub["row"] == row) & (pub["column"] == f"{prefix} epoch {e}")]["published"]
                p = float(hit.iloc[0]) if len(hit) else float("nan")
                out.append({"row": row, "metric": col, "epoch": int(e), "n": len(vals), "mean": m,
                            "published": p, "difference": m - p, "comparable": bool(comparable),
                            "low": lo, "high": hi})
    return pd.DataFrame(out)
