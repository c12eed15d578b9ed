r"""Optimizers on 2-D test functions (book/foundations/optimizers.ipynb): the exponentially
weighted average behind momentum and Adam, a ravine, the ravine turned by 30 degrees and a saddle,
and every optimizer's path on them; the page's frames, figures and artifact.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation" (sec. 3.1
optimizers, sec. 3.1.1 exponentially weighted averages).

Explained in: book/foundations/optimizers.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .._registry import Registry
from ..updates import OPTIMIZERS
from . import one_blas_thread, register_experiment
from .foundations import run_cached
from ..page import optimizer_label
from .foundations_plots import _palette, _register_figure


__all__ = [
    "NOTEBOOK",
    "TEST_FUNCTIONS",
    "OptimizerPathsConfig",
    "TestFunction",
    "ema",
    "ema_frame",
    "optimizer_frames",
    "optimizer_paths",
    "optimizer_trajectory",
    "plot_ema",
    "plot_optimizer_losses",
    "plot_optimizer_paths",
]


NOTEBOOK = "book/foundations/optimizers.ipynb"


# =============================================================================================
# Runs
# =============================================================================================


def ema(x: np.ndarray, beta: float, bias_correction: bool = False) -> np.ndarray:
    r"""Exponentially weighted average of a sequence [ablation sec. 3.1.1].

    .. math::
        \mathrm{EMA}_t = \beta\,\mathrm{EMA}_{t-1} + (1-\beta) x_t,\ \mathrm{EMA}_0 = 0, \qquad
        \widehat{\mathrm{EMA}}_t = \frac{\mathrm{EMA}_t}{1-\beta^t}

    The weights :math:`(1-\beta)\beta^{t-s}`, :math:`s = 1..t`, sum to :math:`1-\beta^t`; dividing by
    it makes them a weighted mean. Here the sequence is indexed :math:`x_1..x_T` (the paper counts
    from :math:`x_0`, hence its :math:`1-\beta^{T+1}`).

    Parameters
    ----------
    x : ndarray, shape (T,)

    Returns
    -------
    ndarray, shape (T,)
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    m = 0.0
    for t, v in enumerate(x, start=1):
        m = beta * m + (1.0 - beta) * v
        out[t - 1] = m / (1.0 - beta**t) if bias_correction else m
    return out


class TestFunction(NamedTuple):
    """A 2-D objective: value, gradient, start point and plotting window.

    ``value(p)`` accepts a point ``(2,)`` or a stack ``(2, ...)`` of points (evaluated element-wise).
    """

    value: Callable[[np.ndarray], float]
    gradient: Callable[[np.ndarray], np.ndarray]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    formula: str


def ravine_value(p: np.ndarray) -> float:
    r"""Ravine (ill-conditioned quadratic, curvatures 0.2 and 8, condition number 40).

    .. math:: f(x, y) = \tfrac12(0.2\,x^2 + 8\,y^2), \qquad \nabla f = (0.2\,x,\ 8\,y)
    """
    return 0.5 * (0.2 * p[0] ** 2 + 8.0 * p[1] ** 2)


def ravine_gradient(p: np.ndarray) -> np.ndarray:
    """Gradient of :func:`ravine_value`."""
    return np.array([0.2 * p[0], 8.0 * p[1]])


def saddle_value(p: np.ndarray) -> float:
    r"""Saddle at the origin with minima at :math:`(0, \pm 1)`.

    .. math:: f(x, y) = \tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4, \qquad \nabla f = (x,\ y^3 - y)
    """
    return 0.5 * p[0] ** 2 - 0.5 * p[1] ** 2 + 0.25 * p[1] ** 4


def saddle_gradient(p: np.ndarray) -> np.ndarray:
    """Gradient of :func:`saddle_value`."""
    return np.array([p[0], p[1] ** 3 - p[1]])


TEST_FUNCTIONS: Registry[TestFunction] = Registry("test function")
TEST_FUNCTIONS.register("ravine", TestFunction(ravine_value, ravine_gradient, (-4.5, 1.0),
                                               (-5.0, 1.0), (-1.5, 1.5),
                                               r"$f=\frac12(0.2x^2+8y^2)$"))
_C30, _S30 = math.cos(math.pi / 6), math.sin(math.pi / 6)
_ROT = np.array([[_C30, -_S30], [_S30, _C30]])
_H_ROT = _ROT @ np.diag([0.2, 8.0]) @ _ROT.T


def ravine_rotated_value(p: np.ndarray) -> float:
    r"""The ravine turned by 30 degrees, so its axes are no longer the coordinate axes.

    .. math:: f(\theta) = \tfrac12\theta^\top R H R^\top\theta, \quad H = \operatorname{diag}(0.2, 8),
              \quad \nabla f = R H R^\top \theta
    """
    p = np.asarray(p, dtype=np.float64)
    return 0.5 * (_H_ROT[0, 0] * p[0] ** 2 + 2.0 * _H_ROT[0, 1] * p[0] * p[1] + _H_ROT[1, 1] * p[1] ** 2)


