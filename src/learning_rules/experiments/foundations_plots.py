"""Figures of the foundations part (book/foundations/*.ipynb). Each function takes tidy frames from
:mod:`learning_rules.experiments.foundations` and returns a matplotlib Figure; nothing is computed
here that a caption relies on without the frame holding it. The figures that ``learning-rules
make`` writes are registered here (the runs' module never imports its plots).

Explained in: book/foundations/vanishing.ipynb, optimizers.ipynb, regularization.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import register_artifact, save_figure
from .foundations import (TEST_FUNCTIONS, WeightDecayConfig, _pick, decay_factor_exact, decay_factor_limit,
                          gradient_flow_frame, optimizer_frames, weight_decay_frame)

__all__ = [
    "activations_frame",
    "ema_frame",
    "format_table",
    "histogram_frame",
    "mean_band",
    "seeds_text",
    "plot_activations",
    "plot_ema",
    "plot_exploding",
    "plot_gradient_flow",
    "plot_l1_l2_histograms",
    "plot_optimizer_losses",
    "plot_optimizer_paths",
    "plot_recursion",
    "plot_symmetry",
    "plot_variance",
    "plot_weight_decay_claim",
]


def _palette(n: int):
    return sns.color_palette("colorblind", n)


def activations_frame(z: np.ndarray | None = None) -> pd.DataFrame:
    """What :func:`plot_activations` draws: at each pre-activation ``z`` (default 601 points on
    [-6, 6]) the sigmoid, tanh and their derivatives (columns ``sigmoid``, ``sigmoid derivative``,
    ``tanh``, ``tanh derivative``), from the package's activation functions."""
    from ..nn.activations import get_activation

    z = np.linspace(-6, 6, 601) if z is None else np.asarray(z, dtype=np.float64)
    out = {"z": z}
    for name in ("sigmoid", "tanh"):
        act = get_activation(name)
        out[name] = act.forward(z[None, :])[0]
        out[f"{name} derivative"] = act.derivative(z[None, :])[0]
    return pd.DataFrame(out)


def plot_activations(z: np.ndarray | None = None) -> plt.Figure:
    """The lecture notes' Figure 1.3: sigmoid, tanh and their derivatives (a-d;
    :func:`activations_frame`)."""
    curves = activations_frame(z)
    fig, axes = plt.subplots(2, 2, figsize=(8, 5.5), sharex=True)
    c = _palette(2)
    for col, name, title in ((0, "sigmoid", "sigmoid"), (1, "tanh", "tanh")):
        axes[0, col].plot(curves["z"], curves[name], color=c[0])
        axes[0, col].set(title=f"({'ab'[col]}) {title}", ylabel=r"$f(z)$")
        axes[1, col].plot(curves["z"], curves[f"{name} derivative"], color=c[1])
        axes[1, col].set(title=f"({'cd'[col]}) derivative of {title}", ylabel=r"$f'(z)$",
                         xlabel=r"pre-activation $z$")
    fig.tight_layout()
    return fig


def mean_band(frame: pd.DataFrame, x: str, y: str, by: Sequence[str] = (), log: bool = False,
              level: float = 0.95) -> pd.DataFrame:
    r"""Mean over seeds of ``y`` at each ``x`` (per ``by`` group) with the Student-t interval.

    .. math:: \bar y \pm t_{(1+\text{level})/2,\,m-1}\, s/\sqrt m \quad (m \text{ seeds})

    With ``log=True`` the interval is taken on :math:`\log_{10} y` and mapped back (a geometric
    mean, for quantities drawn on a log axis). One seed, or NaN values only, gives
    ``low = high = NaN`` (no spread can be estimated). Columns: ``*by, x, mean, low, high, n``.
    """
    from ..analysis.stats import t_half_width

    rows = []
    keys = [*by, x]
    for key, group in frame.groupby(keys, sort=True):
        v = group[y].to_numpy(dtype=np.float64)
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 or negative -> dropped below
                v = np.log10(v)
        v = v[np.isfinite(v)]
        key = key if isinstance(key, tuple) else (key,)
        if v.size == 0:
            mean = low = high = np.nan
        else:
            mean = float(v.mean())
            half = t_half_width(v, level) if v.size > 1 else np.nan
            low, high = mean - half, mean + half
        if log:
            mean, low, high = (10.0 ** mean, 10.0 ** low, 10.0 ** high)
        rows.append({**dict(zip(keys, key)), "mean": mean, "low": low, "high": high, "n": int(v.size)})
    return pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n"])


