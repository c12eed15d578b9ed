r"""Analysis of the backprop ablation: cost definitions, seed intervals, the comparison with the
published tables, and the paper's claims as measurable quantities.

Source: Okoma (2025), "Derivation and Analysis of Backpropagation: An Ablation Study on
Optimization, Regularization, and Weight Initialization in MLPs" (``[ablation]`` below),
sec. 2.2 (cost), 3.3 (L2 term), 4.3 (Tables 1-3, Figures 1-5), 5 (discussion).

The paper does not say which number its tables call "cost". Every candidate below is computed
from the same forward pass, so the notebook can score each against the published cells
(:func:`score_cost_candidates`).

Explained in: ``book/foundations/ablation.ipynb``.
"""

from __future__ import annotations

from .stats import t_half_width

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._registry import Registry

__all__ = [
    "COST_CANDIDATES",
    "CostCandidate",
    "bce_per_sample",
    "cce_per_sample",
    "choose_learning_rates",
    "matched_accuracy_scores",
    "compare_with_published",
    "cost_terms",
    "cost_evidence",
    "count_spikes",
    "evaluate_claims",
    "final_epoch",
    "half_sse_per_sample",
    "l2_penalty",
    "learning_onset_epoch",
    "mean_interval",
    "score_cost_candidates",
    "softmax_probabilities",
    "summarize_final",
]


# --------------------------------------------------------------------------- the cost's pieces


def softmax_probabilities(z: np.ndarray) -> np.ndarray:
    r"""Row-wise softmax in float64, shifted by the row maximum for stability.

    .. math:: a_{ik} = \frac{e^{z_{ik} - \max_j z_{ij}}}{\sum_t e^{z_{it} - \max_j z_{ij}}}

    Parameters
    ----------
    z : (n, q) output pre-activations.
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def cce_per_sample(z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Categorical cross-entropy of each sample from the logits [ablation sec. 2.2, with the minus
    sign the paper's formula drops].

    .. math:: L_i = -\sum_{k=1}^{q} y_{ik} \log a_{ik}
        = \operatorname{logsumexp}(z_i) - \sum_k y_{ik} z_{ik}

    Parameters
    ----------
    z : (n, q) logits;  Y : (n, q) one-hot targets.

    Returns
    -------
    (n,) float64
    """
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return lse - (np.asarray(Y, dtype=np.float64) * z).sum(axis=1)