def ravine_rotated_gradient(p: np.ndarray) -> np.ndarray:
    """Gradient of :func:`ravine_rotated_value`."""
    return _H_ROT @ np.asarray(p, dtype=np.float64)


TEST_FUNCTIONS.register("ravine_rotated", TestFunction(
    ravine_rotated_value, ravine_rotated_gradient, tuple(float(v) for v in _ROT @ np.array([-4.5, 1.0])),
    (-5.0, 1.5), (-3.0, 1.5), r"$f=\frac12\theta^\top RHR^\top\theta$"))
TEST_FUNCTIONS.register("saddle", TestFunction(saddle_value, saddle_gradient, (-1.5, 1e-3),
                                               (-1.8, 0.6), (-0.4, 1.4),
                                               r"$f=\frac12x^2-\frac12y^2+\frac14y^4$"))


def optimizer_trajectory(optimizer: str, function: str, lr: float, num_steps: int,
                         start: tuple[float, float] | None = None, **hyper: Any) -> np.ndarray:
    r"""Iterate :math:`\theta_t = \theta_{t-1} - \mathrm{step}_t` of ``OPTIMIZERS[optimizer]`` on a 2-vector.

    Returns
    -------
    ndarray, shape (num_steps + 1, 2)
        The path, starting point first.
    """
    fn = TEST_FUNCTIONS.lookup(function)
    opt = OPTIMIZERS.lookup(optimizer)(lr, **hyper)
    theta = np.array(fn.start if start is None else start, dtype=np.float64)
    state = opt.init_state(theta)
    path = np.empty((num_steps + 1, 2))
    path[0] = theta
    for t in range(1, num_steps + 1):
        opt.step(theta, fn.gradient(theta), state)
        path[t] = theta
    return path


@dataclasses.dataclass(frozen=True)
class OptimizerPathsConfig:
    """Every optimizer's path on one test function; ``lrs[i]`` belongs to ``optimizers[i]``."""

    function: str = "ravine"
    num_steps: int = 200
    optimizers: tuple[str, ...] = ("sgd", "momentum", "nesterov", "adagrad", "adadelta",
                                   "rmsprop", "adam")
    lrs: tuple[float, ...] = (0.2, 0.2, 0.02, 1.0, 1.0, 0.1, 0.1)


@register_experiment("foundations_optimizer_paths", OptimizerPathsConfig,
                     "optimizer trajectories on a 2-D ravine or saddle")
@one_blas_thread
def optimizer_paths(config: OptimizerPathsConfig) -> pd.DataFrame:
    """Rows ``optimizer, lr, step, x, y, f`` (engine default hyper-parameters besides ``lr``)."""
    if len(config.optimizers) != len(config.lrs):
        raise ValueError(f"need one lr per optimizer: {len(config.optimizers)} optimizers, "
                         f"{len(config.lrs)} lrs")
    fn = TEST_FUNCTIONS.lookup(config.function)
    frames = []
    for name, lr in zip(config.optimizers, config.lrs):
        path = optimizer_trajectory(name, config.function, lr, config.num_steps)
        frames.append(pd.DataFrame({"optimizer": name, "lr": lr, "step": np.arange(len(path)),
                                    "x": path[:, 0], "y": path[:, 1],
                                    "f": fn.value(path.T)}))
    return pd.concat(frames, ignore_index=True)


# =============================================================================================
# What the page shows, built from its parameters (shared by the notebook and the artifact)
# =============================================================================================


def optimizer_frames(params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """:func:`optimizer_paths` on every test function, keyed by function name."""
    steps = int(params.get("num_steps", OptimizerPathsConfig.num_steps))
    return {name: run_cached("foundations_optimizer_paths", OptimizerPathsConfig(function=name, num_steps=steps))
            for name in TEST_FUNCTIONS}


# =============================================================================================
# Figures (tidy frames in, a matplotlib Figure out)
# =============================================================================================


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
                ax.set_title(f"{optimizer_label(opt)}\n(lr {p['lr'].iloc[0]:g})", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{fname.replace('_', ' ')}\ny (parameter 2)")
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
            ax.semilogy(p["step"], np.maximum(p["f"] - minima.get(fname, 0.0), 1e-16), color=c,
                        label=optimizer_label(opt))
        ax.set(title=fname.replace("_", " "), xlabel="step", ylabel=r"$f(\theta_t) - f^*$ (log scale)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _draw_optimizer_paths(params: Mapping[str, Any]):
    return plot_optimizer_paths(optimizer_frames(params))


_register_figure("foundations-optimizer-paths", "the optimizers of Okoma 2025 sec. 3.1 (no figure there): "
                 "trajectories on a ravine and a saddle (PNG)", NOTEBOOK, _draw_optimizer_paths)
