r"""The dual-weight paper's unsupervised variant (Wang 2025, Appendix A), run: what does the first
layer learn when a layer-activity threshold replaces the gradient's sign?

The rule is :class:`learning_rules.updates.dual_weight_unsupervised.DualWeightUnsupervisedUpdate`
(its docstring states the equations and the readings it fixes). This module trains it and measures
what it learned.

Design
------
* **Layer and data.** The first layer of the paper's 3-layer net (784-64, ReLU; ``layers = 2``
  gives the 2-layer net's 784-20), trained alone. Pool, step order and initial weights are those
  of the corrected protocol's cell (:func:`.dual_weight.prepare`, :func:`.dual_weight.he_normal_init`
  with the cell's generator): ``n`` distinct training images drawn with ``seed``, single-sample
  steps through ``Network.fit_steps`` (the NumPy reference), the coded split ``W1 = W_init``,
  ``W2 = 0``, biases at 0. The labels are never shown to the rule: the network's targets are zeros
  and the rule ignores its teaching signal.
* **Threshold.** :func:`initial_threshold`: the ``quantile`` of the initial layer's total output
  over the pool (0.5: the median, so that the two states start equally often), fixed for the run.
* **Readings** (``READINGS``): ``"active"`` (the plainest: rows of active units move, as eq. 10's
  :math:`f'(z)` implies; bias fixed), ``"all"`` (every row moves), ``"active+bias"`` (as
  ``"active"``, the bias trained by SGD on the pseudo signal at ``lr``, as the paper trains biases).
* **Measures.** After training, a linear read-out (:func:`readout_accuracy`: standardised features,
  multinomial logistic regression, scikit-learn's defaults) fitted on the pool's layer activities
  with the pool's labels, scored on the official test set. The same read-out on the *untrained*
  layer (the same ``W_init``), on the raw pixels, and on the first layer of the chapter's
  *supervised* dual-weight net trained on the same cell (method ``"our"``: same pool, order and
  initial weights) frame it. Per block of ``block`` steps: the mean total output and the share of
  samples above the threshold. Per layer: dead units (silent on every pool image), always-on
  units, and the mean cosine between distinct rows (1 = every unit the same feature).
* **Verdict** (:func:`usefulness_verdict`), fixed before the runs: the features are *useful* when
  the paired gain (trained minus untrained read-out accuracy, same seed) has a 95 % Student-t
  interval over seeds above 0, *harmful* below 0, *not shown* when it contains 0, *undecided* with
  fewer than two seeds; the plainest reading is judged on every dataset the page runs.

The runs reuse :mod:`.dual_weight`'s functions and change none of them.

Explained in: book/dual-weight/unsupervised.ipynb.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import Task, one_blas_thread, register_experiment, register_planner
from .dual_weight import (DATASETS, CellConfig, _cell_rng, _check_choice, _sweep, architecture,
                          build_network, dataset_status, he_normal_init, prepare)

__all__ = [
    "FEATURES",
    "NOTEBOOK",
    "READINGS",
    "STATUSES",
    "UnsupervisedConfig",
    "activity_frame",
    "contrast_cosine",
    "course_frame",
    "field_frame",
    "fields_configs",
    "gain_status",
    "halves_cosine",
    "initial_threshold",
    "layer_features",
    "paired_gains",
    "plan_unsupervised_page",
    "plot_activity",
    "plot_course",
    "plot_readout",
    "quantile_configs",
    "readout_accuracy",
    "readout_summary",
    "row_cosine",
    "run_unsupervised",
    "run_unsupervised_cell",
    "run_unsupervised_fields",
    "run_unsupervised_fields_grid",
    "train_unsupervised",
    "unit_activity",
    "unsupervised_configs",
    "usefulness_verdict",
]

NOTEBOOK = "book/dual-weight/unsupervised.ipynb"

#: reading -> (which rows move, whether the bias is trained on the pseudo signal)
READINGS: dict[str, tuple[str, bool]] = {
    "active": ("active", False),
    "all": ("all", False),
    "active+bias": ("active", True),
}
#: the layers whose activities a read-out is fitted on
FEATURES = ("unsupervised", "random", "supervised", "pixels")
STATUSES = ("useful", "harmful", "not shown", "undecided")


@dataclasses.dataclass(frozen=True)
class UnsupervisedConfig:
    """One (dataset, reading, seed): the layer trained without labels and its read-outs.

    ``layers``: the paper's net whose first layer is trained (2: 784-20, 3: 784-64);
    ``quantile``: where the threshold sits in the initial layer's total outputs over the pool;
    ``block``: steps per point of the activity trace; ``checkpoints``: steps (before the last)
    at which the trained layer's read-out and row cosine are measured too; ``n_test``: official
    test images scored (``None``: all); ``supervised``: also train the chapter's supervised
    dual-weight net on the same cell, as a reference read-out.
    """

    dataset: str = "mnist"
    reading: str = "active"
    layers: int = 3
    n: int = 1000
    seed: int = 0
    steps: int = 60_000
    lr: float = 1e-3
    quantile: float = 0.5
    block: int = 1000
    checkpoints: tuple[int, ...] = ()
    n_test: int | None = None
    supervised: bool = True

    def __post_init__(self) -> None:
        if DATASETS.lookup(self.dataset).task != "classification":
            raise ValueError(f"{self.dataset} is a regression set; the read-out needs class labels")
        _check_choice("reading", self.reading, tuple(READINGS))
        architecture(self.dataset, self.layers, 784)  # 2 or 3 layers
        if self.steps < 1 or self.block < 1:
            raise ValueError(f"steps and block must be >= 1, got {self.steps}, {self.block}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"lr must lie in (0, 1], got {self.lr}")
        if not 0 <= self.quantile <= 1:
            raise ValueError(f"quantile must lie in [0, 1], got {self.quantile}")
        if tuple(sorted(set(self.checkpoints))) != tuple(self.checkpoints) or any(
                not 0 < c < self.steps for c in self.checkpoints):
            raise ValueError(f"checkpoints must be sorted distinct steps in 1..steps-1, got {self.checkpoints}")
        if self.n_test is not None and self.n_test < 1:
            raise ValueError(f"n_test must be None or >= 1, got {self.n_test}")

    def cell(self) -> CellConfig:
        """The corrected cell whose pool, order and initial weights the run uses."""
        return CellConfig("corrected", self.dataset, self.layers, self.n, self.seed, self.steps, self.steps,
                          self.lr, ("our",))


# ------------------------------------------------------------------------------ pure measures


def layer_features(W: np.ndarray, b: np.ndarray | None, X: np.ndarray) -> np.ndarray:
    r"""The layer's ReLU activities, the read-out's features.

    .. math:: h = \max(X W^\top + b,\ 0)

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
    b : ndarray, shape (n_out,), or None
    X : ndarray, shape (m, n_in)

    Returns
    -------
    ndarray, shape (m, n_out), float64
    """
    z = np.asarray(X, dtype=np.float64) @ W.T
    if b is not None:
        z += b
    return np.maximum(z, 0.0)


def initial_threshold(W: np.ndarray, b: np.ndarray | None, X: np.ndarray, quantile: float) -> float:
    r"""The threshold :math:`\theta`: a quantile of the initial layer's total outputs over the pool.

    .. math:: \theta = Q_q\Bigl(\bigl\{\textstyle\sum_j h_j(x_i)\bigr\}_{i=1}^{n}\Bigr)

    Wang (2025), Appendix A, sets "a threshold for the layer's total output" without a value; the
    median (``q = 0.5``) makes the two states equally frequent at the start.

    Parameters
    ----------
    W, b : the initial layer, shapes (n_out, n_in) and (n_out,) or None
    X : ndarray, shape (n, n_in), the training pool
    quantile : float in [0, 1]

    Returns
    -------
    float
    """
    return float(np.quantile(layer_features(W, b, X).sum(axis=1), quantile))


def unit_activity(W: np.ndarray, b: np.ndarray | None, X: np.ndarray) -> np.ndarray:
    r"""Share of the images on which each unit fires, :math:`\frac1m \sum_i \mathbb 1[z_{ij} > 0]`,
    shape (n_out,): 0 = dead on ``X``, 1 = always on."""
    return (layer_features(W, b, X) > 0).mean(axis=0)


def row_cosine(W: np.ndarray) -> float:
    r"""Mean cosine between distinct rows, :math:`\frac{2}{k(k-1)}\sum_{j<j'}
    \frac{W_j \cdot W_{j'}}{\lVert W_j\rVert\,\lVert W_{j'}\rVert}`: about 0 for random rows, 1 when
    every unit holds the same feature (zero rows count as 0)."""
    norms = np.linalg.norm(W, axis=1)
    U = W / np.where(norms > 0, norms, 1.0)[:, None]
    C = U @ U.T
    k = W.shape[0]
    return float((C.sum() - np.trace(C)) / (k * (k - 1))) if k > 1 else float("nan")


def contrast_cosine(W: np.ndarray, X: np.ndarray, S: np.ndarray, threshold: float) -> float:
    r"""Mean cosine between the rows of ``W`` and the layer's *quiet-minus-loud contrast*
    :math:`c = \bar x_{S < \theta} - \bar x_{S > \theta}` (the mean pool image below the threshold
    minus the mean above it): near 1 when every unit has learned the one image difference that
    sets the layer's loudness. ``nan`` when one side is empty.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
    X : ndarray, shape (n, n_in), the pool
    S : ndarray, shape (n,), the layer's total outputs on ``X``
    threshold : float
    """
    quiet, loud = S < threshold, S > threshold
    if not quiet.any() or not loud.any():
        return float("nan")
    c = X[quiet].mean(axis=0) - X[loud].mean(axis=0)
    norms = np.linalg.norm(W, axis=1) * np.linalg.norm(c)
    return float(np.mean((W @ c) / np.where(norms > 0, norms, np.inf)))


def halves_cosine(W1: np.ndarray, W2: np.ndarray) -> float:
    r"""Mean over units of :math:`\cos(W_{1,j}, W_{2,j})`: near 1 when each unit's two halves
    average nearly the same images, so that ``W = W1 - W2`` is a small difference."""
    norms = np.linalg.norm(W1, axis=1) * np.linalg.norm(W2, axis=1)
    return float(np.mean(np.sum(W1 * W2, axis=1) / np.where(norms > 0, norms, np.inf)))


def readout_accuracy(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy (%) of a linear read-out: features standardised with the training statistics
    (constant ones left at 0), then multinomial logistic regression (scikit-learn, L2 with
    ``C = 1``, lbfgs) fitted on ``(F_train, y_train)``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(F_train, y_train)
    return float(np.mean(clf.predict(F_test) == y_test) * 100.0)


# ------------------------------------------------------------------------------------------ runs


class Trained(NamedTuple):
    """A trained layer with what it was trained from."""

    W: np.ndarray
    b: np.ndarray
    W1: np.ndarray
    W2: np.ndarray
    W_init: list
    threshold: float
    trace: pd.DataFrame
    snapshots: dict
    prep: Any


def train_unsupervised(cfg: UnsupervisedConfig) -> Trained:
    """Train the first layer with the unsupervised rule on the cell's pool and order (no labels)."""
    from ..engine import Network
    from ..nn.mlp import MLP
    from ..updates.dual_weight_unsupervised import DualWeightUnsupervisedUpdate

    cell = cfg.cell()
    prep = prepare("corrected", cfg.dataset, cfg.n, cfg.seed, cfg.steps, ("our",))
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cell, 0))
    b0 = np.zeros(sizes[1])
    theta = initial_threshold(W_init[0], b0, prep.X_pool, cfg.quantile)
    rows, train_bias = READINGS[cfg.reading]
    rule = DualWeightUnsupervisedUpdate(cfg.lr, theta, rows=rows, activation="relu",
                                        lr_bias=cfg.lr if train_bias else 0.0, init_split="coded")
    net = Network(MLP([W_init[0].copy()], [b0.copy()], ["relu"]), update=rule, loss="squared_error",
                  rng=_cell_rng(cell, 2))
    targets = np.zeros((prep.X_pool.shape[0], sizes[1]))  # never a label: the rule ignores the signal
    order = prep.orders["our"]
    state = net.layer_states[0]
    W, bias = net.mlp.weights[0], net.mlp.biases[0]
    marks = sorted({*range(cfg.block, cfg.steps, cfg.block), *cfg.checkpoints, cfg.steps})
    trace, snapshots, start, last = [], {}, 0, (0, 0, 0.0)
    for stop in marks:  # the same steps as one fit_steps call over the whole order
        net.fit_steps(prep.X_pool, targets, order[start:stop], backend="numpy")
        if stop % cfg.block == 0 or stop == cfg.steps:
            count = state["samples"] - last[0]
            trace.append((stop, (state["activity"] - last[2]) / count, (state["loud"] - last[1]) / count))
            last = (state["samples"], state["loud"], state["activity"])
        if stop in cfg.checkpoints:
            snapshots[stop] = (W.copy(), bias.copy())
        start = stop
    frame = pd.DataFrame(trace, columns=["step", "activity", "loud_share"])
    return Trained(W, bias, state["W1"], state["W2"], W_init, theta, frame, snapshots, prep)


