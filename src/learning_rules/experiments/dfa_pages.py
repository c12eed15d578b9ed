r"""The pages of the feedback-alignment chapter that train at the thesis' rates and at rates chosen
on the validation split: alignment (thesis Figs. 3.2/3.5), feedback (Fig. 3.3), optimizers
(Fig. 3.4, App. B), beyond (deeper nets, DFA x dual weight), and the parity page's plan.

Per page: its runs (:func:`page_plan`, :func:`beyond_page_plan`, :func:`parity_page_plan`, each a
:class:`~learning_rules.experiments.lr_selection.PagePlan`, which the build's planners list), the
published-rate runs with their table, figure (artifacts ``dfa-<page>-table`` and ``-figure``) and
ledger cells (:data:`REPRODUCES`, :func:`reproduced_cells`: reproduction ``dfa_pages``; the
gradient-cosine cells also carry the thesis code's reading of the same runs as their alternative,
:mod:`.dfa_alignment_forms`, whose runs the alignment page's planner lists), and the helpers the
notebooks format with. The runs are :mod:`.dfa`'s, the learning-rate selection
:mod:`.lr_selection`'s.

Explained in: book/dfa/alignment.ipynb, book/dfa/feedback.ipynb, book/dfa/optimizers.ipynb and
book/dfa/beyond.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..page import OPTIMIZER_LABELS
from . import register_planner
from .dfa import (ALIGNMENT_LR, B_INITS, OPTIMIZER_NAMES, SWEEP_LR_B, SWEEP_LR_OPT, THESIS_LR_B,
                  ParityConfig, published_lr, run_repeats)
from .dfa_parity import NOTEBOOK as PARITY_NOTEBOOK, parity_curve_specs
from .lr_selection import PagePlan, plan_tasks

__all__ = [
    "ALIGNMENT_EPOCHS",
    "BEYOND_NOTEBOOK",
    "CREDIT_LABEL",
    "LEDGER_TABLES",
    "OPT_LABEL",
    "PAGES",
    "REPRODUCES",
    "alignment_form_pairs",
    "base_config",
    "beyond_page_plan",
    "cell_tolerance",
    "cells_table",
    "comparison_table",
    "label_runs",
    "labelled_runs",
    "lr_grid",
    "markdown",
    "page_cells",
    "page_configs",
    "page_params",
    "page_plan",
    "page_runs",
    "page_table",
    "parity_page_plan",
    "plot_page",
    "protocol_comparable",
    "published_row",
    "reproduced_cells",
]

# --------------------------------------------------------------------------------------------------
# page plans: every run a page asks for, so a build can compute all pages' runs in one pool
# --------------------------------------------------------------------------------------------------


def page_plan(page: str, params: Mapping[str, Any]) -> PagePlan:
    """The runs of the alignment, feedback or optimizers page for its notebook ``params``
    (:func:`page_configs` for the published rates, the appendix sweeps, the validation groups
    and the reruns at the chosen rates), as the notebook builds them."""
    p = page_params(page, params)
    k, num_epochs, seeds = int(p["k"]), int(p["num_epochs"]), range(int(p["seeds"]))
    trial_epochs = int(p.get("select_epochs") or 0) or num_epochs
    factors = p.get("lr_factors", [0.5, 1.0, 2.0])
    last = max(1, trial_epochs // 2)
    runs = [c for _, c in page_configs(page, p)]
    if page == "alignment":
        base = base_config(k, num_epochs, p["n_train"], p["n_test"], credit="dfa",
                           measure_alignment=True, alignment_batch=p["alignment_batch"])
        opts = ("sgd", "rmsprop")
        groups = {o: (base.replace(optimizer=o, measure_alignment=False, seed=0, num_epochs=trial_epochs),
                      lr_grid(ALIGNMENT_LR[o], factors), ALIGNMENT_LR[o]) for o in opts}
        return PagePlan(runs, groups, last,
                        lambda o, lr: [base.replace(optimizer=o, lr=lr, seed=s) for s in seeds])
    if page == "feedback":
        base = base_config(k, num_epochs, p["n_train"], p["n_test"], credit="dfa")
        if p.get("sweep", True):
            runs += [base.replace(feedback_init=b, lr=lr, seed=0) for b in B_INITS for lr in SWEEP_LR_B[b]]
        groups = {b: (base.replace(feedback_init=b, seed=0, num_epochs=trial_epochs),
                      lr_grid(THESIS_LR_B[b], factors), THESIS_LR_B[b]) for b in B_INITS}
        return PagePlan(runs, groups, last,
                        lambda b, lr: [base.replace(feedback_init=b, lr=lr, seed=s) for s in seeds])
    base = base_config(k, num_epochs, p["n_train"], p["n_test"])
    if p.get("sweep", True):
        runs += [base.replace(credit="dfa", optimizer=o, lr=lr, seed=0)
                 for o in OPTIMIZER_NAMES for lr in SWEEP_LR_OPT[o]]
    pairs = [(c, o) for c in ("backprop", "dfa") for o in OPTIMIZER_NAMES]
    groups = {} if not p.get("select", True) else {
        (c, o): (base.replace(credit=c, optimizer=o, seed=0, num_epochs=trial_epochs),
                 lr_grid(published_lr(c, o), factors), published_lr(c, o)) for c, o in pairs}
    return PagePlan(runs, groups, last,
                    lambda pair, lr: [base.replace(credit=pair[0], optimizer=pair[1], lr=lr, seed=s)
                                      for s in seeds])


# --------------------------------------------------------------------------------------------------
# figure helpers (used by the book pages)
# --------------------------------------------------------------------------------------------------

#: Labels of the credit assignments and optimizers as the thesis prints them.
CREDIT_LABEL = {"backprop": "BP", "fa": "FA", "dfa": "DFA"}
OPT_LABEL = OPTIMIZER_LABELS  # the book's one table of optimizer names (learning_rules.page)


def base_config(k: int = 3, num_epochs: int = 20, n_train: int = 0, n_test: int = 0,
                **changes: Any) -> ParityConfig:
    """A :class:`ParityConfig` from notebook parameters (``0`` samples = all of them)."""
    return ParityConfig(k=k, num_epochs=num_epochs, n_train=n_train or None, n_test=n_test or None,
                        **changes)


def published_row(config: ParityConfig, figure: str) -> str:
    """The ``row`` key of ``reference/dfa_thesis.csv`` a run corresponds to.

    ``figure``: ``"3.4"`` (``k=3|RMSProp|DFA``), ``"3.3"`` (``k=3|SGD|B=gaussian|DFA``) or
    ``"3.2"`` (``k=3|SGD|lr=0.016|DFA``, the 50-epoch alignment runs at the published rates).
    """
    c, o = CREDIT_LABEL[config.credit], OPT_LABEL.get(config.optimizer, config.optimizer)
    if figure == "3.4":
        return f"k={config.k}|{o}|{c}"
    if figure == "3.3":
        return f"k={config.k}|{o}|B={config.feedback_init}|{c}"
    if figure == "3.2":
        return f"k={config.k}|{o}|lr={ALIGNMENT_LR.get(config.optimizer, config.lr):g}|{c}"
    raise ValueError(f"unknown figure {figure!r}; valid: 3.2, 3.3, 3.4")


def lr_grid(lr: float, factors: Sequence[float]) -> list[float]:
    """Learning rates ``lr * f`` for the validation search around a published value."""
    if not factors or any(not (f > 0) for f in factors):
        raise ValueError(f"factors must be positive numbers, got {factors!r}")
    return [float(f"{lr * f:.6g}") for f in factors]


def label_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``method`` (``"DFA"``, ``"BP"``), ``opt`` (``"RMSProp"``) and ``run`` labels to a sweep frame."""
    out = frame.copy()
    out["method"] = out["credit"].map(CREDIT_LABEL)
    out["opt"] = out["optimizer"].map(OPT_LABEL)
    return out


