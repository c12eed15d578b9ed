r"""The dual-weight chapter's experiments page: the paper's Tables 1-4 and Figure 2 (Wang 2025),
as coded and corrected, and the chapter's ledger cells.

* :func:`page_grids`: the as-coded and corrected grids the page reads (the curves page reads the
  same grids, :mod:`.dual_weight_curves`); :func:`plan_grid_pages` lists their cells for the build.
* :func:`table_frame`, :func:`figure2_frame`, :func:`plot_figure2`: the tables and Figure 2, also
  written by ``learning-rules make dual-weight-table-N`` / ``dual-weight-figure-2``.
* :data:`REPRODUCES`, :func:`reproduced_cells`: the published cells of ``reference/dual_weight.csv``
  regenerated for a profile (reproduction ``dual_weight_tables``, source ``dual_weight``).

The runs are :mod:`.dual_weight`'s.

Explained in: book/dual-weight/experiments.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import Task, register_planner
from .dual_weight import (METHODS, GridConfig, cell_cost, dataset_status, grid_cells, missing_reasons,
                          run_grid)

__all__ = [
    "NOTEBOOK",
    "REPRODUCES",
    "figure2_frame",
    "page_grids",
    "plan_grid_pages",
    "plot_figure2",
    "reproduced_cells",
    "table_frame",
]

NOTEBOOK = "book/dual-weight/experiments.ipynb"


# ------------------------------------------------------------------------ the page's tables and figures


def page_grids(params: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The as-coded and corrected grids of the experiments and curves pages for their ``params``
    (through the store): the runs every table and figure of Tables 1-4 and Figures 2, 4-8 read."""
    def grid(protocol, seeds):
        cfg = GridConfig(protocol, tuple(params["datasets"]), tuple(params["layers"]),
                         tuple(params["sizes"]), tuple(seeds), int(params["steps"]),
                         int(params["eval_every"]), n_jobs=int(params.get("n_jobs", 2)))
        return run_grid(cfg)

    return grid("as_coded", params["coded_seeds"]), grid("corrected", params["corrected_seeds"])


def table_frame(coded: pd.DataFrame, corrected: pd.DataFrame, table: str) -> pd.DataFrame:
    """Paper ``table`` (``"Table 1"`` .. ``"Table 4"``): every published cell next to the as-coded
    and the corrected regenerated mean with its 95 % interval over seeds (columns ``row, column,
    published, unit, <protocol>_mean, <protocol>_low, <protocol>_high, <protocol>_seeds``)."""
    from ..analysis import dual_weight as A

    summary = A.relative_table if table in ("Table 3", "Table 4") else A.final_summary
    out = None
    for label, frame in (("as_coded", coded), ("corrected", corrected)):
        cmp = A.compare(summary(frame), table).rename(columns={
            "mean": f"{label}_mean", "low": f"{label}_low", "high": f"{label}_high",
            "n_seeds": f"{label}_seeds"})
        keep = ["row", "column", "published", "unit"] if out is None else ["row", "column"]
        cmp = cmp[keep + [f"{label}_{k}" for k in ("mean", "low", "high", "seeds")]]
        out = cmp if out is None else out.merge(cmp, on=["row", "column"], how="left")
    return out


