r"""L2 and L1 regularization (book/foundations/regularization.ipynb): the lecture notes'
weight-decay recursion and its closed form against a run, the Q&A's four claims on the decay
dynamics of Nielsen's update, and first-layer weight histograms under L1 and L2; the page's frames,
figures and artifact.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation" (sec. 3.3 L2);
[notes] Alrabeiah (2022), Lecture 5 (eqs. 2.2-2.7 weight decay and its recursion, eq. 2.8 L1);
[qa] the Q&A thread on the weight-decay dynamics of Nielsen's update
:math:`w \to (1 - \eta\lambda/n) w - (\eta/m)\sum_x \partial C_x/\partial w`.

Explained in: book/foundations/regularization.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..training import epoch_batches
from . import one_blas_thread, register_experiment
from .foundations import (PageRun, _mnist_subset, _pick, _seeded_network, engine_gradients, run_listed,
                          seed_list, seed_runs)
from .foundations_plots import _band, _palette, _register_figure, mean_band


__all__ = [
    "L2RecursionConfig",
    "NOTEBOOK",
    "WEIGHT_DECAY_RUNS",
    "WeightDecayConfig",
    "WeightHistogramConfig",
    "decay_factor_exact",
    "decay_factor_limit",
    "histogram_frame",
    "histogram_penalties",
    "l2_recursion_check",
    "page_runs",
    "plot_l1_l2_histograms",
    "plot_recursion",
    "plot_weight_decay_claim",
    "recursion_closed_form",
    "recursion_runs",
    "weight_decay_dynamics",
    "weight_decay_frame",
    "weight_decay_runs",
    "weight_histogram",
    "weight_histogram_frame",
    "weight_histogram_runs",
]


NOTEBOOK = "book/foundations/regularization.ipynb"


# =============================================================================================
# Runs
# =============================================================================================


def decay_factor_exact(eta: float, lam: float, n: int, m: int) -> float:
    r"""Pure-decay shrink of a weight over one epoch of :math:`n/m` steps [qa claim 2].

    .. math:: \Big(1 - \frac{\eta\lambda}{n}\Big)^{n/m}
    """
    return (1.0 - eta * lam / n) ** (n / m)


def decay_factor_limit(eta: float, lam: float, m: int) -> float:
    r"""The Q&A's per-epoch factor, the :math:`n \to \infty` limit of :func:`decay_factor_exact`.

    .. math:: e^{-\eta\lambda/m}
    """
    return math.exp(-eta * lam / m)


def recursion_closed_form(w0: np.ndarray, grads: Sequence[np.ndarray], eta: float, lam: float) -> np.ndarray:
    r"""The lecture notes' eq. 2.7: the closed-form sum of the weight-decay recursion (eq. 2.6).

    .. math:: w^{(t)} = (1 - 2\eta\lambda)^t w^{(0)} - \eta\sum_{j=0}^{t-1} (1-2\eta\lambda)^{t-j-1}
              \nabla\mathcal L\big|_{w^{(j)}}

    Parameters
    ----------
    w0 : ndarray, any shape
    grads : sequence of t arrays shaped like ``w0``, the data gradients at ``w^{(0)} .. w^{(t-1)}``
    eta, lam : float
        Learning rate and the notes' penalty strength (penalty :math:`\lambda\sum w^2`).
    """
    r = 1.0 - 2.0 * eta * lam
    t = len(grads)
    out = r**t * np.asarray(w0, dtype=np.float64)
    for j, g in enumerate(grads):
        out = out - eta * r ** (t - j - 1) * np.asarray(g, dtype=np.float64)
    return out


@dataclasses.dataclass(frozen=True)
class L2RecursionConfig:
    """Mini-batch SGD with the notes' penalty :math:`\\lambda\\sum w^2`, recorded step by step."""

    lam: float = 0.01
    lr: float = 0.1
    hidden: int = 20
    n_train: int = 500
    batch_size: int = 50
    num_steps: int = 100
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_l2_recursion", L2RecursionConfig,
                     "lecture notes' eq. 2.7 closed form against an actual run")
