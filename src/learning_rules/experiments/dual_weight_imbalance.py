r"""Beyond the paper: does the dual-weight rule mitigate class imbalance? (Wang 2025, sec. 3)

The paper lists among the rule's advantages the "mitigation of bias due to sample imbalance"
(the halves ``W1``, ``W2`` are *means* of inputs, not sums, so a feature seen rarely is not outvoted
by frequent ones) and the preservation of "low-frequency but crucial features" (a row moves only
when its neuron gets a signal), but it never tests either claim. This module is the test.

Design
------
* **Pool.** The corrected protocol's pool of one cell (:func:`.dual_weight.prepare`: ``n``
  distinct training images drawn with ``seed``), then :func:`cut_classes` keeps a ``fraction`` of
  the pool's images of each class in ``rare`` (at least one each) and every image of the other
  classes. The cut draws from a generator of its own (:func:`cut_rng`: seed, dataset, ``n``; not
  the depth, so both networks see the same pool). ``fraction = 1`` with ``rare = ()`` is the
  balanced reference: the cell itself, same pool, step order and initial weights, so its accuracy
  is :func:`.dual_weight.run_cell`'s final accuracy of the corrected cell with ``eval_every = steps``.
* **Training.** The paper's networks (784-20-10, 784-64-32-10), methods (``METHODS``), single
  sample steps at ``lr`` from one shared initial draw, exactly as a corrected cell trains them
  (:func:`.dual_weight.build_network`, ``Network.fit_steps``); a cut pool is walked in reshuffled
  passes (:func:`.dual_weight.corrected_order`), one order for every method.
* **Measures**, on the balanced official test set (1,000 images per class): per-class recall and
  precision (:func:`class_scores`), the output unit's bias and weight-row norm; the page derives
  the rare classes' mean recall, the balanced accuracy (mean recall over the ten classes) and the
  verdict (:func:`imbalance_verdict`).
* **Fields.** :func:`run_imbalance_fields` trains dual weight and GD on one pool and returns the
  rare class's output template (:func:`output_template`: the output row pulled back to the pixels
  through the linear path) and the first-layer fields of the hidden units most connected to it.

The runs reuse :mod:`.dual_weight`'s functions and change none of them (their stored results keep
their keys). Source of the claims: Wang (2025), sec. 3 ("Mitigation of bias due to sample
imbalance", "Enhanced generalization and focused learning") and sec. 3.1 (vs L2).

Explained in: book/dual-weight/imbalance.ipynb.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import Task, one_blas_thread, register_experiment, register_planner
from .dual_weight import (DATASETS, METHOD_LABELS, METHODS, CellConfig, _cell_rng, _check_choice, _sweep,
                          architecture, build_network, cell_cost, corrected_order, dataset_status,
                          he_normal_init, method_colors, prepare)

__all__ = [
    "NOTEBOOK",
    "STATUSES",
    "VERDICTS",
    "ImbalanceConfig",
    "ImbalanceFieldsConfig",
    "class_scores",
    "condition_status",
    "cut_classes",
    "cut_rng",
    "fields_configs",
    "imbalance_configs",
    "imbalance_verdict",
    "output_template",
    "paired_gains",
    "plan_imbalance_page",
    "plot_fields",
    "plot_rare_recall",
    "rare_recall_frame",
    "run_imbalance",
    "run_imbalance_cell",
    "run_imbalance_fields",
    "run_imbalance_fields_grid",
    "run_summary",
    "seed_summary",
    "setting_of",
    "single_class_table",
    "template_alignment",
]

NOTEBOOK = "book/dual-weight/imbalance.ipynb"

#: The two methods the fields figure compares.
FIELD_METHODS = ("our", "GD")


# ------------------------------------------------------------------------------------------ data


def cut_classes(y: np.ndarray, rare: Sequence[int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    r"""Positions of the pool kept when each class in ``rare`` is cut to ``fraction`` of its samples.

    A rare class :math:`c` with :math:`m_c` samples in the pool keeps

    .. math:: k_c = \max\bigl(1, \lfloor f\, m_c + \tfrac12 \rfloor\bigr)

    of them: the first :math:`k_c` of ``rng.permutation`` of its positions (one permutation per
    rare class, in increasing class order, so for one generator state a smaller fraction keeps a
    subset of a larger one's). Every sample of the other classes is kept.

    Parameters
    ----------
    y : ndarray of int, shape (m,)
        Labels of the pool.
    rare : sequence of int
        The classes to cut (distinct); empty only with ``fraction == 1``.
    fraction : float in (0, 1]
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (m_kept,)
        Sorted positions in the pool (the pool's order is kept).

    Raises
    ------
    ValueError
        ``fraction`` outside (0, 1], a repeated class, or a rare class without a sample in the pool.
    """
    y = np.asarray(y)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    rare = [int(c) for c in rare]
    if len(set(rare)) != len(rare):
        raise ValueError(f"rare classes must be distinct, got {rare}")
    keep = np.ones(y.shape[0], dtype=bool)
    for c in sorted(rare):
        where = np.flatnonzero(y == c)
        if where.size == 0:
            raise ValueError(f"class {c} has no sample in the pool, so it cannot be cut")
        k = max(1, int(np.floor(fraction * where.size + 0.5)))
        keep[where] = False
        keep[rng.permutation(where)[:k]] = True
    return np.flatnonzero(keep)


def class_scores(y_true: np.ndarray, y_pred: np.ndarray | None, n_classes: int) -> pd.DataFrame:
    r"""Per-class recall and precision of predictions on a test set.

    .. math:: \text{recall}_c = \frac{|\{i: \hat y_i = c,\ y_i = c\}|}{|\{i: y_i = c\}|}, \qquad
              \text{precision}_c = \frac{|\{i: \hat y_i = c,\ y_i = c\}|}{|\{i: \hat y_i = c\}|}

    The balanced accuracy is the mean of the recalls over the classes.

    Parameters
    ----------
    y_true : ndarray of int, shape (N,)
    y_pred : ndarray of int, shape (N,), or None
        ``None`` (a diverged network) gives NaN scores.
    n_classes : int

    Returns
    -------
    DataFrame with one row per class: ``label, n_test, predicted, recall, precision`` (NaN precision
    for a class never predicted, NaN recall for a class absent from ``y_true``).
    """
    y_true = np.asarray(y_true)
    n_test = np.bincount(y_true, minlength=n_classes)[:n_classes]
    if y_pred is None:
        nan = np.full(n_classes, np.nan)
        return pd.DataFrame({"label": np.arange(n_classes), "n_test": n_test, "predicted": nan,
                             "recall": nan, "precision": nan})
    y_pred = np.asarray(y_pred)
    hits = np.bincount(y_true[y_pred == y_true], minlength=n_classes)[:n_classes]
    predicted = np.bincount(y_pred, minlength=n_classes)[:n_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_test > 0, hits / np.maximum(n_test, 1), np.nan)
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), np.nan)
    return pd.DataFrame({"label": np.arange(n_classes), "n_test": n_test, "predicted": predicted.astype(float),
                         "recall": recall, "precision": precision})


def output_template(weights: Sequence[np.ndarray], label: int) -> tuple[np.ndarray, np.ndarray]:
    r"""The output unit ``label`` pulled back to the inputs through the linear path of the network.

    .. math:: M = W_L W_{L-1} \cdots W_2 \quad (n_L \times n_1), \qquad
              s = M_{c,:}, \qquad t = s\, W_1 \quad (n_0,)

    :math:`s_j` is how strongly hidden unit :math:`j` of the first layer drives output :math:`c`
    when every later ReLU is on, and :math:`t` the input pattern that raises output :math:`c` most
    along that path (for a 2-layer net :math:`M = W_2`). Both are unchanged by a permutation of the
    hidden units, so templates compare across runs.

    Parameters
    ----------
    weights : list of ndarray, ``weights[l]`` of shape (n_{l+1}, n_l)
    label : int

    Returns
    -------
    (template, strengths) : ndarray (n_0,), ndarray (n_1,)
    """
    if len(weights) < 2:
        raise ValueError(f"a template needs a hidden layer: got {len(weights)} weight matrix")
    M = np.asarray(weights[-1], dtype=np.float64)
    for W in reversed(weights[1:-1]):
        M = M @ np.asarray(W, dtype=np.float64)
    strengths = M[label].copy()
    return strengths @ np.asarray(weights[0], dtype=np.float64), strengths


def _predict(net, X: np.ndarray) -> np.ndarray | None:
    """Predicted classes of ``X`` (float32 forward pass for the float32 image test sets, as the
    cells score them); ``None`` when the output is not finite (a diverged network)."""
    from ..fast import forward_logits

    W, b = net.mlp.weights, net.mlp.biases
    if X.dtype == np.float32:
        W = [w.astype(np.float32) for w in W]
        b = [None if v is None else v.astype(np.float32) for v in b]
    with np.errstate(all="ignore"):
        z = forward_logits(W, b, net.mlp.activations, X)
    if not np.all(np.isfinite(z)):
        return None
    return np.argmax(z, axis=1)


# ------------------------------------------------------------------------------------------ runs


@dataclasses.dataclass(frozen=True)
class ImbalanceConfig:
    """One imbalanced pool (corrected protocol) and every method in ``methods`` trained on it.

    ``rare``: the classes cut to ``fraction`` of their pool samples (sorted, distinct); the
    balanced reference is ``rare = ()``, ``fraction = 1``.
    """

    dataset: str = "mnist"
    layers: int = 2
    n: int = 1000
    seed: int = 0
    steps: int = 60_000
    rare: tuple[int, ...] = (0,)
    fraction: float = 0.01
    lr: float = 1e-3
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        if DATASETS.lookup(self.dataset).task != "classification":
            raise ValueError(f"{self.dataset} is a regression set; class imbalance needs a classification set")
        for m in self.methods:
            _check_choice("method", m, METHODS)
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {self.fraction}")
        if tuple(sorted(set(self.rare))) != tuple(self.rare) or any(not 0 <= c < 10 for c in self.rare):
            raise ValueError(f"rare must be sorted distinct classes in 0..9, got {self.rare}")
        if (self.fraction == 1) != (len(self.rare) == 0):
            raise ValueError("the balanced reference is rare=() with fraction=1; a cut needs both a rare "
                             f"class and fraction < 1 (got rare={self.rare}, fraction={self.fraction})")
        if self.steps < 1 or not self.lr > 0:
            raise ValueError("steps must be >= 1 and lr > 0")
        architecture(self.dataset, self.layers, 784)  # 2 or 3 layers, the paper's two networks

    def cell(self) -> CellConfig:
        """The corrected cell this pool is cut from (its initial weights and generators)."""
        return CellConfig("corrected", self.dataset, self.layers, self.n, self.seed, self.steps, self.steps,
                          self.lr, tuple(self.methods))


def cut_rng(cfg: ImbalanceConfig) -> np.random.Generator:
    """The generator of a pool's cut and of its step order: (seed, dataset, n), a stream distinct
    from the cell's own (:func:`.dual_weight._cell_rng`, five entries) and independent of the depth."""
    return np.random.default_rng([cfg.seed, list(DATASETS).index(cfg.dataset), cfg.n, 17])


@register_experiment("dual_weight_imbalance_cell", ImbalanceConfig,
                     "Beyond Wang (2025): the five methods on a pool whose rare classes are cut to a "
                     "fraction; per-class recall on the balanced test set", timing_columns=("cpu_s",))
@one_blas_thread
def run_imbalance_cell(cfg: ImbalanceConfig, return_networks: bool = False):
    """Train every method on the cut pool; one row per (method, test class).

    Columns ``method, label, n_train, n_test, predicted, recall, precision, out_bias, out_norm,
    accuracy, n_pool, cpu_s`` (``out_bias`` and ``out_norm``: the output unit's bias and the norm
    of its weight row, ``W1 - W2`` for the dual methods; ``accuracy`` in %). With
    ``return_networks`` the trained networks are returned too, as ``(frame, {method: Network})``.
    """
    spec = DATASETS.lookup(cfg.dataset)
    cell = cfg.cell()
    prep = prepare("corrected", cfg.dataset, cfg.n, cfg.seed, cfg.steps, cfg.methods)
    if cfg.fraction == 1:
        X, y, order = prep.X_pool, prep.y_pool, prep.orders[cfg.methods[0]]
    else:
        rng = cut_rng(cfg)
        keep = cut_classes(prep.y_pool, cfg.rare, cfg.fraction, rng)
        X, y = prep.X_pool[keep], prep.y_pool[keep]
        order = corrected_order(rng, keep.size, cfg.steps)
    sizes = architecture(cfg.dataset, cfg.layers, X.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cell, 0))
    n_classes = sizes[-1]
    n_train = np.bincount(y, minlength=n_classes)[:n_classes]
    parts, nets = [], {}
    for method in cfg.methods:
        started = time.process_time()
        net = build_network(method, "corrected", sizes, spec.task, cfg.lr, W_init, rng=_cell_rng(cell, 2))
        with np.errstate(all="ignore"):
            net.fit_steps(X, y, order)
        pred = _predict(net, prep.X_test)
        scores = class_scores(prep.y_test, pred, n_classes)
        W_out, b_out = net.mlp.weights[-1], net.mlp.biases[-1]
        scores.insert(0, "method", method)
        scores.insert(2, "n_train", n_train)
        scores["out_bias"] = b_out
        scores["out_norm"] = np.linalg.norm(W_out, axis=1)
        scores["accuracy"] = (float(np.mean(pred == prep.y_test) * 100.0) if pred is not None
                              else float("nan"))
        scores["n_pool"] = int(y.shape[0])
        scores["cpu_s"] = time.process_time() - started  # training + test pass (timing only)
        parts.append(scores)
        nets[method] = net
    frame = pd.concat(parts, ignore_index=True)
    return (frame, nets) if return_networks else frame


@dataclasses.dataclass(frozen=True)
class ImbalanceFieldsConfig:
    """The fields figure: a pool as in :class:`ImbalanceConfig`, ``methods`` trained on it, and
    class ``show``'s output template and its ``top`` most connected first-layer units."""

    dataset: str = "mnist"
    layers: int = 2
    n: int = 1000
    seed: int = 0
    steps: int = 60_000
    rare: tuple[int, ...] = (0,)
    fraction: float = 0.01
    lr: float = 1e-3
    methods: tuple[str, ...] = FIELD_METHODS
    show: int = 0
    top: int = 3

    def __post_init__(self) -> None:
        self.pool()  # validates the pool's fields
        if not 0 <= self.show < 10 or self.top < 1:
            raise ValueError(f"show must be a class in 0..9 and top >= 1, got {self.show}, {self.top}")

    def pool(self) -> ImbalanceConfig:
        """The run whose networks are drawn (same pool, order and initial weights)."""
        return ImbalanceConfig(self.dataset, self.layers, self.n, self.seed, self.steps, tuple(self.rare),
                               self.fraction, self.lr, tuple(self.methods))


@register_experiment("dual_weight_imbalance_fields", ImbalanceFieldsConfig,
                     "Beyond Wang (2025): a class's output template and its most connected layer-1 "
                     "fields, dual weight against GD, on a balanced or cut pool")
@one_blas_thread
def run_imbalance_fields(cfg: ImbalanceFieldsConfig) -> pd.DataFrame:
    """Rows ``method, panel, rank, neuron, strength, pixel, weight, recall``: panel ``"template"``
    (rank 0, neuron -1, strength NaN) is :func:`output_template` of class ``show``; panels
    ``"unit"`` (rank 1..top) are the first-layer fields of the hidden units with the largest
    strengths :math:`s_j` toward it. ``recall``: that class's test recall for the method."""
    frame, nets = run_imbalance_cell(cfg.pool(), return_networks=True)
    recall = frame[frame["label"] == cfg.show].set_index("method")["recall"]
    parts = []
    for method, net in nets.items():
        W = net.mlp.weights
        template, strengths = output_template(W, cfg.show)
        pixels = np.arange(template.size)
        parts.append(pd.DataFrame({"method": method, "panel": "template", "rank": 0, "neuron": -1,
                                   "strength": np.nan, "pixel": pixels, "weight": template}))
        for rank, j in enumerate(np.argsort(-strengths, kind="stable")[:cfg.top], start=1):
            parts.append(pd.DataFrame({"method": method, "panel": "unit", "rank": rank, "neuron": int(j),
                                       "strength": float(strengths[j]), "pixel": pixels,
                                       "weight": np.asarray(W[0][j], dtype=np.float64)}))
    out = pd.concat(parts, ignore_index=True)
    out["recall"] = out["method"].map(recall)
    return out


# ------------------------------------------------------------------------------- the page's plan


def imbalance_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[ImbalanceConfig]:
    """The page's runs: per (dataset, depth, seed), the balanced reference, each class of
    ``single_classes`` cut alone at each fraction, and ``group_classes`` cut together at each
    fraction (none when the list is empty)."""
    fractions = [float(f) for f in params["fractions"]]
    pools: list[tuple[tuple[int, ...], float]] = [((), 1.0)]
    pools += [((int(c),), f) for c in params["single_classes"] for f in fractions]
    group = tuple(sorted(int(c) for c in params["group_classes"]))
    if group:
        pools += [(group, f) for f in fractions]
    return [ImbalanceConfig(ds, int(L), int(params["n"]), int(s), int(params["steps"]), rare, f)
            for ds in datasets for L in params["layers"] for s in params["seeds"] for rare, f in pools]


def fields_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[ImbalanceFieldsConfig]:
    """The fields figure's runs: per dataset, the first depth and seed, class ``single_classes[0]``
    on the balanced pool and cut alone to each fraction."""
    if not params["single_classes"]:
        return []
    c = int(params["single_classes"][0])
    L, s = int(params["layers"][0]), int(params["seeds"][0])
    pools = [((), 1.0)] + [((c,), float(f)) for f in sorted(params["fractions"], reverse=True)]
    return [ImbalanceFieldsConfig(ds, L, int(params["n"]), s, int(params["steps"]), rare, frac, show=c)
            for ds in datasets for rare, frac in pools]


def _cost(cfg: ImbalanceConfig | ImbalanceFieldsConfig) -> float:
    pool = cfg.pool() if isinstance(cfg, ImbalanceFieldsConfig) else cfg
    return cell_cost(pool.cell())


@register_planner(NOTEBOOK)
def plan_imbalance_page(params, store) -> list[Task]:
    """Every run the imbalance page asks for (none for a dataset that is not on this machine)."""
    present = [d for d in params["datasets"] if dataset_status(d) is None]
    return ([Task("dual_weight_imbalance_cell", c, cost=_cost(c)) for c in imbalance_configs(params, present)]
            + [Task("dual_weight_imbalance_fields", c, cost=_cost(c)) for c in fields_configs(params, present)])


def run_imbalance(configs: Sequence[ImbalanceConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_imbalance_cell` over ``configs`` through the store (datasets must be present)."""
    return _sweep(run_imbalance_cell, list(configs), n_jobs, "dual_weight_imbalance_cell")


def run_imbalance_fields_grid(configs: Sequence[ImbalanceFieldsConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_imbalance_fields` over ``configs`` through the store."""
    return _sweep(run_imbalance_fields, list(configs), n_jobs, "dual_weight_imbalance_fields")


# -------------------------------------------------------------------------------- the page's frames


def setting_of(rare: Sequence[int]) -> str:
    """``"one class"`` for one rare class, ``"k classes"`` for k of them."""
    k = len(tuple(rare))
    if k == 0:
        raise ValueError("the balanced reference has no rare class, so it belongs to no setting")
    return "one class" if k == 1 else f"{k} classes"


_RUN = ["dataset", "layers", "seed"]


def run_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, method): the rare classes' mean recall, the other classes' mean recall,
    the balanced accuracy (mean recall over all classes), the accuracy, and the rare classes' mean
    output bias minus the others'.

    The balanced reference (``fraction == 1``) appears once for every rare set cut in the frame
    for the same (dataset, layers, seed), scored on that set's classes, so each imbalanced row has
    its reference. Columns ``dataset, layers, seed, setting, rare, fraction, method, rare_recall,
    other_recall, balanced_accuracy, accuracy, bias_gap``.
    """
    rows = []
    cut = frame[frame["fraction"] < 1]
    rare_sets = {key: sorted(set(g["rare"]), key=lambda r: (len(r), r))
                 for key, g in cut.groupby(_RUN, sort=False)}
    for key, g in frame.groupby([*_RUN, "rare", "fraction", "method"], sort=False):
        dataset, layers, seed, rare, fraction, method = key
        sets = [rare] if fraction < 1 else rare_sets.get((dataset, layers, seed), [])
        recall = g.set_index("label")["recall"]
        bias = g.set_index("label")["out_bias"]
        for r in sets:
            is_rare = recall.index.isin(list(r))
            rows.append({"dataset": dataset, "layers": layers, "seed": seed, "setting": setting_of(r),
                         "rare": tuple(r), "fraction": fraction, "method": method,
                         "rare_recall": float(recall[is_rare].mean()),
                         "other_recall": float(recall[~is_rare].mean()),
                         "balanced_accuracy": float(recall.mean()),
                         "accuracy": float(g["accuracy"].iloc[0]),
                         "bias_gap": float(bias[is_rare].mean() - bias[~is_rare].mean())})
    return pd.DataFrame(rows, columns=["dataset", "layers", "seed", "setting", "rare", "fraction", "method",
                                       "rare_recall", "other_recall", "balanced_accuracy", "accuracy",
                                       "bias_gap"])


_CONDITION = ["dataset", "layers", "setting", "fraction"]
_MEASURES = ["rare_recall", "other_recall", "balanced_accuracy", "accuracy", "bias_gap"]


def seed_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, layers, setting, fraction, method, seed): the mean of :func:`run_summary`'s
    measures over the runs of that seed (in the one-class setting, over the classes cut in turn;
    in a group setting there is one run). Adds ``drop``: the balanced reference's rare recall
    minus this run's (per seed and method; 0 at fraction 1), the recall the cut costs."""
    keys = [*_CONDITION, "method", "seed"]
    per_run = summary.copy()
    ref = per_run[per_run["fraction"] == 1].set_index(["dataset", "layers", "seed", "rare", "method"])["rare_recall"]
    per_run["drop"] = [ref.get((d, L, s, r, m), np.nan) - v for d, L, s, r, m, v in
                       zip(per_run["dataset"], per_run["layers"], per_run["seed"], per_run["rare"],
                           per_run["method"], per_run["rare_recall"])]
    out = per_run.groupby(keys, sort=False)[[*_MEASURES, "drop"]].mean().reset_index()
    out["runs"] = per_run.groupby(keys, sort=False).size().to_numpy()
    return out


def paired_gains(seeds: pd.DataFrame, measure: str, method: str = "our", baseline: str = "GD",
                 reverse: bool = False) -> pd.DataFrame:
    """Per (condition, seed): ``method``'s ``measure`` minus ``baseline``'s on the same pool and
    initial weights (``reverse``: baseline minus method, for a measure where lower is better, such
    as ``drop``). Columns ``dataset, layers, setting, fraction, seed, gain``."""
    wide = seeds.pivot_table(index=[*_CONDITION, "seed"], columns="method", values=measure, dropna=False)
    for m in (method, baseline):
        if m not in wide.columns:
            raise ValueError(f"method {m!r} is not in the frame; methods: {', '.join(map(str, wide.columns))}")
    gain = wide[baseline] - wide[method] if reverse else wide[method] - wide[baseline]
    return gain.rename("gain").reset_index()


#: The status of one condition: the paired gain's interval over seeds lies above 0, below 0,
#: straddles 0, or cannot be computed (fewer than two seeds).
STATUSES = ("gain", "loss", "no difference shown", "too few seeds")
#: The claim's verdict over every condition (:func:`imbalance_verdict`).
VERDICTS = ("survives", "refuted", "not shown", "undecided")


def condition_status(low: float, high: float) -> str:
    """``"gain"`` when the interval lies above 0, ``"loss"`` below 0, ``"no difference shown"``
    when it contains 0, ``"too few seeds"`` when it is NaN (fewer than two seeds)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "too few seeds"
    if low > 0:
        return "gain"
    if high < 0:
        return "loss"
    return "no difference shown"


def imbalance_verdict(gains: pd.DataFrame, level: float = 0.95) -> tuple[pd.DataFrame, str]:
    r"""The claim's verdict from paired gains per seed (:func:`paired_gains`).

    Per condition (every other column than ``seed`` and ``gain``): the mean gain and its
    Student-t ``level`` interval over seeds, and :func:`condition_status`. The rule, fixed before
    the runs:

    * ``"refuted"`` if some condition is a ``"loss"`` (the rule is reliably worse there);
    * else ``"undecided"`` if some condition has fewer than two seeds;
    * else ``"survives"`` if every condition is a ``"gain"``;
    * else ``"not shown"`` (no reliable loss, but a gain not everywhere).

    Parameters
    ----------
    gains : DataFrame with columns ``seed``, ``gain`` and the condition's columns
    level : float in (0, 1)

    Returns
    -------
    (table, verdict) : DataFrame with the condition's columns and ``mean, low, high, seeds,
    status``; one of :data:`VERDICTS`.
    """
    from ..analysis.dual_weight import t_interval

    keys = [c for c in gains.columns if c not in ("seed", "gain")]
    if gains.empty:
        raise ValueError("no paired gains: the frame has no condition to judge")
    rows = []
    for key, g in gains.groupby(keys, sort=False):
        m, lo, hi = t_interval(g["gain"].to_numpy(), level)
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, m, lo, hi, int(np.isfinite(g["gain"].to_numpy(dtype=float)).sum()),
                     condition_status(lo, hi)))
    table = pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "seeds", "status"])
    status = set(table["status"])
    if "loss" in status:
        verdict = "refuted"
    elif "too few seeds" in status:
        verdict = "undecided"
    elif status == {"gain"}:
        verdict = "survives"
    else:
        verdict = "not shown"
    return table, verdict


def rare_recall_frame(seeds: pd.DataFrame, measure: str = "rare_recall", level: float = 0.95) -> pd.DataFrame:
    """What :func:`plot_rare_recall` draws: per (dataset, layers, setting, fraction, method) the
    mean of ``measure`` over seeds and its ``level`` t-interval; columns ``dataset, layers,
    setting, fraction, method, mean, low, high, seeds``."""
    from ..analysis.dual_weight import t_interval

    rows = []
    for key, g in seeds.groupby([*_CONDITION, "method"], sort=False):
        rows.append((*key, *t_interval(g[measure].to_numpy(), level), int(g["seed"].nunique())))
    return pd.DataFrame(rows, columns=[*_CONDITION, "method", "mean", "low", "high", "seeds"])


def plot_rare_recall(seeds: pd.DataFrame, level: float = 0.95):
    """Rare-class recall (%) against the share of the cut classes' images kept (log axis), one panel
    per (dataset, setting, layers), one line per method with its interval band, clipped to the
    axis' 0-100 % (:func:`rare_recall_frame`)."""
    import matplotlib.pyplot as plt

    summary = rare_recall_frame(seeds, "rare_recall", level)
    panels = list(dict.fromkeys(zip(summary["dataset"], summary["setting"], summary["layers"])))
    colors = method_colors()
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.9 * nrows), squeeze=False, sharey=True)
    for ax, (ds, setting, L) in zip(axes.ravel(), panels):
        d = summary[(summary["dataset"] == ds) & (summary["setting"] == setting) & (summary["layers"] == L)]
        for method, g in d.groupby("method", sort=False):
            g = g.sort_values("fraction")
            f, m, lo, hi = (g[c].to_numpy(dtype=float) for c in ("fraction", "mean", "low", "high"))
            ax.plot(f * 100, m * 100, marker="o", ms=3, color=colors[method], label=METHOD_LABELS[method])
            if np.isfinite(lo).any():
                ax.fill_between(f * 100, lo * 100, hi * 100, color=colors[method], alpha=0.15, lw=0)
        ax.set_xscale("log")
        ticks = sorted(d["fraction"].unique() * 100)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(-2, 102)
        ax.set_xlabel("images kept (%)")
        ax.set_title(f"{DATASETS.lookup(ds).title}, {setting} cut, {L} layers", fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("cut classes' test recall (%)")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def single_class_table(seeds_runs: pd.DataFrame, methods: Sequence[str] = FIELD_METHODS) -> pd.DataFrame:
    """Per-class recall (%) in the one-class setting: the recall of class ``c`` in the runs where
    ``c`` is the one cut (the balanced reference: in the balanced run), mean over seeds; rows
    (dataset, layers, fraction, method), one column per class, and the mean (``mean``).

    ``seeds_runs``: :func:`run_summary`'s frame (one row per run and method)."""
    d = seeds_runs[(seeds_runs["setting"] == "one class") & seeds_runs["method"].isin(methods)]
    d = d.assign(label=[r[0] for r in d["rare"]])
    wide = (d.groupby(["dataset", "layers", "fraction", "method", "label"], sort=False)["rare_recall"].mean()
            .unstack("label") * 100)
    wide.columns = [f"class {c}" for c in wide.columns]
    wide["mean"] = wide.mean(axis=1)
    wide = wide.reset_index().sort_values(["dataset", "layers", "fraction", "method"],
                                          ascending=[True, True, False, True])
    return wide.reset_index(drop=True)


def template_alignment(fields: pd.DataFrame, X_test: np.ndarray, y_test: np.ndarray) -> pd.DataFrame:
    r"""Cosine between a run's output template of class ``show`` and that class's contrast image.

    .. math:: \cos(t, \bar x_c - \bar x), \qquad \bar x_c = \text{mean test image of class } c,
              \quad \bar x = \text{mean test image}

    (1 = the template is the class's mean difference from the average image). One row per
    (dataset, fraction, method) of the fields runs: ``dataset, fraction, method, show, cosine,
    recall``. ``X_test``/``y_test``: a mapping dataset -> array, or arrays for a single dataset.
    """
    rows = []
    for (ds, frac, method), g in fields[fields["panel"] == "template"].groupby(
            ["dataset", "fraction", "method"], sort=False):
        X = X_test[ds] if isinstance(X_test, Mapping) else X_test
        y = y_test[ds] if isinstance(y_test, Mapping) else y_test
        c = int(g["show"].iloc[0])
        contrast = np.asarray(X[y == c], np.float64).mean(axis=0) - np.asarray(X, np.float64).mean(axis=0)
        t = g.sort_values("pixel")["weight"].to_numpy()
        cos = float(t @ contrast / (np.linalg.norm(t) * np.linalg.norm(contrast) or 1.0))
        rows.append((ds, frac, method, c, cos, float(g["recall"].iloc[0])))
    return pd.DataFrame(rows, columns=["dataset", "fraction", "method", "show", "cosine", "recall"])


def plot_fields(fields: pd.DataFrame, dataset: str):
    """One row per (fraction, method) of ``dataset``'s fields runs: the output template of class
    ``show`` and the first-layer fields of its most connected units, 28 x 28, colour scale
    symmetric about 0 (``bwr``, white = 0) per image, since templates and fields differ in size."""
    import matplotlib.pyplot as plt

    d = fields[fields["dataset"] == dataset]
    rows = [(m, f) for f in sorted(d["fraction"].unique(), reverse=True) for m in d["method"].unique()]
    panels = list(dict.fromkeys(zip(d["panel"], d["rank"])))
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(1.55 * len(panels) + 1.2, 1.6 * len(rows)),
                             squeeze=False)
    c = int(d["show"].iloc[0])
    for i, (method, frac) in enumerate(rows):
        g = d[(d["method"] == method) & (d["fraction"] == frac)]
        for j, (panel, rank) in enumerate(panels):
            p = g[(g["panel"] == panel) & (g["rank"] == rank)].sort_values("pixel")
            ax = axes[i, j]
            img = p["weight"].to_numpy().reshape(28, 28)
            vmax = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="bwr", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if panel == "template":
                ax.set_title(f"class {c} template", fontsize=7)
            else:
                ax.set_title(f"unit {int(p['neuron'].iloc[0])}, s = {p['strength'].iloc[0]:.2f}", fontsize=7)
            if j == 0:
                kept = "balanced" if frac == 1 else f"{frac:.0%} kept"
                ax.set_ylabel(f"{method}\n{kept}\nrecall {g['recall'].iloc[0]:.0%}", fontsize=7,
                              rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig
