r"""The parameterized ReLU on the vanishing page (book/foundations/vanishing.ipynb, section "A
learnable slope"): the gradient-flow network of that page with PReLU hidden layers whose slopes
are learned (:mod:`learning_rules.nn.prelu`), against ReLU and fixed leaky slopes; per-layer
gradient norms on the probe batch, the slopes over training, test loss and accuracy; the page's
frame, prediction, verdict, table and figure.

Every arm trains through the same code (:func:`learning_rules.nn.prelu.prelu_sgd_step` in
:func:`learning_rules.training.run_epoch`): ReLU is the slope 0, held fixed; a leaky ReLU a fixed
slope; PReLU a slope that plain SGD moves with the weights. A seed draws the same initial weights
(as the engine's network of that seed, :func:`~learning_rules.experiments.foundations._seeded_network`)
and the same batches in every arm, so at initialization the arms differ only in the slope.

Sources: [notes] Alrabeiah (2022), Lecture 5, eq. 1.17 and the paragraph after it ("this function
is not bounded at all ... and, thus, it has a gradient for any linear combiner output"); He et al.
(2015), "Delving deep into rectifiers", sec. 2.1 (the slope's gradient, initialization 0.25).

Explained in: book/foundations/vanishing.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..nn.losses import CategoricalCrossEntropy
from ..nn.prelu import PReLUMLP, prelu_forward, prelu_gradients, prelu_sgd_step
from ..training import Batch, epoch_batches, run_epoch
from . import one_blas_thread, register_experiment
from .foundations import PageRun, _mnist_subset, _pick, run_listed, seed_list, seed_runs
from .foundations_plots import _band, _palette, _register_figure, mean_band

__all__ = [
    "NOTEBOOK",
    "PReLUConfig",
    "plot_prelu",
    "prelu_arms",
    "prelu_effects",
    "prelu_figure_frames",
    "prelu_flow",
    "prelu_frame",
    "prelu_init_factor",
    "prelu_prediction",
    "prelu_runs",
    "prelu_summary",
    "prelu_verdict",
]

NOTEBOOK = "book/foundations/vanishing.ipynb"


# =============================================================================================
# The run
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class PReLUConfig:
    """The vanishing page's gradient-flow network (``depth`` hidden layers of ``width`` units, He
    uniform, softmax output, cross-entropy, plain SGD) with PReLU hidden layers.

    ``alpha`` is every slope's start; ``learn_alpha`` whether SGD moves the slopes (``alpha = 0``
    held fixed is ReLU, another fixed ``alpha`` a leaky ReLU); ``shared``: one slope per layer (the
    notes' single :math:`\\alpha`) or one per unit. Gradients are measured on the ``probe_size``
    training images after the ``n_train`` used for training; loss and accuracy also on the first
    ``n_test`` test images, at initialization and at the end.
    """

    alpha: float = 0.25
    learn_alpha: bool = True
    shared: bool = True
    init: str = "he_uniform"
    depth: int = 8
    width: int = 64
    n_train: int = 2000
    probe_size: int = 500
    n_test: int = 1000
    num_epochs: int = 2
    batch_size: int = 50
    lr: float = 0.1
    record_every: int = 10
    seed: int = 0
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha):
            raise ValueError(f"alpha must be a finite number, got {self.alpha!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        for name in ("depth", "width", "n_train", "probe_size", "n_test", "num_epochs", "batch_size",
                     "record_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")


def _evaluate(net: PReLUMLP, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """Batch-mean cross-entropy and accuracy of ``net`` on one-hot ``Y``."""
    z_L = prelu_forward(net.weights, net.biases, net.alphas, X).z[-1]
    return (CategoricalCrossEntropy().value(z_L, Y, "softmax"),
            float(np.mean(np.argmax(z_L, axis=1) == np.argmax(Y, axis=1))))


@register_experiment("foundations_prelu", PReLUConfig,
                     "per-layer gradient norms and learned slopes of a deep MLP with PReLU hidden layers")
@one_blas_thread
def prelu_flow(config: PReLUConfig) -> pd.DataFrame:
    r"""Per-layer :math:`\lVert\nabla_{W_l} J\rVert_F` and the slopes on a probe batch, every
    ``record_every`` SGD steps and at the end.

    Returns one row per (step, layer ``l = 1..depth + 1``): ``step, epoch, layer, grad_norm,
    alpha`` (the layer's mean slope; NaN for the output layer), ``alpha_min``, ``alpha_max``,
    ``alpha_grad`` (:math:`\lVert\nabla_{\alpha_l} J\rVert`), ``probe_loss, probe_accuracy``,
    ``test_loss, test_accuracy`` (at step 0 and at the last step; NaN between), ``diverged``
    (a non-finite training loss; training stops there).
    """
    n = config.n_train
    X, y = _mnist_subset("train", 0, n + config.probe_size, config.dataset)
    X_test, y_test = _mnist_subset("test", 0, config.n_test, config.dataset)
    rng = np.random.default_rng(config.seed)
    net = PReLUMLP.create([X.shape[1]] + [config.width] * config.depth + [10], alpha=config.alpha,
                          shared=config.shared, init=config.init, rng=rng)
    X, Y = net.check_input(X, y)
    X_test, Y_test = net.check_input(X_test, y_test)
    Xt, Yt, Xp, Yp = X[:n], Y[:n], X[n:], Y[n:]
    rows: list[dict] = []
    state = {"step": 0, "epoch": 0, "stopped": False, "recorded": -1}

    def record() -> None:
        grads = prelu_gradients(net, Xp, Yp, check=False)  # validated above; a diverged run is measured too
        acc = float(np.mean(np.argmax(grads.z_L, axis=1) == np.argmax(Yp, axis=1)))
        for l, gW in enumerate(grads.W, start=1):
            hidden = l <= config.depth
            a = net.alphas[l - 1] if hidden else None
            rows.append({"step": state["step"], "epoch": state["epoch"], "layer": l,
                         "grad_norm": float(np.linalg.norm(gW)),
                         "alpha": float(np.mean(a)) if hidden else np.nan,
                         "alpha_min": float(np.min(a)) if hidden else np.nan,
                         "alpha_max": float(np.max(a)) if hidden else np.nan,
                         "alpha_grad": float(np.linalg.norm(grads.alpha[l - 1])) if hidden else np.nan,
                         "probe_loss": grads.loss, "probe_accuracy": acc})
        state["recorded"] = state["step"]

    def on_batch(batch: Batch, loss: float) -> None:
        if state["stopped"]:
            return
        state["step"] += 1
        if state["step"] % config.record_every == 0:
            record()

    def diverged(loss: float) -> bool:
        state["stopped"] = state["stopped"] or not math.isfinite(loss)
        return state["stopped"]

    with np.errstate(over="ignore", invalid="ignore"):
        start = _evaluate(net, X_test, Y_test)
        record()
        step = prelu_sgd_step(net, config.lr, learn_alpha=config.learn_alpha)
        for epoch in range(config.num_epochs):
            state["epoch"] = epoch
            batches = (Batch(Xt[idx], Yt[idx]) for idx in epoch_batches(n, config.batch_size, rng))
            if run_epoch(step, batches, on_batch=on_batch, diverged=diverged).diverged:
                break
        else:
            state["epoch"] = config.num_epochs
        if state["recorded"] != state["step"]:
            record()
        end = _evaluate(net, X_test, Y_test)
    frame = pd.DataFrame(rows)
    frame["test_loss"], frame["test_accuracy"] = np.nan, np.nan
    for at, (loss, acc) in ((0, start), (state["step"], end)):
        frame.loc[frame["step"] == at, ["test_loss", "test_accuracy"]] = (loss, acc)
    frame["diverged"] = state["stopped"]
    return frame


# =============================================================================================
# What the page shows, built from its parameters (shared by the notebook and the artifact)
# =============================================================================================


def prelu_arms(params: Mapping[str, Any]) -> list[tuple[str, float, bool]]:
    """The section's runs, ``(label, alpha, learn_alpha)``: ReLU (slope 0), the leaky ReLU of slope
    ``params["leaky_slope"]`` (default 0.01), the leaky ReLU fixed at PReLU's start
    ``params["prelu_alpha"]`` (default 0.25, He et al.'s), and PReLU learning its slopes from there.
    The fixed 0.25 run tells what the learning adds to a slope that merely differs from 0."""
    slope, alpha = float(params.get("leaky_slope", 0.01)), float(params.get("prelu_alpha", 0.25))
    return [("ReLU", 0.0, False), (f"leaky ReLU, α = {slope:g} fixed", slope, False),
            (f"leaky ReLU, α = {alpha:g} fixed", alpha, False), (f"PReLU, α learned from {alpha:g}", alpha, True)]


def prelu_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`prelu_flow` for each arm of :func:`prelu_arms` and each seed (``seed`` ..
    ``seed + prelu_n_seeds - 1``; labels ``seed``, ``activation``, ``alpha_init``,
    ``learn_alpha``). The network and its training take the gradient-flow section's parameters
    (``depth``, ``width``, ``flow_n_train``, ``probe_size``, ``flow_epochs``, ``batch_size``,
    ``lr``, ``record_every``); ``prelu_n_test`` test images; ``prelu_shared`` (default True): one
    slope per layer, else one per unit."""
    base = PReLUConfig(**_pick(params, PReLUConfig, n_train="flow_n_train", num_epochs="flow_epochs",
                               n_test="prelu_n_test", alpha="prelu_alpha", shared="prelu_shared"))
    seeds = seed_list({"seed": params.get("seed", 0), "n_seeds": params.get("prelu_n_seeds", 3)})
    return [r for label, a, learn in prelu_arms(params)
            for r in seed_runs("foundations_prelu", dataclasses.replace(base, alpha=a, learn_alpha=learn),
                               seeds, activation=label, alpha_init=a, learn_alpha=learn)]


def prelu_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`prelu_runs`, stacked (columns ``seed``, ``activation``, ``alpha_init``,
    ``learn_alpha``)."""
    return run_listed(prelu_runs(params))


def prelu_init_factor(alpha: float, depth: int) -> float:
    r"""The variance argument's prediction: at initialization, every layer's gradient norm with
    slope :math:`\alpha` over ReLU's, for ``depth`` hidden layers of equal width and He's
    :math:`\operatorname{Var}(w) = 2/p`.

    .. math:: \frac{\lVert\nabla_{W_l} J\rVert_\alpha}{\lVert\nabla_{W_l} J\rVert_0}
              \approx \big(1 + \alpha^2\big)^{\text{depth}/2} \quad\text{for every } l

    Forward, :math:`E[h_l^2] = p\operatorname{Var}(w)\frac{1+\alpha^2}{2}E[h_{l-1}^2]`: a factor
    :math:`1+\alpha^2` per hidden layer over ReLU's; backward,
    :math:`E[\delta_l^2] = n_{l+1}\operatorname{Var}(w_{l+1})\frac{1+\alpha^2}{2}E[\delta_{l+1}^2]`, the
    same factor per hidden layer. :math:`\nabla_{W_l} = \frac1B\delta_l^\top h_{l-1}` carries the
    :math:`\text{depth} - l + 1` hidden layers above it through :math:`\delta_l` and the
    :math:`l - 1` below it through :math:`h_{l-1}`: depth factors in all, whatever ``l`` (the output
    error :math:`e` taken as equal), so the first-to-last ratio does not move.
    """
    return float((1.0 + float(alpha) ** 2) ** (int(depth) / 2.0))


def _per_run(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (activation, seed, when in {init, end}): first and last layer's gradient norm,
    their ratio, the probe and test accuracy and loss, the slopes (mean, min, max over layers)."""
    rows = []
    for (act, s), g in frame.groupby(["activation", "seed"], sort=False):
        for when, step in (("init", 0), ("end", g["step"].max())):
            at = g[g["step"] == step].sort_values("layer")
            norms = at["grad_norm"].to_numpy()
            hidden = at[np.isfinite(at["alpha"])]
            rows.append({"activation": act, "seed": s, "when": when, "first": norms[0], "last": norms[-1],
                         "ratio": norms[0] / norms[-1], "probe_accuracy": at["probe_accuracy"].iloc[0],
                         "test_loss": at["test_loss"].iloc[0], "test_accuracy": at["test_accuracy"].iloc[0],
                         "alpha_mean": hidden["alpha"].mean(), "alpha_min": hidden["alpha_min"].min(),
                         "alpha_max": hidden["alpha_max"].max(), "diverged": bool(g["diverged"].any())})
    return pd.DataFrame(rows)


def prelu_prediction(frame: pd.DataFrame) -> tuple[bool, str]:
    r"""The variance argument at initialization (:func:`prelu_init_factor`): a slope
    :math:`\alpha > 0` multiplies every layer's gradient norm by about the same factor, so the first /
    last layer's ratio stays ReLU's. It holds when, for every starting slope :math:`\alpha > 0`,
    that ratio at step 0 (geometric mean over seeds) is within 15 % of ReLU's. The sentence also
    sets the measured factor per layer (the arm's norm over ReLU's of the same seed, which starts
    from the same weights; geometric mean over seeds) against the predicted size
    :math:`(1+\alpha^2)^{\text{depth}/2}`. Arms that start from the same slope are the same
    network at step 0 and are counted once. Returns the verdict and the sentence."""
    init = frame[frame["step"] == 0]
    depth = int(init["layer"].max()) - 1
    relu = init[init["alpha_init"] == 0].set_index(["seed", "layer"])["grad_norm"]
    first_last = relu.xs(1, level="layer") / relu.xs(depth + 1, level="layer")
    relu_ratio = float(np.exp(np.mean(np.log(first_last))))
    ok, parts = True, []
    for alpha, g in init[init["alpha_init"] > 0].groupby("alpha_init", sort=True):
        arm = g[g["activation"] == g["activation"].iloc[0]].set_index(["seed", "layer"])["grad_norm"]
        ratio = float(np.exp(np.mean(np.log(arm.xs(1, level="layer") / arm.xs(depth + 1, level="layer")))))
        factor = np.exp(np.log(arm / relu).groupby(level="layer").mean())
        want = prelu_init_factor(alpha, depth)
        change = ratio / relu_ratio - 1
        ok = ok and abs(change) <= 0.15
        size = factor / want
        parts.append(f"α = {alpha:g}: first / last {ratio:.3g} against ReLU's {relu_ratio:.3g} "
                     f"({change:+.0%}); each layer's norm {factor.min():.3g} to {factor.max():.3g} times "
                     f"ReLU's, predicted {want:.3g} (measured / predicted {size.min():.2f} to {size.max():.2f})")
    return ok, (f"**The prediction {'holds' if ok else 'fails'} at initialization** (the first / last ratio "
                "within 15 % of ReLU's for every slope): " + "; ".join(parts) + ".")


def prelu_verdict(frame: pd.DataFrame) -> tuple[bool, str]:
    """The rule stated before the run: "PReLU keeps more gradient in the first layers than ReLU",
    read as: after training, in every seed, PReLU's ratio of the first to the last layer's gradient
    norm is larger than ReLU's (same seed: same initial weights and batches). Returns the verdict
    and a sentence with the per-seed ratios, at initialization too, and the learned slopes."""
    runs = _per_run(frame)
    prelu = runs[runs["activation"].str.startswith("PReLU")]
    relu = runs[runs["activation"] == "ReLU"]
    if prelu.empty or relu.empty:
        return False, "no PReLU and ReLU runs to compare: the rule is not tested here."
    both = prelu.merge(relu, on=["seed", "when"], suffixes=("", "_relu"))
    end = both[both["when"] == "end"]
    start = both[both["when"] == "init"]
    wins = int((end["ratio"] > end["ratio_relu"]).sum())
    holds = bool(wins == len(end) and not end["diverged"].any())
    alphas = prelu[prelu["when"] == "end"]
    return holds, (
        f"**{'Holds' if holds else 'Does not hold'}** (\"PReLU keeps more gradient in the first layers "
        f"than ReLU\", first / last layer's gradient norm after training, seed by seed): larger for PReLU "
        f"in {wins} of {len(end)} seeds; PReLU {_span(end['ratio'])} against ReLU {_span(end['ratio_relu'])} "
        f"after training, {_span(start['ratio'])} against {_span(start['ratio_relu'])} at initialization. "
        f"The learned slopes end between {alphas['alpha_min'].min():.3g} and {alphas['alpha_max'].max():.3g} "
        f"(their mean over the layers, seed by seed: {_span(alphas['alpha_mean'])}).")


def _span(values: pd.Series) -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.3g}" if f"{lo:.3g}" == f"{hi:.3g}" else f"{lo:.3g}-{hi:.3g}"


def prelu_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The section's table: per arm, the first / last layer's gradient norm ratio at initialization
    and at the end (geometric mean over seeds), the test accuracy and loss at the end (mean over
    seeds, 95 % t-interval) and the slopes at the end (mean over layers and seeds; range)."""
    runs = _per_run(frame)
    ratio = mean_band(runs, "when", "ratio", by=["activation"], log=True).set_index(["activation", "when"])
    end = runs[runs["when"] == "end"]
    acc = mean_band(end, "when", "test_accuracy", by=["activation"]).set_index("activation")
    loss = mean_band(end, "when", "test_loss", by=["activation"]).set_index("activation")
    rows = []
    for act in dict.fromkeys(runs["activation"]):
        e = end[end["activation"] == act]
        a, lo = acc.loc[act], loss.loc[act]
        rows.append({"activation": act,
                     "first / last, init": f"{ratio.loc[(act, 'init'), 'mean']:.3g}",
                     "first / last, end": f"{ratio.loc[(act, 'end'), 'mean']:.3g}",
                     "test accuracy [95 % interval]": f"{a['mean']:.3f} [{a['low']:.3f}, {a['high']:.3f}]",
                     "test loss": f"{lo['mean']:.3f}",
                     "α at the end (range)": (f"{e['alpha_mean'].mean():.3g} ({e['alpha_min'].min():.3g} to "
                                              f"{e['alpha_max'].max():.3g})"),
                     "diverged": int(e["diverged"].sum())})
    return pd.DataFrame(rows)


def prelu_effects(frame: pd.DataFrame) -> str:
    """Test accuracy after training, paired by seed (same initial weights and batches): the fixed
    slope of PReLU's start over ReLU (what a slope adds), and PReLU over that fixed slope (what
    learning it adds); mean of the per-seed differences with its 95 % t-interval."""
    runs = _per_run(frame)
    end = runs[runs["when"] == "end"].set_index(["activation", "seed"])["test_accuracy"]
    arms = {label: (alpha, learn) for label, alpha, learn in
            frame[["activation", "alpha_init", "learn_alpha"]].drop_duplicates().itertuples(index=False)}
    relu = next((a for a, (alpha, learn) in arms.items() if alpha == 0 and not learn), None)
    learned = next((a for a, (alpha, learn) in arms.items() if learn), None)
    fixed = next((a for a, (alpha, learn) in arms.items() if learned is not None and not learn
                  and alpha == arms[learned][0]), None)
    if relu is None or learned is None or fixed is None:
        return "The runs lack ReLU, PReLU or the fixed slope PReLU starts from: no paired comparison."
    parts = []
    for name, (a, b) in (("a fixed slope over ReLU", (fixed, relu)), ("learning it over holding it", (learned, fixed))):
        diff = (end.xs(a) - end.xs(b)).rename("difference").reset_index().assign(x=0)
        band = mean_band(diff, "x", "difference").iloc[0]
        where = ("an interval containing 0: no difference these seeds can tell"
                 if not (band["low"] > 0 or band["high"] < 0) else "an interval excluding 0")
        parts.append(f"{name} ({a} minus {b}) {band['mean']:+.3f} [{band['low']:+.3f}, {band['high']:+.3f}], {where}")
    return ("**Test accuracy after training, paired by seed** (mean difference [95 % t-interval]): "
            + "; ".join(parts) + ".")


# =============================================================================================
# Figure
# =============================================================================================


def prelu_figure_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What :func:`plot_prelu` draws, panel by panel (the figure's data links): ``slopes`` (PReLU's
    mean slope per hidden layer and step over seeds), ``norms`` (every arm's gradient norm per layer
    at initialization and at its last step, geometric mean over seeds with the 95 % interval of the
    log) and ``accuracy`` (probe accuracy per arm and step, mean over seeds with its interval)."""
    learned = frame[frame["learn_alpha"].astype(bool) & np.isfinite(frame["alpha"])]
    slopes = mean_band(learned, "step", "alpha", by=["layer"])
    norms = []
    for act, f in frame.groupby("activation", sort=False):
        for when, step in (("init", 0), ("end", f["step"].max())):
            norms.append(mean_band(f[f["step"] == step], "layer", "grad_norm", log=True)
                         .assign(activation=act, when=when, step=step))
    accuracy = [mean_band(f[f["layer"] == 1], "step", "probe_accuracy").assign(activation=act)
                for act, f in frame.groupby("activation", sort=False)]
    return {"slopes": slopes, "norms": pd.concat(norms, ignore_index=True),
            "accuracy": pd.concat(accuracy, ignore_index=True)}


def plot_prelu(frame: pd.DataFrame) -> plt.Figure:
    """(a) The learned slope of each hidden layer over the SGD steps (PReLU; mean over seeds, no
    band: the table gives the range); (b, c) every layer's gradient norm at initialization and at
    the end for each arm (geometric mean over seeds, band = 95 % interval of the log); (d) probe
    accuracy over the steps. Draws :func:`prelu_figure_frames`."""
    panels = prelu_figure_frames(frame)
    acts = list(dict.fromkeys(frame["activation"]))
    colors = dict(zip(acts, _palette(len(acts))))
    styles = dict(zip(acts, ["-o", "--s", ":^", "-.v"] * len(acts)))
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.9))
    slopes = panels["slopes"]
    layers = sorted(set(slopes["layer"]))
    shades = dict(zip(layers, plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(layers), 1)))))
    for l in layers:  # means only: the bands of a dozen layers would hide each other
        m = slopes[slopes["layer"] == l]
        axes[0].plot(m["step"], m["mean"], "-", color=shades[l], label=f"layer {l}")
    norms, accuracy = panels["norms"], panels["accuracy"]
    for a in acts:
        for ax, when in ((axes[1], "init"), (axes[2], "end")):
            _band(ax, norms[(norms["activation"] == a) & (norms["when"] == when)], "layer", colors[a], a, styles[a])
        _band(axes[3], accuracy[accuracy["activation"] == a], "step", colors[a], a, styles[a], ms=2)
    axes[0].set(title="(a) learned slope per hidden layer", xlabel="SGD step", ylabel=r"slope $\alpha_l$")
    if layers:
        axes[0].legend(fontsize="small", ncol=2)
    last = int(norms[norms["when"] == "end"]["step"].max())
    for ax, title in ((axes[1], "(b) at initialization (step 0)"), (axes[2], f"(c) after training (step {last})")):
        ax.set(yscale="log", title=title, xlabel="layer l (1 = next to the input)",
               ylabel=r"$\|\nabla_{W_l} J\|_F$ (log scale)")
    axes[3].set(title="(d) probe accuracy", xlabel="SGD step", ylabel="accuracy (fraction)", ylim=(0, 1))
    axes[3].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _draw_prelu(params: Mapping[str, Any]):
    return plot_prelu(prelu_frame(params))


_register_figure("foundations-prelu", "lecture notes (Lecture 5) Ch. 1 sec. 2, eq. 1.17 (no figure there): "
                 "learned PReLU slopes per layer and per-layer gradient norms, ReLU vs leaky ReLU vs PReLU (PNG)",
                 NOTEBOOK, _draw_prelu)