def _supervised_first_layer(cfg: UnsupervisedConfig, W_init: list, prep) -> tuple[np.ndarray, np.ndarray]:
    """The chapter's supervised dual weight (method ``"our"``) trained on the same cell: its first
    layer (as :func:`.dual_weight.run_cell` trains it under the corrected protocol)."""
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    net = build_network("our", "corrected", sizes, "classification", cfg.lr, W_init, rng=_cell_rng(cfg.cell(), 2))
    with np.errstate(all="ignore"):
        net.fit_steps(prep.X_pool, prep.y_pool, prep.orders["our"])
    return net.mlp.weights[0], net.mlp.biases[0]


@register_experiment("dual_weight_unsupervised_cell", UnsupervisedConfig,
                     "Wang (2025) Appendix A: the first layer trained by the unsupervised dual-weight "
                     "variant, its activity trace and linear read-outs", timing_columns=("cpu_s",))
@one_blas_thread
def run_unsupervised_cell(cfg: UnsupervisedConfig) -> pd.DataFrame:
    """Train one layer without labels; rows ``measure, features, step, value``.

    ``measure = "activity"`` / ``"loud_share"`` (``features = ""``): per block, the mean total
    output and the share of samples above the threshold. For each of ``FEATURES`` at ``step =
    steps`` (the trained layer also at each of ``checkpoints``): ``"readout"`` (test accuracy %),
    and for the layers ``"dead"``, ``"always_on"`` (unit
    counts on the pool) and ``"row_cosine"``; for the trained layer :func:`contrast_cosine` and
    :func:`halves_cosine`. ``"threshold"``: :math:`\\theta`. ``cpu_s``: process
    CPU time of the whole run (timing only).
    """
    started = time.process_time()
    t = train_unsupervised(cfg)
    prep = t.prep
    X_test = prep.X_test if cfg.n_test is None else prep.X_test[:cfg.n_test]
    y_test = prep.y_test if cfg.n_test is None else prep.y_test[:cfg.n_test]
    layers = {"unsupervised": (t.W, t.b), "random": (t.W_init[0], np.zeros(t.W.shape[0]))}
    if cfg.supervised:
        layers["supervised"] = _supervised_first_layer(cfg, t.W_init, prep)
    rows = [("activity", "", s, v) for s, v in zip(t.trace["step"], t.trace["activity"])]
    rows += [("loud_share", "", s, v) for s, v in zip(t.trace["step"], t.trace["loud_share"])]
    for name, (W, b) in layers.items():
        acc = readout_accuracy(layer_features(W, b, prep.X_pool), prep.y_pool,
                               layer_features(W, b, X_test), y_test)
        active = unit_activity(W, b, prep.X_pool)
        rows += [("readout", name, cfg.steps, acc), ("dead", name, cfg.steps, float(np.sum(active == 0))),
                 ("always_on", name, cfg.steps, float(np.sum(active == 1))),
                 ("row_cosine", name, cfg.steps, row_cosine(W))]
    for step, (W, b) in t.snapshots.items():  # the trained layer on its way
        acc = readout_accuracy(layer_features(W, b, prep.X_pool), prep.y_pool, layer_features(W, b, X_test), y_test)
        rows += [("readout", "unsupervised", step, acc), ("row_cosine", "unsupervised", step, row_cosine(W))]
    rows.append(("readout", "pixels", cfg.steps,
                 readout_accuracy(prep.X_pool, prep.y_pool, np.asarray(X_test, np.float64), y_test)))
    S = layer_features(t.W, t.b, prep.X_pool).sum(axis=1)
    rows += [("contrast_cosine", "unsupervised", cfg.steps, contrast_cosine(t.W, prep.X_pool, S, t.threshold)),
             ("halves_cosine", "unsupervised", cfg.steps, halves_cosine(t.W1, t.W2)),
             ("threshold", "", 0, t.threshold)]
    frame = pd.DataFrame(rows, columns=["measure", "features", "step", "value"])
    frame["cpu_s"] = time.process_time() - started
    return frame


