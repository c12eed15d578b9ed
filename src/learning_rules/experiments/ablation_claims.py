r"""Three explanations of the ablation's discussion, measured by instrumented runs [ablation sec. 5.1, 5.2].

The paper offers three mechanisms it never measures:

1. "SGD beat Momentum since Momentum is an average, meaning it reacts to persistent changes in the
   overall gradient direction [...] more slowly than SGD" (sec. 5.1): the lag of the momentum
   direction :math:`\hat v_t` behind the gradient;
2. "The lack of spikes [...] for Adam can be attributed to the fact that :math:`v_t` will also
   necessarily be small whenever :math:`s_t` was small" (sec. 5.1): the moments :math:`v_t`
   (EMA of the gradients) and :math:`s_t` (EMA of their squares) around RMSProp's cost spikes;
3. the L2 "force" :math:`\frac{\lambda}{n} w` moves weights initialized from :math:`U[-1, 1]` "into
   [the He Uniform] range" (sec. 5.2): the spread of every weight matrix over the epochs.

* Experiment ``ablation_moments`` (:func:`run_moments`, config :class:`MomentsConfig`): an ablation
  run (the network, data, batches and updates of ``ablation_run``, the same numbers: tested) that
  also records, per mini-batch step, the gradient :math:`g_t` the optimizer received, the update it
  made, the moments :math:`\hat v_t`, :math:`\hat s_t` of the paper's definitions, and every
  ``probe_every`` steps the gradient :math:`G_t` of the training cost on a fixed probe set at the
  same weights.
* Experiment ``ablation_weight_spread`` (:func:`run_weight_spread`, config
  :class:`~learning_rules.experiments.ablation.AblationRunConfig`): an ablation run that records,
  per epoch and layer, the standard deviation of :math:`W_l` next to He's :math:`\sqrt{2/p}`.
* The page's configs (:func:`moments_configs`, :func:`spread_configs`), the planner's tasks
  (:func:`claim_tasks`, called by :func:`plan_page`, the page's planner, which is here), and the
  three figures with the frames they are drawn from.

The verdict rules are in :mod:`learning_rules.analysis.ablation` (``momentum_lag_claim``,
``adam_spikes_claim``, ``l2_pull_claim``).

Explained in: ``book/foundations/ablation.ipynb`` (section "Three explanations, measured").
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import ablation as an
from ..store import Store
from ..training import Batch, epoch_batches, parameters_finite, reference_step, run_epoch
from . import Task, one_blas_thread, register_experiment, register_planner
from .ablation import (
    NOTEBOOK,
    OPTIMIZER_LABELS,
    PROTOCOLS,
    AblationRunConfig,
    _check_config,
    _epoch_rows,
    _nan_epoch_rows,
    _page_setup,
    build_network,
    continuation_configs,
    grid_configs,
    load_ablation_data,
    page_protocols,
    protocol_configs,
    run_configs,
    run_cost,
    run_grid,
    search_configs,
)

__all__ = [
    "MomentsConfig",
    "RecordingOptimizer",
    "claim_tasks",
    "compute_claims",
    "full_gradient",
    "he_uniform_std",
    "lag_frame",
    "moments_configs",
    "plot_lag",
    "plot_spikes",
    "plot_spread",
    "run_moments",
    "run_weight_spread",
    "spikes_frame",
    "spread_configs",
    "spread_frame",
]

#: The shadow moments every instrumented run keeps: the paper's v_t (beta 0.9, momentum and
#: Adam's first moment) and s_t (beta 0.999, RMSProp and Adam's second moment), bias-corrected,
#: with the paper's epsilon outside the root.
V_BETA, S_BETA, EPS = 0.9, 0.999, 1e-8
#: Lags k of the mini-batch gradients' autocorrelation cos(g_t, g_{t-k}).
GRADIENT_LAGS = (1, 2, 5, 10, 20)
#: Probes of the full gradient: every 1/(1 - beta) = 10 steps (the EMA's effective delay), on the
#: first 1000 training images (fewer when the run has fewer; more probes when the run is short).
PROBE_EVERY, PROBE_N, MIN_PROBES = 10, 1000, 10
#: The setting of the instrumented runs: Figure 3's (MNIST, He uniform, lambda = 1), each optimizer
#: at the rate the page's search chose.
MOMENTS_SETTING = {"dataset": "mnist", "init": "he_uniform", "lam": 1.0}
MOMENTS_OPTIMIZERS = ("momentum", "rmsprop", "adam")
#: The weight-spread runs: the optimizers that rescale the penalty's gradient (so that a tiny
#: lambda/n can move a weight by about the rate per step), both inits, lambda = 0 and the page's
#: largest U[-1, 1] lambda. SGD's and momentum's shrinkage by the penalty alone is analytic,
#: (1 - lr lambda / n)^steps (about 0.94 after 20 epochs at lr = 0.1, lambda = 3).
SPREAD_OPTIMIZERS = ("rmsprop", "adam")


# --------------------------------------------------------------------------- the instrumented runs


@dataclasses.dataclass(frozen=True)
class MomentsConfig(AblationRunConfig):
    """An ablation run (:class:`~learning_rules.experiments.ablation.AblationRunConfig`'s fields)
    with the probes of the full gradient: every ``probe_every`` steps (0: none), on the first
    ``probe_n`` training images."""

    probe_every: int = PROBE_EVERY
    probe_n: int = PROBE_N


def _check_moments_config(config: MomentsConfig) -> None:
    _check_config(config)
    for name, low in (("probe_every", 0), ("probe_n", 1)):
        value = getattr(config, name)
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if config.probe_every and config.probe_n > config.n_train:
        raise ValueError(f"probe_n ({config.probe_n}) must not exceed n_train ({config.n_train})")


class RecordingOptimizer:
    """The network's optimizer, unchanged, keeping what each step saw: its gradient and its update.

    :meth:`GradientUpdate.apply <learning_rules.updates.gradient.GradientUpdate.apply>` calls
    ``optimizer.step(param, grad, state)`` for :math:`W_l`, then :math:`b_l`, of each layer; this
    wrapper calls the wrapped optimizer's own ``step`` (the same arithmetic, so the run's numbers
    are ``ablation_run``'s) and keeps ``grad`` and ``param_before - param_after`` (float64).
    Passed as an object where the rule keeps its optimizer; nothing is registered.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def step(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        before = param.astype(np.float64)
        self.inner.step(param, grad, state)
        self.seen.append((np.asarray(grad, dtype=np.float64).ravel(), (before - param).ravel()))

    def take(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last step's gradient and update, every parameter flattened in the order the rule
        stepped them (``W_1, b_1, W_2, ...``); ``None`` when no step was taken."""
        if not self.seen:
            return None
        grad = np.concatenate([g for g, _ in self.seen])
        update = np.concatenate([d for _, d in self.seen])
        self.seen.clear()
        return grad, update


def full_gradient(net, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""The gradient :math:`G` of the training cost on ``(X, y)`` at the network's weights, with
    the penalty's, flattened in the optimizer's order (``W_1, b_1, W_2, ...``; float64):

    .. math:: G_{W_l} = \frac1B \delta_l^\top h_{l-1} + \frac{\lambda}{n} W_l, \qquad
              G_{b_l} = \frac1B \sum_i \delta_{l, i}

    the gradient :meth:`GradientUpdate.apply <learning_rules.updates.gradient.GradientUpdate.apply>`
    gives the optimizer, on a larger batch.
    """
    from ..updates.gradient import bias_gradient, weight_gradient

    cache, _, deltas = net.signals(X, y)
    parts = []
    for W, b, delta, h in zip(net.mlp.weights, net.mlp.biases, deltas, cache.h):
        delta = np.asarray(delta, dtype=W.dtype)
        grad_W = weight_gradient(delta, np.asarray(h, dtype=W.dtype))
        reg = net.rule.regularization_gradient(W)
        if reg is not None:
            grad_W += reg
        parts.append(grad_W.astype(np.float64).ravel())
        if b is not None:
            parts.append(bias_gradient(delta).astype(np.float64).ravel())
    return np.concatenate(parts)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    r""":math:`\cos(a, b) = a \cdot b / (\|a\| \|b\|)`; NaN when either is zero or not finite."""
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / den) if den > 0 and np.isfinite(den) else float("nan")


class MomentTracker:
    r"""The paper's moments of the gradients a run's optimizer received, and the gradients' past.

    .. math::
        v_t = \beta_1 v_{t-1} + (1-\beta_1) g_t, \quad s_t = \beta_2 s_{t-1} + (1-\beta_2) g_t^2,
        \quad \hat v_t = \frac{v_t}{1-\beta_1^t}, \quad \hat s_t = \frac{s_t}{1-\beta_2^t}

    (sec. 3.1.3-3.1.5, :data:`V_BETA`, :data:`S_BETA`). Momentum steps by :math:`\eta\hat v_t`,
    RMSProp by :math:`\eta g_t/(\sqrt{\hat s_t}+\epsilon)`, Adam by
    :math:`\eta\hat v_t/(\sqrt{\hat s_t}+\epsilon)`: each run's own state, recomputed in float64
    (tested against the update it made), and the others' on the same path.
    """

    def __init__(self, size: int, lr: float) -> None:
        self.v = np.zeros(size)
        self.s = np.zeros(size)
        self.t = 0
        self.lr = lr
        self.past: collections.deque[np.ndarray] = collections.deque(maxlen=max(GRADIENT_LAGS))
        self.G_prev: np.ndarray | None = None

    def update(self, g: np.ndarray, d: np.ndarray, G: np.ndarray | None) -> dict[str, float]:
        """One step's row: gradient ``g``, update ``d`` (before - after), probe ``G`` or None."""
        self.t += 1
        self.v = V_BETA * self.v + (1.0 - V_BETA) * g
        self.s = S_BETA * self.s + (1.0 - S_BETA) * (g * g)
        v_hat = self.v / (1.0 - V_BETA**self.t)
        s_hat = self.s / (1.0 - S_BETA**self.t)
        den = np.sqrt(s_hat) + EPS
        ratio_g, ratio_v = g / den, v_hat / den
        row = {"g_norm": float(np.linalg.norm(g)),
               "step_rms": float(np.sqrt(np.mean(d * d)) / self.lr),
               "cos_step_g": _cos(d, g), "cos_v_g": _cos(v_hat, g),
               "s_rms": float(np.sqrt(np.mean(s_hat))),
               "ratio_g_rms": float(np.sqrt(np.mean(ratio_g * ratio_g))),
               "ratio_g_max": float(np.max(np.abs(ratio_g))),
               "ratio_v_rms": float(np.sqrt(np.mean(ratio_v * ratio_v))),
               "ratio_v_max": float(np.max(np.abs(ratio_v)))}
        for k in GRADIENT_LAGS:
            row[f"cos_g_lag{k}"] = _cos(g, self.past[-k]) if len(self.past) >= k else float("nan")
        self.past.append(g)
        nan = float("nan")
        row.update(cos_g_G=nan, cos_v_G=nan, cos_step_G=nan, cos_G_prev=nan)
        if G is not None:
            row.update(cos_g_G=_cos(g, G), cos_v_G=_cos(v_hat, G), cos_step_G=_cos(d, G),
                       cos_G_prev=_cos(G, self.G_prev) if self.G_prev is not None else nan)
            self.G_prev = G
        return row


@register_experiment("ablation_moments", MomentsConfig,
                     "an ablation run with its optimizer instrumented: per step the gradient, the "
                     "update, the moments v_t and s_t, probes of the full gradient (sec. 5.1's claims)")
@one_blas_thread
def run_moments(config: MomentsConfig) -> pd.DataFrame:
    """Train one configuration exactly as ``ablation_run`` does (same epoch rows, same batch costs)
    and record one row of kind ``"step"`` per mini-batch step (:class:`MomentTracker`'s columns,
    ``batch_cost`` measured before the update). After a divergence the remaining epochs are NaN
    rows and no step rows."""
    _check_moments_config(config)
    return _run_moments(config)


def _run_moments(config: MomentsConfig) -> pd.DataFrame:
    Xtr, ytr, Xcv, ycv = load_ablation_data(config.dataset, config.n_train, config.n_val, config.dtype,
                                            config.pixels)
    net = build_network(config, Xtr.shape[1], 10)
    recorder = RecordingOptimizer(net.rule.optimizer)
    net.rule.optimizer = recorder
    splits = {"train": (Xtr, ytr), "cv": (Xcv, ycv)}
    step = reference_step(net)
    Xv, Yv = net._check_xy(Xtr, ytr)
    probe = (Xtr[:config.probe_n], ytr[:config.probe_n])
    size = sum(a.size for a in (*net.mlp.weights, *(b for b in net.mlp.biases if b is not None)))
    tracker = MomentTracker(size, config.lr)
    rows: list[dict[str, Any]] = []
    n, bs = len(Xtr), config.batch_size
    diverged = False
    pending: np.ndarray | None = None

    def probe_before(next_step: int) -> np.ndarray | None:
        """The full gradient at the weights step ``next_step`` starts from, on the probed steps."""
        if config.probe_every and next_step % config.probe_every == 0:
            return full_gradient(net, *probe)
        return None

    def record(batch, cost) -> None:
        nonlocal pending
        seen = recorder.take()
        if seen is None:  # after a divergence: no step was taken
            return
        row = tracker.update(*seen, pending)
        rows.append({"kind": "step", "epoch": epoch, "step": tracker.t, "batch_cost": float(cost), **row})
        pending = probe_before(tracker.t + 1) if np.isfinite(cost) else None

    def blew_up(cost) -> bool:
        return not np.isfinite(cost) and not parameters_finite(net)

    with np.errstate(all="ignore"):
        rows += _epoch_rows(net, config, 0, splits)
        pending = probe_before(1)
        for epoch in range(1, config.num_epochs + 1):
            if diverged:
                rows += _nan_epoch_rows(epoch)
                continue
            batches = (Batch(Xv[idx], Yv[idx]) for idx in epoch_batches(n, bs, net.rng))
            diverged = run_epoch(step, batches, on_batch=record, diverged=blew_up).diverged
            rows += _nan_epoch_rows(epoch) if diverged else _epoch_rows(net, config, epoch, splits)
    frame = pd.DataFrame(rows)
    frame.insert(0, "run_id", config.run_id())
    return frame


def he_uniform_std(fan_in: int) -> float:
    r"""The standard deviation of He uniform's :math:`U[-\sqrt{6/p}, \sqrt{6/p}]` [ablation sec. 3.2]:

    .. math:: \sigma_{He} = \frac{\sqrt{6/p}}{\sqrt 3} = \sqrt{2/p}

    (:math:`U[-a, a]` has variance :math:`a^2/3`; :math:`U[-1, 1]`'s std is :math:`1/\sqrt3`).
    """
    return float(np.sqrt(2.0 / fan_in))


def _layer_rows(net, epoch: int) -> list[dict[str, Any]]:
    """Per layer: its weights' std, He's std and bound for its fan-in, the share inside the bound."""
    rows = []
    for layer, W in enumerate(net.mlp.weights, start=1):
        w = np.asarray(W, dtype=np.float64)
        fan_in = w.shape[1]
        bound = float(np.sqrt(6.0 / fan_in))
        rows.append({"kind": "layer", "epoch": epoch, "layer": layer, "fan_in": fan_in,
                     "w_std": float(w.std()), "w_rms": float(np.sqrt(np.mean(w * w))),
                     "he_std": he_uniform_std(fan_in),
                     "in_he_range": float(np.mean(np.abs(w) <= bound)) if np.isfinite(w).all() else np.nan})
    return rows


@register_experiment("ablation_weight_spread", AblationRunConfig,
                     "an ablation run recording each layer's weight spread per epoch against He's "
                     "sqrt(2/fan_in) (sec. 5.2's claim)")
@one_blas_thread
def run_weight_spread(config: AblationRunConfig) -> pd.DataFrame:
    """Train one configuration exactly as ``ablation_run`` does (the same epoch rows) and record,
    before training and after each epoch, one row of kind ``"layer"`` per weight matrix:
    ``w_std``, ``w_rms``, ``he_std`` (:func:`he_uniform_std`), ``in_he_range`` (the share of its
    weights inside :math:`\\pm\\sqrt{6/p}`). After a divergence the rows are NaN."""
    _check_config(config)
    Xtr, ytr, Xcv, ycv = load_ablation_data(config.dataset, config.n_train, config.n_val, config.dtype,
                                            config.pixels)
    net = build_network(config, Xtr.shape[1], 10)
    splits = {"train": (Xtr, ytr), "cv": (Xcv, ycv)}
    step = reference_step(net)
    Xv, Yv = net._check_xy(Xtr, ytr)
    n, bs = len(Xtr), config.batch_size
    diverged = False

    def blew_up(cost) -> bool:
        return not np.isfinite(cost) and not parameters_finite(net)

    def nan_layers(epoch: int) -> list[dict[str, Any]]:
        return [{**row, "w_std": np.nan, "w_rms": np.nan, "in_he_range": np.nan}
                for row in _layer_rows(net, epoch)]

    rows: list[dict[str, Any]] = []
    with np.errstate(all="ignore"):
        rows += _epoch_rows(net, config, 0, splits) + _layer_rows(net, 0)
        for epoch in range(1, config.num_epochs + 1):
            if not diverged:
                batches = (Batch(Xv[idx], Yv[idx]) for idx in epoch_batches(n, bs, net.rng))
                diverged = run_epoch(step, batches, diverged=blew_up).diverged
            rows += ((_nan_epoch_rows(epoch) + nan_layers(epoch)) if diverged
                     else _epoch_rows(net, config, epoch, splits) + _layer_rows(net, epoch))
    frame = pd.DataFrame(rows)
    frame.insert(0, "run_id", config.run_id())
    return frame


# --------------------------------------------------------------------------- the page's runs


def moments_configs(params: Mapping[str, Any], lrs: Mapping[str, float]) -> list[MomentsConfig]:
    """Figure 3's runs (MNIST, He uniform, lambda = 1, the page's epochs and seeds) of momentum,
    RMSProp and Adam at the rates the page chose, instrumented; momentum's with probes of the full
    gradient every :data:`PROBE_EVERY` steps (more often when the run has fewer than
    :data:`MIN_PROBES` of them) on the first :data:`PROBE_N` training images. Empty when MNIST is
    not on this machine or no rate was chosen."""
    _, available, fixed, epochs = _page_setup(params)
    dataset = MOMENTS_SETTING["dataset"]
    if dataset not in available or not lrs:
        return []
    steps = epochs[dataset] * -(-fixed["n_train"] // fixed["batch_size"])
    every = min(PROBE_EVERY, max(1, steps // MIN_PROBES))
    base = run_configs([dataset], MOMENTS_OPTIMIZERS, [MOMENTS_SETTING["init"]], [MOMENTS_SETTING["lam"]],
                       list(range(int(params["n_seeds"]))), lrs, num_epochs=epochs[dataset], **fixed)
    return [MomentsConfig(**dataclasses.asdict(c), probe_every=every if c.optimizer == "momentum" else 0,
                          probe_n=min(PROBE_N, fixed["n_train"])) for c in base]


def spread_configs(params: Mapping[str, Any], lrs: Mapping[str, float]) -> list[AblationRunConfig]:
    """The weight-spread runs: MNIST, :data:`SPREAD_OPTIMIZERS` at the page's rates, U[-1, 1] and
    He uniform, lambda = 0 and the page's largest U[-1, 1] lambda, the page's epochs and seeds."""
    _, available, fixed, epochs = _page_setup(params)
    dataset = MOMENTS_SETTING["dataset"]
    if dataset not in available or not lrs:
        return []
    lams = sorted({0.0, max(float(v) for v in params.get("uniform_lams", params["lams"]))})
    return run_configs([dataset], SPREAD_OPTIMIZERS, ["uniform", "he_uniform"], lams,
                       list(range(int(params["n_seeds"]))), lrs, num_epochs=epochs[dataset], **fixed)


def moments_cost(config: MomentsConfig) -> float:
    """:func:`~learning_rules.experiments.ablation.run_cost` of the run, plus the per-step
    bookkeeping (about 30 %) and the probes (``probe_n`` forward and backward passes every
    ``probe_every`` steps, about one training epoch's worth per 100 steps at 1000 images / 10)."""
    probes = (config.probe_n / config.batch_size / config.probe_every / 2) if config.probe_every else 0.0
    return run_cost(config) * (1.3 + 0.5 * probes)


def claim_tasks(params: Mapping[str, Any], lrs: Mapping[str, float]) -> list[Task]:
    """The planner's tasks for the claims section (:func:`moments_configs`, :func:`spread_configs`)."""
    return ([Task("ablation_moments", c, cost=moments_cost(c)) for c in moments_configs(params, lrs)]
            + [Task("ablation_weight_spread", c, cost=run_cost(c)) for c in spread_configs(params, lrs)])


def compute_claims(params: Mapping[str, Any], lrs: Mapping[str, float],
                   store: Store | None = None) -> dict[str, pd.DataFrame]:
    """The instrumented runs (through the store): ``{"moments": ..., "spread": ...}``, config
    fields as columns; empty frames when MNIST is missing."""
    from ..sweep import run_sweep

    store = store if store is not None else Store()
    n_jobs = int(params.get("n_jobs", 2))
    out = {}
    for key, name, fn, configs in (("moments", "ablation_moments", run_moments, moments_configs(params, lrs)),
                                   ("spread", "ablation_weight_spread", run_weight_spread,
                                    spread_configs(params, lrs))):
        out[key] = (run_sweep(fn, configs, n_jobs=n_jobs, store=store, name=name) if configs
                    else pd.DataFrame())
    return out


# --------------------------------------------------------------------------- figures


def _colors(n: int):
    import seaborn as sns

    return sns.color_palette("colorblind", n)


def lag_frame(moments: pd.DataFrame) -> pd.DataFrame:
    """What :func:`plot_lag` draws, from the momentum runs: per epoch, the mean over its steps of
    ``cos(v_t, g_t)`` (every step) and of ``cos(v_t, G_t)``, ``cos(g_t, G_t)`` (probed steps), then
    mean and 95 % interval over seeds (``part = "epoch"``, ``x`` = epoch); and per lag ``k`` the
    mean over steps of ``cos(g_t, g_{t-k})``, with ``cos(G_t, G_{t-p})`` at ``k = p`` (``part =
    "lag"``). Columns ``part, quantity, x, mean, low, high``."""
    cols = ["part", "quantity", "x", "mean", "low", "high"]
    steps = (moments[(moments["kind"] == "step") & (moments["optimizer"] == "momentum")] if len(moments)
             else moments)
    if steps is None or len(steps) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    names = {"cos_v_g": "cos(v_t, g_t)", "cos_v_G": "cos(v_t, G_t)", "cos_g_G": "cos(g_t, G_t)"}
    per_epoch = steps.groupby(["seed", "epoch"])[list(names)].mean()
    for col, label in names.items():
        for epoch, g in per_epoch[col].groupby(level="epoch"):
            m, lo, hi = an.mean_interval(g.to_numpy())
            rows.append({"part": "epoch", "quantity": label, "x": int(epoch), "mean": m, "low": lo,
                         "high": hi})
    per_seed = steps.groupby("seed")[[f"cos_g_lag{k}" for k in GRADIENT_LAGS] + ["cos_G_prev"]].mean()
    for k in GRADIENT_LAGS:
        m, lo, hi = an.mean_interval(per_seed[f"cos_g_lag{k}"].to_numpy())
        rows.append({"part": "lag", "quantity": "cos(g_t, g_t-k)", "x": k, "mean": m, "low": lo, "high": hi})
    m, lo, hi = an.mean_interval(per_seed["cos_G_prev"].to_numpy())
    rows.append({"part": "lag", "quantity": "cos(G_t, G_t-k)", "x": int(steps["probe_every"].iloc[0]),
                 "mean": m, "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=cols)


def plot_lag(moments: pd.DataFrame):
    """Left: per epoch, how well the momentum direction and the fresh mini-batch gradient point
    along the full gradient, and the momentum direction's cosine to the fresh gradient with the
    threshold X; right: the gradients' autocorrelation against the lag, with the EMA's mean age
    (:func:`lag_frame`)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    drawn = lag_frame(moments)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.6))
    colors = dict(zip(["cos(v_t, G_t)", "cos(g_t, G_t)", "cos(v_t, g_t)"], _colors(3)))
    labels = {"cos(v_t, G_t)": r"momentum direction $\hat v_t$ vs full gradient $G_t$",
              "cos(g_t, G_t)": r"mini-batch gradient $g_t$ vs $G_t$",
              "cos(v_t, g_t)": r"$\hat v_t$ vs $g_t$ (SGD's: 1)"}
    ep = drawn[drawn["part"] == "epoch"]
    for quantity, color in colors.items():
        s = ep[ep["quantity"] == quantity]
        if len(s) and s["mean"].notna().any():
            left.plot(s["x"], s["mean"], "o-", color=color, lw=1.4, ms=3, label=labels[quantity])
            left.fill_between(s["x"], s["low"], s["high"], color=color, alpha=0.25, lw=0)
    x = an.uncorrelated_ema_cosine()
    left.axhline(x, color="0.3", ls="--", lw=0.9, label=f"X = {x:.3f} (uncorrelated gradients)")
    left.set_xlabel("epoch")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylim(max(-1.05, left.get_ylim()[0]), min(1.05, left.get_ylim()[1]))
    left.set_ylabel("cosine (mean over the epoch's steps)")
    left.set_title("momentum runs: where the update points", fontsize=9)
    left.legend(fontsize=7)
    lag = drawn[drawn["part"] == "lag"]
    mb = lag[lag["quantity"] == "cos(g_t, g_t-k)"]
    full = lag[lag["quantity"] == "cos(G_t, G_t-k)"]
    c = _colors(5)
    right.errorbar(mb["x"], mb["mean"], yerr=[mb["mean"] - mb["low"], mb["high"] - mb["mean"]], fmt="o-",
                   color=c[3], ms=4, capsize=3, label=r"mini-batch gradients $\cos(g_t, g_{t-k})$")
    if len(full) and full["mean"].notna().any():
        right.errorbar(full["x"], full["mean"],
                       yerr=[full["mean"] - full["low"], full["high"] - full["mean"]],
                       fmt="s", color=c[4], ms=6, capsize=3, label=r"full gradients $\cos(G_t, G_{t-k})$")
    age = an.MOMENTUM_BETA / (1 - an.MOMENTUM_BETA)
    right.axvline(age, color="0.3", ls=":", lw=0.9, label=f"mean age of the EMA, {age:g} steps")
    right.set_xscale("log")
    right.set_xticks(list(GRADIENT_LAGS), [str(k) for k in GRADIENT_LAGS])
    right.set_ylim(max(-1.05, right.get_ylim()[0]), min(1.05, right.get_ylim()[1]))
    right.set_xlabel("lag k (steps)")
    right.set_ylabel("cosine (mean over steps)")
    right.set_title("how fast the gradient direction changes", fontsize=9)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


#: Offsets around a spike (steps) that Figure 7's aligned panels show.
SPIKE_OFFSETS = tuple(range(-10, 6))


def spikes_frame(moments: pd.DataFrame, spikes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What :func:`plot_spikes` draws. ``"timeline"``: the batch cost and the update size
    (``step_rms``, the update's RMS over the parameters divided by the rate) per step of RMSProp
    and Adam for the seed with the most RMSProp spikes; ``"aligned"``: around each RMSProp spike
    (offset 0 = the spiking batch), the mean over spikes of RMSProp's update, Adam's numerator on
    the same path (``ratio_v_rms``), :math:`\\mathrm{rms}\\sqrt{\\hat s_t}` and :math:`\\|g_t\\|`,
    each over its run's median."""
    steps = moments[moments["kind"] == "step"] if len(moments) else pd.DataFrame(columns=["optimizer"])
    steps = steps[steps["optimizer"].isin(["rmsprop", "adam"])]
    timeline = pd.DataFrame(columns=["optimizer", "seed", "step", "batch_cost", "step_rms"])
    aligned = pd.DataFrame(columns=["quantity", "offset", "mean", "spikes"])
    if steps.empty:
        return {"timeline": timeline, "aligned": aligned}
    rms = spikes[spikes["optimizer"] == "rmsprop"]
    seed = int(rms["seed"].value_counts().idxmax()) if len(rms) else int(steps["seed"].min())
    timeline = steps[steps["seed"] == seed][list(timeline.columns)].reset_index(drop=True)
    rows = []
    quantities = {"step_rms": "RMSProp's update", "ratio_v_rms": "Adam's numerator, same path",
                  "s_rms": "rms sqrt(s_t)", "g_norm": "|g_t|"}
    runs = {s: g.sort_values("step").reset_index(drop=True)
            for s, g in steps[steps["optimizer"] == "rmsprop"].groupby("seed")}
    for col, label in quantities.items():
        ref = "step_rms" if col == "ratio_v_rms" else col  # Adam's numerator on RMSProp's scale
        for offset in SPIKE_OFFSETS:
            values = []
            for spike in rms.itertuples():
                g = runs[spike.seed]
                pos = int(np.flatnonzero(g["step"].to_numpy() == spike.step)[0]) + offset
                if 0 <= pos < len(g):
                    values.append(g[col].iloc[pos] / np.nanmedian(g[ref]))
            rows.append({"quantity": label, "offset": offset,
                         "mean": float(np.mean(values)) if values else np.nan, "spikes": len(values)})
    return {"timeline": timeline, "aligned": pd.DataFrame(rows, columns=list(aligned.columns))}


def plot_spikes(moments: pd.DataFrame, spikes: pd.DataFrame):
    """Four panels (:func:`spikes_frame`): the batch cost and the update size of RMSProp and Adam
    for one seed (spikes marked), and, aligned on RMSProp's spikes, the updates and the moments."""
    import matplotlib.pyplot as plt

    drawn = spikes_frame(moments, spikes)
    fig, axes = plt.subplots(2, 2, figsize=(10.0, 6.2))
    c = dict(zip(["rmsprop", "adam"], _colors(4)[2:4]))
    tl = drawn["timeline"]
    marked = spikes[spikes["optimizer"].isin(["rmsprop", "adam"])]
    for opt in ("rmsprop", "adam"):
        s = tl[tl["optimizer"] == opt]
        if s.empty:
            continue
        seed = int(s["seed"].iloc[0])
        axes[0, 0].plot(s["step"], s["batch_cost"], color=c[opt], lw=0.7, label=OPTIMIZER_LABELS[opt])
        axes[1, 0].plot(s["step"], s["step_rms"], color=c[opt], lw=0.7, label=OPTIMIZER_LABELS[opt])
        hits = marked[(marked["optimizer"] == opt) & (marked["seed"] == seed)]["step"]
        if len(hits):
            y = s.set_index("step").loc[hits, "batch_cost"]
            axes[0, 0].plot(hits, y, "v", color=c[opt], ms=6, mec="k", mew=0.5,
                            label=f"{OPTIMIZER_LABELS[opt]} spikes")
    if len(tl):
        axes[0, 0].set_title(f"seed {int(tl['seed'].iloc[0])}: mini-batch cost", fontsize=9)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("mini-batch cross-entropy")
    axes[1, 0].set_yscale("log")
    axes[1, 0].set_ylabel("update size, rms(step) / rate")
    axes[1, 0].set_xlabel("step (mini-batch)")
    axes[1, 0].set_title("the update each optimizer made", fontsize=9)
    for ax in axes[:, 0]:
        ax.legend(fontsize=7)
    al = drawn["aligned"]
    n_spikes = int(al["spikes"].max()) if len(al) and al["spikes"].notna().any() else 0
    panels = [(axes[0, 1], ["RMSProp's update", "Adam's numerator, same path"],
               "step / RMSProp's median step"),
              (axes[1, 1], ["rms sqrt(s_t)", "|g_t|"], "value / the run's median")]
    colors = dict(zip(["RMSProp's update", "Adam's numerator, same path", "rms sqrt(s_t)", "|g_t|"],
                      _colors(8)[4:8]))
    for ax, quantities, ylabel in panels:
        if n_spikes == 0:
            ax.text(0.5, 0.5, "no RMSProp spike in these runs", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
        for q in quantities:
            s = al[al["quantity"] == q]
            if len(s) and s["mean"].notna().any():
                ax.plot(s["offset"], s["mean"], "o-", ms=3, color=colors[q], label=q)
        ax.axvline(0, color="0.3", ls=":", lw=0.9)
        ax.axhline(1, color="0.6", lw=0.6)
        ax.set_ylabel(ylabel)
        if n_spikes:
            ax.legend(fontsize=7)
    axes[0, 1].set_title(f"around RMSProp's spikes (mean over {n_spikes})", fontsize=9)
    axes[1, 1].set_xlabel("steps from the spike (0 = the spiking batch)")
    fig.tight_layout()
    return fig


def spread_frame(spread: pd.DataFrame) -> pd.DataFrame:
    """What :func:`plot_spread` draws: per optimizer, init, lambda, layer and epoch, the weights'
    std over He's :math:`\\sqrt{2/p}`, geometric mean over seeds and 95 % interval (on the log
    scale). Columns ``optimizer, init, lam, layer, epoch, mean, low, high``."""
    cols = ["optimizer", "init", "lam", "layer", "epoch", "mean", "low", "high"]
    layers = spread[spread["kind"] == "layer"] if len(spread) else pd.DataFrame()
    if layers.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    log_r = np.log(layers["w_std"] / layers["he_std"])
    for key, g in log_r.groupby([layers[k] for k in cols[:5]]):
        m, lo, hi = an.mean_interval(g.to_numpy())
        rows.append({**dict(zip(cols[:5], key)), "mean": np.exp(m), "low": np.exp(lo), "high": np.exp(hi)})
    return pd.DataFrame(rows, columns=cols).astype({"layer": int, "epoch": int})


def plot_spread(spread: pd.DataFrame):
    """One row per optimizer, one column per layer: std(W_l) / He's std per epoch, one line per
    (init, lambda), band = 95 % interval over seeds; He's level (1) and the verdict's factor."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    drawn = spread_frame(spread)
    optimizers = [o for o in SPREAD_OPTIMIZERS if o in set(drawn["optimizer"])] or list(SPREAD_OPTIMIZERS)
    layers = sorted(set(drawn["layer"])) or [1]
    fig, axes = plt.subplots(len(optimizers), len(layers),
                             figsize=(2.3 * len(layers) + 0.8, 2.7 * len(optimizers)),
                             squeeze=False, sharex=True, sharey=True)
    combos = sorted({(i, float(lam)) for i, lam in zip(drawn["init"], drawn["lam"])},
                    key=lambda t: (t[0] != "uniform", t[1]))
    colors = dict(zip(combos, _colors(len(combos) or 1)))
    for r, opt in enumerate(optimizers):
        for col, layer in enumerate(layers):
            ax = axes[r, col]
            for init, lam in combos:
                s = drawn[(drawn["optimizer"] == opt) & (drawn["layer"] == layer) & (drawn["init"] == init)
                          & (drawn["lam"] == lam)]
                if s.empty:
                    continue
                name = f"{'U[-1,1]' if init == 'uniform' else 'He'}, $\\lambda$ = {lam:g}"
                ax.plot(s["epoch"], s["mean"], color=colors[(init, lam)], lw=1.3,
                        ls="-" if init == "uniform" else "--", label=name)
                ax.fill_between(s["epoch"], s["low"], s["high"], color=colors[(init, lam)], alpha=0.2, lw=0)
            ax.axhline(1.0, color="0.3", lw=0.8)
            ax.axhline(an.HE_RANGE_FACTOR, color="0.3", lw=0.8, ls=":")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_yscale("log")
            if r == 0:
                ax.set_title(f"layer {layer}", fontsize=9)
            if r == len(optimizers) - 1:
                ax.set_xlabel("epoch")
            if col == 0:
                ax.set_ylabel(f"{OPTIMIZER_LABELS[opt]}\nstd(W) / He's std")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    return fig


@register_planner(NOTEBOOK)
def plan_page(params: Mapping[str, Any], store) -> list[Task]:
    """Every run the ablation page asks for: its learning-rate trials (stage 0); the grids of the
    protocol candidates with fixed rates; and, once the trials are all stored, the grid at the
    rates they choose (with the candidates that use those rates, Figure 3's runs continued,
    :func:`continuation_configs`, and the claims section's instrumented runs,
    :func:`claim_tasks`). It lives here, above :mod:`.ablation`, so that neither module imports
    the other back."""
    from ..store import NotStoredError, read_only

    trials = search_configs(params)
    runs = [c for name in page_protocols(params) if PROTOCOLS.lookup(name).lrs is not None
            for c in protocol_configs(params, name)]
    claims: list[Task] = []
    ready = bool(trials) and all(("ablation_run", c) in store for c in trials)
    if ready:
        try:
            with read_only():
                search = run_grid(trials, n_jobs=1, store=store)
        except NotStoredError:  # a store that forgets (tests): ask again next round
            ready = False
    if ready:
        lrs = an.choose_learning_rates(search)
        runs += grid_configs(params, lrs)
        runs += [c for name in page_protocols(params) if PROTOCOLS.lookup(name).lrs is None
                 for c in protocol_configs(params, name, lrs)]
        runs += continuation_configs(params, lrs)
        claims = claim_tasks(params, lrs)
    return ([Task("ablation_run", c, cost=run_cost(c), stage=0) for c in trials]
            + [Task("ablation_run", c, cost=run_cost(c)) for c in dict.fromkeys(runs)] + claims)