def comparison_table(summary: pd.DataFrame, table: str, column: str, comparable: bool) -> pd.DataFrame:
    """Regenerated final numbers next to the thesis' (:func:`~learning_rules.analysis.dfa.compare_to_published`),
    rounded for display, with a ``comparable`` flag (``False`` when the profile's protocol differs
    from the thesis', e.g. another ``k`` or a subsample: then the difference measures the reduced
    protocol, not the reproduction)."""
    from ..analysis.dfa import compare_to_published

    out = compare_to_published(summary, table, column)
    out["comparable"] = bool(comparable)
    cols = [c for c in out.columns if c not in ("low", "high", "sd", "seeds")] + ["low", "high"]
    out = out[cols].copy()
    for c in ("mean", "published", "difference", "low", "high"):
        out[c] = out[c].round(4)
    return out


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (NaN as an empty cell)."""
    from .datasets import markdown_table

    return markdown_table(frame)


# --------------------------------------------------------------------------------------------------
# the pages' published-rate runs, their tables, figures (artifacts) and ledger cells
# --------------------------------------------------------------------------------------------------

#: The three pages of Figs. 3.2-3.5 and B.1-B.2 and the reference-CSV tables they reproduce.
#: (Figs. 2.1 and 3.1 belong to :mod:`.dfa_parity`, Figs. 2.2 and 3.8 to :mod:`.dfa_synthetic`:
#: each published cell is regenerated by exactly one module, ``tests/test_dfa_ledger.py``.)
PAGES: dict[str, dict[str, Any]] = {
    "alignment": {"notebook": "book/dfa/alignment.ipynb", "tables": ("Fig. 3.2/3.5",),
                  "defaults": {"k": 3, "num_epochs": 50, "seeds": 3, "n_train": 0, "n_test": 0,
                               "alignment_batch": 1000}},
    "feedback": {"notebook": "book/dfa/feedback.ipynb", "tables": ("Fig. 3.3",),
                 "defaults": {"k": 3, "num_epochs": 20, "seeds": 3, "n_train": 0, "n_test": 0}},
    "optimizers": {"notebook": "book/dfa/optimizers.ipynb", "tables": ("Fig. 3.4",),
                   "defaults": {"k": 3, "num_epochs": 20, "seeds": 3, "n_train": 0, "n_test": 0}},
}
LEDGER_TABLES = tuple(t for page in PAGES.values() for t in page["tables"])

REPRODUCES = {"sources": ["dfa_thesis"], "chapter": PAGES["optimizers"]["notebook"],
              "pages": [meta["notebook"] for meta in PAGES.values()],
              "description": "Demirbilek (2021) Figs. 3.2-3.5: DFA alignment, feedback matrices "
                             "and adaptive optimizers (MNIST parity, published learning rates)"}

#: Epochs of the thesis' alignment CSV rows (Fig. 3.2/3.5).
ALIGNMENT_EPOCHS = (1, 10, 20, 50)
#: Frame column -> published column prefix of the alignment rows.
ALIGNMENT_METRICS = {"test_acc": "test accuracy", "feedback_cos_1": "cos(B, W2)",
                     "grad_cos_rows_last_1": "gradient cosine"}


def page_params(page: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A page's parameters: its paper-protocol defaults updated with ``params`` (a profile's)."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}; valid: {', '.join(PAGES)}")
    return {**PAGES[page]["defaults"], **dict(params or {})}


def page_configs(page: str, params: dict[str, Any] | None = None) -> list[tuple[str, ParityConfig]]:
    """``(published row, config)`` of every published-rate run a page shows (the configs the
    notebook builds, so the store returns the page's own runs).

    alignment: DFA + SGD (0.016) and + RMSProp (0.00022), alignment measured; feedback: DFA + SGD
    per law of B at its rate; optimizers: BP and DFA with each optimizer at its rate, Adam also
    with the thesis' epoch count (row suffix ``|epoch-count``).
    """
    p = page_params(page, params)
    k, seeds = int(p["k"]), range(int(p["seeds"]))
    out: list[tuple[str, ParityConfig]] = []
    if page == "alignment":
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"], credit="dfa",
                           measure_alignment=True, alignment_batch=p["alignment_batch"])
        for o in ("sgd", "rmsprop"):
            row = f"k={k}|{OPT_LABEL[o]}|lr={ALIGNMENT_LR[o]:g}|DFA"
            out += [(row, base.replace(optimizer=o, lr=ALIGNMENT_LR[o], seed=s)) for s in seeds]
    elif page == "feedback":
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"], credit="dfa")
        for b in B_INITS:
            out += [(f"k={k}|SGD|B={b}|DFA", base.replace(feedback_init=b, lr=THESIS_LR_B[b], seed=s))
                    for s in seeds]
    else:
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"])
        for c in ("backprop", "dfa"):
            for o in OPTIMIZER_NAMES:
                row = f"k={k}|{OPT_LABEL[o]}|{CREDIT_LABEL[c]}"
                out += [(row, base.replace(credit=c, optimizer=o, lr=published_lr(c, o), seed=s))
                        for s in seeds]
            out += [(f"k={k}|Adam|{CREDIT_LABEL[c]}|epoch-count",
                     base.replace(credit=c, optimizer="adam", lr=published_lr(c, "adam"), seed=s,
                                  adam_step_count="epoch")) for s in seeds]
    return out


def labelled_runs(configs, store=None, n_jobs: int = 1) -> pd.DataFrame:
    """The runs of ``configs`` through ``store`` (:func:`~learning_rules.experiments.dfa.run_repeats`),
    with the pages' labels (:func:`label_runs`): what every DFA page calls to run its configs."""
    return label_runs(run_repeats(list(configs), store=store, n_jobs=n_jobs))


def page_runs(page: str, params: dict[str, Any] | None = None, store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Every published-rate run of a page (through ``store``), labelled, with its ``row``."""
    pairs = page_configs(page, params)
    frame = labelled_runs([c for _, c in pairs], store=store, n_jobs=n_jobs)
    rows = []
    for row, cfg in pairs:
        rows += [row] * (cfg.num_epochs + 1)
    frame["row"] = rows
    return frame


def page_cells(page: str, runs: pd.DataFrame, num_epochs: int) -> list[dict[str, Any]]:
    """The page's published cells regenerated from ``runs`` (:func:`page_runs`).

    One dict per cell: ``table, row, column, values`` (per-seed values) and ``epoch`` (the epoch
    used: the published one, or the profile's last epoch when it stops earlier). Fig. 3.4's Adam
    rows use the thesis' epoch-counting Adam (what its CSV ran); the corrected Adam is on the page.
    """
    cells: list[dict[str, Any]] = []
    if page == "alignment":
        for row, g in runs.groupby("row", sort=False):
            for col, prefix in ALIGNMENT_METRICS.items():
                for e in ALIGNMENT_EPOCHS:
                    at = min(e, num_epochs)
                    vals = g.loc[g["epoch"] == at, col].dropna().to_numpy(dtype=float)
                    cells.append({"table": "Fig. 3.2/3.5", "row": row, "column": f"{prefix} epoch {e}",
                                  "values": vals, "epoch": at, "published_epoch": e})
        return cells
    last = runs[runs["epoch"] == num_epochs]
    if page == "feedback":
        for row, g in last.groupby("row", sort=False):
            cells.append({"table": "Fig. 3.3", "row": row, "column": "final test accuracy",
                          "values": g["test_acc"].to_numpy(dtype=float), "epoch": num_epochs,
                          "published_epoch": 20})
        return cells
    for row, g in last.groupby("row", sort=False):
        if row.endswith("|Adam|BP") or row.endswith("|Adam|DFA"):
            continue  # the thesis' Adam counted epochs: its cell is the epoch-count run below
        cells.append({"table": "Fig. 3.4", "row": row.replace("|epoch-count", ""),
                      "column": "final test accuracy", "values": g["test_acc"].to_numpy(dtype=float),
                      "epoch": num_epochs, "published_epoch": 20})
    return cells


def protocol_comparable(params: Mapping[str, Any], thesis_epochs: int) -> bool:
    """Whether a page's parameters follow the thesis' protocol: k = 3, every image, and the
    thesis' number of epochs (else its differences measure the reduced protocol)."""
    return bool(int(params["k"]) == 3 and not params["n_train"] and not params["n_test"]
                and int(params["num_epochs"]) == thesis_epochs)


def cells_table(page: str, runs: pd.DataFrame, num_epochs: int, comparable: bool) -> pd.DataFrame:
    """The page's published cells (:func:`page_cells`, the ledger's own cells) next to the thesis':
    ``table, row, column, epoch, lr, seeds, mean, low, high`` (95 % t-interval over seeds),
    ``published, difference`` (regenerated - thesis; at another k, the thesis' k = 3 number, the
    only one it stored), the ledger's ``tolerance`` (:func:`cell_tolerance`) and ``within``, and
    ``comparable`` (see :func:`comparison_table`), rounded for display. The page shows it, and artifact
    ``dfa-<page>-table`` writes it, so the page, the file and the report read one computation."""
    from ..analysis.dfa import load_published, mean_interval

    pub = load_published()
    published = {(t, r, c): float(v) for t, r, c, v in
                 zip(pub["table"], pub["row"], pub["column"], pub["published"])}
    lr_of = runs.groupby("row", sort=False)["lr"].first()
    out = []
    for c in page_cells(page, runs, num_epochs):
        m, lo, hi = mean_interval(c["values"])
        thesis_row = "k=3|" + c["row"].split("|", 1)[1]  # the thesis stored these figures at k = 3 only
        pv = published.get((c["table"], thesis_row, c["column"]), float("nan"))
        source_row = c["row"] if c["row"] in lr_of.index else c["row"] + "|epoch-count"
        tol = cell_tolerance(c["column"], c["values"])
        tol = ACCURACY_TOLERANCE if tol is None else tol
        out.append({"table": c["table"], "row": c["row"], "column": c["column"], "epoch": c["epoch"],
                    "lr": float(lr_of.get(source_row, float("nan"))), "seeds": len(c["values"]),
                    "mean": m, "low": lo, "high": hi, "published": pv, "difference": m - pv,
                    "tolerance": tol,
                    "within": bool(abs(m - pv) <= tol + 1e-12) if np.isfinite(pv) and np.isfinite(m) else None,
                    "comparable": bool(comparable)})
    frame = pd.DataFrame(out)
    for col in ("mean", "low", "high", "published", "difference", "tolerance"):
        frame[col] = frame[col].round(4)
    return frame


def page_table(page: str, params: dict[str, Any] | None = None, store=None) -> pd.DataFrame:
    """:func:`cells_table` of the page's runs (:func:`page_runs`) under ``params``."""
    p = page_params(page, params)
    comparable = protocol_comparable(p, int(PAGES[page]["defaults"]["num_epochs"]))
    return cells_table(page, page_runs(page, p, store), int(p["num_epochs"]), comparable)


#: Columns of the thesis' second stored run of a setting (spec 8.2, 8.3): the same protocol as the
#: main column, so the regenerated value is compared with both runs.
SECOND_RUNS: dict[tuple[str, str], tuple[str, str]] = {
    ("Fig. 3.4", "final test accuracy (k3_All older run)"):
        ("final test accuracy", "runs/k3_All.csv, the thesis' earlier run of the same setting"),
    ("Fig. 3.3", "final test accuracy (line-plot run)"):
        ("final test accuracy", "runs/K3_SGD_DFA_RandomMatrices.csv, the thesis' line-plot run "
                                "of the same setting"),
}


#: Columns of Figs. 3.2/3.5 that hold cosines, not accuracies.
COSINE_COLUMNS = ("cos(B, W2)", "gradient cosine")
#: The smallest tolerance of a cosine cell: the report's 0.02 for fractions.
COSINE_TOLERANCE_FLOOR = 0.02
#: The report's default tolerance of an accuracy (a fraction): 2 points.
ACCURACY_TOLERANCE = 0.02


def cell_tolerance(column: str, values) -> float | None:
    """The ledger's tolerance of a cell: for a cosine, the 95 % half-width of a difference between
    two means of as many runs as ``values`` has, with their spread (at least
    :data:`COSINE_TOLERANCE_FLOOR`), since a cosine's seed noise is its own; ``None`` (the report's
    default, 0.02 for a fraction) for an accuracy or when the spread cannot be estimated."""
    from ..analysis.stats import two_run_set_tolerance

    if not column.startswith(COSINE_COLUMNS):
        return None
    tol = two_run_set_tolerance(values, floor=COSINE_TOLERANCE_FLOOR)
    return None if not np.isfinite(tol) else float(tol)


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Figs. 3.2/3.5, 3.3 and 3.4 cells of ``reference/dfa_thesis.csv`` regenerated with
    ``profile``'s parameters of the alignment, feedback and optimizers pages (through the store: a
    cache hit after the book build). A cell at an epoch the profile does not reach is given at its
    last epoch, with a note; so is a profile that runs another ``k`` or a subsample. The thesis'
    second runs of a setting (:data:`SECOND_RUNS`) get the same regenerated value as the main
    column, with a note naming the run."""
    from pathlib import Path

    from ..cells import mean_interval, record
    from ..profiles import find_root, load_profile
    from ..store import Store

    from ..analysis.dfa import load_published
    from ..store import NotStoredError
    from .dfa_alignment_forms import THESIS_FORM_PROTOCOL, forms_frame, thesis_form_means

    root = find_root(Path(__file__).resolve().parent)  # the checkout, or the wheel's copy of the book
    notebooks = load_profile(root, profile).notebooks
    store = Store()
    pub = load_published()
    published = set(zip(pub["table"], pub["row"], pub["column"]))
    rows = []
    for page, meta in PAGES.items():
        p = page_params(page, notebooks.get(meta["notebook"], {}))
        reduced = [] if not (p["n_train"] or p["n_test"]) else [
            f"subsample {p['n_train'] or 'all'} train / {p['n_test'] or 'all'} test images"]
        runs = page_runs(page, p, store)
        thesis_form: dict[tuple[str, int], float] | None = None
        for c in page_cells(page, runs, int(p["num_epochs"])):
            if (c["table"], c["row"], c["column"]) not in published:
                continue  # e.g. a profile at k = 1: the thesis stored these figures at k = 3 only
            alternative = None
            if c["column"].startswith("gradient cosine"):  # also read the thesis code's way
                if thesis_form is None:
                    try:
                        thesis_form = thesis_form_means(forms_frame(alignment_form_pairs(p), store))
                    except NotStoredError:  # a store from before these runs: the cells, no alternative
                        thesis_form = {}
                value = thesis_form.get((c["row"], int(c["epoch"])))
                alternative = None if value is None else (THESIS_FORM_PROTOCOL, value)
            mean, low, high = mean_interval(c["values"])
            notes = list(reduced)
            tol = cell_tolerance(c["column"], c["values"])  # a cosine's noise is its own: from the seeds
            if tol is not None:
                notes.append(f"tolerance {tol:.3f} from the spread of {len(c['values'])} seeds "
                             "(two sets of runs, 95 %)")
            if c["epoch"] != c["published_epoch"]:
                notes.append(f"profile {profile} stops at epoch {c['epoch']}")
            if c["table"] == "Fig. 3.4" and "|Adam|" in c["row"]:
                notes.append("Adam with the thesis' epoch-indexed bias correction")
            columns = [(c["column"], notes)] + [
                (alt, notes + [f"same run as column '{main}'; compared with {what}"])
                for (table, alt), (main, what) in SECOND_RUNS.items()
                if table == c["table"] and main == c["column"] and (table, c["row"], alt) in published]
            for column, why in columns:
                rows.append(record("dfa_thesis", c["table"], c["row"], column, mean, low, high,
                                   profile=profile, seeds=list(range(int(p["seeds"]))), tolerance=tol,
                                   note="; ".join(why) or None, alternative=alternative))
    return pd.DataFrame(rows)


def plot_page(page: str, runs: pd.DataFrame):
    """The page's main figure (Figure 1 of its notebook, which calls this function, and artifact
    ``dfa-<page>-figure``) from the page's runs at the published rates (:func:`page_runs`):
    alignment (thesis Figs. 3.2/3.5: test accuracy and cos(B, W2) per epoch), feedback (thesis
    Fig. 3.3: test accuracy per epoch per law of B, and the last epoch's as bars) or optimizers
    (thesis Fig. 3.4: test accuracy at the last epoch per optimizer, bars)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if page == "alignment":
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        sns.lineplot(data=runs[runs.epoch > 0], x="epoch", y="test_acc", hue="opt",
                     errorbar=("ci", 95), palette="colorblind", ax=axes[0])
        axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="DFA test accuracy")
        sns.lineplot(data=runs, x="epoch", y="feedback_cos_1", hue="opt", errorbar=("ci", 95),
                     palette="colorblind", ax=axes[1])
        axes[1].set(xlabel="epoch", ylabel=r"cos(B, $W_2$) (unitless)", title="feedback alignment")
    elif page == "feedback":
        runs = runs.assign(B=runs["feedback_init"].str.replace("_", " "))
        num_epochs = int(runs.epoch.max())
        fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
        sns.lineplot(data=runs[runs.epoch > 0], x="epoch", y="test_acc", hue="B", errorbar=("ci", 95),
                     palette="colorblind", ax=axes[0])
        axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="DFA + SGD, four laws of B")
        final = runs[runs.epoch == num_epochs]
        sns.barplot(data=final, x="B", y="test_acc", errorbar=("ci", 95), ax=axes[1])
        axes[1].set(xlabel="law of B", ylabel="final test accuracy (fraction)", title=f"epoch {num_epochs}")
        axes[1].tick_params(axis="x", rotation=25)
        axes[1].set_ylim(0.0, min(1.0, final.test_acc.max() + 0.03))  # bars start at 0: lengths compare
    else:
        num_epochs = int(runs.epoch.max())
        final = runs[runs.epoch == num_epochs].copy()
        final.loc[final.adam_step_count == "epoch", "opt"] = "Adam (epoch count)"
        fig, ax = plt.subplots(figsize=(10, 4))
        sns.barplot(data=final, x="opt", y="test_acc", hue="method", errorbar=("ci", 95), ax=ax,
                    palette="colorblind",
                    order=["SGD", "Adagrad", "Adadelta", "RMSProp", "Adam", "Adam (epoch count)"])
        ax.set(xlabel="optimizer", ylabel=f"test accuracy at epoch {num_epochs} (fraction)",
               title="BP and DFA with adaptive optimizers")
        ax.set_ylim(0.0, min(1.0, final.test_acc.max() + 0.03))  # bars start at 0: lengths compare
        return fig  # as the page has always drawn it: no tight_layout (the saved file is cropped)
    fig.tight_layout()
    return fig


