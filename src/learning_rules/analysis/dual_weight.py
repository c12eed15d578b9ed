r"""Analysis of the dual-weight experiments: intervals, relative improvement, published cells, pictures.

* :func:`t_interval` -- mean and 95 % Student-t interval over seeds.
* :func:`relative_improvement` -- the paper's sec. 4.2.1 measure against gradient descent (GD).
* :func:`final_summary`, :func:`relative_table`, :func:`task_average` -- Tables 1-4 and Figure 2
  from the tidy frame of :func:`learning_rules.experiments.dual_weight.run_grid`.
* :func:`published` / :func:`compare` -- the transcribed published cells (``reference/dual_weight.csv``)
  next to the regenerated ones, with the difference.
* :func:`total_variation`, :func:`off_digit_energy` -- how "clean" a receptive field is, as numbers.

Source: Wang (2025), "Revisiting gradient descent: a dual-weight method", sec. 4.2 and Figure 3;
spec ``../shared/specs/dual-weight-paper.md`` sec. 6.

Explained in: book/dual-weight/experiments.ipynb and receptive-fields.ipynb.
"""

from __future__ import annotations

from .stats import t_half_width

import functools
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "source_typos",
    "REGRESSION",
    "agreement",
    "claims",
    "compare",
    "final_summary",
    "off_digit_energy",
    "off_digit_mask",
    "paired_differences",
    "published",
    "figure2",
    "relative_improvement",
    "relative_per_seed",
    "relative_table",
    "row_key",
    "side_by_side",
    "t_interval",
    "task_average",
    "task_of",
    "tolerance",
    "total_variation",
]

REGRESSION = ("wine", "house")
#: A regression loss at least this large (in the tables' unit, where predicting the mean scores 100)
#: counts as a trivial model (the paper: L2 0.1 "forces parameters close to zero").
TRIVIAL_LOSS = 90.0
CLASSIFICATION = ("mnist", "fashion", "cifar10")


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    r"""Mean and two-sided Student-t interval of the mean.

    .. math:: \bar v \pm t_{(1+\text{level})/2,\ m-1}\ \frac{s}{\sqrt m}, \qquad
              s^2 = \frac{1}{m-1}\sum_i (v_i - \bar v)^2

    Parameters
    ----------
    values : sequence of float, length m
        One value per seed (NaN entries are dropped).
    level : float in (0, 1)

    Returns
    -------
    (mean, low, high) : floats; low = high = NaN when fewer than 2 values
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = t_half_width(v, level)
    return mean, mean - half, mean + half


def relative_improvement(value, gd, task: str):
    r"""Relative improvement over gradient descent, in percent (paper sec. 4.2.1).

    .. math:: \text{regression: } 100\,\frac{\text{GD} - \text{method}}{\text{GD}},\qquad
              \text{classification: } 100\,\frac{\text{method} - \text{GD}}{\text{GD}}

    so that positive always means "better than GD" (lower loss, higher accuracy).

    Parameters
    ----------
    value, gd : float or ndarray (broadcastable)
    task : {"regression", "classification"}
    """
    value = np.asarray(value, dtype=np.float64)
    gd = np.asarray(gd, dtype=np.float64)
    if task == "regression":
        return 100.0 * (gd - value) / gd
    if task == "classification":
        return 100.0 * (value - gd) / gd
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")


def task_of(dataset: str) -> str:
    """``"regression"`` for wine/house, ``"classification"`` for the image sets."""
    if dataset in REGRESSION:
        return "regression"
    if dataset in CLASSIFICATION:
        return "classification"
    raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(REGRESSION + CLASSIFICATION)}")


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the last step of each run (normal and noise)."""
    last = frame.groupby(["protocol", "dataset", "layers", "n", "seed"])["step"].transform("max")
    return frame[frame["step"] == last]


