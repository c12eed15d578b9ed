r"""Does DFA escape vanishing and exploding gradients? Teaching signals layer by layer against depth.

The thesis argues (section 1.2, after Nokland 2016) that DFA is "less prone to vanishing or
exploding gradients" but never measures it. The reason is visible in the two recursions:

.. math::

    \text{BP:}\quad \delta_l = (\delta_{l+1} W_{l+1}) \odot f'(z_l)
    \;\Rightarrow\; \delta_l = e\, W_L \,\mathrm{diag}(f'_{L-1})\, W_{L-1} \cdots
    \qquad
    \text{DFA:}\quad \delta_l = (e B_l) \odot f'(z_l)

backprop's signal in layer ``l`` is a product of ``L - l`` Jacobians, so it shrinks or grows
geometrically with the distance to the output; DFA's is one random projection of the error times
one derivative, whatever the depth. Here both train the same deep MLPs on MNIST (10 classes,
softmax, cross-entropy, plain SGD), and the root mean square of every hidden layer's teaching
signal on a fixed probe batch is recorded at initialization and during training:

* ``sigmoid`` (:math:`f' \le 1/4`) and ``tanh`` with the Glorot-uniform init: the vanishing case;
* ``relu`` with the He-uniform init scaled by ``init_gain`` > 1: the exploding case (each
  backward Jacobian then multiplies the signal's size by about ``init_gain``).

Explained in: book/dfa/beyond.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import one_blas_thread, register_experiment

__all__ = [
    "SETTINGS",
    "SignalDepthConfig",
    "depth_configs",
    "depth_frame",
    "divergence_table",
    "gaps_sentence",
    "layer_ratios",
    "plot_profiles",
    "planned_tasks",
    "plot_ratios",
    "profile_frame",
    "profile_gaps",
    "ratio_frame",
    "ratio_gaps",
    "signal_depth",
    "signal_rms",
    "signal_verdict",
]

#: The three settings: (label, activation, init, init_gain).
SETTINGS: tuple[tuple[str, str, str, float], ...] = (
    ("sigmoid, Glorot", "sigmoid", "glorot_uniform", 1.0),
    ("tanh, Glorot", "tanh", "glorot_uniform", 1.0),
    ("ReLU, He x 1.5", "relu", "he_uniform", 1.5),
)


@dataclasses.dataclass(frozen=True)
class SignalDepthConfig:
    """One deep MLP trained by ``credit`` on an MNIST subset, its teaching signals recorded.

    Attributes
    ----------
    depth : hidden layers;  width : units per hidden layer
    activation, init : of every hidden layer (output: softmax);  init_gain : the initial weights
        (all layers) are multiplied by it
    credit : ``"backprop"`` or ``"dfa"`` (B uniform, scale ``1/sqrt(n_l)``)
    lr, batch_size, num_steps : plain SGD on the first ``n_train`` training images
    record_every : record the probe signals every this many steps (and at 0 and the end)
    probe_size : images after the training ones, a fixed probe batch
    seed : weights, feedback matrices and shuffles
    """

    depth: int = 8
    width: int = 256
    activation: str = "sigmoid"
    init: str = "glorot_uniform"
    init_gain: float = 1.0
    credit: str = "backprop"
    lr: float = 0.05
    batch_size: int = 64
    num_steps: int = 300
    record_every: int = 100
    n_train: int = 10_000
    probe_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.credit not in ("backprop", "dfa"):
            raise ValueError(f"credit must be 'backprop' or 'dfa', got {self.credit!r}")
        for name in ("depth", "width", "batch_size", "record_every", "n_train", "probe_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SignalDepthConfig.{name} must be an int >= 1, got {v!r}")
        if isinstance(self.num_steps, bool) or not isinstance(self.num_steps, int) or self.num_steps < 0:
            raise ValueError(f"SignalDepthConfig.num_steps must be an int >= 0, got {self.num_steps!r}")
        for name in ("lr", "init_gain"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"SignalDepthConfig.{name} must be a finite number > 0, got {v!r}")


def signal_rms(delta: np.ndarray) -> float:
    r"""Root mean square of one layer's teaching signal over a batch:
    :math:`\sqrt{\tfrac{1}{B n_l}\sum_{b,j} \delta_{bj}^2}` (independent of the batch size and the
    layer's width, so layers and depths compare)."""
    delta = np.asarray(delta, dtype=np.float64)
    if delta.ndim != 2 or delta.size == 0:
        raise ValueError(f"a teaching signal is a non-empty (batch, units) array, got shape {delta.shape}")
    return float(np.sqrt(np.mean(delta * delta)))


@register_experiment("dfa_signal_depth", SignalDepthConfig,
                     "per-layer teaching-signal size of BP or DFA in a deep MLP, at init and in training")
@one_blas_thread
def signal_depth(config: SignalDepthConfig) -> pd.DataFrame:
    """Train and record, on the probe batch, every hidden layer's signal RMS.

    Returns one row per (step, hidden layer): ``step, layer`` (1 = next to the input),
    ``signal_rms``, ``probe_loss``, ``probe_accuracy``, ``diverged`` (a non-finite loss; training
    stops there).
    """
    from threadpoolctl import threadpool_limits

    from ..engine import Network
    from ..nn import MLP
    from .foundations import _mnist_subset, sgd_steps_recording

    X, y = _mnist_subset("train", 0, config.n_train + config.probe_size)
    Xt, yt = X[:config.n_train], y[:config.n_train]
    Xp, yp = X[config.n_train:], y[config.n_train:]
    rng = np.random.default_rng(config.seed)
    mlp = MLP.create([X.shape[1], *[config.width] * config.depth, 10],
                     [config.activation] * config.depth + ["softmax"], init=config.init, rng=rng)
    for W in mlp.weights:
        W *= config.init_gain
    net = Network(mlp, credit=config.credit, loss="cce", lr=config.lr, optimizer="sgd", rng=rng)
    rows: list[dict] = []

    def record(step: int) -> bool:
        _, _, deltas = net.signals(Xp, yp)
        ev = net.evaluate(Xp, yp)
        bad = not math.isfinite(ev.loss)
        for l, d in enumerate(deltas[:-1], start=1):
            rows.append({"step": step, "layer": l, "signal_rms": signal_rms(d), "probe_loss": ev.loss,
                         "probe_accuracy": ev.accuracy, "diverged": bad})
        return bad

    with threadpool_limits(1):
        sgd_steps_recording(net, Xt, yt, rng, config.num_steps, config.batch_size, config.record_every,
                            record)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# what the page shows
# --------------------------------------------------------------------------------------------------


def depth_configs(params: Mapping[str, Any]) -> list[SignalDepthConfig]:
    """Every run of the page's section: each setting of :data:`SETTINGS` x ``signal_depths`` x
    BP/DFA x ``signal_seeds``, with ``signal_steps`` SGD steps at ``signal_lr``."""
    out = []
    for _, act, init, gain in SETTINGS:
        for depth in params["signal_depths"]:
            for credit in ("backprop", "dfa"):
                for seed in params["signal_seeds"]:
                    out.append(SignalDepthConfig(depth=int(depth), activation=act, init=init,
                                                 init_gain=float(gain), credit=credit,
                                                 lr=float(params["signal_lr"]),
                                                 num_steps=int(params["signal_steps"]),
                                                 record_every=max(1, int(params["signal_steps"]) // 3),
                                                 n_train=int(params["signal_n_train"]), seed=int(seed)))
    return out


def depth_frame(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """The runs of :func:`depth_configs` (through ``store``), with a ``setting`` label column."""
    from ..sweep import run_sweep

    configs = depth_configs(params)
    frame = run_sweep(signal_depth, configs, n_jobs=n_jobs, store=store, name="dfa_signal_depth",
                      backend="loky" if n_jobs != 1 else "sequential")
    label = {(act, init, gain): name for name, act, init, gain in SETTINGS}
    frame["setting"] = [label[(a, i, float(g))] for a, i, g in
                        zip(frame["activation"], frame["init"], frame["init_gain"])]
    frame["rule"] = frame["credit"].map({"backprop": "BP", "dfa": "DFA"})
    return frame


def layer_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    r"""Per run and recorded step: :math:`\rho = \mathrm{rms}(\delta_1) / \mathrm{rms}(\delta_{L-1})`,
    the first hidden layer's signal over the last hidden layer's (1 = no decay with depth; runs
    with one hidden layer have no ratio). Mean and range over seeds per (setting, rule, depth,
    step): columns ``ratio`` (geometric mean), ``low``, ``high``, ``seeds``."""
    rows = []
    keys = ["setting", "rule", "depth", "seed", "step"]
    for key, part in frame[frame["depth"] > 1].groupby(keys, sort=False):
        first = part.loc[part["layer"] == 1, "signal_rms"].iloc[0]
        last = part.loc[part["layer"] == part["layer"].max(), "signal_rms"].iloc[0]
        with np.errstate(invalid="ignore", over="ignore"):  # a diverged run's inf / inf is NaN: no ratio
            rows.append(dict(zip(keys, key), ratio=first / last if last > 0 else np.nan))
    runs = pd.DataFrame(rows)
    if runs.empty:
        return pd.DataFrame(columns=["setting", "rule", "depth", "step", "ratio", "low", "high", "seeds"])
    log = np.log10(runs["ratio"].where(runs["ratio"] > 0))
    runs = runs.assign(log=log)
    out = (runs.groupby(["setting", "rule", "depth", "step"], sort=False)
           .agg(log=("log", "mean"), low=("ratio", "min"), high=("ratio", "max"), seeds=("seed", "nunique"))
           .reset_index())
    out["ratio"] = 10.0 ** out.pop("log")
    return out[["setting", "rule", "depth", "step", "ratio", "low", "high", "seeds"]]


def signal_verdict(ratios: pd.DataFrame, min_depth: int = 4) -> tuple[bool, bool, str]:
    r"""Does "DFA is less prone to vanishing or exploding gradients" survive, for the signal sizes?

    Per (setting, depth :math:`\ge` ``min_depth``, recorded step): is DFA's layer ratio closer to 1
    than backprop's on a log scale, :math:`|\log\rho_\text{DFA}| < |\log\rho_\text{BP}|`
    (geometric means over seeds)? A rule whose runs have diverged by that step (no ratio) is not
    closer; a step where both have diverged is not compared. Two verdicts, never merged: **at
    initialization** (the claim about the architecture: every case at step 0) and **during
    training** (every later recorded step). Returns both and a sentence with the numbers at the
    deepest net.
    """
    deep = ratios[ratios["depth"] >= min_depth]
    if deep.empty:
        return False, False, f"no run with at least {min_depth} hidden layers: the claim is not tested here."
    wide = deep.pivot_table(index=["setting", "depth", "step"], columns="rule", values="ratio",
                            dropna=False)
    if not {"BP", "DFA"} <= set(wide.columns):
        return False, False, "BP and DFA were not both run: the claim is not tested here."
    bp, dfa = np.log10(wide["BP"]).abs(), np.log10(wide["DFA"]).abs()
    closer = ((dfa < bp) | (bp.isna() & dfa.notna()))[~(bp.isna() & dfa.isna())]
    at_init = closer[closer.index.get_level_values("step") == 0]
    later = closer[closer.index.get_level_values("step") > 0]
    init_holds, train_holds = bool(at_init.all()), bool(later.all())
    top = int(deep["depth"].max())
    parts = []
    for setting in dict.fromkeys(deep["setting"]):
        w = wide.loc[setting].loc[top].dropna()
        if w.empty:
            parts.append(f"{setting}: both diverged before any ratio was recorded")
            continue
        a, b = w.index.min(), w.index.max()
        parts.append(f"{setting}: BP {w.loc[a, 'BP']:.2g} -> {w.loc[b, 'BP']:.2g}, DFA "
                     f"{w.loc[a, 'DFA']:.2g} -> {w.loc[b, 'DFA']:.2g} (steps {a} -> {b})")
    failed = [f"{s}, {d} layers, step {t}" for (s, d, t), ok in closer.items() if not ok]

    def word(ok):
        return "survives" if ok else "does not survive"

    text = (f"**At initialization the claim {word(init_holds)}** (DFA's first-to-last hidden-layer "
            f"signal ratio is closer to 1 than backprop's in {int(at_init.sum())} of {len(at_init)} "
            f"(setting, depth >= {min_depth}) cases); **during training it {word(train_holds)}** "
            f"({int(later.sum())} of {len(later)} (setting, depth, step) cases). At {top} hidden layers "
            "(geometric mean over seeds, from initialization to the last step both rules reached): "
            + "; ".join(parts) + "."
            + (f" Cases where it fails: {'; '.join(failed[:6])}." if failed else ""))
    return init_holds, train_holds, text


def divergence_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (setting, rule, depth): runs, how many diverged (a non-finite probe loss), the first
    step at which one did, and the final probe accuracy of those that did not (mean)."""
    last = frame.groupby(["setting", "rule", "depth", "seed"], sort=False).agg(
        diverged=("diverged", "max"), step=("step", "max"), accuracy=("probe_accuracy", "last"))
    out = last.groupby(["setting", "rule", "depth"], sort=False).agg(
        runs=("diverged", "size"), diverged=("diverged", "sum"))
    out["first divergence at step"] = last[last["diverged"]].groupby(
        ["setting", "rule", "depth"], sort=False)["step"].min()
    out["final probe accuracy (finite runs)"] = last[~last["diverged"].astype(bool)].groupby(
        ["setting", "rule", "depth"], sort=False)["accuracy"].mean()
    out["diverged"] = out["diverged"].astype(int)
    return out.reset_index()


def profile_frame(frame: pd.DataFrame, depth: int) -> pd.DataFrame:
    """The rows :func:`plot_profiles` draws: the ``depth``-layer nets at the first and the last
    recorded step, with a ``when`` label (``"initialization"``, ``"after <n> steps"``)."""
    part = frame[frame["depth"] == depth].copy()
    first, last = part["step"].min(), part["step"].max()
    part = part[part["step"].isin([first, last])]
    part["when"] = np.where(part["step"] == first, "initialization", f"after {last} steps")
    return part


def _finite_keys(part: pd.DataFrame, value: str, keys: list[str]) -> set[tuple]:
    ok = part[np.isfinite(part[value].to_numpy(dtype=float))]
    return set(ok[keys].itertuples(index=False, name=None))


def profile_gaps(frame: pd.DataFrame, depth: int) -> list[tuple[str, str, str]]:
    """``(setting, rule, when)`` that :func:`plot_profiles` has no line for: no seed reached that
    step with a finite signal (training stops where a run diverges)."""
    part = profile_frame(frame, depth)
    whole = frame[frame["depth"] == depth]
    drawn = _finite_keys(part, "signal_rms", ["setting", "rule", "when"])
    return [(s_, r, w) for s_ in dict.fromkeys(whole["setting"]) for r in dict.fromkeys(whole["rule"])
            for w in dict.fromkeys(part["when"]) if (s_, r, w) not in drawn]


def ratio_gaps(ratios: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """``(setting, rule, when, depths)`` that :func:`plot_ratios` has no point for, the depths
    joined as text: no seed reached that step with a finite ratio."""
    part = ratio_frame(ratios)
    drawn = _finite_keys(part, "ratio", ["setting", "rule", "when", "depth"])
    out = []
    for s_ in dict.fromkeys(ratios["setting"]):
        for r in dict.fromkeys(ratios["rule"]):
            for w in dict.fromkeys(part["when"]):
                gone = [str(d) for d in sorted(set(ratios["depth"])) if (s_, r, w, d) not in drawn]
                if gone:
                    out.append((s_, r, w, ", ".join(gone)))
    return out


def gaps_sentence(gaps) -> str:
    """The caption's sentence naming what a figure could not draw ('' when nothing is missing)."""
    if not gaps:
        return ""
    items = [f"{g[1]} on {g[0]} {g[2]}" + (f" ({g[3]} hidden layers)" if len(g) > 3 else "") for g in gaps]
    return (" Not drawn, because every seed had diverged by then (training stops there): "
            + "; ".join(items) + ".")


def plot_profiles(frame: pd.DataFrame, depth: int):
    """Signal RMS per hidden layer (log scale) for the ``depth``-layer nets, BP against DFA, at
    the first and last recorded step (:func:`profile_frame`); one panel per setting, a band over
    seeds."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    part = profile_frame(frame, depth)
    settings = list(dict.fromkeys(part["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 3.9), squeeze=False)
    for i, (ax, setting) in enumerate(zip(axes[0], settings)):
        sns.lineplot(data=part[part["setting"] == setting], x="layer", y="signal_rms", hue="rule",
                     style="when", hue_order=["BP", "DFA"], marker="o", errorbar=("pi", 100), ax=ax,
                     legend=i == len(settings) - 1)
        ax.set(yscale="log", xlabel="hidden layer (1 = next to the input)",
               ylabel="teaching signal RMS (log scale)", title=setting)
        gone = [f"{rule} {when}: diverged" for s_, rule, when in profile_gaps(frame, depth) if s_ == setting]
        if gone:  # a line that is missing says why, on its panel
            ax.text(0.02, 0.02, "\n".join(gone), transform=ax.transAxes, fontsize=8, va="bottom",
                    color="0.3")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def ratio_frame(ratios: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`plot_ratios` draws: the ratios of :func:`layer_ratios` at the first and the
    last recorded step, with a ``when`` label."""
    first, last = ratios["step"].min(), ratios["step"].max()
    part = ratios[ratios["step"].isin([first, last])].copy()
    part["when"] = np.where(part["step"] == first, "initialization", f"after {last} steps")
    return part


def plot_ratios(ratios: pd.DataFrame):
    """The layer ratio of :func:`layer_ratios` against depth at initialization and at the end
    (:func:`ratio_frame`), per setting (log scale; 1 = no decay)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    part = ratio_frame(ratios)
    settings = list(dict.fromkeys(part["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 3.9), squeeze=False)
    for i, (ax, setting) in enumerate(zip(axes[0], settings)):
        sub = part[part["setting"] == setting]
        sns.lineplot(data=sub, x="depth", y="ratio", hue="rule", style="when", hue_order=["BP", "DFA"],
                     marker="o", ax=ax, legend=i == len(settings) - 1)
        ax.axhline(1.0, color="0.5", lw=1)
        ax.set(yscale="log", xlabel="hidden layers", title=setting,
               ylabel="rms(delta_1) / rms(delta_last hidden)")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def planned_tasks(params: Mapping[str, Any]) -> list:
    """The build's precompute tasks for :func:`depth_configs` (the beyond page's planner adds them
    to its parity runs)."""
    from . import Task

    return [Task("dfa_signal_depth", c, c.depth * c.num_steps / 100 + 1.0) for c in depth_configs(params)]