def seeds_text(frame: pd.DataFrame) -> str:
    """``"seeds 0-2 (mean, band = 95 % t-interval)"`` for the ``seed`` column of ``frame``."""
    seeds = sorted(set(frame["seed"])) if "seed" in frame else [0]
    if len(seeds) == 1:
        return f"seed {seeds[0]} (one run, no interval)"
    span = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
            else ", ".join(map(str, seeds)))
    return f"seeds {span} (line = mean over {len(seeds)} seeds, band = 95 % t-interval)"


def _band(ax, summary: pd.DataFrame, x: str, color, label=None, style: str = "-", ms: float = 3) -> None:
    ax.plot(summary[x], summary["mean"], style, color=color, label=label, ms=ms)
    ax.fill_between(summary[x], summary["low"], summary["high"], color=color, alpha=0.2, lw=0)


def plot_gradient_flow(frame: pd.DataFrame) -> plt.Figure:
    """Per-layer gradient norms at initialization and at the end, and probe accuracy over steps;
    geometric mean over seeds with a 95 % interval (of the log) as a band."""
    acts = list(dict.fromkeys(frame["activation"]))
    colors = dict(zip(acts, _palette(len(acts))))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    last = frame["step"].max()
    for a in acts:
        f = frame[frame["activation"] == a]
        for ax, step, style in ((axes[0], 0, "-o"), (axes[1], last, "-s")):
            _band(ax, mean_band(f[f["step"] == step], "layer", "grad_norm", log=True), "layer",
                  colors[a], a, style)
            ax.set_yscale("log")
        for layer, ls in ((1, "-"), (int(f["layer"].max()), ":")):
            _band(axes[2], mean_band(f[f["layer"] == layer], "step", "grad_norm", log=True), "step",
                  colors[a], f"{a}, layer {layer}", ls)
        acc = f[f["layer"] == 1]
        _band(axes[3], mean_band(acc, "step", "probe_accuracy"), "step", colors[a], a)
    axes[2].set_yscale("log")
    axes[0].set(title="at initialization (step 0)", xlabel="layer l (1 = next to the input)",
                ylabel=r"$\|\nabla_{W_l} J\|_F$ (log scale)")
    axes[1].set(title=f"after training (step {last})", xlabel="layer l (1 = next to the input)",
                ylabel=r"$\|\nabla_{W_l} J\|_F$ (log scale)")
    axes[2].set(title="first (solid), last (dotted) layer", xlabel="SGD step",
                ylabel=r"$\|\nabla_{W_l} J\|_F$ (log scale)")
    axes[3].set(title="probe accuracy", xlabel="SGD step", ylabel="accuracy (fraction)", ylim=(0, 1))
    axes[0].legend(title="hidden activation")
    fig.tight_layout()
    return fig