@one_blas_thread
def l2_recursion_check(config: L2RecursionConfig) -> pd.DataFrame:
    r"""Run SGD with :math:`\nabla\tilde{\mathcal L} = \nabla\mathcal L + 2\lambda w` in the engine
    (``l2 = 2 lambda``, ``n_train = None``), record the data gradients of :math:`W_1` from an
    independent backprop call before every step, and compare :func:`recursion_closed_form` with the
    run's weights after every step.

    Rows ``step, max_abs_diff, init_term_norm, gradient_term_norm, weight_norm``.
    """
    X, y, _, net = _seeded_network(config, config.n_train, [config.hidden, 10], ["sigmoid", "softmax"],
                                   "normal_scaled", lr=config.lr, l2=2.0 * config.lam)
    w0 = net.mlp.weights[0].copy()
    r = 1.0 - 2.0 * config.lr * config.lam
    grads = []
    rows = []
    n_batches = max(1, config.n_train // config.batch_size)
    for t in range(1, config.num_steps + 1):
        b = (t - 1) % n_batches
        idx = slice(b * config.batch_size, (b + 1) * config.batch_size)
        gW, _ = engine_gradients(net.mlp, "cce", X[idx], y[idx])
        grads.append(gW[0])
        net.train_step(X[idx], y[idx])
        closed = recursion_closed_form(w0, grads, config.lr, config.lam)
        init_term = r**t * w0
        rows.append({"step": t, "max_abs_diff": float(np.max(np.abs(closed - net.mlp.weights[0]))),
                     "init_term_norm": float(np.linalg.norm(init_term)),
                     "gradient_term_norm": float(np.linalg.norm(closed - init_term)),
                     "weight_norm": float(np.linalg.norm(net.mlp.weights[0]))})
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class WeightDecayConfig:
    """Nielsen's setting of the Q&A: sigmoid MLP, CCE, mini-batch SGD with L2 ``lambda/(2n) sum w^2``.

    Defaults follow Nielsen's chapter 3 run (784-30-10, eta = 0.5, lambda = 5, m = 10) on a subset of
    ``n_train`` MNIST images (Nielsen: 50,000).
    """

    init: str = "normal"
    hidden: int = 30
    n_train: int = 5000
    n_eval: int = 1000
    batch_size: int = 10
    lr: float = 0.5
    lam: float = 5.0
    num_epochs: int = 20
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_weight_decay", WeightDecayConfig,
                     "per-epoch decay vs gradient displacement of L2-regularized SGD (the Q&A's claims)")