#: What each page's main figure (:func:`plot_page`) shows, for its artifact's description.
PAGE_FIGURES = {"alignment": "DFA test accuracy and cos(B, W2) per epoch, SGD and RMSProp",
                "feedback": "DFA + SGD test accuracy per epoch and at the last epoch for the four "
                            "laws of B",
                "optimizers": "final test accuracy per optimizer, BP and DFA (Adam also with the "
                              "thesis' epoch count)"}


def _page_artifacts(page: str) -> None:
    from . import register_artifact, save_book_figure

    nb = PAGES[page]["notebook"]
    figs = {"alignment": "Figs. 3.2/3.5", "feedback": "Fig. 3.3", "optimizers": "Fig. 3.4"}[page]

    def make_table(params, out_path):
        from ..store import Store, atomic_write_text

        atomic_write_text(out_path, page_table(page, params, Store()).to_csv(index=False))
        return out_path

    def make_figure(params, out_path):
        import matplotlib

        matplotlib.use("Agg")
        from ..store import Store

        runs = page_runs(page, page_params(page, params), Store())
        return save_book_figure(lambda: plot_page(page, runs), out_path)

    register_artifact(f"dfa-{page}-table", f"thesis {figs}: regenerated cells next to the thesis' "
                      "stored results (CSV)", notebook=nb, suffix=".csv")(make_table)
    register_artifact(f"dfa-{page}-figure", f"thesis {figs}: {PAGE_FIGURES[page]} (PNG)",
                      notebook=nb, suffix=".png")(make_figure)