def final_summary(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Tables 1-2: per (protocol, dataset, layers, n, method, condition) the mean over seeds and its
    t-interval, after the last step, and where one more run would fall
    (:func:`~learning_rules.analysis.stats.prediction_interval`: the published numbers are single
    runs). Columns ``mean, low, high, n_seeds, pred_low, pred_high``."""
    from .stats import prediction_interval

    fin = _final(frame)
    keys = ["protocol", "dataset", "layers", "n", "method", "condition"]
    rows = []
    for key, g in fin.groupby(keys, sort=False):
        m, lo, hi = t_interval(g["value"].to_numpy(), level)
        rows.append((*key, m, lo, hi, int(g["value"].notna().sum()),
                     *prediction_interval(g["value"].to_numpy(), level)))
    return pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n_seeds", "pred_low", "pred_high"])


def relative_per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the relative improvement of every (layers, n, condition) cell (each method against
    the GD run of the same cell and seed), averaged over a dataset's cells.
    Columns ``protocol, dataset, method, condition, seed, rel, n_cells``."""
    fin = _final(frame)
    cell = ["protocol", "dataset", "layers", "n", "seed", "condition"]
    gd = fin[fin["method"] == "GD"].set_index(cell)["value"].rename("gd")
    other = fin[fin["method"] != "GD"].join(gd, on=cell)
    other = other.assign(rel=[float(relative_improvement(v, g, task_of(d)))
                              for v, g, d in zip(other["value"], other["gd"], other["dataset"])])
    return (other.groupby(["protocol", "dataset", "method", "condition", "seed"], sort=False)
            .agg(rel=("rel", "mean"), n_cells=("rel", "size")).reset_index())


def relative_table(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Tables 3-4: :func:`relative_per_seed`, then mean and t-interval over seeds.

    Columns ``protocol, dataset, method, condition, mean, low, high, n_seeds, n_cells``.
    """
    per_seed = relative_per_seed(frame)
    rows = []
    for key, g in per_seed.groupby(["protocol", "dataset", "method", "condition"], sort=False):
        m, lo, hi = t_interval(g["rel"].to_numpy(), level)
        rows.append((*key, m, lo, hi, len(g), int(g["n_cells"].iloc[0])))
    return pd.DataFrame(rows, columns=["protocol", "dataset", "method", "condition", "mean", "low",
                                       "high", "n_seeds", "n_cells"])


def figure2(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Figure 2 with intervals: per seed, the Table 3/4 values averaged over the datasets of each
    task; then mean and t-interval over seeds. Columns ``protocol, task, method, condition, mean,
    low, high, n_seeds, datasets``."""
    ps = relative_per_seed(frame)
    ps = ps.assign(task=[task_of(d) for d in ps["dataset"]])
    per = (ps.groupby(["protocol", "task", "method", "condition", "seed"], sort=False)
           .agg(rel=("rel", "mean"), datasets=("dataset", lambda s: ",".join(sorted(set(s)))))
           .reset_index())
    rows = []
    for key, g in per.groupby(["protocol", "task", "method", "condition"], sort=False):
        m, lo, hi = t_interval(g["rel"].to_numpy(), level)
        rows.append((*key, m, lo, hi, len(g), g["datasets"].iloc[0]))
    return pd.DataFrame(rows, columns=["protocol", "task", "method", "condition", "mean", "low",
                                       "high", "n_seeds", "datasets"])


def task_average(rel: pd.DataFrame, value: str = "mean") -> pd.DataFrame:
    """Figure 2: the mean of the Table 3/4 rows over the datasets of each task (regression:
    wine, house; classification: the image sets present), per method and condition."""
    r = rel.assign(task=[task_of(d) for d in rel["dataset"]])
    keys = [k for k in ("protocol", "task", "method", "condition") if k in r.columns]
    return (r.groupby(keys, sort=False)
            .agg(value=(value, "mean"), datasets=("dataset", lambda s: ",".join(sorted(set(s)))))
            .reset_index())


# ------------------------------------------------------------------------- published cells


@functools.lru_cache(maxsize=1)
def _published_csv() -> pd.DataFrame:
    path = resources.files("learning_rules") / "reference" / "dual_weight.csv"
    with resources.as_file(path) as p:
        return pd.read_csv(p, dtype={"published": float})


def published(table: str | None = None) -> pd.DataFrame:
    """The transcribed cells (``source, table, row, column, published, unit, note``), optionally one table.

    ``table`` is ``"Table 1"`` .. ``"Table 4"`` (the paper) or ``"Appendix A"`` / ``"Appendix B"``
    (the authors' notebook outputs as transcribed in the spec).
    """
    frame = _published_csv()
    if table is None:
        return frame.copy()
    valid = sorted(frame["table"].unique())
    if table not in valid:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(valid)}")
    return frame[frame["table"] == table].reset_index(drop=True)


def _mean_relative(cells: pd.DataFrame) -> pd.Series:
    """Table 4's recipe on Table 2-shaped cells: per (dataset, method, condition) the mean over
    the six (layers, n) cells of ``100 (method - GD) / GD``."""
    parts = cells["row"].str.split("|", expand=True)
    f = cells.assign(dataset=parts[0], layers=parts[1], n=parts[2], method=parts[3])
    gd = f[f["method"] == "GD"].set_index(["dataset", "layers", "n", "column"])["published"]
    f = f[f["method"] != "GD"].copy()
    f["rel"] = [100.0 * (v - gd[key]) / gd[key] for v, key in
                zip(f["published"], zip(f["dataset"], f["layers"], f["n"], f["column"]))]
    return f.groupby(["dataset", "method", "column"])["rel"].mean()


def source_typos() -> pd.DataFrame:
    """Printed cells that disagree with the authors' own notebooks, found from the transcriptions.

    * Table 2 cells whose printed value differs from the notebook output (Appendix A) by more
      than the printed rounding (0.05);
    * Table 4 cells that Table 4's recipe (:func:`_mean_relative`) recovers to rounding from
      Table 2 with those cells replaced by the notebook values, but not from Table 2 as printed.

    Columns: ``table, row, column, published, notebook, flag`` (``notebook``: the notebook output
    for a Table 2 cell, the recomputed value for a Table 4 cell). The ledger keeps comparing the
    printed value and carries ``flag`` (``reference/dual_weight.csv``'s ``source_flag`` column).
    """
    ref = published()
    t2 = ref[ref["table"] == "Table 2"]
    nb = ref[ref["table"] == "Appendix A"].set_index(["row", "column"])["published"]
    t2 = t2.assign(notebook=[nb[(r, c)] for r, c in zip(t2["row"], t2["column"])])
    typo = (t2["published"] - t2["notebook"]).abs() > 0.05 + 1e-9
    rows = [{"table": "Table 2", "row": r.row, "column": r.column, "published": r.published,
             "notebook": r.notebook,
             "flag": f"source typo: the authors' notebook gives {r.notebook:.2f} (printed {r.published:.1f})"}
            for r in t2[typo].itertuples()]
    corrected = t2.assign(published=np.where(typo, t2["notebook"].round(1), t2["published"]))
    as_printed, fixed = _mean_relative(t2), _mean_relative(corrected)
    for r in ref[ref["table"] == "Table 4"].itertuples():
        dataset, method = r.row.split("|")
        key = (dataset, method, r.column)
        if abs(as_printed[key] - r.published) > 0.05 + 1e-9 and abs(fixed[key] - r.published) <= 0.05 + 1e-9:
            rows.append({"table": "Table 4", "row": r.row, "column": r.column, "published": r.published,
                         "notebook": round(float(fixed[key]), 4),
                         "flag": f"follows the notebook values, not the printed Table 2 (printed Table 2 "
                                 f"gives {as_printed[key]:.2f}, the notebook values {fixed[key]:.2f})"})
    return pd.DataFrame(rows, columns=["table", "row", "column", "published", "notebook", "flag"])


def row_key(dataset: str, layers: int | None = None, n: int | None = None, method: str = "") -> str:
    """The CSV's row key: ``"mnist|2L|n=1000|GD"`` (Tables 1-2) or ``"mnist|GD"`` (Tables 3-4)."""
    parts = [dataset]
    if layers is not None:
        parts.append(f"{int(layers)}L")
    if n is not None:
        parts.append(f"n={int(n)}")
    parts.append(method)
    return "|".join(parts)


def compare(regenerated: pd.DataFrame, table: str) -> pd.DataFrame:
    """Published cells of ``table`` next to the regenerated ones, with ``delta = mean - published``.

    ``regenerated`` is :func:`final_summary` (Tables 1-2, Appendix A) or :func:`relative_table`
    (Tables 3-4) of one protocol. Published cells without a regenerated value keep ``mean = NaN``.
    """
    pub = published(table)
    r = regenerated.copy()
    if {"layers", "n"} <= set(r.columns):
        r["row"] = [row_key(d, L, n, m) for d, L, n, m in zip(r["dataset"], r["layers"], r["n"], r["method"])]
    else:
        r["row"] = [row_key(d, method=m) for d, m in zip(r["dataset"], r["method"])]
    r = r.rename(columns={"condition": "column"})
    cols = ["row", "column", "mean", "low", "high", "n_seeds"] + [c for c in ("pred_low", "pred_high")
                                                                 if c in r.columns]
    out = pub.merge(r[cols], on=["row", "column"], how="left")
    out["delta"] = out["mean"] - out["published"]
    return out


# --------------------------------------------------------------------------- receptive fields


def total_variation(images: np.ndarray) -> np.ndarray:
    r"""Normalised anisotropic total variation of each image (high = speckled, low = smooth).

    .. math:: \mathrm{TV}(w) = \frac{\sum_{r,c} |w_{r+1,c} - w_{r,c}| + |w_{r,c+1} - w_{r,c}|}
                                   {2 \sum_{r,c} |w_{r,c}|}

    Dividing by the L1 norm makes it scale-free, so a field is not called "smooth" merely because
    its weights are small. White noise gives about 1; a constant image 0.

    Parameters
    ----------
    images : ndarray, shape (k, H, W)

    Returns
    -------
    ndarray, shape (k,)
    """
    A = np.asarray(images, dtype=np.float64)
    if A.ndim != 3:
        raise ValueError(f"images must have shape (k, H, W), got {A.shape}")
    tv = np.abs(np.diff(A, axis=1)).sum(axis=(1, 2)) + np.abs(np.diff(A, axis=2)).sum(axis=(1, 2))
    l1 = np.abs(A).sum(axis=(1, 2))
    return tv / np.where(l1 > 0, 2.0 * l1, 1.0)


def off_digit_mask(X_train: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Pixels (flattened) that are inked in fewer than ``threshold`` of the training images.

    Parameters
    ----------
    X_train : ndarray, shape (N, n_pixels), values in [0, 1]

    Returns
    -------
    ndarray of bool, shape (n_pixels,): True = outside the digit area
    """
    X = np.asarray(X_train)
    return (X > 0).mean(axis=0) < threshold


def off_digit_energy(W: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""Fraction of each field's energy on pixels outside the digit area.

    .. math:: \rho_j = \frac{\sum_{k \in \text{off}} W_{jk}^2}{\sum_k W_{jk}^2}

    A gradient step never changes a weight whose input is always 0, so under GD these pixels keep
    their initial values; the dual-weight averaging shrinks them by ``(1 - a)`` at every move.

    Parameters
    ----------
    W : ndarray, shape (n_neurons, n_pixels)
    mask : ndarray of bool, shape (n_pixels,)

    Returns
    -------
    ndarray, shape (n_neurons,)
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or mask.shape != (W.shape[1],):
        raise ValueError(f"W must be (n_neurons, {mask.shape[0]}) and mask (n_pixels,); got {W.shape}, {mask.shape}")
    total = (W ** 2).sum(axis=1)
    return (W[:, mask] ** 2).sum(axis=1) / np.where(total > 0, total, 1.0)


# ------------------------------------------------------------------------------- presentation


def tolerance(published_value: float, unit: str) -> float:
    """The report's default tolerance: 2 points for accuracy %, 15 % of the value for losses,
    2 points for relative improvements in %."""
    if unit == "loss x 1e4":
        return 0.15 * abs(published_value)
    return 2.0


def side_by_side(cmp: pd.DataFrame, missing: dict[str, str] | None = None, digits: int = 1) -> pd.DataFrame:
    """A wide, readable version of :func:`compare`: one row per ``row`` key, one column per
    ``column`` (normal / noise or n and condition), each cell ``"published -> regenerated (delta)"``;
    a dataset in ``missing`` shows ``"published -> not run"``."""
    missing = missing or {}
    out: dict[str, dict[str, str]] = {}
    for r in cmp.itertuples(index=False):
        parts = r.row.split("|")
        if len(parts) == 4:  # dataset|2L|n=100|method -> row dataset|2L|method, column n=100 normal
            row, col = "|".join([parts[0], parts[1], parts[3]]), f"{parts[2]} {r.column}"
        else:
            row, col = r.row, r.column
        if parts[0] in missing or not np.isfinite(r.mean):
            text = f"{r.published:.{digits}f} -> not run"
        else:
            text = f"{r.published:.{digits}f} -> {r.mean:.{digits}f} ({r.mean - r.published:+.{digits}f})"
        out.setdefault(row, {})[col] = text
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "dataset|layers|method" if any(len(k.split("|")) == 3 for k in out) else "dataset|method"
    return frame.reset_index()


def agreement(cmp: pd.DataFrame) -> dict[str, float]:
    """How well a regenerated table matches the published one: cells within the report's tolerance,
    and groups (same dataset, layers, n, condition) whose best method is the same."""
    c = cmp.dropna(subset=["mean"])
    if c.empty:
        return {"cells": 0, "within_tolerance": 0, "groups": 0, "same_best": 0}
    tol = np.array([tolerance(p, u) for p, u in zip(c["published"], c["unit"])])
    within = int((np.abs(c["delta"]) <= tol).sum())
    c = c.assign(group=[r.rsplit("|", 1)[0] + "|" + col for r, col in zip(c["row"], c["column"])])
    same = 0
    groups = 0
    for _, g in c.groupby("group"):
        if len(g) < 2:
            continue
        groups += 1
        lower_better = g["unit"].iloc[0] == "loss x 1e4"
        pick = (lambda s: s.idxmin()) if lower_better else (lambda s: s.idxmax())
        same += int(g.loc[pick(g["published"]), "row"] == g.loc[pick(g["mean"]), "row"])
    return {"cells": len(c), "within_tolerance": within, "groups": groups, "same_best": same}


def paired_differences(frame: pd.DataFrame, method: str, baseline: str = "GD",
                       level: float = 0.95) -> pd.DataFrame:
    """Per (protocol, dataset, layers, n, condition): mean and t-interval over seeds of the paired
    improvement of ``method`` over ``baseline`` in the metric's own units (positive = better:
    lower loss or higher accuracy)."""
    fin = _final(frame)
    keys = ["protocol", "dataset", "layers", "n", "condition", "seed"]
    a = fin[fin["method"] == method].set_index(keys)["value"]
    b = fin[fin["method"] == baseline].set_index(keys)["value"]
    d = (a - b).dropna().rename("diff").reset_index()
    sign = np.where(d["dataset"].isin(REGRESSION), -1.0, 1.0)
    d["diff"] = d["diff"] * sign
    rows = []
    for key, g in d.groupby(keys[:-1], sort=False):
        m, lo, hi = t_interval(g["diff"].to_numpy(), level)
        rows.append((*key, m, lo, hi, len(g)))
    return pd.DataFrame(rows, columns=[*keys[:-1], "mean", "low", "high", "n_seeds"])


def claims(rel: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's main claims checked on one protocol's results; every verdict comes from numbers.

    ``rel`` is :func:`relative_table`, ``frame`` the tidy grid (for the paired per-cell tests).
    Columns ``claim, evidence, verdict`` (verdict: "holds", "does not hold", "mixed" or
    "undecided (1 seed)").
    """
    out = []
    multi = rel["n_seeds"].max() >= 2 if not rel.empty else False

    def sig_pos(r):
        return r["low"] > 0 if multi else r["mean"] > 0

    reg = rel[rel["dataset"].isin(REGRESSION)]
    cls = rel[~rel["dataset"].isin(REGRESSION)]
    for method in ("our", "our+stab"):
        r = reg[reg["method"] == method]
        if r.empty:
            continue
        ok = [bool(sig_pos(x)) for _, x in r.iterrows()]
        ev = "; ".join(f"{x.dataset} {x.condition}: {x['mean']:+.1f}%" +
                       (f" [{x.low:+.1f}, {x.high:+.1f}]" if multi else "") for _, x in r.iterrows())
        verdict = "holds" if all(ok) else ("does not hold" if not any(ok) else "mixed")
        out.append((f"{method} improves on GD in regression (Table 3 > 0)", ev, verdict))
    if not reg.empty:
        means = reg.groupby("method")["mean"].mean()
        best = means.idxmax()
        out.append(("the stabilizer is the best method in regression",
                    ", ".join(f"{m}: {v:+.1f}%" for m, v in means.sort_values(ascending=False).items()),
                    "holds" if best == "our+stab" else "does not hold"))
    if not cls.empty:
        big = cls[cls["mean"].abs() > 2.0]
        out.append(("differences are small in classification (|Table 4| <= 2 %)",
                    f"{len(cls) - len(big)} of {len(cls)} dataset/method/condition averages within 2 %"
                    + (f"; larger: " + ", ".join(f"{x.dataset} {x.method} {x.condition} {x['mean']:+.1f}%"
                                                 for _, x in big.iterrows()) if len(big) else ""),
                    "holds" if big.empty else "mixed"))
        r = cls[(cls["method"] == "our")]
        if not r.empty:
            gain = r.set_index(["dataset", "condition"])["mean"]
            noisy = [gain.get((d, "noise"), np.nan) > gain.get((d, "normal"), np.nan)
                     for d in r["dataset"].unique()]
            out.append(("dual weight helps more on noisy test images than on clean ones",
                        ", ".join(f"{d}: normal {gain.get((d, 'normal'), np.nan):+.1f}%, noise "
                                  f"{gain.get((d, 'noise'), np.nan):+.1f}%" for d in r["dataset"].unique()),
                        "holds" if all(noisy) else ("does not hold" if not any(noisy) else "mixed")))
    fin = _final(frame)
    strong = final_summary(fin[fin["method"] == "L2 0.1"]) if (fin["method"] == "L2 0.1").any() else None
    if strong is not None:
        r = strong[strong["dataset"].isin(REGRESSION)]
        if not r.empty:
            trivial = r["mean"] >= TRIVIAL_LOSS
            out.append((f"L2 0.1 makes the regression model trivial, uniformly (loss >= {TRIVIAL_LOSS:g}; "
                        "100 = predicting the mean)",
                        f"{int(trivial.sum())} of {len(r)} cells; L2 0.1's mean loss ranges "
                        f"{r['mean'].min():.1f}-{r['mean'].max():.1f}",
                        "holds" if trivial.all() else ("does not hold" if not trivial.any() else "mixed")))
    l2 = paired_differences(frame, "L2 0.1", "L2 0.01")
    l2 = l2[~l2["dataset"].isin(REGRESSION)] if not l2.empty else l2
    if not l2.empty:
        wins = (l2["low"] > 0) if multi else (l2["mean"] > 0)
        per = l2.assign(win=wins.to_numpy()).groupby("dataset")["win"].agg(["sum", "size"])
        out.append(("on some image sets L2 0.1 beats L2 0.01",
                    ", ".join(f"{d}: {int(x['sum'])} of {int(x['size'])} cells" for d, x in per.iterrows())
                    + (" (95 % interval of the paired difference above 0)" if multi else ""),
                    "holds" if wins.any() else "does not hold"))
    pd_ = paired_differences(frame, "our")
    if not pd_.empty:
        if multi:
            worse = pd_[pd_["high"] < 0]
            better = pd_[pd_["low"] > 0]
        else:
            worse, better = pd_[pd_["mean"] < 0], pd_[pd_["mean"] > 0]
        out.append(("dual weight is 'harmless': never worse than GD",
                    f"of {len(pd_)} cells (dataset x layers x n x condition) it is "
                    f"{'significantly ' if multi else ''}worse in {len(worse)} and "
                    f"{'significantly ' if multi else ''}better in {len(better)}"
                    + (": worse in " + ", ".join(f"{x.dataset} {x.layers}L n={x.n} {x.condition}"
                                                 for _, x in worse.head(8).iterrows()) if len(worse) else ""),
                    "holds" if worse.empty else "does not hold"))
    frame_out = pd.DataFrame(out, columns=["claim", "evidence", "verdict"])
    if not multi:
        frame_out["verdict"] = frame_out["verdict"] + " (1 seed: no interval)"
    return frame_out