def plot_exploding(frame: pd.DataFrame) -> plt.Figure:
    """The exploding-gradient runs: per-layer gradient norms at initialization, the probe loss over
    steps (a run stops where its loss stops being finite: an x on the panel's top edge marks each
    seed's step) and the probe accuracy; geometric mean over seeds for the norms, arithmetic for
    loss and accuracy. Runs that start from the same weights coincide in the first panel: each run
    has its own line style and marker, so neither hides the other."""
    runs = list(dict.fromkeys(frame["run"]))
    colors = dict(zip(runs, _palette(len(runs))))
    styles = dict(zip(runs, ["-o", "--s", ":^", "-.v"] * len(runs)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for r in runs:
        f = frame[frame["run"] == r]
        _band(axes[0], mean_band(f[f["step"] == 0], "layer", "grad_norm", log=True), "layer", colors[r], r,
              styles[r])
        first = f[(f["layer"] == 1) & np.isfinite(f["probe_loss"])]
        _band(axes[1], mean_band(first, "step", "probe_loss", log=True), "step", colors[r], r, styles[r], ms=2)
        _band(axes[2], mean_band(first, "step", "probe_accuracy"), "step", colors[r], r, styles[r], ms=2)
        gone = f[f["diverged"].astype(bool)].groupby("seed")["step"].min()
        for i, step in enumerate(gone):  # where a run's loss stopped being finite: an x on the top edge
            axes[1].plot([step], [0.97], "x", color=colors[r], ms=9, mew=2,
                         transform=axes[1].get_xaxis_transform(), clip_on=False,
                         label=f"{r}: {len(gone)} of {f['seed'].nunique()} seeds diverged" if i == 0 else None)
    axes[0].set(yscale="log", title="at initialization (step 0)", xlabel="layer l (1 = next to the input)",
                ylabel=r"$\|\nabla_{W_l} J\|_F$ (log scale)")
    axes[1].set(yscale="log", title="probe loss (x: a run diverged there)", xlabel="SGD step",
                ylabel="cross-entropy (log scale)")
    marks = [h for h in axes[1].get_lines() if h.get_label().endswith("diverged")]
    if marks:
        axes[1].legend(handles=marks, loc="upper right", fontsize="small")
    axes[2].set(title="probe accuracy", xlabel="SGD step", ylabel="accuracy (fraction)", ylim=(0, 1))
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def plot_symmetry(frame: pd.DataFrame) -> plt.Figure:
    """Distinct hidden neurons and training accuracy per epoch, per initialization (mean over
    seeds, band = 95 % interval)."""
    inits = list(dict.fromkeys(frame["init"]))
    colors = dict(zip(inits, _palette(len(inits))))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i in inits:
        f = frame[frame["init"] == i]
        _band(axes[0], mean_band(f, "epoch", "distinct_neurons"), "epoch", colors[i], i, "-o")
        _band(axes[1], mean_band(f, "epoch", "train_accuracy"), "epoch", colors[i], i, "-o")
    axes[0].set(xlabel="epoch", ylabel="distinct rows of $W_1$ (neurons)", title="hidden neurons that differ")
    axes[1].set(xlabel="epoch", ylabel="training accuracy (fraction)", title="training accuracy", ylim=(0, 1))
    axes[0].legend(title="init")
    fig.tight_layout()
    return fig


def plot_variance(frame: pd.DataFrame) -> plt.Figure:
    """Measured pre-activation variance per layer (markers) against the two predictions (lines)."""
    inits = list(dict.fromkeys(frame["init"]))
    colors = dict(zip(inits, _palette(len(inits))))
    fig, ax = plt.subplots(figsize=(7, 4))
    for i in inits:
        f = frame[frame["init"] == i]
        ax.semilogy(f["layer"], f["var_z"], "o", color=colors[i], label=f"{i}: measured")
        ax.semilogy(f["layer"], f["predicted_chain"], "-", color=colors[i], label=f"{i}: predicted (chained)")
        ax.semilogy(f["layer"], f["predicted_one_step"], ":", color=colors[i], label=f"{i}: predicted (one step)")
    ax.set(xlabel="layer l", ylabel=r"Var$(z_l)$ over samples and units (log scale)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ema_frame(t: np.ndarray, x: np.ndarray, curves: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """What :func:`plot_ema` draws: columns ``t``, ``x`` (the sequence) and one per curve, named by
    its label."""
    frame = pd.DataFrame({"t": np.asarray(t), "x": np.asarray(x)})
    for label, y in curves.items():
        if label in frame.columns:
            raise ValueError(f"curve label {label!r} clashes with the columns t and x")
        frame[label] = np.asarray(y)
    return frame


def plot_ema(t: np.ndarray, x: np.ndarray, curves: Mapping[str, np.ndarray]) -> plt.Figure:
    """A noisy sequence and its exponentially weighted averages (:func:`ema_frame`)."""
    frame = ema_frame(t, x, curves)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(frame["t"], frame["x"], ".", color="0.6", ms=3, label="sequence $x_t$")
    for label, c in zip(curves, _palette(len(curves))):
        ax.plot(frame["t"], frame[label], color=c, label=label)
    ax.set(xlabel="t (step)", ylabel="value (units of $x$)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_optimizer_paths(frames: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """One row per test function, one column per optimizer: contours and the path."""

    names = list(frames)
    opts = list(dict.fromkeys(frames[names[0]]["optimizer"]))
    colors = dict(zip(opts, _palette(len(opts))))
    fig, axes = plt.subplots(len(names), len(opts), figsize=(2.3 * len(opts), 2.4 * len(names)),
                             squeeze=False)
    for r, fname in enumerate(names):
        fn = TEST_FUNCTIONS.lookup(fname)
        XX, YY = np.meshgrid(np.linspace(*fn.xlim, 120), np.linspace(*fn.ylim, 120))
        ZZ = fn.value(np.array([XX, YY]))
        for c, opt in enumerate(opts):
            ax = axes[r, c]
            ax.contour(XX, YY, ZZ, levels=15, colors="0.75", linewidths=0.6)
            p = frames[fname][frames[fname]["optimizer"] == opt]
            ax.plot(p["x"], p["y"], "-", color=colors[opt], lw=1.2)
            ax.plot(p["x"].iloc[0], p["y"].iloc[0], "k^", ms=5)
            ax.plot(p["x"].iloc[-1], p["y"].iloc[-1], "o", color=colors[opt], ms=5)
            ax.set(xlim=fn.xlim, ylim=fn.ylim)
            if r == 0:
                ax.set_title(f"{opt}\n(lr {p['lr'].iloc[0]:g})", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{fname}\ny (parameter 2)")
            if r == len(names) - 1:
                ax.set_xlabel("x (parameter 1)")
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_optimizer_losses(frames: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Objective value (minus its minimum) against step, per test function."""
    names = list(frames)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 3.6), squeeze=False)
    minima = {"ravine": 0.0, "ravine_rotated": 0.0, "saddle": -0.25}
    for ax, fname in zip(axes[0], names):
        f = frames[fname]
        opts = list(dict.fromkeys(f["optimizer"]))
        for opt, c in zip(opts, _palette(len(opts))):
            p = f[f["optimizer"] == opt]
            ax.semilogy(p["step"], np.maximum(p["f"] - minima.get(fname, 0.0), 1e-16), color=c, label=opt)
        ax.set(title=fname, xlabel="step", ylabel=r"$f(\theta_t) - f^*$ (log scale)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_weight_decay_claim(frame: pd.DataFrame, claim: int, eta: float, lam: float, m: int,
                            n: int) -> plt.Figure:
    """One figure per claim of the Q&A (1-4), hidden layer (layer 1) of every run in ``frame``.

    ``frame`` is :func:`~learning_rules.experiments.foundations.weight_decay_dynamics` output of several
    runs with a ``run`` column (label).
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


def format_table(frame: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A small markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            cells.append(format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _save(fig, out_path: Path) -> Path:
    return save_figure(fig, out_path, bbox_inches="tight")


def _draw_gradient_flow(params: Mapping[str, Any]):
    return plot_gradient_flow(gradient_flow_frame(params))


def _draw_optimizer_paths(params: Mapping[str, Any]):
    return plot_optimizer_paths(optimizer_frames(params))


def _draw_weight_decay_claim3(params: Mapping[str, Any]):
    cfg = WeightDecayConfig(**_pick(params, WeightDecayConfig))
    return plot_weight_decay_claim(weight_decay_frame(params), 3, cfg.lr, cfg.lam, cfg.batch_size, cfg.n_train)


def _register_figure(name: str, description: str, notebook: str,
                     draw: Callable[[Mapping[str, Any]], Any]) -> None:
    """Register artifact ``name``: ``draw(params)`` saved as a PNG."""

    def make(params: Mapping[str, Any], out_path: Path) -> Path:
        return _save(draw(params), out_path)

    register_artifact(name, description, notebook=notebook)(make)


for _name, _description, _page, _draw in [
    ("foundations-gradient-flow", "lecture notes (Lecture 5) Ch. 1 sec. 2, the vanishing gradient "
     "problem (no figure there): per-layer gradient norms, sigmoid vs ReLU vs leaky ReLU (PNG)", "vanishing",
     _draw_gradient_flow),
    ("foundations-optimizer-paths", "the optimizers of Okoma 2025 sec. 3.1 (no figure there): "
     "trajectories on a ravine and a saddle (PNG)", "optimizers", _draw_optimizer_paths),
    ("foundations-weight-decay-claim3", "L2 weight-decay Q&A, claim 3: RMS hidden weight per epoch vs "
     "1/n_w (PNG)", "regularization", _draw_weight_decay_claim3),
]:
    _register_figure(_name, _description, f"book/foundations/{_page}.ipynb", _draw)
