r"""The dual-weight paper's claims about L2 regularization, as computed verdicts (Wang 2025, sec. 4.3).

The paper compares its rule with L2 at two strengths only and concludes, without a dedicated test:

1. "a high regularization factor (0.1) always forces parameters close to zero that the model outputs
   become trivial" and "L2's success was highly sensitive to the strength of the regularization
   parameter";
2. "on some classification datasets, L2 with a strength of 0.1 outperforms L2 with 0.01".

This module tests both. Claim 1 with a sweep of :math:`\lambda` (:data:`LAMBDAS`) of GD + L2
under the chapter's corrected protocol (decoupled L2, paper eq. 19,
:math:`W \leftarrow W (1 - \eta\lambda) - \eta\, \partial E / \partial W`), every :math:`\lambda`
trained from the corrected cell's own initial weights, pool and sample order
(:func:`run_l2_cell`; at :math:`\lambda = 0.01` and :math:`0.1` it is that cell's ``"L2 0.01"`` and
``"L2 0.1"`` bit for bit, at :math:`\lambda = 0` its ``"GD"``). Claim 2 from the chapter's existing
grid (the experiments page's stored cells, no new runs): the paired-by-seed difference of L2 0.1
and L2 0.01 per (protocol, dataset, layers, n, condition) (:func:`l2_pair_table`).

Definitions, fixed before the runs
----------------------------------
* **Input-free score** (:func:`input_free_score`): what a model that ignores its input can reach
  with the training pool alone: regression, the loss of predicting the pool's mean target
  (:func:`mean_predictor_loss`); classification, the accuracy of always answering the pool's most
  frequent class (:func:`majority_rate`).
* **Output spread** (:func:`output_spread`): how much the output depends on the input over the
  test set: regression, :math:`\operatorname{std}(\hat y) / \operatorname{std}(y)`; classification,
  the share of test inputs *not* given the model's most frequent answer (0 for a constant answer,
  0.9 for ten balanced classes).
* **Trivial model** (:func:`is_trivial`): output spread below :data:`TRIVIAL_SPREAD` *and* a test
  score no better than the input-free score by more than the band (regression: a loss above
  :math:`(1 - ` :data:`TRIVIAL_LOSS_BAND` :math:`)` times the mean predictor's; classification: an
  accuracy below the majority rate plus :data:`TRIVIAL_ACCURACY_POINTS` points). A cell (dataset,
  layers, n, :math:`\lambda`) is "trivial" when every seed's model is, "partly trivial" when some are.
* **Claim 1a verdict** (:func:`trivial_verdict`), per task: "holds" when every cell at
  :math:`\lambda = 0.1` is trivial, "does not hold" when no seed of any cell is, "mixed" otherwise.
* **λ-sensitive** (:func:`lambda_sensitivity`): per (dataset, layers, n) the best :math:`\lambda`
  (best seed-mean score) and its neighbours in the sweep; the cell is "sensitive" when the paired
  difference over seeds of the best against at least one neighbour has its 95 % interval above 0
  (the best is better by more than the seeds' interval), "flat" when every neighbour's interval
  contains 0. **Claim 1b verdict**: "holds" when every cell is sensitive, "does not hold" when none
  is, "mixed" otherwise, "undecided" with fewer than two seeds.
* **Claim 2 verdict** (:func:`l2_pair_verdict`), per protocol: "survives" when at least one image
  set has a (layers, n, condition) cell whose paired 95 % interval of L2 0.1 minus L2 0.01 lies above
  0; "undecided" when no cell has two seeds; "not shown" otherwise (cells where L2 0.01 is the
  reliably better one are counted, but they do not refute a claim about *some* image sets).

The runs reuse :mod:`.dual_weight`'s functions and change none of them (their stored results keep
their keys).

Explained in: book/dual-weight/beyond.ipynb (section 4).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import Task, one_blas_thread, register_experiment
from .dual_weight import (DATASETS, CellConfig, _cell_rng, _score, _sweep, architecture, build_network,
                          cell_cost, dataset_status, he_normal_init, metric_of, prepare)

__all__ = [
    "CLAIM_VERDICTS",
    "LAMBDAS",
    "PAIR_VERDICTS",
    "TRIVIAL_ACCURACY_POINTS",
    "TRIVIAL_LOSS_BAND",
    "TRIVIAL_SPREAD",
    "L2SweepConfig",
    "claims_table",
    "input_free_score",
    "is_trivial",
    "l2_cell_table",
    "l2_grid_params",
    "l2_network",
    "l2_pair_table",
    "l2_pair_verdict",
    "l2_sweep_configs",
    "l2_tasks",
    "lambda_sensitivity",
    "lambda_sweep_frame",
    "majority_rate",
    "mean_predictor_loss",
    "output_spread",
    "pair_wide_table",
    "plot_lambda_sweep",
    "run_l2_cell",
    "run_l2_sweep",
    "sensitivity_verdict",
    "sensitivity_wide_table",
    "sweep_wide_table",
    "trivial_verdict",
]

#: The sweep's regularization strengths (0 = plain GD; the paper's two are 0.01 and 0.1).
LAMBDAS: tuple[float, ...] = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
#: A trivial regression model's loss is at most this fraction below the mean predictor's.
TRIVIAL_LOSS_BAND = 0.05
#: A trivial classifier's accuracy is at most this many points above the majority-class rate.
TRIVIAL_ACCURACY_POINTS = 2.0
#: A trivial model's output spread (:func:`output_spread`) is below this.
TRIVIAL_SPREAD = 0.1
#: The verdicts of claims 1a and 1b.
CLAIM_VERDICTS = ("holds", "does not hold", "mixed", "undecided")
#: The verdicts of claim 2.
PAIR_VERDICTS = ("survives", "not shown", "undecided")


# ------------------------------------------------------------------------------------ measures


def mean_predictor_loss(y_pool: np.ndarray, y_test: np.ndarray) -> float:
    r"""Test loss (x 1e4, the chapter's unit) of predicting the training pool's mean target.

    .. math:: 10^4 \cdot \frac{1}{m}\sum_{i=1}^{m} (y_i - \bar y_{\text{pool}})^2

    Parameters
    ----------
    y_pool : ndarray, shape (n,)   training targets
    y_test : ndarray, shape (m,)   test targets
    """
    return float(np.mean((np.asarray(y_test, float) - np.mean(y_pool)) ** 2) * 1e4)


def majority_rate(y_pool: np.ndarray, y_test: np.ndarray) -> float:
    r"""Test accuracy (%) of always answering the pool's most frequent class (the smallest label
    on a tie).

    .. math:: 100 \cdot \frac{1}{m}\sum_{i=1}^{m} [\,y_i = \arg\max_c \#\{k : y^{\text{pool}}_k = c\}\,]

    Parameters
    ----------
    y_pool : ndarray of int, shape (n,);  y_test : ndarray of int, shape (m,)
    """
    mode = int(np.argmax(np.bincount(np.asarray(y_pool, np.int64))))
    return float(np.mean(np.asarray(y_test) == mode) * 100.0)


def input_free_score(task: str, y_pool: np.ndarray, y_test: np.ndarray) -> float:
    """:func:`mean_predictor_loss` for regression, :func:`majority_rate` for classification."""
    if task == "regression":
        return mean_predictor_loss(y_pool, y_test)
    if task == "classification":
        return majority_rate(y_pool, y_test)
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")


def output_spread(z: np.ndarray, y_test: np.ndarray, task: str) -> float:
    r"""How much the output depends on the input over the test set.

    Regression: :math:`\operatorname{std}_i(\hat y_i) / \operatorname{std}_i(y_i)` (0 for a
    constant output, about 1 for a model as variable as the target). Classification: the share of
    test inputs whose predicted class :math:`\arg\max_k z_{ik}` is not the model's most frequent
    answer (0 for a constant answer).

    Parameters
    ----------
    z : ndarray, shape (m, n_out)   output pre-activations on the test set
    y_test : ndarray, shape (m,)
    task : {"regression", "classification"}

    Returns
    -------
    float; NaN when ``z`` is not finite
    """
    z = np.asarray(z, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        return float("nan")
    if task == "regression":
        sd = float(np.std(np.asarray(y_test, float)))
        return float(np.std(z[:, 0]) / sd) if sd > 0 else float("nan")
    if task == "classification":
        pred = np.argmax(z, axis=1)
        return float(1.0 - np.bincount(pred).max() / pred.size)
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")


def is_trivial(value: float, baseline: float, spread: float, task: str) -> bool:
    r"""A trivial model (definitions in the module docstring): output spread below
    :data:`TRIVIAL_SPREAD` and no better than the input-free score beyond the band,

    .. math:: \text{regression: } \ell \ge (1 - 0.05)\,\ell_{\text{mean}}, \qquad
              \text{classification: } \text{acc} \le \text{acc}_{\text{majority}} + 2

    NaN (a diverged run) is not trivial.
    """
    if not (np.isfinite(value) and np.isfinite(baseline) and np.isfinite(spread)):
        return False
    if spread >= TRIVIAL_SPREAD:
        return False
    if task == "regression":
        return bool(value >= (1.0 - TRIVIAL_LOSS_BAND) * baseline)
    if task == "classification":
        return bool(value <= baseline + TRIVIAL_ACCURACY_POINTS)
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")


# ----------------------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class L2SweepConfig:
    """GD + decoupled L2 at every ``lams`` on one corrected cell (dataset, depth, n, seed)."""

    dataset: str = "house"
    layers: int = 2
    n: int = 500
    seed: int = 0
    steps: int = 60_000
    lr: float = 1e-3
    lams: tuple[float, ...] = LAMBDAS

    def __post_init__(self) -> None:
        DATASETS.lookup(self.dataset)
        architecture(self.dataset, self.layers, 1)  # 2 or 3 layers, the paper's two networks
        lams = tuple(float(v) for v in self.lams)
        if not lams or any(not v >= 0 for v in lams) or list(lams) != sorted(set(lams)):
            raise ValueError(f"lams must be distinct non-negative values in increasing order, got {self.lams}")
        if self.steps < 1 or not self.lr > 0:
            raise ValueError("steps must be >= 1 and lr > 0")
        if self.n < 2:
            raise ValueError(f"n (training samples) must be >= 2, got {self.n}")

    def cell(self) -> CellConfig:
        """The corrected cell whose pool, order and initial weights every lambda trains from."""
        return CellConfig("corrected", self.dataset, self.layers, self.n, self.seed, self.steps, self.steps,
                          self.lr, ("GD",))


def l2_network(sizes: Sequence[int], task: str, lr: float, init_weights: Sequence[np.ndarray], lam: float,
               rng: np.random.Generator):
    r"""GD with decoupled L2 of strength ``lam`` (paper eq. 19), as the corrected protocol's
    ``"L2 x"`` networks are built (:func:`.dual_weight.build_network`):

    .. math:: W_l \leftarrow W_l (1 - \eta\lambda) - \eta\, \frac{\partial E}{\partial W_l}

    ``lam = 0`` is the corrected cell's ``"GD"`` network itself.
    """
    from ..engine import Network
    from ..nn.mlp import MLP

    if lam == 0:
        return build_network("GD", "corrected", sizes, task, lr, init_weights, rng=rng)
    acts = ["relu"] * (len(sizes) - 2) + ["identity"]
    mlp = MLP([np.array(W, dtype=np.float64, copy=True) for W in init_weights],
              [np.zeros(s, np.float64) for s in sizes[1:]], acts)
    loss = "squared_error" if task == "regression" else "cce"
    return Network(mlp, credit="backprop", loss=loss, lr=lr, rng=rng, update="gradient", l2=float(lam),
                   l2_form="decoupled")


def _test_outputs(net, X: np.ndarray) -> np.ndarray:
    """Output pre-activations on ``X`` (float32 weights for float32 image sets, as ``_score``)."""
    from ..fast import forward_logits

    W, b = net.mlp.weights, net.mlp.biases
    if X.dtype == np.float32:
        W = [w.astype(np.float32) for w in W]
        b = [None if v is None else v.astype(np.float32) for v in b]
    with np.errstate(all="ignore"):
        return forward_logits(W, b, net.mlp.activations, X)


@register_experiment("dual_weight_l2_cell", L2SweepConfig,
                     "Beyond Wang (2025): GD + decoupled L2 at every lambda of a sweep on one corrected cell",
                     timing_columns=("cpu_s",))
@one_blas_thread
def run_l2_cell(cfg: L2SweepConfig) -> pd.DataFrame:
    """Train GD + L2 at every lambda of ``cfg`` from the corrected cell's initial weights, pool and
    order; one row per lambda.

    Columns ``lam, value`` (final test metric: loss x 1e4 or accuracy %), ``baseline``
    (:func:`input_free_score`), ``spread`` (:func:`output_spread`), ``weight_norm`` (the Frobenius
    norm of all weight matrices together), ``metric``, ``n_test``, ``cpu_s`` (training and test
    pass, timing only).
    """
    spec = DATASETS.lookup(cfg.dataset)
    cell = cfg.cell()
    prep = prepare("corrected", cfg.dataset, cfg.n, cfg.seed, cfg.steps, ("GD",))
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cell, 0))
    baseline = input_free_score(spec.task, prep.y_pool, prep.y_test)
    rows = []
    for lam in cfg.lams:
        started = time.process_time()
        net = l2_network(sizes, spec.task, cfg.lr, W_init, lam, _cell_rng(cell, 2))
        with np.errstate(all="ignore"):
            net.fit_steps(prep.X_pool, prep.y_pool, prep.orders["GD"])
        value = _score(net, prep.X_test, prep.y_test, spec.task)
        spread = output_spread(_test_outputs(net, prep.X_test), prep.y_test, spec.task)
        norm = float(np.sqrt(sum(float(np.sum(W ** 2)) for W in net.mlp.weights)))
        rows.append((float(lam), value, baseline, spread, norm, time.process_time() - started))
    frame = pd.DataFrame(rows, columns=["lam", "value", "baseline", "spread", "weight_norm", "cpu_s"])
    frame["metric"] = metric_of(cfg.dataset)
    frame["n_test"] = prep.X_test.shape[0]
    return frame


def run_l2_sweep(configs: Sequence[L2SweepConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_l2_cell` over ``configs`` through the store (datasets must be present)."""
    return _sweep(run_l2_cell, list(configs), n_jobs, "dual_weight_l2_cell")


# ------------------------------------------------------------------------------- the page's plan


def l2_sweep_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[L2SweepConfig]:
    """The beyond page's lambda sweep: every (dataset, layers, n, seed) of its ``l2_*`` parameters,
    ``steps`` single-sample steps each."""
    lams = tuple(sorted(float(v) for v in params["l2_lams"]))
    return [L2SweepConfig(ds, int(L), int(n), int(s), int(params["steps"]), 1e-3, lams)
            for ds in datasets for L in params["l2_layers"] for n in params["l2_sizes"]
            for s in params["l2_seeds"]]


def l2_grid_params(profile: str) -> dict[str, Any]:
    """The experiments page's parameters under ``profile`` (:func:`.dual_weight_tables.page_grids`
    reads the grid with them), restricted to its image sets on this machine: the cells claim 2 is
    computed from."""
    from ..profiles import page_parameters
    from .dual_weight_tables import NOTEBOOK as GRID_NOTEBOOK

    params = dict(page_parameters(profile, GRID_NOTEBOOK))
    params["datasets"] = [d for d in params["datasets"]
                          if DATASETS.lookup(d).task == "classification" and dataset_status(d) is None]
    return params


def l2_tasks(params: Mapping[str, Any]) -> list[Task]:
    """Every run the beyond page's L2 section asks for: the sweep, and the experiments page's image
    cells claim 2 reads (the build runs those for the experiments page anyway; listed here so that
    the beyond page never waits on them)."""
    from .dual_weight import GridConfig, grid_cells

    present = [d for d in params["l2_datasets"] if dataset_status(d) is None]
    sweep = [Task("dual_weight_l2_cell", c, cost=cell_cost(c.cell()) * len(c.lams))
             for c in l2_sweep_configs(params, present)]
    grid = l2_grid_params(str(params["profile"]))
    cells = []
    for protocol, seeds in (("as_coded", grid["coded_seeds"]), ("corrected", grid["corrected_seeds"])):
        cfg = GridConfig(protocol, tuple(grid["datasets"]), tuple(grid["layers"]), tuple(grid["sizes"]),
                         tuple(seeds), int(grid["steps"]), int(grid["eval_every"]))
        cells += [Task("dual_weight_cell", c, cost=cell_cost(c)) for c in grid_cells(cfg)]
    return sweep + cells


# ------------------------------------------------------------------------ claim 1: the lambda sweep


_CELL = ["dataset", "layers", "n"]


def _task(dataset: str) -> str:
    return DATASETS.lookup(dataset).task


def l2_cell_table(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (dataset, layers, n, lam): the mean test score over seeds and its ``level`` t-interval,
    the mean input-free score, output spread and weight norm, the number of seeds whose model is
    trivial (:func:`is_trivial`) and the cell's status ("trivial" when every seed is, "partly
    trivial", "not trivial").

    ``frame``: :func:`run_l2_cell`'s rows with the config's ``dataset, layers, n, seed`` columns.
    """
    from ..analysis.dual_weight import t_interval

    rows = []
    for (ds, L, n, lam), g in frame.groupby([*_CELL, "lam"], sort=True):
        task = _task(ds)
        flags = [is_trivial(v, b, s, task) for v, b, s in zip(g["value"], g["baseline"], g["spread"])]
        m, lo, hi = t_interval(g["value"].to_numpy(), level)
        k = int(sum(flags))
        status = "trivial" if k == len(flags) else ("partly trivial" if k else "not trivial")
        rows.append((ds, int(L), int(n), float(lam), m, lo, hi, float(g["baseline"].mean()),
                     float(g["spread"].mean()), float(g["weight_norm"].mean()), len(g), k, status))
    return pd.DataFrame(rows, columns=[*_CELL, "lam", "mean", "low", "high", "baseline", "spread",
                                       "weight_norm", "seeds", "trivial_seeds", "status"])


def trivial_verdict(cells: pd.DataFrame, lam: float = 0.1) -> pd.DataFrame:
    """Claim 1a per task from :func:`l2_cell_table`: at ``lam``, how many cells are trivial and the
    verdict ("holds": every cell trivial; "does not hold": no trivial seed anywhere; "mixed").

    Columns ``task, cells, trivial, partly, verdict`` (one row per task present at ``lam``).
    """
    at = cells[np.isclose(cells["lam"], lam)]
    rows = []
    for task in ("regression", "classification"):
        t = at[[_task(d) == task for d in at["dataset"]]]
        if t.empty:
            continue
        full, part = int((t["status"] == "trivial").sum()), int((t["status"] == "partly trivial").sum())
        verdict = "holds" if full == len(t) else ("does not hold" if full + part == 0 else "mixed")
        rows.append((task, len(t), full, part, verdict))
    return pd.DataFrame(rows, columns=["task", "cells", "trivial", "partly", "verdict"])


def lambda_sensitivity(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Claim 1b per (dataset, layers, n): the best lambda by seed-mean score (lowest loss or
    highest accuracy; diverged seeds left out), and for each neighbour of it in the sweep the paired
    difference over seeds, best minus neighbour with the sign that makes "best is better" positive,
    with its ``level`` t-interval. Status: "sensitive" when some neighbour's interval lies above 0,
    "too few seeds" when an interval cannot be computed (fewer than two finite pairs) and no
    neighbour is significant, "flat" otherwise.

    Columns ``dataset, layers, n, best_lam, neighbour, diff, low, high, seeds, status`` (one row per
    neighbour; the cell's status repeated on each).
    """
    from ..analysis.dual_weight import t_interval

    rows = []
    for (ds, L, n), g in frame.groupby(_CELL, sort=True):
        sign = -1.0 if _task(ds) == "regression" else 1.0
        wide = g.pivot_table(index="seed", columns="lam", values="value", dropna=False)
        lams = sorted(wide.columns)
        means = wide.mean(skipna=True)
        finite = means[np.isfinite(means)]
        if finite.empty:
            continue
        best = float((finite * sign).idxmax())
        i = lams.index(best)
        part = []
        for nb in [lams[j] for j in (i - 1, i + 1) if 0 <= j < len(lams)]:
            d = (sign * (wide[best] - wide[nb])).to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            m, lo, hi = t_interval(d, level) if d.size else (np.nan, np.nan, np.nan)
            part.append([ds, int(L), int(n), best, float(nb), m, lo, hi, int(d.size)])
        sig = any(np.isfinite(p[6]) and p[6] > 0 for p in part)
        unknown = any(not np.isfinite(p[6]) for p in part)
        status = "sensitive" if sig else ("too few seeds" if unknown else "flat")
        rows += [p + [status] for p in part]
    return pd.DataFrame(rows, columns=[*_CELL, "best_lam", "neighbour", "diff", "low", "high", "seeds", "status"])


def sensitivity_verdict(sens: pd.DataFrame) -> str:
    """Claim 1b's verdict from :func:`lambda_sensitivity`: "holds" when every (dataset, layers, n)
    is sensitive, "does not hold" when none is and every cell was decidable, "mixed" when some are,
    "undecided" when none is and some cell had too few seeds."""
    if sens.empty:
        return "undecided"
    status = sens.groupby(_CELL)["status"].first()
    k = int((status == "sensitive").sum())
    if k == len(status):
        return "holds"
    if k:
        return "mixed"
    return "undecided" if (status == "too few seeds").any() else "does not hold"


def lambda_sweep_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """What :func:`plot_lambda_sweep` draws: :func:`l2_cell_table`'s columns ``dataset, layers, n,
    lam, mean, low, high, baseline, status``."""
    return cells[[*_CELL, "lam", "mean", "low", "high", "baseline", "status"]].reset_index(drop=True)


def plot_lambda_sweep(cells: pd.DataFrame):
    """Final test score against lambda (lambda = 0 drawn at the left end, the axis is symmetric-log),
    one panel per dataset, one line per (layers, n); the dashed line is the input-free score, the
    grey band the allowance of the trivial definition next to it (up to :data:`TRIVIAL_LOSS_BAND`
    below the mean predictor's loss, up to :data:`TRIVIAL_ACCURACY_POINTS` above the majority rate);
    a filled marker is a trivial cell."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = lambda_sweep_frame(cells)
    datasets = list(dict.fromkeys(data["dataset"]))
    combos = list(dict.fromkeys(zip(data["layers"], data["n"])))
    pal = dict(zip(combos, sns.color_palette("colorblind", max(3, len(combos)))))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.4 * len(datasets), 3.1), squeeze=False)
    positive = data.loc[data["lam"] > 0, "lam"]
    linthresh = float(positive.min()) if not positive.empty else 1e-3
    for ax, ds in zip(axes[0], datasets):
        d = data[data["dataset"] == ds]
        reg = _task(ds) == "regression"
        base = float(d["baseline"].mean())
        band = (base * (1 - TRIVIAL_LOSS_BAND), base) if reg else (base, base + TRIVIAL_ACCURACY_POINTS)
        ax.axhspan(*band, color="0.85", lw=0)
        ax.axhline(base, color="0.4", ls="--", lw=1, label="input-free score")
        for (L, n), g in d.groupby(["layers", "n"], sort=False):
            g = g.sort_values("lam")
            x, m, lo, hi = (g[c].to_numpy(dtype=float) for c in ("lam", "mean", "low", "high"))
            c = pal[(L, n)]
            ax.plot(x, m, color=c, lw=1.2, label=f"{L} layers, n = {n}")
            if np.isfinite(lo).any():
                ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)
            triv = (g["status"] == "trivial").to_numpy()
            ax.scatter(x[~triv], m[~triv], s=14, facecolors="white", edgecolors=[c], zorder=3)
            ax.scatter(x[triv], m[triv], s=14, color=c, zorder=3)
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlabel("L2 strength lambda (0 = GD)")
        ax.set_ylabel("test loss x 1e4" if reg else "test accuracy (%)")
        if reg:
            ax.set_ylim(0, max(1.6 * base, float(np.nanmin(d["mean"])) * 1.1))
        ax.set_title(DATASETS.lookup(ds).title, fontsize=9)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- claim 2: L2 0.1 against L2 0.01


def l2_pair_table(coded: pd.DataFrame, corrected: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Claim 2's cells from the chapter's grid (:func:`.dual_weight_tables.page_grids`): per
    (protocol, image set, layers, n, condition) the paired difference L2 0.1 minus L2 0.01 over
    seeds (accuracy points; positive = L2 0.1 better) with its ``level`` t-interval and a status
    ("L2 0.1 better", "L2 0.01 better", "no difference shown", "too few seeds"), next to the
    published difference of the paper's Table 2 (:func:`.dual_weight_tables.table_frame`).

    Columns ``protocol, dataset, layers, n, condition, mean, low, high, seeds, status, published``.
    """
    from ..analysis.dual_weight import paired_differences, row_key
    from .dual_weight_tables import table_frame

    cols = ["protocol", "dataset", "layers", "n", "condition", "mean", "low", "high", "seeds", "status",
            "published"]
    frame = pd.concat([f for f in (coded, corrected) if not f.empty] or [coded], ignore_index=True)
    frame = frame[[_task(d) == "classification" for d in frame["dataset"]]]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    d = paired_differences(frame, "L2 0.1", "L2 0.01", level).rename(columns={"n_seeds": "seeds"})
    d["status"] = [_pair_status(lo, hi) for lo, hi in zip(d["low"], d["high"])]
    pub = table_frame(coded, corrected, "Table 2").set_index(["row", "column"])["published"]
    d["published"] = [pub.get((row_key(ds, L, n, "L2 0.1"), c), np.nan)
                      - pub.get((row_key(ds, L, n, "L2 0.01"), c), np.nan)
                      for ds, L, n, c in zip(d["dataset"], d["layers"], d["n"], d["condition"])]
    return d[cols].reset_index(drop=True)


def _pair_status(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "too few seeds"
    if low > 0:
        return "L2 0.1 better"
    if high < 0:
        return "L2 0.01 better"
    return "no difference shown"


def l2_pair_verdict(pairs: pd.DataFrame) -> pd.DataFrame:
    """Claim 2's verdict per protocol from :func:`l2_pair_table` (rule in the module docstring).

    Columns ``protocol, cells, better_01, better_001, datasets_01, verdict``: the number of cells,
    of cells where L2 0.1 / L2 0.01 is significantly better, and the image sets where L2 0.1 is.
    """
    rows = []
    for protocol, g in pairs.groupby("protocol", sort=False):
        b01 = g[g["status"] == "L2 0.1 better"]
        b001 = g[g["status"] == "L2 0.01 better"]
        if len(b01):
            verdict = "survives"
        elif (g["status"] == "too few seeds").all():
            verdict = "undecided"
        else:
            verdict = "not shown"
        rows.append((protocol, len(g), len(b01), len(b001), ", ".join(dict.fromkeys(b01["dataset"])) or "none",
                     verdict))
    return pd.DataFrame(rows, columns=["protocol", "cells", "better_01", "better_001", "datasets_01", "verdict"])


# --------------------------------------------------------------------------------- the page's tables


def _interval_text(m: float, lo: float, hi: float, digits: int = 1) -> str:
    if not np.isfinite(m):
        return "diverged"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def sweep_wide_table(cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`l2_cell_table` one row per (dataset, layers, n): the input-free score, then per lambda
    the mean [95 % interval] over seeds, marked ``T`` when the cell is trivial and ``t`` when some
    of its seeds are."""
    mark = {"trivial": " T", "partly trivial": " t", "not trivial": ""}
    rows = []
    for (ds, L, n), g in cells.groupby(_CELL, sort=False):
        row = {"dataset": ds, "layers": int(L), "n": int(n), "input-free": f"{g['baseline'].mean():.1f}"}
        for r in g.itertuples(index=False):
            row[f"lambda {r.lam:g}"] = _interval_text(r.mean, r.low, r.high) + mark[r.status]
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity_wide_table(sens: pd.DataFrame) -> pd.DataFrame:
    """:func:`lambda_sensitivity` one row per (dataset, layers, n): the best lambda, its advantage
    over the neighbour below and above it (mean [95 % interval] over seeds, in the metric's units,
    positive = the best is better) and the status."""
    rows = []
    for (ds, L, n), g in sens.groupby(_CELL, sort=False):
        best = float(g["best_lam"].iloc[0])
        row = {"dataset": ds, "layers": int(L), "n": int(n), "best lambda": f"{best:g}",
               "vs smaller lambda": "-", "vs larger lambda": "-"}
        for r in g.itertuples(index=False):
            key = "vs smaller lambda" if r.neighbour < best else "vs larger lambda"
            row[key] = f"{r.neighbour:g}: " + _interval_text(r.diff, r.low, r.high, 2)
        row["status"] = g["status"].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows)


def pair_wide_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`l2_pair_table` one row per (protocol, dataset, layers, n): per condition the paired
    difference L2 0.1 - L2 0.01 (mean [95 % interval], accuracy points) with the published one in
    parentheses, and the cells' statuses."""
    rows = []
    for (protocol, ds, L, n), g in pairs.groupby(["protocol", "dataset", "layers", "n"], sort=False):
        row = {"protocol": protocol, "dataset": ds, "layers": int(L), "n": int(n)}
        for r in g.itertuples(index=False):
            pub = f" (paper {r.published:+.1f})" if np.isfinite(r.published) else ""
            row[r.condition] = _interval_text(r.mean, r.low, r.high, 2) + pub
            row[f"{r.condition} status"] = r.status
        row["seeds"] = int(g["seeds"].max())
        rows.append(row)
    return pd.DataFrame(rows)


def claims_table(trivial: pd.DataFrame, sensitivity: str, sens: pd.DataFrame, pairs: pd.DataFrame,
                 pair_verdicts: pd.DataFrame) -> pd.DataFrame:
    """The section's verdicts in one table: claim, evidence, verdict (rules in the module docstring)."""
    rows = []
    for r in trivial.itertuples(index=False):
        rows.append((f"L2 with lambda = 0.1 gives a trivial model ({r.task})",
                     f"{r.trivial} of {r.cells} cells trivial in every seed, {r.partly} in some", r.verdict))
    if not sens.empty:
        status = sens.groupby(_CELL)["status"].first()
        best = sens.groupby(_CELL)["best_lam"].first()
        rows.append(("L2 is lambda-sensitive",
                     f"{int((status == 'sensitive').sum())} of {len(status)} (dataset, layers, n) cells sensitive; "
                     f"best lambda ranges {best.min():g}-{best.max():g}", sensitivity))
    for r in pair_verdicts.itertuples(index=False):
        rows.append((f"L2 0.1 beats L2 0.01 on some image sets ({r.protocol} grid)",
                     f"{r.better_01} of {r.cells} cells L2 0.1 significantly better ({r.datasets_01}), "
                     f"{r.better_001} L2 0.01 significantly better", r.verdict))
    return pd.DataFrame(rows, columns=["claim", "evidence", "verdict"])
