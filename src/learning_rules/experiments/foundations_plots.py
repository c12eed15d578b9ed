"""What the figures of the foundations pages share (book/foundations/*.ipynb): the palette, the
mean over seeds with its interval (drawn as a band), the seeds line of a caption, markdown tables,
and the registration of a figure artifact (``learning-rules make``). The figures themselves are in
their page's module (:mod:`.foundations_vanishing`, :mod:`.foundations_optimizers`,
:mod:`.foundations_regularization`).

Explained in: book/foundations/vanishing.ipynb, optimizers.ipynb, regularization.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns

from . import register_artifact, save_figure


__all__ = [
    "activation_label",
    "format_table",
    "mean_band",
    "seeds_text",
]


def _palette(n: int):
    return sns.color_palette("colorblind", n)


def activation_label(name: str) -> str:
    """How a figure names an activation: ``"leaky_relu:0.1"`` -> ``"leaky ReLU (α = 0.1)"``,
    ``"relu"`` -> ``"ReLU"``; other names unchanged."""
    base, _, arg = name.partition(":")
    label = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "prelu": "PReLU", "elu": "ELU"}.get(base, base)
    if base == "leaky_relu" and not arg:
        arg = "0.01"  # the registry's default slope
    return f"{label} (α = {arg})" if arg else label


def mean_band(frame: pd.DataFrame, x: str, y: str, by: Sequence[str] = (), log: bool = False,
              level: float = 0.95) -> pd.DataFrame:
    r"""Mean over seeds of ``y`` at each ``x`` (per ``by`` group) with the Student-t interval.

    .. math:: \bar y \pm t_{(1+\text{level})/2,\,m-1}\, s/\sqrt m \quad (m \text{ seeds})

    With ``log=True`` the interval is taken on :math:`\log_{10} y` and mapped back (a geometric
    mean, for quantities drawn on a log axis). One seed, or NaN values only, gives
    ``low = high = NaN`` (no spread can be estimated). Columns: ``*by, x, mean, low, high, n``.
    """
    from ..analysis.stats import t_half_width

    rows = []
    keys = [*by, x]
    for key, group in frame.groupby(keys, sort=True):
        v = group[y].to_numpy(dtype=np.float64)
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 or negative -> dropped below
                v = np.log10(v)
        v = v[np.isfinite(v)]
        key = key if isinstance(key, tuple) else (key,)
        if v.size == 0:
            mean = low = high = np.nan
        else:
            mean = float(v.mean())
            half = t_half_width(v, level) if v.size > 1 else np.nan
            low, high = mean - half, mean + half
        if log:
            mean, low, high = (10.0 ** mean, 10.0 ** low, 10.0 ** high)
        rows.append({**dict(zip(keys, key)), "mean": mean, "low": low, "high": high, "n": int(v.size)})
    return pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n"])


def seeds_text(frame: pd.DataFrame) -> str:
    """``"seeds 0-2 (mean, band = 95 % t-interval)"`` for the ``seed`` column of ``frame``."""
    seeds = sorted(set(frame["seed"])) if "seed" in frame else [0]
    if len(seeds) == 1:
        return f"seed {seeds[0]} (one run, no interval)"
    span = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
            else ", ".join(map(str, seeds)))
    return f"seeds {span} (line = mean over {len(seeds)} seeds, band = 95 % t-interval)"


def _band(ax, summary: pd.DataFrame, x: str, color, label=None, style: str = "-", ms: float = 3) -> None:
    ax.plot(summary[x], summary["mean"], style, color=color, label=label, ms=ms)
    ax.fill_between(summary[x], summary["low"], summary["high"], color=color, alpha=0.2, lw=0)


def format_table(frame: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A small markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            cells.append(format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _save(fig, out_path: Path) -> Path:
    return save_figure(fig, out_path, bbox_inches="tight")


def _register_figure(name: str, description: str, notebook: str,
                     draw: Callable[[Mapping[str, Any]], Any]) -> None:
    """Register artifact ``name``: ``draw(params)`` saved as a PNG."""

    def make(params: Mapping[str, Any], out_path: Path) -> Path:
        return _save(draw(params), out_path)

    register_artifact(name, description, notebook=notebook)(make)