for _page in PAGES:
    _page_artifacts(_page)


# --------------------------------------------------------------------------------------------------
# the parity page's plan (its curves, tables and ledger cells are in dfa_parity)
# --------------------------------------------------------------------------------------------------


def parity_page_plan(params: Mapping[str, Any]):
    """The runs of the parity page (a :class:`~learning_rules.experiments.lr_selection.PagePlan`): every
    curve of Figs. 2.1/3.1 for each ``k`` at the published rates (:func:`~learning_rules.experiments.dfa_parity.parity_curve_specs`),
    the k = 3 validation trials of each method (the published rate and ``tune_factors`` times it,
    seed ``tune_seed``, ``tune_epochs`` epochs) and the k = 3 curves at the chosen rates.
    ``params``: the page's own (``seeds``, ``num_epochs``, ``n_train``, ``n_test``, ``ks``,
    ``tune_factors``, ``tune_epochs``, ``tune_seed``), as the page and ``profiles.page_parameters``
    give them."""
    p = dict(params)
    seeds, num_epochs, n_train, n_test = p["seeds"], int(p["num_epochs"]), p["n_train"], p["n_test"]
    runs = [c for k in p["ks"] for _, c in parity_curve_specs(int(k), seeds, num_epochs, n_train, n_test)]
    base = dict(parity_curve_specs(3, [p["tune_seed"]], int(p["tune_epochs"]), n_train, n_test))
    groups = {label: (cfg, sorted({cfg.lr} | {round(cfg.lr * f, 6) for f in p["tune_factors"]}), cfg.lr)
              for label, cfg in base.items()}
    return PagePlan(runs, groups, 10, lambda label, lr: [
        c for m, c in parity_curve_specs(3, seeds, num_epochs, n_train, n_test, lrs={label: lr})
        if m == label])


