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

__all__ = ["alignment_verdict", "compare_to_published", "feedback_verdict",
           "final_summary", "load_published", "mean_interval", "optimizers_verdict"]


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


# --------------------------------------------------------------------------------------------------
# which thesis conclusion survives: one sentence per claim, every number read from the runs
# --------------------------------------------------------------------------------------------------


#: Final accuracies below this (chance is 0.5) make a profile unable to test a thesis claim.
TESTABLE_ABOVE = 0.6


def _untestable(runs: pd.DataFrame) -> str | None:
    """A warning line when every run ends within ``TESTABLE_ABOVE`` of chance (e.g. k = 3 on a
    small subsample): the sentences then compare noise, not methods."""
    last = runs[runs["epoch"] == runs["epoch"].max()]
    best = float(last.groupby([c for c in ("credit", "optimizer", "feedback_init", "adam_step_count")
                               if c in last.columns], dropna=False)["test_acc"].mean().max())
    if best >= TESTABLE_ABOVE:
        return None
    return (f"**Not testable with this profile:** the best run ends at {best:.3f} test accuracy, "
            f"below {TESTABLE_ABOVE} (chance is 0.5), so the comparisons below are between runs "
            "that have not learned; the `paper` profile runs the thesis' protocol.")


def _with_warning(runs: pd.DataFrame, lines: list[str]) -> str:
    warn = _untestable(runs)
    return "\n".join(([warn, ""] if warn else []) + [f"* {s}" for s in lines])


def _final_mean(runs: pd.DataFrame, mask, column: str = "test_acc") -> float:
    sub = runs[mask]
    last = sub[sub["epoch"] == sub["epoch"].max()]
    return float(last[column].mean())


def alignment_verdict(runs: pd.DataFrame) -> str:
    """The thesis' two alignment claims (Figs. 3.2, 3.5) checked on DFA runs with SGD and RMSProp.

    Claim 1: :math:`\\cos(B, W_2)` grows during training (alignment happens). Claim 2: SGD ends
    *more* aligned than RMSProp while RMSProp ends more *accurate*, so better alignment is not
    needed for better accuracy. ``runs`` has ``epoch``, ``optimizer`` (``"sgd"``, ``"rmsprop"``),
    ``test_acc`` and ``feedback_cos_1``. Returns Markdown.
    """
    out = []
    e_max = int(runs["epoch"].max())
    cos, acc = {}, {}
    for o in ("sgd", "rmsprop"):
        m = runs["optimizer"] == o
        c0 = float(runs[m & (runs["epoch"] == 0)]["feedback_cos_1"].mean())
        cos[o] = _final_mean(runs, m, "feedback_cos_1")
        acc[o] = _final_mean(runs, m)
        grew = cos[o] - c0 > 0.05
        out.append(f"{o.upper() if o == 'sgd' else 'RMSProp'}: cos(B, W2) went from {c0:.3f} at "
                   f"epoch 0 to {cos[o]:.3f} at epoch {e_max} -- "
                   f"{'it aligns, as the thesis reports' if grew else 'no clear alignment in this run'}.")
    holds = cos["sgd"] > cos["rmsprop"] and acc["rmsprop"] > acc["sgd"]
    out.append(f"At epoch {e_max} SGD's cosine is {cos['sgd']:.3f} against RMSProp's {cos['rmsprop']:.3f}, "
               f"and the test accuracy {acc['sgd']:.3f} against {acc['rmsprop']:.3f}: the thesis' "
               "reading (SGD better aligned, RMSProp more accurate) "
               f"**{'survives' if holds else 'does not survive'}** here.")
    return _with_warning(runs, out)


def rise_together(runs: pd.DataFrame, x: str = "test_acc", y: str = "feedback_cos_1",
                  by: str = "optimizer", threshold: float = 0.5) -> tuple[bool, dict[str, float]]:
    """Do ``x`` and ``y`` rise together over training? Per group of ``by``: the Spearman rank
    correlation of their epoch means (epochs >= 1, mean over seeds); they rise together when
    every group's correlation exceeds ``threshold``. Returns ``(verdict, {group: correlation})``."""
    from scipy import stats

    corr = {}
    for key, g in runs[runs["epoch"] >= 1].groupby(by, sort=True):
        means = g.groupby("epoch")[[x, y]].mean()
        corr[str(key)] = (float(stats.spearmanr(means[x], means[y]).statistic)
                          if len(means) >= 3 else float("nan"))
    return bool(corr) and all(np.isfinite(v) and v > threshold for v in corr.values()), corr