def half_sse_per_sample(z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""The paper's MSE loss on the softmax output [ablation sec. 2.2].

    .. math:: L_i = \tfrac12 \sum_{k=1}^{q} (y_{ik} - a_{ik})^2

    Parameters
    ----------
    z : (n, q) logits;  Y : (n, q) one-hot targets.
    """
    diff = np.asarray(Y, dtype=np.float64) - softmax_probabilities(z)
    return 0.5 * (diff * diff).sum(axis=1)


def bce_per_sample(z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""The paper's binary cross-entropy summed over the softmax outputs [ablation sec. 2.2, with the
    minus sign restored], as a library's ``binary_crossentropy`` would compute it on a softmax layer.

    .. math:: L_i = -\sum_{k=1}^{q} \big[y_{ik}\log a_{ik} + (1 - y_{ik})\log(1 - a_{ik})\big]

    ``log(1 - a_ik)`` is evaluated as ``logsumexp_{j != k} z_ij - logsumexp_j z_ij`` so that a
    saturated softmax (``a_ik = 1`` in floating point) stays finite.

    Parameters
    ----------
    z : (n, q) logits;  Y : (n, q) one-hot targets.
    """
    z = np.asarray(z, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    q = z.shape[1]
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    log_a = z - lse[:, None]
    others = np.where(np.eye(q, dtype=bool)[None, :, :], -np.inf, z[:, None, :])  # (n, k, j)
    mo = others.max(axis=2, keepdims=True)
    log_1ma = (mo[:, :, 0] + np.log(np.exp(others - mo).sum(axis=2))) - lse[:, None]
    return -(Y * log_a + (1.0 - Y) * log_1ma).sum(axis=1)


def l2_penalty(weights: Sequence[np.ndarray], lam: float, n: int) -> float:
    r"""The paper's L2 cost term over every weight matrix (biases excluded) [ablation sec. 3.3].

    .. math:: R = \frac{\lambda}{2n} \sum_l \sum_{jk} (W_l)_{jk}^2

    Parameters
    ----------
    weights : list of (n_l, n_{l-1}) arrays;  lam : float >= 0;  n : number of training samples.
    """
    if n < 1:
        raise ValueError(f"n (training-set size) must be >= 1, got {n}")
    total = sum(float(np.sum(np.asarray(W, dtype=np.float64) ** 2)) for W in weights)
    return lam / (2.0 * n) * total


def cost_terms(z: np.ndarray, Y: np.ndarray, weights: Sequence[np.ndarray], lam: float,
               n: int) -> dict[str, float]:
    """The raw pieces every candidate is built from: mean CCE, half-SSE and BCE, the L2 term, ``q``.

    Parameters
    ----------
    z : (N, q) logits of the evaluated set;  Y : (N, q) one-hot;  weights : the weight matrices;
    lam : lambda;  n : the *training*-set size of the penalty's ``lambda/(2n)``.
    """
    return {
        "cce": float(np.mean(cce_per_sample(z, Y))),
        "half_sse": float(np.mean(half_sse_per_sample(z, Y))),
        "bce": float(np.mean(bce_per_sample(z, Y))),
        "l2_term": l2_penalty(weights, lam, n),
        "q": float(np.asarray(z).shape[1]),
    }


@dataclass(frozen=True)
class CostCandidate:
    """One reading of the paper's "cost": ``value(terms)`` from :func:`cost_terms`'s dict."""

    name: str
    formula: str
    data_scale: str  # "mean" (over samples), "entries" (over samples x classes)
    loss: str  # "cce", "half_sse" or "bce"
    with_penalty: bool

    def value(self, terms: Mapping[str, float]) -> float:
        data = terms[self.loss]
        if self.data_scale == "entries":
            data = data / terms["q"]
        elif self.data_scale != "mean":
            raise ValueError(f"unknown data_scale {self.data_scale!r}")
        return data + (terms["l2_term"] if self.with_penalty else 0.0)


#: name -> CostCandidate. "sum" variants (total over the 10,000 samples) are orders of magnitude
#: above every published cell (>= 1000 x the mean), so they are scored as mean x n in the notebook.
COST_CANDIDATES: Registry[CostCandidate] = Registry("cost candidate")
for _c in [
    CostCandidate("cce", r"$\frac1n\sum_i L^{CCE}_i$", "mean", "cce", False),
    CostCandidate("cce+l2", r"$\frac1n\sum_i L^{CCE}_i + \frac{\lambda}{2n}\sum w^2$", "mean", "cce", True),
    CostCandidate("cce/q", r"$\frac1{nq}\sum_{i,k} -y_{ik}\log a_{ik}$", "entries", "cce", False),
    CostCandidate("cce/q+l2", r"$\frac1{nq}\sum_{i,k} -y_{ik}\log a_{ik} + \frac{\lambda}{2n}\sum w^2$",
                  "entries", "cce", True),
    CostCandidate("half_sse", r"$\frac1n\sum_i \frac12\|y_i - a_i\|^2$", "mean", "half_sse", False),
    CostCandidate("half_sse+l2", r"$\frac1n\sum_i \frac12\|y_i - a_i\|^2 + \frac{\lambda}{2n}\sum w^2$",
                  "mean", "half_sse", True),
    CostCandidate("bce/q", r"$\frac1{nq}\sum_{i,k} -[y_{ik}\log a_{ik} + (1-y_{ik})\log(1-a_{ik})]$",
                  "entries", "bce", False),
    CostCandidate("bce/q+l2", r"$\frac1{nq}\sum_{i,k} -[y_{ik}\log a_{ik} + (1-y_{ik})\log(1-a_{ik})] + "
                  r"\frac{\lambda}{2n}\sum w^2$", "entries", "bce", True),
    CostCandidate("half_sse/q", r"$\frac1{nq}\sum_{i,k} \frac12 (y_{ik} - a_{ik})^2$", "entries",
                  "half_sse", False),
]:
    COST_CANDIDATES.register(_c.name, _c)


# --------------------------------------------------------------------------- seeds and curves


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    r"""Mean and Student-t confidence interval over seeds.

    .. math:: \bar x \pm t_{(1+\text{level})/2,\, m-1}\, \frac{s}{\sqrt m}

    Returns ``(mean, low, high)``; with one value the interval collapses to the value (no spread
    can be estimated from one run); NaNs (diverged runs) are dropped first.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    half = t_half_width(x, level)
    return mean, mean - half, mean + half


def final_epoch(frame: pd.DataFrame) -> pd.DataFrame:
    """The epoch rows of each run's last epoch."""
    epochs = frame[frame["kind"] == "epoch"]
    last = epochs.groupby("run_id")["epoch"].transform("max")
    return epochs[epochs["epoch"] == last]


def summarize_final(frame: pd.DataFrame, metrics: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """Mean and interval over seeds of each metric at the last epoch.

    One row per (dataset, optimizer, init, lam, split, metric) with ``mean, low, high, n_seeds``.
    """
    last = final_epoch(frame)
    rows = []
    keys = ["dataset", "optimizer", "init", "lam", "split"]
    for key, group in last.groupby(keys, sort=False):
        for metric in metrics:
            mean, low, high = mean_interval(group[metric].to_numpy(), level)
            rows.append({**dict(zip(keys, key)), "metric": metric, "mean": mean, "low": low,
                         "high": high, "n_seeds": int(group["seed"].nunique())})
    return pd.DataFrame(rows)


def learning_onset_epoch(epochs: np.ndarray, accuracy: np.ndarray, threshold: float = 0.2) -> float:
    """First epoch whose training accuracy exceeds ``threshold`` (chance is 0.1); ``nan`` if never.

    This is the measurable form of "began to make significant learning progress at roughly
    epoch 33" [ablation sec. 4.3.2, Figure 1].
    """
    epochs = np.asarray(epochs)
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if epochs.shape != accuracy.shape:
        raise ValueError("epochs and accuracy must have the same shape")
    above = np.flatnonzero(accuracy > threshold)
    return float(epochs[above[0]]) if above.size else float("nan")


def count_spikes(batch_costs: np.ndarray, window: int = 50, factor: float = 3.0) -> int:
    r"""Mini-batch costs that jump above ``factor`` times the median of the previous ``window``.

    .. math:: \#\{t > w : c_t > \text{factor}\cdot \operatorname{median}(c_{t-w}, \dots, c_{t-1})\}

    The measurable form of "large periodic spikes" in the RMSProp curves [ablation sec. 4.3.1].
    """
    c = np.asarray(batch_costs, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    count = 0
    for t in range(window, c.size):
        past = c[t - window:t]
        past = past[np.isfinite(past)]
        if past.size and np.isfinite(c[t]) and c[t] > factor * np.median(past):
            count += 1
    return count


# --------------------------------------------------------------------------- the paper's tables


def compare_with_published(summary: pd.DataFrame, reference: pd.DataFrame,
                           cost_metric: str) -> pd.DataFrame:
    """Regenerated mean [low, high] next to each published cell, with the difference.

    Parameters
    ----------
    summary : :func:`summarize_final` output (metrics include ``accuracy`` and ``cost_metric``).
    reference : rows of the reference CSV for Tables 1-3 (``row`` = "dataset|init|lambda=L|Optimizer",
        ``column`` in train_cost, cv_cost, train_accuracy, cv_accuracy).
    cost_metric : the summary metric compared with the published "cost" columns.
    """
    out = []
    for rec in reference.itertuples(index=False):
        dataset, init, lam_text, optimizer = rec.row.split("|")
        lams = [float(v) for v in lam_text.removeprefix("lambda=").split("or")]
        split, quantity = rec.column.split("_", 1)
        metric = cost_metric if quantity == "cost" else "accuracy"
        for lam in lams:
            hit = summary[(summary["dataset"] == dataset) & (summary["optimizer"] == optimizer.lower())
                          & (summary["init"] == init) & (summary["lam"] == lam)
                          & (summary["split"] == split) & (summary["metric"] == metric)]
            row = {"table": rec.table, "dataset": dataset, "optimizer": optimizer, "lam": lam,
                   "column": rec.column, "published": float(rec.published)}
            if hit.empty:
                row.update(mean=np.nan, low=np.nan, high=np.nan, difference=np.nan, n_seeds=0)
            else:
                h = hit.iloc[0]
                row.update(mean=h["mean"], low=h["low"], high=h["high"],
                           difference=h["mean"] - float(rec.published), n_seeds=int(h["n_seeds"]))
            out.append(row)
    return pd.DataFrame(out)


def score_cost_candidates(summary: pd.DataFrame, reference: pd.DataFrame,
                          candidates: Sequence[str] | None = None) -> pd.DataFrame:
    r"""How well each cost definition reproduces the published cost cells.

    For each candidate ``c`` and published cost cell ``p`` with regenerated mean ``r``:
    ``log_ratio = log(r / p)``. Reported per candidate: the mean of ``|log_ratio|`` (0 = exact), the
    median ratio ``r/p`` (1 = right scale) and the correlation over cells of ``log r`` and
    ``log p`` (the ordering of the cells). A candidate whose summary metric is missing is skipped.

    .. math:: \text{score}(c) = \frac{1}{|P|}\sum_{p\in P} \left|\log\frac{r_c(p)}{p}\right|
    """
    names = list(candidates) if candidates is not None else list(COST_CANDIDATES)
    cost_ref = reference[reference["column"].str.endswith("_cost")]
    rows = []
    for name in names:
        metric = f"cost[{name}]"
        if metric not in set(summary["metric"]):
            continue
        table = compare_with_published(summary, cost_ref, metric).dropna(subset=["mean"])
        if table.empty:
            continue
        ratio = table["mean"].to_numpy() / table["published"].to_numpy()
        logr = np.log(ratio)
        corr = (float(np.corrcoef(np.log(table["mean"]), np.log(table["published"]))[0, 1])
                if len(table) > 2 else np.nan)
        rows.append({"candidate": name, "cells": len(table),
                     "mean_abs_log_ratio": float(np.mean(np.abs(logr))),
                     "median_ratio": float(np.median(ratio)), "log_correlation": corr})
    return pd.DataFrame(rows).sort_values("mean_abs_log_ratio", ignore_index=True)


def choose_learning_rates(search: pd.DataFrame) -> dict[str, float]:
    """Per optimizer, the rate with the highest final CV accuracy averaged over datasets and seeds.

    Ties (and runs that diverged: NaN accuracy counts as 0) go to the lower CV cross-entropy.
    ``search`` is the tidy output of runs that differ in ``lr`` (config columns attached).
    """
    last = final_epoch(search)
    cv = last[last["split"] == "cv"].copy()
    cv["accuracy"] = cv["accuracy"].fillna(0.0)
    cv["cce"] = cv["cce"].fillna(np.inf)
    scores = cv.groupby(["optimizer", "lr"]).agg(accuracy=("accuracy", "mean"), cce=("cce", "mean"))
    out = {}
    for opt, group in scores.groupby(level="optimizer"):
        best = group.reset_index().sort_values(["accuracy", "cce"], ascending=[False, True]).iloc[0]
        out[str(opt)] = float(best["lr"])
    return out


def matched_accuracy_scores(frame: pd.DataFrame, reference: pd.DataFrame, window: float = 0.02,
                            candidates: Sequence[str] | None = None) -> pd.DataFrame:
    r"""Score cost definitions at the *published accuracy*, so a different learning rate does not
    confound the comparison.

    For each published row (dataset, split, lambda, accuracy :math:`a_p`, cost :math:`c_p`), take
    every regenerated epoch evaluation (any optimizer, rate, seed or epoch; He init; same dataset,
    split and lambda) whose accuracy lies within ``window`` of :math:`a_p`, and predict the cost as
    the median of their candidate costs :math:`\hat c`. Score: mean :math:`|\log(\hat c / c_p)|`
    over the published cells that have such evaluations (``cells``).
    """
    names = list(candidates) if candidates is not None else list(COST_CANDIDATES)
    ev = frame[(frame["kind"] == "epoch") & (frame["init"] == "he_uniform")]
    ref = reference.copy()
    parts = ref["row"].str.split("|", expand=True)
    ref["dataset"], ref["lams"] = parts[0], parts[2].str.removeprefix("lambda=")
    ref["split"] = ref["column"].str.split("_").str[0]
    ref["quantity"] = ref["column"].str.split("_", n=1).str[1]
    rows = []
    for name in names:
        metric = f"cost[{name}]"
        logs = []
        for (row, split), cell in ref.groupby(["row", "split"], sort=False):
            if set(cell["quantity"]) != {"cost", "accuracy"}:
                continue
            acc = float(cell.loc[cell["quantity"] == "accuracy", "published"].iloc[0])
            cost = float(cell.loc[cell["quantity"] == "cost", "published"].iloc[0])
            lams = [float(v) for v in cell["lams"].iloc[0].split("or")]
            near = ev[(ev["dataset"] == cell["dataset"].iloc[0]) & (ev["split"] == split)
                      & ev["lam"].isin(lams) & ((ev["accuracy"] - acc).abs() <= window)]
            if near.empty or metric not in near:
                continue
            logs.append(np.log(float(np.median(near[metric])) / cost))
        if logs:
            rows.append({"candidate": name, "cells": len(logs),
                         "mean_abs_log_ratio": float(np.mean(np.abs(logs))),
                         "median_ratio": float(np.exp(np.median(logs)))})
    if not rows:
        return pd.DataFrame(columns=["candidate", "cells", "mean_abs_log_ratio", "median_ratio"])
    return pd.DataFrame(rows).sort_values("mean_abs_log_ratio", ignore_index=True)


# --------------------------------------------------------------------------- the paper's claims

LEARNED = 0.2
"""Final training accuracy above which a run counts as "learning" (chance is 0.1)."""

ONSET_EPOCH, ONSET_TOLERANCE = 33, 5
"""The paper's "roughly epoch 33" onset [ablation sec. 4.3.2], and the slack the verdict allows."""


def _final_train(grid: pd.DataFrame) -> pd.DataFrame:
    last = final_epoch(grid)
    return last[last["split"] == "train"]


def _at_epoch(grid: pd.DataFrame, epoch: int, split: str = "train") -> pd.DataFrame:
    ev = grid[(grid["kind"] == "epoch") & (grid["split"] == split)]
    return ev[ev["epoch"] == min(epoch, int(ev["epoch"].max()))]


def evaluate_claims(grid: pd.DataFrame, missing: Sequence[str] = ()) -> pd.DataFrame:
    """The paper's claims as measurements on the regenerated grid, each with a verdict.

    Verdicts: ``holds``, ``does not hold``, ``not testable here`` (the claim is about a missing
    dataset or needs more epochs than were run). Rules are stated in the ``test`` column.
    """
    rows = []
    datasets = sorted(set(grid["dataset"]))
    epochs_run = int(grid.loc[grid["kind"] == "epoch", "epoch"].max())
    fin = _final_train(grid)

    # 1. U[-1, 1]: no learning except Adam with lambda = 3
    uni = fin[fin["init"] == "uniform"].groupby(["dataset", "optimizer", "lam"])["accuracy"].mean()
    learned = sorted(f"{d}/{o}/lam={lam:g}" for (d, o, lam), a in uni.items() if a > LEARNED)
    expected = {f"{d}/adam/lam=3" for d in datasets}
    rows.append({
        "claim": "U[-1,1]: no significant learning for any optimizer and lambda except Adam, lambda = 3",
        "test": f"final training accuracy > {LEARNED} (mean over seeds)",
        "measured": "learned: " + (", ".join(learned) if learned else "none") + "; diverged (NaN): "
                    + (", ".join(sorted({f"{d}/{o}" for (d, o, lam), a in uni.items() if np.isnan(a)}))
                       or "none"),
        "verdict": "holds" if set(learned) == expected else "does not hold"})

    # 2. He uniform: learning everywhere
    he = fin[fin["init"] == "he_uniform"].groupby(["dataset", "optimizer", "lam"])["accuracy"].mean()
    rows.append({
        "claim": "He uniform: significant learning for every optimizer and lambda",
        "test": "final training accuracy > 0.5 in every cell",
        "measured": (f"lowest cell: {he.min():.3f} ({'/'.join(map(str, he.idxmin()))})" if he.notna().any()
                     else "no He-uniform run with a finite accuracy"),
        "verdict": ("not testable here" if he.empty else "holds" if (he > 0.5).all() else "does not hold")})

    # 3. SGD best on CIFAR-10
    cv = final_epoch(grid)
    cv = cv[(cv["split"] == "cv") & (cv["init"] == "he_uniform")]
    best = cv.groupby(["dataset", "optimizer"])["accuracy"].mean().groupby(level="dataset").idxmax()
    stand_in = ", ".join(f"{d}: {o}" for d, (_, o) in best.items())
    rows.append({
        "claim": "CIFAR-10: SGD gives the lowest cost and highest accuracy (He init, every lambda)",
        "test": "best mean final CV accuracy (over lambda and seeds)",
        "measured": ("CIFAR-10 missing; " if "cifar10" in missing else "") + f"best: {stand_in}",
        "verdict": ("not testable here" if "cifar10" in missing
                    else ("holds" if best.get("cifar10", ("", ""))[1] == "sgd" else "does not hold"))})

    # 4. initial convergence: RMSProp, Adam > Momentum > SGD (MNIST, Fashion)
    early = grid[(grid["kind"] == "batch") & (grid["init"] == "he_uniform") & (grid["step"] <= 50)
                 & grid["dataset"].isin(["mnist", "fashion-mnist"])]
    by = early.groupby(["run_id", "optimizer"])["batch_cost"].mean().groupby(level="optimizer").mean()
    ok = all(k in by for k in ("sgd", "momentum", "rmsprop", "adam")) and (
        max(by["rmsprop"], by["adam"]) < by["momentum"] < by["sgd"])
    rows.append({
        "claim": "MNIST/Fashion: RMSProp and Adam converge fastest at first, then Momentum, then SGD",
        "test": "mean mini-batch cross-entropy over the first 50 steps (lower = faster), He init, "
                "mean over datasets, lambda, seeds",
        "measured": ", ".join(f"{o}: {by[o]:.3f}" for o in by.sort_values().index),
        "verdict": "holds" if ok else "does not hold"})

    # 5. differences gone by epoch 3
    def spread(epoch):
        e = _at_epoch(grid[grid["init"] == "he_uniform"], epoch)
        m = e.groupby(["dataset", "lam", "optimizer"])["accuracy"].mean()
        by_cell = m.groupby(level=["dataset", "lam"])
        return float((by_cell.max() - by_cell.min()).mean())

    s1, s3 = spread(1), spread(3)
    rows.append({
        "claim": "MNIST/Fashion: by epoch 3 the differences between optimizers are mostly gone",
        "test": "spread (max - min over optimizers) of training accuracy at epoch 3 < 0.03 and not "
                "above the spread at epoch 1",
        "measured": f"spread epoch 1: {s1:.3f}, epoch {min(3, epochs_run)}: {s3:.3f}",
        "verdict": ("not testable here" if epochs_run < 3
                    else ("holds" if s3 < 0.03 and s3 <= s1 else "does not hold"))})

    # 6. RMSProp spikes
    batch = grid[(grid["kind"] == "batch") & (grid["init"] == "he_uniform")]
    spikes = batch.groupby(["run_id", "optimizer"])["batch_cost"].apply(
        lambda c: count_spikes(c.to_numpy())).groupby(level="optimizer").mean()
    others = spikes.drop("rmsprop", errors="ignore")
    rows.append({
        "claim": "RMSProp shows large periodic spikes in cost and accuracy",
        "test": "mini-batch costs > 3 x the median of the previous 50 batches, per run (He init)",
        "measured": ", ".join(f"{o}: {v:.1f}" for o, v in spikes.items()),
        "verdict": ("holds" if "rmsprop" in spikes and spikes["rmsprop"] > max(others.max(), 0.5)
                    else "does not hold")})

    # 7. onset at epoch ~33 for Adam lambda=3 from U[-1, 1] on CIFAR-10
    ev = grid[(grid["kind"] == "epoch") & (grid["split"] == "train") & (grid["init"] == "uniform")
              & (grid["optimizer"] == "adam")]
    onsets, onset = [], {}
    for (d, lam), g in ev.groupby(["dataset", "lam"]):
        per_run = [learning_onset_epoch(r["epoch"].to_numpy(), r["accuracy"].to_numpy())
                   for _, r in g.groupby("run_id")]
        onset[(d, float(lam))] = float(np.nanmean(per_run)) if np.isfinite(per_run).any() else np.nan
        onsets.append(f"{d}/lam={lam:g}: "
                      + (f"{onset[(d, float(lam))]:g}" if np.isfinite(onset[(d, float(lam))]) else "never"))
    cifar_epochs = int(ev.loc[ev["dataset"] == "cifar10", "epoch"].max()) if (ev["dataset"] == "cifar10").any() else 0
    if "cifar10" in missing or ("cifar10", 3.0) not in onset:
        verdict7 = "not testable here"
    elif cifar_epochs < ONSET_EPOCH + ONSET_TOLERANCE:
        verdict7 = f"not testable here (needs >= {ONSET_EPOCH + ONSET_TOLERANCE} epochs, ran {cifar_epochs})"
    else:
        verdict7 = "holds" if abs(onset[("cifar10", 3.0)] - ONSET_EPOCH) <= ONSET_TOLERANCE else "does not hold"
    rows.append({
        "claim": "CIFAR-10, U[-1,1], Adam, lambda = 3: learning starts around epoch 33 (of 40)",
        "test": f"first epoch with training accuracy > {LEARNED}, mean over seeds, within "
                f"{ONSET_EPOCH} +- {ONSET_TOLERANCE} (stand-in datasets shown)",
        "measured": ("CIFAR-10 missing; " if "cifar10" in missing else "") + "; ".join(onsets),
        "verdict": verdict7})

    # 8. L2 does not change the generalization gap
    last = final_epoch(grid)
    last = last[last["init"] == "he_uniform"]
    wide = last.pivot_table(index=["dataset", "optimizer", "lam", "seed"], columns="split",
                            values="accuracy").reset_index()
    wide["gap"] = wide["train"] - wide["cv"]
    diffs = []
    for (d, o), g in wide.groupby(["dataset", "optimizer"]):
        g0, g3 = g[g["lam"] == 0.0]["gap"], g[g["lam"] == 3.0]["gap"]
        if len(g0) and len(g3):
            diffs.append((f"{d}/{o}", float(g3.mean() - g0.mean())))
    worst = max(diffs, key=lambda t: abs(t[1])) if diffs else ("-", float("nan"))
    rows.append({
        "claim": "L2 (lambda 3 vs 0) does not change the generalization gap",
        "test": "|mean gap(lambda=3) - mean gap(lambda=0)| < 0.01 for every dataset and optimizer "
                "(He init; gap = train - CV accuracy)",
        "measured": f"largest change: {worst[1]:+.4f} ({worst[0]})",
        "verdict": "holds" if diffs and all(abs(v) < 0.01 for _, v in diffs) else "does not hold"})
    return pd.DataFrame(rows)


#: "No risk of overfitting" (sec. 5.3): training minus CV accuracy at lambda = 0 below this.
NO_OVERFIT_GAP = 0.02
#: "Not converged" (sec. 4.2): the training cross-entropy still falls by more than this fraction
#: when the run goes on for as many epochs again.
STILL_FALLING = 0.10
#: Gradients "differ in size" between two inits when their ratio lies outside [1/x, x] in a layer.
GRADIENT_RATIO = 10.0


def l2_benefit(grid: pd.DataFrame) -> pd.DataFrame:
    r"""Does L2 help where the net does not overfit? (sec. 5.3: "if there is no risk of overfitting,
    L2-regularization would yield no significant generalization benefits"), He init.

    Per dataset and optimizer: the generalization gap at :math:`\lambda = 0` (training minus CV
    accuracy at the last epoch, mean over seeds), the :math:`\lambda > 0` with the best mean CV
    accuracy, and that accuracy minus the one at :math:`\lambda = 0`, seed by seed (the runs of one
    seed start from the same weights), with its mean and 95 % t-interval.
    """
    last = final_epoch(grid)
    last = last[last["init"] == "he_uniform"]
    wide = last.pivot_table(index=["dataset", "optimizer", "lam", "seed"], columns="split",
                            values="accuracy").reset_index()
    rows = []
    for (d, o), g in wide.groupby(["dataset", "optimizer"]):
        base = g[g["lam"] == 0.0].set_index("seed")
        others = g[g["lam"] > 0.0]
        if base.empty or others.empty:
            continue
        best = float(others.groupby("lam")["cv"].mean().idxmax())
        diff = (others[others["lam"] == best].set_index("seed")["cv"] - base["cv"]).dropna()
        mean, low, high = mean_interval(diff.to_numpy())
        gap = float((base["train"] - base["cv"]).mean())
        rows.append({"dataset": d, "optimizer": o, "gap at lambda 0": gap,
                     "best lambda > 0": best, "CV gain": mean, "low": low, "high": high,
                     "seeds": int(diff.size)})
    return pd.DataFrame(rows)


def l2_benefit_claim(table: pd.DataFrame) -> dict[str, str]:
    """The claims-table row of :func:`l2_benefit`: the premise (no overfitting) and the conclusion
    (no significant CV gain: no cell's interval lies above 0) are judged separately."""
    claim = ("without overfitting, L2 brings no significant generalization benefit (sec. 5.3, 6.1: "
             "the datasets did not overfit enough)")
    test = (f"gap at lambda = 0 < {NO_OVERFIT_GAP} (no overfitting) and CV gain of the best lambda > 0 "
            "not significantly above 0 (paired 95 % t-interval over seeds), He init")
    if table.empty:
        return {"claim": claim, "test": test, "measured": "no lambda > 0 was run",
                "verdict": "not testable here"}
    overfit = table[table["gap at lambda 0"] >= NO_OVERFIT_GAP]
    helped = table[table["low"] > 0]
    gaps = table["gap at lambda 0"]
    measured = (f"gap at lambda 0: {gaps.min():.3f} to {gaps.max():.3f} "
                f"({len(overfit)} of {len(table)} cells overfit); significant CV gain in {len(helped)} of "
                f"{len(table)} cells" + (f" ({', '.join(helped['dataset'] + '/' + helped['optimizer'])})"
                                         if len(helped) else ""))
    if len(table) and (table["seeds"] < 2).all():
        verdict = "not testable here (one seed: no interval)"
    elif len(overfit):  # the premise fails: the claim says nothing about these cells
        no_overfit = table[table["gap at lambda 0"] < NO_OVERFIT_GAP]
        verdict = ("premise does not hold (the nets overfit)" if no_overfit.empty else
                   "holds where there is no overfitting" if (no_overfit["low"] <= 0).all()
                   else "does not hold")
    else:
        verdict = "holds" if helped.empty else "does not hold"
    return {"claim": claim, "test": test, "measured": measured, "verdict": verdict}


def convergence(long_grid: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Figure 3's runs continued past the page's ``epochs``: per optimizer (mean over seeds), the
    training cross-entropy and the training and CV accuracy at ``epochs`` and at the runs' end."""
    ev = long_grid[long_grid["kind"] == "epoch"]
    end = int(ev["epoch"].max())
    rows = []
    for o, g in ev.groupby("optimizer", sort=False):
        def at(epoch, split, col):
            return float(g[(g["epoch"] == epoch) & (g["split"] == split)][col].mean())
        rows.append({"optimizer": o, "train CCE at E": at(epochs, "train", "cce"),
                     "train CCE at end": at(end, "train", "cce"),
                     "train acc at E": at(epochs, "train", "accuracy"),
                     "train acc at end": at(end, "train", "accuracy"),
                     "CV acc at E": at(epochs, "cv", "accuracy"), "CV acc at end": at(end, "cv", "accuracy"),
                     "E": epochs, "end": end})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["CCE ratio"] = out["train CCE at end"] / out["train CCE at E"]
    return out


def convergence_claim(table: pd.DataFrame, dataset_missing: bool = False) -> dict[str, str]:
    """The claims-table row of :func:`convergence`: "not converged at E" holds when the training
    cross-entropy still falls by more than :data:`STILL_FALLING` over as many epochs again for
    most optimizers (at least 3 of 4); the CV accuracy's change is reported beside it."""
    claim = ("MNIST (Figure 3): training had not converged at epoch 20 (accuracy still rising, cost "
             "still falling)")
    test = (f"training cross-entropy at 2E < {1 - STILL_FALLING:.2f} x at E for at least 3 of 4 "
            "optimizers (He, lambda = 1, mean over seeds; E = the page's epochs)")
    if dataset_missing or table.empty:
        return {"claim": claim, "test": test, "measured": "MNIST missing", "verdict": "not testable here"}
    falling = table[table["CCE ratio"] < 1 - STILL_FALLING]
    measured = "CCE ratio end/E: " + ", ".join(
        f"{o}: {v:.2f}" for o, v in zip(table["optimizer"], table["CCE ratio"]))
    measured += "; CV accuracy E -> end: " + ", ".join(
        f"{o}: {a:.4f} -> {b:.4f}" for o, a, b in zip(table["optimizer"], table["CV acc at E"],
                                                      table["CV acc at end"]))
    verdict = "holds" if len(falling) >= min(3, len(table)) else "does not hold"
    return {"claim": claim, "test": test, "measured": measured, "verdict": verdict}


def gradient_sizes(norms: pd.DataFrame) -> pd.DataFrame:
    """Per layer: the mean gradient norm at initialization under each init and their ratio
    (:math:`U[-1, 1]` / He uniform), from :func:`learning_rules.experiments.ablation.init_gradient_norms`."""
    m = norms.groupby(["layer", "init"])["grad_norm"].mean().unstack("init")
    out = pd.DataFrame({"layer": m.index, "U[-1,1]": m["uniform"].to_numpy(),
                        "He uniform": m["he_uniform"].to_numpy()})
    out["ratio"] = out["U[-1,1]"] / out["He uniform"]
    return out


def gradient_claim(table: pd.DataFrame) -> dict[str, str]:
    """The claims-table row of :func:`gradient_sizes` (sec. 6.1 left the gradients unmeasured)."""
    outside = (table["ratio"] > GRADIENT_RATIO) | (table["ratio"] < 1 / GRADIENT_RATIO)
    return {"claim": "gradient sizes under U[-1,1] vs He uniform (sec. 6.1: not investigated); the "
                     "reading tested: U[-1,1]'s gradients are of another size than He's in every layer",
            "test": f"ratio of the mean gradient norms at initialization outside [1/{GRADIENT_RATIO:g}, "
                    f"{GRADIENT_RATIO:g}] in every layer (MNIST, one batch of 1000 images)",
            "measured": "U/He per layer: " + ", ".join(f"{r:.3g}" for r in table["ratio"]),
            "verdict": "holds" if bool(outside.all()) else "does not hold"}


def cost_evidence(summary: pd.DataFrame, evaluations: pd.DataFrame,
                  reference: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Both scores of every cost candidate side by side, and the chosen candidate.

    The matched-accuracy score decides when it has cells (it does not depend on our learning
    rates); otherwise the same-setting score. Returns ``(table, best_name)``.
    """
    same = score_cost_candidates(summary, reference)
    matched = matched_accuracy_scores(evaluations, reference)
    keep = ["candidate", "cells", "mean_abs_log_ratio", "median_ratio"]
    both = same[keep].merge(matched, on="candidate", how="outer",
                            suffixes=(" (same setting)", " (matched accuracy)"))
    key = ("mean_abs_log_ratio (matched accuracy)" if len(matched)
           else "mean_abs_log_ratio (same setting)")
    both = both.sort_values(key, ignore_index=True)
    return both, str(both["candidate"].iloc[0])