@register_planner(PARITY_NOTEBOOK)
def _plan_parity_page(params: Mapping[str, Any], store) -> list:
    return plan_tasks(parity_page_plan(params), store)


# --------------------------------------------------------------------------------------------------
# the page beyond the thesis
# --------------------------------------------------------------------------------------------------

#: The page beyond the thesis (deeper nets, DFA x dual-weight).
BEYOND_NOTEBOOK = "book/dfa/beyond.ipynb"


def beyond_page_plan(params: Mapping[str, Any]) -> PagePlan:
    """The runs of the beyond page: validation trials of BP, FA and DFA at every depth and of
    BP and DFA with the gradient and the dual-weight update (no incumbent: the best rate wins),
    then the runs at the chosen rates, with alignment measured for every depth and for the
    update comparison's gradient rows (which are then the one-layer runs of the depth comparison,
    same config, stored once). ``params``: the notebook's parameters as the build passes them
    (its defaults updated with the profile's)."""
    p = dict(params)
    num_epochs, seeds = int(p["num_epochs"]), range(int(p["seeds"]))
    base = base_config(int(p["k"]), num_epochs, p["n_train"], p["n_test"])
    trial_epochs = int(p["select_epochs"] or 0) or num_epochs
    nets = [(int(L), c) for L in p["depths"] for c in ("backprop", "fa", "dfa")]
    combos = [(c, u) for c in ("backprop", "dfa") for u in ("gradient", "dual_weight")]
    groups: dict[Any, tuple] = {
        (L, c): (base.replace(credit=c, n_hidden_layers=L, seed=0, num_epochs=trial_epochs),
                 p["grid_bp"] if c == "backprop" else p["grid_fa"]) for L, c in nets}
    groups.update({(c, u): (base.replace(credit=c, update=u, seed=0, num_epochs=trial_epochs),
                            p["grid_dual"] if u == "dual_weight" else
                            (p["grid_bp"] if c == "backprop" else p["grid_fa"])) for c, u in combos})

    def rerun(label, lr):
        if label in combos:  # (credit, update) of Table 2
            c, u = label
            return [base.replace(credit=c, update=u, lr=lr, seed=s, measure_alignment=u == "gradient")
                    for s in seeds]
        L, c = label  # (depth, credit) of Table 1
        return [base.replace(credit=c, n_hidden_layers=L, lr=lr, seed=s, measure_alignment=True)
                for s in seeds]

    return PagePlan([], groups, max(1, trial_epochs // 2), rerun)


def alignment_form_pairs(params: Mapping[str, Any]) -> list[tuple[str, ParityConfig]]:
    """``(published row, config)`` of the alignment page's runs whose gradient cosine is also read
    the thesis' way (:mod:`.dfa_alignment_forms`): its published-rate runs, every seed."""
    return page_configs("alignment", page_params("alignment", dict(params)))


def _register_planners() -> None:
    from .dfa_alignment_forms import form_tasks

    for page, meta in PAGES.items():
        register_planner(meta["notebook"])(
            lambda params, store, page=page: plan_tasks(page_plan(page, params), store)
            + (form_tasks([c for _, c in alignment_form_pairs(params)]) if page == "alignment" else []))
    from . import dfa_depth

    register_planner(BEYOND_NOTEBOOK)(lambda params, store: plan_tasks(beyond_page_plan(params), store)
                                      + dfa_depth.planned_tasks(params))


_register_planners()