def learns_with_every_law(runs: pd.DataFrame, chance: float = 0.5,
                          margin: float = 0.02) -> tuple[bool, dict[str, float]]:
    """Fig. 3.3's claim: every law of B ends above ``chance + margin`` (final test accuracy, mean
    over seeds). Returns ``(verdict, {law: final accuracy})``."""
    finals = {b: _final_mean(runs, runs["feedback_init"] == b) for b in runs["feedback_init"].unique()}
    return bool(finals) and all(v > chance + margin for v in finals.values()), finals


def feedback_verdict(runs: pd.DataFrame, chance: float = 0.5, margin: float = 0.02) -> str:
    """The thesis' Fig. 3.3 claims: DFA learns with all four laws of B (final accuracy above
    ``chance + margin``), and the all-positive standard-uniform law is the weakest. ``runs`` has
    ``epoch``, ``feedback_init``, ``test_acc``. Returns Markdown."""
    learn, finals = learns_with_every_law(runs, chance, margin)
    listing = ", ".join(f"{b.replace('_', ' ')} {v:.3f}" for b, v in finals.items())
    worst = min(finals, key=finals.get)
    out = [f"Final test accuracy per law of B: {listing}.",
           f"'DFA learns with every law of B' **{'survives' if learn else 'does not survive'}** "
           f"(every law above {chance + margin:.2f}: {'yes' if learn else 'no'}).",
           f"'The standard-uniform (all-positive) B is the weakest' "
           f"**{'survives' if worst == 'standard_uniform' else 'does not survive'}** (weakest here: "
           f"{worst.replace('_', ' ')})."]
    return _with_warning(runs, out)


def optimizers_verdict(runs: pd.DataFrame) -> str:
    """The thesis' Fig. 3.4 claims, from runs at the published rates with correct Adam:
    (1) RMSProp lifts DFA above DFA + SGD; (2) the BP - DFA gap is smaller with RMSProp than with
    SGD; (3) BP beats DFA with every optimizer; and what Adam's epoch count cost. ``runs`` has
    ``epoch``, ``credit``, ``optimizer``, ``adam_step_count``, ``test_acc``. Returns Markdown."""
    step = runs[(runs["optimizer"] != "adam") | (runs["adam_step_count"] == "step")]

    def fin(c, o, frame=step):
        return _final_mean(frame, (frame["credit"] == c) & (frame["optimizer"] == o))

    opts = [o for o in ("sgd", "adagrad", "adadelta", "rmsprop", "adam") if o in set(step["optimizer"])]
    gap = {o: fin("backprop", o) - fin("dfa", o) for o in opts}
    out = []
    d_sgd, d_rms = fin("dfa", "sgd"), fin("dfa", "rmsprop")
    out.append(f"DFA + RMSProp {d_rms:.3f} against DFA + SGD {d_sgd:.3f}: 'adaptive optimizers improve "
               f"DFA' **{'survives' if d_rms > d_sgd else 'does not survive'}** for RMSProp.")
    out.append(f"BP - DFA gap {gap['sgd']:+.3f} with SGD and {gap['rmsprop']:+.3f} with RMSProp: 'the gap "
               f"narrows' **{'survives' if gap['rmsprop'] < gap['sgd'] else 'does not survive'}**.")
    bp_wins = [o for o in opts if gap[o] > 0]
    out.append(f"BP ahead of DFA with {len(bp_wins)} of {len(opts)} optimizers "
               f"({', '.join(bp_wins) or 'none'}): 'BP beats DFA with every optimizer' "
               f"**{'survives' if len(bp_wins) == len(opts) else 'does not survive'}**.")
    ep = runs[(runs["optimizer"] == "adam") & (runs["adam_step_count"] == "epoch")]
    if not ep.empty:
        for c, name in (("backprop", "BP"), ("dfa", "DFA")):
            out.append(f"{name} + Adam: {fin(c, 'adam'):.3f} with correct step counting, "
                       f"{fin(c, 'adam', ep):.3f} with the thesis' epoch count.")
    return _with_warning(runs, out)