@one_blas_thread
def weight_decay_dynamics(config: WeightDecayConfig) -> pd.DataFrame:
    r"""Split every SGD step into its decay and its gradient part and sum them over each epoch.

    With the engine's ``l2`` loss form and ``n_train = n`` a step is exactly the Q&A's update,
    :math:`W' = (1-\eta\lambda/n) W - \eta\, \bar g`, so the decay part is :math:`(\eta\lambda/n) W`
    and the gradient part is :math:`(1-\eta\lambda/n)W - W'`, both read off the run.

    Rows, one per (epoch, layer), ``epoch = 0`` the initial state: ``rms_weight``, ``rms_start``
    (at the epoch's start), ``decay_displacement`` :math:`\lVert\sum_t (\eta\lambda/n) W_t\rVert_F`,
    ``gradient_displacement`` :math:`\lVert\sum_t \eta\bar g_t\rVert_F`, ``decay_step_norm`` and
    ``gradient_step_norm`` (the per-step norms, averaged over the epoch), ``n_weights`` (layer),
    ``n_in``, ``eval_accuracy`` (on ``n_eval`` test images), ``steps``.
    """
    if config.n_train % config.batch_size:
        raise ValueError(f"n_train ({config.n_train}) must be a multiple of batch_size "
                         f"({config.batch_size}) so that every epoch has n/m equal steps")
    X, y, rng, net = _seeded_network(config, config.n_train, [config.hidden, 10], ["sigmoid", "softmax"],
                                     config.init, lr=config.lr, l2=config.lam, n_train=config.n_train)
    Xe, ye = _mnist_subset("test", 0, config.n_eval, config.dataset)
    c = config.lr * config.lam / config.n_train
    Ws = net.mlp.weights
    rows = []

    def emit(epoch, starts, dec, grd, dn, gn, steps):
        acc = net.evaluate(Xe, ye).accuracy
        for l, W in enumerate(Ws, start=1):
            rows.append({"epoch": epoch, "layer": l, "rms_weight": float(np.sqrt(np.mean(W**2))),
                         "rms_start": starts[l - 1],
                         "decay_displacement": float(np.linalg.norm(dec[l - 1])),
                         "gradient_displacement": float(np.linalg.norm(grd[l - 1])),
                         "decay_step_norm": dn[l - 1] / max(steps, 1),
                         "gradient_step_norm": gn[l - 1] / max(steps, 1),
                         "n_weights": int(W.size), "n_in": int(W.shape[1]),
                         "eval_accuracy": acc, "steps": steps})

    zeros = [np.zeros_like(W) for W in Ws]
    emit(0, [float(np.sqrt(np.mean(W**2))) for W in Ws], zeros, zeros, [0.0] * len(Ws),
         [0.0] * len(Ws), 0)
    for epoch in range(1, config.num_epochs + 1):
        starts = [float(np.sqrt(np.mean(W**2))) for W in Ws]
        dec = [np.zeros_like(W) for W in Ws]
        grd = [np.zeros_like(W) for W in Ws]
        dn = [0.0] * len(Ws)
        gn = [0.0] * len(Ws)
        steps = 0
        for idx in epoch_batches(config.n_train, config.batch_size, rng):
            before = [W.copy() for W in Ws]
            net.train_step(X[idx], y[idx])
            for l, (W0, W) in enumerate(zip(before, Ws)):
                d = c * W0
                g = (W0 - d) - W
                dec[l] += d
                grd[l] += g
                dn[l] += float(np.linalg.norm(d))
                gn[l] += float(np.linalg.norm(g))
            steps += 1
        emit(epoch, starts, dec, grd, dn, gn, steps)
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class WeightHistogramConfig:
    """Train the same net with an L1 or an L2 penalty and return the first layer's weights."""

    penalty: str = "l2"
    lam: float = 5.0
    init: str = "normal_scaled"
    hidden: int = 30
    n_train: int = 5000
    batch_size: int = 10
    lr: float = 0.5
    num_epochs: int = 5
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_weight_histogram", WeightHistogramConfig,
                     "first-layer weights after training with an L1 or L2 penalty")
@one_blas_thread
def weight_histogram(config: WeightHistogramConfig) -> pd.DataFrame:
    r"""Rows ``weight`` (every entry of :math:`W_1`) plus ``test_accuracy`` (same on every row).

    Penalties (``n = n_train``): ``"l2"`` :math:`\frac{\lambda}{2n}\sum w^2`, ``"l1"``
    :math:`\frac{\lambda}{n}\sum|w|` [ablation sec. 3.3; notes eq. 2.8], ``"none"``.
    """
    if config.penalty not in ("l1", "l2", "none"):
        raise ValueError(f"penalty must be 'l1', 'l2' or 'none', got {config.penalty!r}")
    penalty = {} if config.penalty == "none" else {config.penalty: config.lam}
    X, y, _, net = _seeded_network(config, config.n_train, [config.hidden, 10], ["sigmoid", "softmax"],
                                   config.init, lr=config.lr, n_train=config.n_train, **penalty)
    Xe, ye = _mnist_subset("test", 0, 1000, config.dataset)
    net.fit(X, y, num_epochs=config.num_epochs, batch_size=config.batch_size, backend="reference")
    acc = net.evaluate(Xe, ye).accuracy
    return pd.DataFrame({"weight": net.mlp.weights[0].ravel(), "test_accuracy": acc})


# =============================================================================================
# What the page shows, built from its parameters (shared by the notebook and the artifact)
# =============================================================================================