def figure2_frame(coded: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """The bars of the paper's Figure 2: the task averages of Tables 3-4 as published, as coded and
    corrected (:func:`plot_figure2` draws them)."""
    from ..analysis import dual_weight as A

    pub34 = pd.concat([A.published("Table 3"), A.published("Table 4")])
    parts = pub34["row"].str.split("|", expand=True)
    pub_rel = pd.DataFrame({"dataset": parts[0], "method": parts[1], "condition": pub34["column"],
                            "mean": pub34["published"]})
    return pd.concat([
        A.task_average(pub_rel).rename(columns={"value": "mean"}).assign(source="published (Tables 3-4)"),
        A.figure2(coded).assign(source="as coded"),
        A.figure2(corrected).assign(source="corrected"),
    ], ignore_index=True)


def plot_figure2(table: pd.DataFrame):
    """Figure 2: relative improvement over GD per method, one panel per task and condition.

    ``table`` has columns ``source, task, method, condition, mean`` and optionally ``low, high``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    tasks = [t for t in ("regression", "classification") if t in set(table["task"])]
    conds = ["normal", "noise"]
    sources = list(dict.fromkeys(table["source"]))
    pal = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    methods = [m for m in METHODS if m != "GD" and m in set(table["method"])]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(10, 3.0 * len(tasks)), squeeze=False)
    width = 0.8 / max(1, len(sources))
    for i, task in enumerate(tasks):
        for j, cond in enumerate(conds):
            ax = axes[i, j]
            for k, src in enumerate(sources):
                sub = table[(table["task"] == task) & (table["condition"] == cond) & (table["source"] == src)]
                sub = sub.set_index("method").reindex(methods)
                x = np.arange(len(methods)) + (k - (len(sources) - 1) / 2) * width
                err = None
                if {"low", "high"} <= set(sub.columns) and sub["low"].notna().any():
                    err = np.vstack([sub["mean"] - sub["low"], sub["high"] - sub["mean"]])
                    err = np.where(np.isfinite(err), err, 0.0)
                ax.bar(x, sub["mean"], width, yerr=err, color=pal[src], label=src, capsize=2)
            ax.axhline(0, color="0.3", lw=0.8)
            ax.set_xticks(np.arange(len(methods)), methods, fontsize=8)
            ax.set_ylabel("improvement over GD (%)")
            ax.set_title(f"{task}, {cond} test inputs", fontsize=9)
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _register_page_artifacts() -> None:
    from ..store import atomic_write_text
    from . import register_artifact, save_figure

    for number in (1, 2, 3, 4):
        def make_table(params, out_path, table=f"Table {number}"):
            coded, corrected = page_grids(params)
            atomic_write_text(out_path, table_frame(coded, corrected, table).to_csv(index=False))
            return out_path

        register_artifact(f"dual-weight-table-{number}", f"Wang 2025 Table {number}: published next to "
                          "the as-coded and corrected regenerated means (CSV)", notebook=NOTEBOOK,
                          suffix=".csv")(make_table)

    def make_figure2(params, out_path):
        coded, corrected = page_grids(params)
        return save_figure(plot_figure2(figure2_frame(coded, corrected)), out_path)

    register_artifact("dual-weight-figure-2", "Wang 2025 Figure 2: relative improvement over GD per "
                      "task, published, as coded and corrected (PNG)", notebook=NOTEBOOK)(make_figure2)


# ------------------------------------------------------------------------ the page's runs, for the build


def _grid_tasks(params, protocol: str, seeds) -> list[Task]:
    cfg = GridConfig(protocol, tuple(params["datasets"]), tuple(params["layers"]), tuple(params["sizes"]),
                     tuple(seeds), int(params["steps"]), int(params["eval_every"]))
    present = [d for d in cfg.datasets if dataset_status(d) is None]
    return [Task("dual_weight_cell", c, cost=cell_cost(c)) for c in grid_cells(cfg, present)]


@register_planner(NOTEBOOK)
def plan_grid_pages(params, store) -> list[Task]:
    """The cells of the experiments and curves pages (one grid, shared): both protocols' grids."""
    return _grid_tasks(params, "as_coded", params["coded_seeds"]) + _grid_tasks(
        params, "corrected", params["corrected_seeds"])


# ------------------------------------------------------------------------ reproduction ledger

REPRODUCES = {"sources": ["dual_weight"], "chapter": NOTEBOOK,
              "description": "Wang (2025) Tables 1-4 and the notebook values (Appendix A/B), as coded"}


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Every published cell of ``reference/dual_weight.csv`` with the as-coded regenerated mean and
    interval for ``profile`` (the grid of the experiments page, read from the store). Missing
    datasets give empty cells with the data layer's reason."""
    from ..analysis import dual_weight as an
    from ..cells import record
    from ..profiles import page_parameters

    params = page_parameters(profile, NOTEBOOK)
    cfg = GridConfig("as_coded", tuple(params["datasets"]), tuple(params["layers"]),
                     tuple(params["sizes"]), tuple(params["coded_seeds"]), int(params["steps"]),
                     int(params["eval_every"]), n_jobs=int(params["n_jobs"]))
    frame = run_grid(cfg)
    missing = missing_reasons(cfg.datasets)
    seeds = list(cfg.seeds)
    rows = []
    summaries = {"Table 1": an.final_summary(frame), "Table 2": an.final_summary(frame),
                 "Appendix A": an.final_summary(frame), "Table 3": an.relative_table(frame),
                 "Table 4": an.relative_table(frame)}
    for table, summary in summaries.items():
        for r in an.compare(summary, table).itertuples(index=False):
            ds = r.row.split("|")[0]
            note = missing.get(ds) or (None if np.isfinite(r.mean) else "not in this profile's grid")
            if table in ("Table 3", "Table 4"):
                note = "; ".join(filter(None, [note, "averaged over the (layers, n) cells of this profile"]))
            pred = (getattr(r, "pred_low", np.nan), getattr(r, "pred_high", np.nan))
            rows.append(record("dual_weight", table, r.row, r.column,
                               r.mean if np.isfinite(r.mean) else None,
                               r.low if np.isfinite(r.low) else None,
                               r.high if np.isfinite(r.high) else None,
                               profile=profile, seeds=seeds, note=note,
                               single_run=pred if np.isfinite(pred).all() else None))
    normal = frame[frame["condition"] == "normal"] if not frame.empty else frame
    for r in an.published("Appendix B").itertuples(index=False):
        ds, L, n, method = r.row.split("|")
        step = int(r.column.split("=")[1])
        v = normal[(normal["dataset"] == ds) & (normal["layers"] == int(L[0])) & (normal["n"] == int(n[2:]))
                   & (normal["method"] == method) & (normal["step"] == step)]["value"] if not normal.empty else []
        if len(v) == 0:
            rows.append(record("dual_weight", "Appendix B", r.row, r.column, None, profile=profile,
                               seeds=seeds, note=missing.get(ds) or "not in this profile's grid"))
            continue
        from ..analysis.dual_weight import t_interval

        from ..analysis.stats import prediction_interval

        m, lo, hi = t_interval(np.asarray(v))
        pred = prediction_interval(np.asarray(v))
        rows.append(record("dual_weight", "Appendix B", r.row, r.column, m,
                           lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None,
                           profile=profile, seeds=seeds,
                           single_run=pred if np.isfinite(pred).all() else None))
    return pd.DataFrame(rows)


_register_page_artifacts()
