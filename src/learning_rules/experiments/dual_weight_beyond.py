r"""The dual-weight chapter's beyond page: past the paper (Wang 2025), with the corrected protocol:
a learning-rate sweep, dual weight with DFA credit, mini-batches, the paper's claims about L2
(:mod:`.dual_weight_l2`: its runs, rules and verdicts), about cost (:mod:`.dual_weight_cost`) and
about the rule's range: bounded weights, no explosion, scaled targets (:mod:`.dual_weight_bounds`).

Its runs' configs (:func:`beyond_sweep_config`, :func:`beyond_dfa_configs`,
:func:`beyond_batch_configs`), which the notebook and :func:`plan_beyond_page` share, and the sweep's
figure (:func:`lr_sweep_frame`, :func:`plot_lr_sweep`). The runs are :mod:`.dual_weight`'s.

Explained in: book/dual-weight/beyond.ipynb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import Task, register_planner
from .dual_weight import (DATASETS, METHOD_LABELS, METHODS, BatchConfig, GridConfig, cell_cost,
                          dataset_status, grid_cells, method_colors, metric_of)
from .dual_weight_bounds import bounds_tasks
from .dual_weight_l2 import l2_tasks

__all__ = [
    "BEYOND_DFA_METHODS",
    "NOTEBOOK",
    "beyond_batch_configs",
    "beyond_dfa_configs",
    "beyond_sweep_config",
    "lr_sweep_frame",
    "plan_beyond_page",
    "plot_lr_sweep",
]

NOTEBOOK = "book/dual-weight/beyond.ipynb"


#: The methods of the beyond page's DFA comparison.
BEYOND_DFA_METHODS = ("our", "our+stab", "GD")


def beyond_sweep_config(params, datasets) -> GridConfig:
    """The learning-rate sweep of ``book/dual-weight/beyond.ipynb`` (corrected protocol)."""
    return GridConfig("corrected", tuple(datasets), tuple(params["sweep_layers"]), (int(params["sweep_n"]),),
                      tuple(params["sweep_seeds"]), int(params["steps"]), int(params["steps"]),
                      tuple(params["lrs"]), METHODS, n_jobs=int(params["n_jobs"]))


def beyond_dfa_configs(params, datasets) -> dict[str, GridConfig]:
    """The beyond page's comparison of backprop and DFA credit, one grid per credit assignment."""
    return {credit: GridConfig("corrected", tuple(datasets), (3,), (int(params["sweep_n"]),),
                               tuple(params["dfa_seeds"]), int(params["steps"]), int(params["steps"]),
                               (0.001,), BEYOND_DFA_METHODS, credit, n_jobs=int(params["n_jobs"]))
            for credit in ("backprop", "dfa")}


def beyond_batch_configs(params, datasets) -> list[BatchConfig]:
    """The beyond page's mini-batch runs: batch 1, and each larger batch with the rate fixed or
    scaled by the batch size."""
    return [BatchConfig(ds, 3, int(params["sweep_n"]), int(s), int(params["steps"]), int(B), scaling)
            for ds in datasets for s in params["batch_seeds"] for B in params["batches"]
            for scaling in (("none",) if B == 1 else ("none", "linear"))]


def _present(names) -> list[str]:
    return [d for d in names if dataset_status(d) is None]


@register_planner(NOTEBOOK)
def plan_beyond_page(params, store) -> list[Task]:
    """Every cell the beyond page asks for: the sweep, both credits' grids, the mini-batch runs, the
    L2 section's lambda sweep and grid cells (:func:`.dual_weight_l2.l2_tasks`) and the bounds
    section's cells (:func:`.dual_weight_bounds.bounds_tasks`)."""
    grids = [beyond_sweep_config(params, _present(params["sweep_datasets"])),
             *beyond_dfa_configs(params, _present(params["dfa_datasets"])).values()]
    tasks = [Task("dual_weight_cell", c, cost=cell_cost(c))
             for g in grids for c in grid_cells(g, _present(g.datasets))]
    tasks += [Task("dual_weight_batch_cell", b, cost=float(b.samples) / 60_000 * 0.5 + 0.05)
              for b in beyond_batch_configs(params, _present(params["batch_datasets"]))]
    return tasks + l2_tasks(params) + bounds_tasks(params)


def lr_sweep_frame(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """What :func:`plot_lr_sweep` draws: the final test metric of the normal test inputs, mean and
    ``level`` t-interval over seeds (NaN mean: every seed diverged) per (dataset, layers, method,
    lr); columns ``dataset, layers, method, lr, mean, low, high, seeds``."""
    from ..analysis.dual_weight import t_interval

    fin = frame[(frame["condition"] == "normal")]
    fin = fin[fin["step"] == fin.groupby(["dataset", "layers", "n", "lr", "seed"])["step"].transform("max")]
    rows = []
    for ds, L in dict.fromkeys(zip(fin["dataset"], fin["layers"])):
        d = fin[(fin["dataset"] == ds) & (fin["layers"] == L)]
        for method, g in d.groupby("method", sort=False):
            for lr, v in g.groupby("lr"):
                m, lo, hi = t_interval(v["value"].to_numpy(), level)
                rows.append({"dataset": ds, "layers": L, "method": method, "lr": lr, "mean": m,
                             "low": lo, "high": hi, "seeds": int(v["seed"].nunique())})
    return pd.DataFrame(rows, columns=["dataset", "layers", "method", "lr", "mean", "low", "high", "seeds"])


def plot_lr_sweep(frame: pd.DataFrame, level: float = 0.95):
    """Final test metric against the learning rate, one panel per (dataset, layers)
    (:func:`lr_sweep_frame`)."""
    import matplotlib.pyplot as plt

    summary = lr_sweep_frame(frame, level)
    panels = list(dict.fromkeys(zip(summary["dataset"], summary["layers"])))
    colors = method_colors()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.0), squeeze=False)
    for ax, (ds, L) in zip(axes[0], panels):
        d = summary[(summary["dataset"] == ds) & (summary["layers"] == L)]
        for method, g in d.groupby("method", sort=False):
            lr, m, lo, hi = (g[c].to_numpy(dtype=float) for c in ("lr", "mean", "low", "high"))
            ax.plot(lr, m, marker="o", ms=3, color=colors[method], label=METHOD_LABELS[method])
            if np.isfinite(lo).any():  # clipped to what the metric can take (the frame keeps it whole)
                top = np.inf if metric_of(ds) == "loss x 1e4" else 100.0
                ax.fill_between(lr, np.clip(lo, 0.0, top), np.clip(hi, 0.0, top), color=colors[method],
                                alpha=0.2, lw=0)
            bad = ~np.isfinite(m)
            if bad.any():
                ax.plot(lr[bad], np.zeros(bad.sum()), "x", color=colors[method])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate η")
        reg = metric_of(ds) == "loss x 1e4"
        ax.set_ylabel("test loss x 1e4" if reg else "test accuracy (%)")
        if reg:
            ax.set_ylim(0, 200)
        ax.set_title(f"{DATASETS[ds].title}, {L} layers", fontsize=9)
    legend = {}  # one entry per method over every panel, below them: never over a curve
    for ax in axes[0]:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    labels, handles = list(legend), list(legend.values())
    ncol = len(labels) if len(panels) >= 3 else 3
    rows = -(-len(labels) // ncol)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 * rows, 1, 1))
    return fig