WEIGHT_DECAY_RUNS = (("N(0,1) + L2", "normal", True), ("N(0,1/n_in) + L2", "normal_scaled", True),
                     ("N(0,1/n_in), no L2", "normal_scaled", False))


def recursion_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """The recursion check (:func:`l2_recursion_check`): ``rec_steps`` steps at ``rec_lr`` with
    the notes' penalty ``rec_lam``, seed ``params["seed"]``; its network, data and batch are the
    config's own (not the weight-decay section's ``hidden``, ``n_train``, ``batch_size``)."""
    own = {k: params[k] for k in ("rec_lam", "rec_lr", "rec_steps", "seed") if k in params}
    return [PageRun("foundations_l2_recursion",
                    L2RecursionConfig(**_pick(own, L2RecursionConfig, lam="rec_lam", lr="rec_lr",
                                              num_steps="rec_steps")))]


def weight_decay_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`weight_decay_dynamics` for the three runs of :data:`WEIGHT_DECAY_RUNS` and each seed
    (labels ``seed``, ``run``)."""
    base = WeightDecayConfig(**_pick(params, WeightDecayConfig))
    return [r for label, init, reg in WEIGHT_DECAY_RUNS
            for r in seed_runs("foundations_weight_decay",
                               dataclasses.replace(base, init=init, lam=base.lam if reg else 0.0),
                               seed_list(params), run=label)]


def weight_decay_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`weight_decay_runs`, stacked (columns ``seed``, ``run``)."""
    return run_listed(weight_decay_runs(params))