@register_experiment("dual_weight_unsupervised_fields", UnsupervisedConfig,
                     "Wang (2025) Appendix A: W1, W2 and W of the first layer trained by the "
                     "unsupervised dual-weight variant, and the initial W")
@one_blas_thread
def run_unsupervised_fields(cfg: UnsupervisedConfig) -> pd.DataFrame:
    """Rows ``half, neuron, pixel, weight`` for ``half`` in ``"init"``, ``"W1"``, ``"W2"``, ``"W"``
    (``W = W1 - W2``), plus ``activity``: the share of pool images the unit fires on after training."""
    t = train_unsupervised(cfg)
    active = unit_activity(t.W, t.b, t.prep.X_pool)
    n_out, n_in = t.W.shape
    parts = []
    for half, M in (("init", t.W_init[0]), ("W1", t.W1), ("W2", t.W2), ("W", t.W)):
        parts.append(pd.DataFrame({"half": half, "neuron": np.repeat(np.arange(n_out), n_in),
                                   "pixel": np.tile(np.arange(n_in), n_out), "weight": M.ravel(),
                                   "activity": np.repeat(active, n_in)}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------- the page's plan


def unsupervised_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[UnsupervisedConfig]:
    """The page's cells: every (dataset, reading, seed)."""
    return [UnsupervisedConfig(ds, r, int(params["layers"]), int(params["n"]), int(s), int(params["steps"]),
                               float(params["lr"]), float(params["quantile"]), int(params["block"]),
                               tuple(int(c) for c in params["checkpoints"]),
                               None if params["n_test"] is None else int(params["n_test"]))
            for ds in datasets for r in params["readings"] for s in params["seeds"]]


def quantile_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[UnsupervisedConfig]:
    """The threshold check: the first reading at each of ``other_quantiles``, every dataset and
    seed (without checkpoints and without the supervised reference, which does not depend on the
    threshold)."""
    return [dataclasses.replace(c, quantile=float(q), checkpoints=(), supervised=False)
            for q in params["other_quantiles"]
            for c in unsupervised_configs(params, datasets) if c.reading == params["readings"][0]]


def fields_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[UnsupervisedConfig]:
    """The fields figure's runs: per (dataset, reading), the first seed."""
    first = int(params["seeds"][0])
    return [c for c in unsupervised_configs(params, datasets) if c.seed == first]


def _cost(cfg: UnsupervisedConfig) -> float:
    """Rough cost (unit of :func:`.dual_weight.cell_cost`): NumPy reference steps, the read-outs."""
    return float(cfg.steps / 60_000 * 4.0 + 0.5)


@register_planner(NOTEBOOK)
def plan_unsupervised_page(params, store) -> list[Task]:
    """Every run the unsupervised page asks for (none for a dataset that is not on this machine)."""
    present = [d for d in params["datasets"] if dataset_status(d) is None]
    cells = unsupervised_configs(params, present) + quantile_configs(params, present)
    return ([Task("dual_weight_unsupervised_cell", c, cost=_cost(c)) for c in cells]
            + [Task("dual_weight_unsupervised_fields", c, cost=_cost(c)) for c in fields_configs(params, present)])


def run_unsupervised(configs: Sequence[UnsupervisedConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_unsupervised_cell` over ``configs`` through the store."""
    return _sweep(run_unsupervised_cell, list(configs), n_jobs, "dual_weight_unsupervised_cell")


def run_unsupervised_fields_grid(configs: Sequence[UnsupervisedConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_unsupervised_fields` over ``configs`` through the store."""
    return _sweep(run_unsupervised_fields, list(configs), n_jobs, "dual_weight_unsupervised_fields")


# -------------------------------------------------------------------------------- the page's frames


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows measured after the last step (not at a checkpoint)."""
    return frame[frame["step"] == frame["steps"]]


def course_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The trained layer on its way: ``dataset, reading, seed, step, accuracy, row_cosine`` at step 0
    (the untrained layer), at every checkpoint and after the last step."""
    r = frame[frame["measure"].isin(["readout", "row_cosine"])]
    trained = r[r["features"] == "unsupervised"]
    start = r[(r["features"] == "random") & (r["step"] == r["steps"])].assign(step=0)
    both = pd.concat([start, trained], ignore_index=True)
    out = both.pivot_table(index=["dataset", "reading", "seed", "step"], columns="measure", values="value",
                           sort=False).reset_index()
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(frame["dataset"], frame["reading"])))}
    out["_order"] = [order[k] for k in zip(out["dataset"], out["reading"])]
    out = out.sort_values(["_order", "seed", "step"], kind="stable").drop(columns="_order")
    return out.rename(columns={"readout": "accuracy"}).reset_index(drop=True)


def readout_summary(frame: pd.DataFrame, by: Sequence[str] = ("dataset", "reading"),
                    level: float = 0.95) -> pd.DataFrame:
    """Per ``by`` and features: read-out accuracy, mean and 95 % interval over seeds, and the
    layer's mean dead and always-on units, row cosine, and (trained layer) contrast and halves
    cosines."""
    from ..analysis.dual_weight import t_interval

    keys = [*by, "features"]
    measures = ("dead", "always_on", "row_cosine", "contrast_cosine", "halves_cosine")
    layer = _final(frame)
    layer = layer[layer["measure"].isin(("readout",) + measures)]
    rows = []
    for key, g in layer.groupby(keys, sort=False):
        per_seed = g.pivot_table(index="seed", columns="measure", values="value")
        m, lo, hi = t_interval(per_seed["readout"].to_numpy(), level)
        row = dict(zip(keys, key), accuracy=m, low=lo, high=hi, seeds=int(per_seed.shape[0]))
        for measure in measures:
            row[measure] = float(per_seed[measure].mean()) if measure in per_seed else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def paired_gains(frame: pd.DataFrame, by: Sequence[str] = ("dataset", "reading"),
                 features: str = "unsupervised", baseline: str = "random") -> pd.DataFrame:
    """Per ``by`` and seed: read-out accuracy of ``features`` minus that of ``baseline`` on the
    same pool and initial weights (percentage points), column ``gain``."""
    final = _final(frame)
    r = final[final["measure"] == "readout"].pivot_table(index=[*by, "seed"], columns="features",
                                                          values="value", sort=False)
    return (r[features] - r[baseline]).rename("gain").reset_index()


def gain_status(gains: np.ndarray, level: float = 0.95) -> tuple[float, float, float, str]:
    """Mean, interval and status (``STATUSES``) of one condition's paired gains: ``"useful"`` when
    the Student-t interval lies above 0, ``"harmful"`` below 0, ``"not shown"`` when it contains
    0, ``"undecided"`` with fewer than two seeds."""
    from ..analysis.dual_weight import t_interval

    m, lo, hi = t_interval(gains, level)
    status = ("undecided" if not np.isfinite(lo) else "useful" if lo > 0 else "harmful" if hi < 0
              else "not shown")
    return m, lo, hi, status


def usefulness_verdict(gains: pd.DataFrame, by: Sequence[str] = ("dataset", "reading"),
                       judged: Mapping[str, Any] | None = None,
                       level: float = 0.95) -> tuple[pd.DataFrame, str]:
    """Each condition's (``by``) status (:func:`gain_status`) and the verdict over the conditions
    that match ``judged`` (column -> value, e.g. ``{"reading": "active"}``; all when ``None``):
    ``"useful"`` when every one is useful, ``"harmful"`` when one is harmful, ``"undecided"`` when
    one has fewer than two seeds (or none is judged), ``"not shown"`` otherwise."""
    rows = []
    for key, g in gains.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, *gain_status(g["gain"].to_numpy(), level), int(g.shape[0])))
    table = pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "status", "seeds"])
    mask = np.ones(len(table), bool)
    for column, value in (judged or {}).items():
        mask &= (table[column] == value).to_numpy()
    status = table.loc[mask, "status"]
    if status.empty or (status == "undecided").any():
        verdict = "undecided"
    elif (status == "harmful").any():
        verdict = "harmful"
    elif (status == "useful").all():
        verdict = "useful"
    else:
        verdict = "not shown"
    return table, verdict


def activity_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The activity trace relative to the threshold: ``dataset, reading, seed, step, activity,
    threshold, ratio, loud_share``."""
    theta = frame[frame["measure"] == "threshold"].set_index(["dataset", "reading", "seed"])["value"]
    t = frame[frame["measure"].isin(["activity", "loud_share"])].pivot_table(
        index=["dataset", "reading", "seed", "step"], columns="measure", values="value", sort=False).reset_index()
    t["threshold"] = [theta[(d, r, s)] for d, r, s in zip(t["dataset"], t["reading"], t["seed"])]
    t["ratio"] = t["activity"] / t["threshold"]
    return t[["dataset", "reading", "seed", "step", "activity", "threshold", "ratio", "loud_share"]]


def field_frame(fields: pd.DataFrame, readings: Sequence[str]) -> pd.DataFrame:
    """Fields in the receptive-fields page's layout (``method, neuron, pixel, weight``) for one
    dataset and seed: method ``"init"`` once, then ``"<reading>: W1"``, ``": W2"``, ``": W"``."""
    parts = []
    first = fields[fields["reading"] == readings[0]]
    parts.append(first[first["half"] == "init"].assign(method="init"))
    for r in readings:
        d = fields[fields["reading"] == r]
        for half in ("W1", "W2", "W"):
            parts.append(d[d["half"] == half].assign(method=f"{r}: {half}"))
    return pd.concat(parts, ignore_index=True)[["method", "neuron", "pixel", "weight", "activity"]]


# ------------------------------------------------------------------------------------ figures


def _thousands():
    """Tick labels in thousands of steps (``20000`` -> ``20``)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v / 1000:g}")


def _reading_bands(frame: pd.DataFrame, columns: tuple[str, str], **line):
    """The two-row grid both training-course figures share: for each dataset (a column of panels)
    and reading, the mean over seeds of ``columns[0]`` (top) and ``columns[1]`` (bottom) against
    the step, with the seeds' range as a band; x ticks in thousands of steps. ``line`` styles the
    mean lines. Returns ``(fig, axes, datasets)``; the caller labels the panels."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    datasets = list(dict.fromkeys(frame["dataset"]))
    readings = list(dict.fromkeys(frame["reading"]))
    pal = dict(zip(readings, sns.color_palette("colorblind", len(readings))))
    fig, axes = plt.subplots(2, len(datasets), figsize=(5.2 * len(datasets), 6.0), squeeze=False, sharex=True)
    for j, ds in enumerate(datasets):
        for r in readings:
            g = frame[(frame["dataset"] == ds) & (frame["reading"] == r)].groupby("step")
            for i, col in enumerate(columns):
                m, lo, hi = g[col].mean(), g[col].min(), g[col].max()
                axes[i, j].plot(m.index, m.to_numpy(), color=pal[r], label=r, **line)
                axes[i, j].fill_between(m.index, lo.to_numpy(), hi.to_numpy(), color=pal[r], alpha=0.2, lw=0)
        axes[0, j].set_title(DATASETS.lookup(ds).title)
        axes[1, j].set_xlabel("single-sample steps (thousands)")
        axes[1, j].xaxis.set_major_formatter(_thousands())
    return fig, axes, datasets


def _finish(fig, axes):
    axes[0, -1].legend(title="reading", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_activity(act: pd.DataFrame):
    """Total output over training, relative to the threshold (1 = at the threshold), per dataset
    and reading; mean over seeds with its range as a band."""
    fig, axes, datasets = _reading_bands(act, ("ratio", "loud_share"))
    for j in range(len(datasets)):
        axes[0, j].axhline(1.0, color="0.3", lw=0.8, ls="--")
        axes[1, j].axhline(0.5, color="0.3", lw=0.8, ls="--")
        axes[0, j].set_ylabel("total output / threshold")
        axes[1, j].set_ylabel("share of samples above threshold")
    return _finish(fig, axes)


def plot_course(course: pd.DataFrame, summary: pd.DataFrame):
    """Read-out accuracy (top) and row cosine (bottom) of the trained layer against the steps done,
    per dataset and reading (mean over seeds, range as a band; step 0 is the untrained layer); the
    supervised reference and the pixels as horizontal lines."""
    fig, axes, datasets = _reading_bands(course, ("accuracy", "row_cosine"), marker="o", ms=3)
    for j, ds in enumerate(datasets):
        refs = summary[summary["dataset"] == ds].drop_duplicates("features").set_index("features")["accuracy"]
        for name, ls in (("supervised", "--"), ("pixels", ":")):
            if name in refs:
                axes[0, j].axhline(refs[name], color="0.3", lw=1, ls=ls, label=f"{name} (read-out)")
        axes[0, j].set_ylabel("read-out test accuracy (%)")
        axes[0, j].set_ylim(0.0, 100.0)
        axes[1, j].set_ylabel("mean cosine between units")
    return _finish(fig, axes)


def plot_readout(summary: pd.DataFrame):
    """Read-out test accuracy per features and reading, one panel per dataset, mean with its 95 %
    interval over seeds."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    datasets = list(dict.fromkeys(summary["dataset"]))
    readings = list(dict.fromkeys(summary["reading"]))
    features = [f for f in FEATURES if f in set(summary["features"])]
    pal = dict(zip(features, sns.color_palette("colorblind", len(features))))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.6), squeeze=False)
    width = 0.8 / len(features)
    for j, ds in enumerate(datasets):
        ax = axes[0, j]
        for k, f in enumerate(features):
            d = summary[(summary["dataset"] == ds) & (summary["features"] == f)].set_index("reading").reindex(readings)
            x = np.arange(len(readings)) + (k - (len(features) - 1) / 2) * width
            err = np.vstack([d["accuracy"] - d["low"], d["high"] - d["accuracy"]])
            ax.bar(x, d["accuracy"], width, color=pal[f], label=f)
            if np.isfinite(err).any():
                ax.errorbar(x, d["accuracy"], yerr=np.nan_to_num(err), fmt="none", ecolor="0.2", lw=1, capsize=2)
        ax.set_xticks(np.arange(len(readings)), readings)
        ax.set_xlabel("reading of the rule")
        ax.set_ylabel("read-out test accuracy (%)")
        ax.set_title(DATASETS.lookup(ds).title)
        ax.set_ylim(0.0, 100.0)
    axes[0, -1].legend(title="features", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
