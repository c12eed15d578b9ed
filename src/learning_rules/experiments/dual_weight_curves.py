r"""The dual-weight chapter's curves page: the paper's Figures 4-8 (Wang 2025), test metric against
single-sample steps, as coded (with the authors' notebook values) and corrected.

:func:`curves_data` is what :func:`plot_curves` draws (the page's CSV link); the figures are also
artifacts (``learning-rules make dual-weight-figure-4`` .. ``-8``). The page reads the experiments
page's grids (:func:`.dual_weight_tables.page_grids`), and its planner is that page's.

Explained in: book/dual-weight/curves.ipynb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import register_planner
from .dual_weight import METHOD_LABELS, method_colors, metric_of, missing_reasons
from .dual_weight_tables import page_grids, plan_grid_pages

__all__ = [
    "CURVE_FIGURES",
    "NOTEBOOK",
    "curves_data",
    "page_grids",
    "plot_curves",
]

NOTEBOOK = "book/dual-weight/curves.ipynb"

# The curves page runs the experiments page's grid: one plan for both.
register_planner(NOTEBOOK)(plan_grid_pages)


def curves_data(frame: pd.DataFrame, dataset: str, published_curves: pd.DataFrame | None = None,
                level: float = 0.95) -> dict[str, pd.DataFrame]:
    """What :func:`plot_curves` draws for ``dataset``: ``"regenerated"``, the mean and ``level``
    t-interval over seeds per (layers, n, method, step) of the normal test inputs (columns
    ``layers, n, method, step, mean, low, high, seeds``; low/high NaN with one seed), and, when
    ``published_curves`` has rows of the dataset, ``"published"``: the authors' single runs
    (columns ``layers, n, method, step, published``)."""
    from ..analysis.dual_weight import t_interval

    d = frame[(frame["dataset"] == dataset) & (frame["condition"] == "normal")]
    if d.empty:
        raise ValueError(f"no results for dataset {dataset!r}")
    rows = []
    for L in sorted(d["layers"].unique()):
        for n in sorted(d["n"].unique()):
            for method, g in d[(d["layers"] == L) & (d["n"] == n)].groupby("method", sort=False):
                for step, v in g.groupby("step"):
                    m, lo, hi = t_interval(v["value"].to_numpy(), level)
                    rows.append({"layers": L, "n": n, "method": method, "step": step, "mean": m,
                                 "low": lo, "high": hi, "seeds": int(v["seed"].nunique())})
    out = {"regenerated": pd.DataFrame(rows)}
    if published_curves is not None:
        pub = published_curves[published_curves["row"].str.startswith(f"{dataset}|")]
        if not pub.empty:
            parts = pub["row"].str.split("|", expand=True)
            out["published"] = pd.DataFrame({
                "layers": parts[1].str.rstrip("L").astype(int).to_numpy(),
                "n": parts[2].str.replace("n=", "").astype(int).to_numpy(),
                "method": parts[3].to_numpy(),
                "step": pub["column"].str.replace("step=", "").astype(int).to_numpy(),
                "published": pub["published"].to_numpy()})
    return out


def plot_curves(frame: pd.DataFrame, dataset: str, published_curves: pd.DataFrame | None = None,
                level: float = 0.95):
    """Figures 4-8: test metric against single-sample steps, one panel per (layers, n).

    Lines: mean over seeds, band: ``level`` t-interval (when there are >= 2 seeds), drawn clipped to
    the metric's range (accuracy 0-100 %, loss >= 0; :func:`curves_data` keeps it whole). ``published_curves``
    (Appendix B rows of :func:`learning_rules.analysis.dual_weight.published`) adds the authors'
    single runs as dotted lines with markers. The drawn numbers are :func:`curves_data`'s.
    """
    import matplotlib.pyplot as plt

    data = curves_data(frame, dataset, published_curves, level)
    ours, pub = data["regenerated"], data.get("published")
    d = frame[(frame["dataset"] == dataset) & (frame["condition"] == "normal")]
    layers = sorted(ours["layers"].unique())
    sizes = sorted(ours["n"].unique())
    colors = method_colors()
    fig, axes = plt.subplots(len(layers), len(sizes), figsize=(3.6 * len(sizes), 2.8 * len(layers)),
                             squeeze=False, sharex=True)
    for i, L in enumerate(layers):
        for j, n in enumerate(sizes):
            ax = axes[i, j]
            for method, g in ours[(ours["layers"] == L) & (ours["n"] == n)].groupby("method", sort=False):
                s, m, lo, hi = (g[c].to_numpy() for c in ("step", "mean", "low", "high"))
                ax.plot(s / 1000, m, color=colors[method], label=METHOD_LABELS[method], lw=1.5)
                if np.isfinite(lo).any():  # drawn inside the metric's range (with 2 seeds a
                    # t-interval is wide enough to reach below 0 % or 0 loss); the data keeps it whole
                    top = 100.0 if metric_of(dataset) != "loss x 1e4" else np.inf
                    ax.fill_between(s / 1000, np.clip(lo, 0.0, top), np.clip(hi, 0.0, top),
                                    color=colors[method], alpha=0.2, lw=0)
                if pub is not None:
                    p = pub[(pub["layers"] == L) & (pub["n"] == n) & (pub["method"] == method)]
                    if not p.empty:
                        ax.plot(p["step"] / 1000, p["published"], ls=":", marker="o", ms=2.5,
                                color=colors[method])
            ax.set_title(f"{L} layers, n = {n}", fontsize=9)
            if i == len(layers) - 1:
                ax.set_xlabel("single-sample steps (thousands)")
            if j == 0:
                ax.set_ylabel("test loss x 1e4" if metric_of(dataset) == "loss x 1e4" else "test accuracy (%)")
            if metric_of(dataset) == "loss x 1e4":  # the untrained step-0 loss is huge: cap the axis
                later = d[(d["layers"] == L) & (d["n"] == n) & (d["step"] > 0)]["value"]
                top = np.nanmedian(later) if later.notna().any() else 100.0
                ax.set_ylim(0, max(120.0, 1.8 * top))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=5, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


#: Paper figure number -> dataset of its curves (Figures 4-8: test metric against steps).
CURVE_FIGURES = {4: "wine", 5: "house", 6: "mnist", 7: "fashion", 8: "cifar10"}


def _register_page_artifacts() -> None:
    from ..analysis import dual_weight as A
    from . import register_artifact, save_figure

    for number, dataset in CURVE_FIGURES.items():
        def make_curves(params, out_path, dataset=dataset):
            missing = missing_reasons([dataset])
            if missing:
                raise FileNotFoundError(missing[dataset])
            coded, _ = page_grids({**params, "datasets": [dataset]})
            return save_figure(plot_curves(coded, dataset, A.published("Appendix B")), out_path)

        register_artifact(f"dual-weight-figure-{number}", f"Wang 2025 Figure {number}: {dataset}, test "
                          "metric against steps, as coded, with the authors' values (PNG)",
                          notebook=NOTEBOOK)(make_curves)


_register_page_artifacts()