def histogram_penalties(params: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """The L1-vs-L2 section's penalties: none, L2 at ``lam``, L1 at ``l1_lam``."""
    return (("none", 0.0), ("l2", float(params["lam"])), ("l1", float(params["l1_lam"])))


def weight_histogram_runs(params: Mapping[str, Any],
                          penalties: Sequence[tuple[str, float]] | None = None) -> list[PageRun]:
    """:func:`weight_histogram` for each ``(penalty, lambda)`` (default
    :func:`histogram_penalties`) and seed (labels ``seed``, ``penalty``, ``lam``); training length
    from ``hist_epochs``."""
    penalties = histogram_penalties(params) if penalties is None else penalties
    base = WeightHistogramConfig(**_pick(params, WeightHistogramConfig, num_epochs="hist_epochs"))
    return [r for pen, lam in penalties
            for r in seed_runs("foundations_weight_histogram",
                               dataclasses.replace(base, penalty=pen, lam=float(lam)), seed_list(params),
                               penalty=pen, lam=float(lam))]


def weight_histogram_frame(params: Mapping[str, Any],
                           penalties: Sequence[tuple[str, float]] | None = None) -> pd.DataFrame:
    """The runs of :func:`weight_histogram_runs`, stacked (columns ``seed``, ``penalty``, ``lam``)."""
    return run_listed(weight_histogram_runs(params, penalties))


def page_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """Every stored run the regularization page shows, from its parameters."""
    return recursion_runs(params) + weight_decay_runs(params) + weight_histogram_runs(params)


def _register_planner() -> None:
    from . import register_planner
    from .foundations import plan_page

    register_planner(NOTEBOOK)(lambda params, store: plan_page(page_runs(params)))


_register_planner()


# =============================================================================================
# Figures (tidy frames in, a matplotlib Figure out)
# =============================================================================================


def plot_weight_decay_claim(frame: pd.DataFrame, claim: int, eta: float, lam: float, m: int,
                            n: int) -> plt.Figure:
    """One figure per claim of the Q&A (1-4), hidden layer (layer 1) of every run in ``frame``.

    ``frame`` is :func:`weight_decay_dynamics` output of several runs with a ``run`` column (label).
    """

    if claim not in (1, 2, 3, 4):
        raise ValueError(f"claim must be 1, 2, 3 or 4, got {claim!r}")
    runs = list(dict.fromkeys(frame["run"]))
    colors = dict(zip(runs, _palette(len(runs))))
    f1 = frame[frame["layer"] == 1]
    ncols = 2 if claim in (1, 2) else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 3.8), squeeze=False)
    ax = axes[0, 0]
    f1 = f1.assign(epoch_ratio=f1["decay_displacement"] / f1["gradient_displacement"],
                   step_ratio=f1["decay_step_norm"] / f1["gradient_step_norm"],
                   shrink=f1["rms_weight"] / f1["rms_start"])
    for run in runs:
        g0 = f1[f1["run"] == run]
        g = g0[g0["epoch"] > 0]
        c = colors[run]
        if claim == 1:
            _band(ax, mean_band(g, "epoch", "epoch_ratio", log=True), "epoch", c, run, "-o")
            _band(axes[0, 1], mean_band(g, "epoch", "step_ratio", log=True), "epoch", c, run, "-o")
            for a in axes[0]:
                a.set_yscale("log")
        elif claim == 2:
            _band(ax, mean_band(g, "epoch", "shrink"), "epoch", c, run, "-o")
        elif claim == 3:
            _band(ax, mean_band(g0, "epoch", "rms_weight", log=True), "epoch", c, run, "-o")
            ax.set_yscale("log")
        else:
            _band(ax, mean_band(g0, "epoch", "eval_accuracy"), "epoch", c, run, "-o")
    if claim == 1:
        for a in axes[0]:
            a.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set(title="summed over the epoch", xlabel="epoch",
               ylabel=r"$\|\sum_t$ decay$\|$ / $\|\sum_t$ gradient step$\|$")
        axes[0, 1].set(title="per step (mean norm)", xlabel="epoch",
                       ylabel="mean |decay step| / mean |gradient step|")
        axes[0, 1].legend(fontsize=8)
    elif claim == 2:
        ax.axhline(decay_factor_limit(eta, lam, m), color="k", ls="--", lw=0.8,
                   label=r"$e^{-\eta\lambda/m}$")
        ax.axhline(decay_factor_exact(eta, lam, n, m), color="k", ls=":", lw=1.2,
                   label=r"$(1-\eta\lambda/n)^{n/m}$")
        ax.set(title="measured per-epoch shrink", xlabel="epoch", ylabel="RMS(end) / RMS(start) of the epoch")
        x = np.logspace(-6, np.log10(0.5), 200)
        k = eta * lam / m
        exact = np.exp((k / x) * np.log1p(-x))
        axes[0, 1].loglog(x, np.abs(exact / np.exp(-k) - 1.0), color=_palette(1)[0])
        axes[0, 1].axvline(eta * lam / n, color="k", ls=":", lw=1, label=r"this run's $\eta\lambda/n$")
        axes[0, 1].set(title=rf"$|(1-x)^{{k/x}}/e^{{-k}} - 1|$, $k=\eta\lambda/m={k:g}$",
                       xlabel=r"$x = \eta\lambda/n$ (log)", ylabel="relative error of the limit (log)")
        axes[0, 1].legend(fontsize=8)
    elif claim == 3:
        nw = int(frame.loc[frame["layer"] == 1, "n_weights"].iloc[0]
                 + frame.loc[frame["layer"] == 2, "n_weights"].iloc[0])
        nin = int(f1["n_in"].iloc[0])
        for val, ls, lab in ((1 / nw, "--", r"$1/n_w$"), (1 / np.sqrt(nw), "-.", r"$1/\sqrt{n_w}$"),
                             (1 / np.sqrt(nin), ":", r"$1/\sqrt{n_{in}}$")):
            ax.axhline(val, color="k", ls=ls, lw=0.9, label=lab)
        ax.set(xlabel="epoch", ylabel="RMS of hidden-layer weights (log)")
    else:
        ax.set(xlabel="epoch", ylabel="test accuracy (fraction)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def histogram_frame(weights: Mapping[str, np.ndarray | Sequence[np.ndarray]], bins: int = 120) -> pd.DataFrame:
    """What :func:`plot_l1_l2_histograms` draws: ``bins`` equal bins over the range of every
    weight, and per label and bin the mean count over the seeds with its 95 % t-interval (``low``
    clipped at 0; NaN with one seed). Columns ``penalty, bin_left, bin_right, centre, mean, low,
    high, seeds``.

    ``weights[label]`` is one array, or one array per seed.
    """
    from ..analysis.stats import t_half_width

    runs = {k: [np.asarray(w)] if np.ndim(w) == 1 and np.asarray(w).dtype != object else
            [np.asarray(a) for a in w] for k, w in weights.items()}
    lo = min(float(np.min(a)) for ws in runs.values() for a in ws)
    hi = max(float(np.max(a)) for ws in runs.values() for a in ws)
    edges = np.linspace(lo, hi, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    parts = []
    for name, ws in runs.items():
        counts = np.array([np.histogram(a, bins=edges)[0] for a in ws], dtype=np.float64)
        mean = counts.mean(axis=0)
        half = (np.array([t_half_width(counts[:, b]) for b in range(bins)]) if len(ws) > 1
                else np.full(bins, np.nan))
        parts.append(pd.DataFrame({"penalty": name, "bin_left": edges[:-1], "bin_right": edges[1:],
                                   "centre": centres, "mean": mean, "low": np.maximum(mean - half, 0.0),
                                   "high": mean + half, "seeds": len(ws)}))
    return pd.concat(parts, ignore_index=True)


def plot_l1_l2_histograms(weights: Mapping[str, np.ndarray | Sequence[np.ndarray]],
                          threshold: float, bins: int = 120) -> plt.Figure:
    """Histograms of first-layer weights per penalty, linear and log-count panels.

    ``weights[label]`` is one array, or one array per seed: then the line is the mean count per bin
    over seeds and the band its 95 % t-interval (:func:`histogram_frame`).
    """
    hist = histogram_frame(weights, bins)
    names = list(dict.fromkeys(hist["penalty"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, c in zip(names, _palette(len(names))):
        h = hist[hist["penalty"] == name]
        for ax in axes:
            ax.step(h["centre"], h["mean"], where="mid", color=c, lw=1.4, label=name)
            ax.fill_between(h["centre"], h["low"], h["high"], step="mid", color=c, alpha=0.25, lw=0)
    axes[1].set_yscale("log")
    for ax in axes:
        ax.axvspan(-threshold, threshold, color="0.85", zorder=0)
        ax.set(xlabel="weight value $W_{1,jk}$", ylabel="count per bin" + (" (log)" if ax is axes[1] else ""))
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_recursion(frame: pd.DataFrame) -> plt.Figure:
    """Closed form (notes' eq. 2.7) against the run, and the size of its two terms."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].semilogy(frame["step"], np.maximum(frame["max_abs_diff"], 1e-18), color=_palette(1)[0])
    axes[0].set(xlabel="step t", ylabel=r"$\max|w^{(t)}_{\rm closed} - w^{(t)}_{\rm run}|$ (log)",
                title="eq. 2.7 vs the run")
    c = _palette(3)
    axes[1].plot(frame["step"], frame["init_term_norm"], color=c[0], label=r"$\|(1-2\eta\lambda)^t w^{(0)}\|$")
    axes[1].plot(frame["step"], frame["gradient_term_norm"], color=c[1], label="gradient sum (norm)")
    axes[1].plot(frame["step"], frame["weight_norm"], color=c[2], label=r"$\|w^{(t)}\|$")
    axes[1].set(xlabel="step t", ylabel="Frobenius norm", title="the two terms of eq. 2.7")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _draw_weight_decay_claim3(params: Mapping[str, Any]):
    cfg = WeightDecayConfig(**_pick(params, WeightDecayConfig))
    return plot_weight_decay_claim(weight_decay_frame(params), 3, cfg.lr, cfg.lam, cfg.batch_size, cfg.n_train)


_register_figure("foundations-weight-decay-claim3", "L2 weight-decay Q&A, claim 3: RMS hidden weight per epoch vs "
                 "1/n_w (PNG)", NOTEBOOK, _draw_weight_decay_claim3)
