r"""Vanishing and exploding gradients, symmetry and initialization
(book/foundations/vanishing.ipynb): per-layer gradient norms of a deep MLP (sigmoid vs ReLU), a
scaled-up ReLU net with and without gradient clipping, hidden neurons that stay copies of each
other under a constant init, inits of few bits per weight, and the pre-activation variance per
layer against its predictions; the page's frames, verdicts, figures and artifact.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation" (sec. 3.2 He
uniform); [notes] Alrabeiah (2022), Lecture 5 (eqs. 1.15-1.16 sigmoid and tanh, eq. 1.18 entropy,
Figure 1.3).

Explained in: book/foundations/vanishing.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..nn.activations import get_activation
from ..nn.mlp import MLP
from ..training import epoch_batches
from . import one_blas_thread, register_experiment
from .foundations import (PageRun, _mnist_subset, _pick, _seeded_network, engine_gradients, run_listed,
                          seed_list, seed_runs,
                          sgd_steps_recording)
from .foundations_plots import _band, _palette, _register_figure, activation_label, mean_band


__all__ = [
    "ENTROPY_LEVELS",
    "EXPLODING_RUNS",
    "EntropyInitConfig",
    "ExplodingConfig",
    "GRADIENT_FLOW_ACTIVATIONS",
    "GradientFlowConfig",
    "NOTEBOOK",
    "SYMMETRY_INITS",
    "SymmetryConfig",
    "VARIANCE_INITS",
    "VarianceConfig",
    "activations_frame",
    "entropy_frame",
    "entropy_init",
    "entropy_label",
    "entropy_runs",
    "entropy_verdict",
    "exploding",
    "exploding_frame",
    "exploding_label",
    "exploding_runs",
    "exploding_verdict",
    "gradient_flow",
    "gradient_flow_frame",
    "gradient_flow_runs",
    "init_entropy_bits",
    "init_weight_variance",
    "page_runs",
    "plot_activations",
    "plot_exploding",
    "plot_gradient_flow",
    "plot_symmetry",
    "plot_variance",
    "quantized_levels",
    "relu_second_moment_gain",
    "symmetry",
    "symmetry_frame",
    "symmetry_runs",
    "variance_frame",
    "variance_per_layer",
    "variance_runs",
]


NOTEBOOK = "book/foundations/vanishing.ipynb"


# =============================================================================================
# Runs
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class GradientFlowConfig:
    """A deep MLP on an MNIST subset; per-layer gradient norms on a fixed probe batch while training.

    ``depth`` hidden layers of ``width`` units with ``activation``, softmax output, CCE, plain SGD.
    """

    activation: str = "sigmoid"
    init: str = "he_uniform"
    depth: int = 8
    width: int = 64
    n_train: int = 2000
    probe_size: int = 500
    num_epochs: int = 2
    batch_size: int = 50
    lr: float = 0.1
    record_every: int = 10
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_gradient_flow", GradientFlowConfig,
                     "per-layer gradient norms of a deep MLP at init and during training")
@one_blas_thread
def gradient_flow(config: GradientFlowConfig) -> pd.DataFrame:
    r"""Per-layer :math:`\lVert\nabla_{W_l} J\rVert_F` on a probe batch, every ``record_every`` steps.

    Returns one row per (step, layer): ``step, epoch, layer, grad_norm, probe_loss, probe_accuracy``.
    The probe batch is the ``probe_size`` training images after the ``n_train`` used for training.
    """
    if config.depth < 1 or config.width < 1:
        raise ValueError("depth and width must be >= 1")
    if config.record_every < 1:
        raise ValueError("record_every must be >= 1")
    X, y, rng, net = _seeded_network(config, config.n_train + config.probe_size,
                                     [config.width] * config.depth + [10],
                                     [config.activation] * config.depth + ["softmax"], config.init,
                                     lr=config.lr)
    Xt, yt = X[:config.n_train], y[:config.n_train]
    Xp, yp = X[config.n_train:], y[config.n_train:]
    rows: list[dict] = []

    def record(step: int, epoch: int) -> None:
        gW, _ = engine_gradients(net.mlp, "cce", Xp, yp)
        ev = net.evaluate(Xp, yp)
        for l, g in enumerate(gW, start=1):
            rows.append({"step": step, "epoch": epoch, "layer": l, "grad_norm": float(np.linalg.norm(g)),
                         "probe_loss": ev.loss, "probe_accuracy": ev.accuracy})

    step = 0
    for epoch in range(config.num_epochs):
        for idx in epoch_batches(config.n_train, config.batch_size, rng):
            if step % config.record_every == 0:
                record(step, epoch)
            net.train_step(Xt[idx], yt[idx])
            step += 1
    record(step, config.num_epochs)
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class ExplodingConfig:
    """Vanishing's twin: a deep ReLU MLP whose initial weights are ``init_gain`` times He's, so each
    backward Jacobian multiplies the signal by about ``init_gain``; trained by plain SGD, with each
    layer's gradient clipped to norm ``clip`` (0 = no clipping,
    :class:`~learning_rules.updates.clipping.ClipLayerNorm`).
    """

    init_gain: float = 1.5
    clip: float = 0.0
    activation: str = "relu"
    init: str = "he_uniform"
    depth: int = 10
    width: int = 128
    n_train: int = 2000
    probe_size: int = 500
    num_steps: int = 400
    batch_size: int = 50
    lr: float = 0.05
    record_every: int = 20
    seed: int = 0
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.init_gain) and self.init_gain > 0):
            raise ValueError(f"init_gain must be a finite number > 0, got {self.init_gain!r}")
        if not (math.isfinite(self.clip) and self.clip >= 0):
            raise ValueError(f"clip must be 0 (off) or a finite number > 0, got {self.clip!r}")


@register_experiment("foundations_exploding", ExplodingConfig,
                     "per-layer gradient norms of a deep ReLU MLP with scaled-up init, clipped or not")
@one_blas_thread
def exploding(config: ExplodingConfig) -> pd.DataFrame:
    r"""Per-layer :math:`\lVert\nabla_{W_l} J\rVert_F` (unclipped, on the probe batch) while
    training, every ``record_every`` steps and at the end.

    Returns one row per (step, layer): ``step, layer, grad_norm, probe_loss, probe_accuracy,
    clipped`` (steps so far at which that layer's gradient was clipped), ``diverged`` (a
    non-finite probe loss; training stops there).
    """
    from ..engine import make_weight_update
    from ..updates.clipping import ClipLayerNorm

    update = make_weight_update("gradient", config.lr)
    if config.clip > 0:
        update = ClipLayerNorm(update, config.clip)
    X, y, rng, net = _seeded_network(config, config.n_train + config.probe_size,
                                     [config.width] * config.depth + [10],
                                     [config.activation] * config.depth + ["softmax"], config.init,
                                     lr=config.lr, update=update)
    for W in net.mlp.weights:
        W *= config.init_gain
    Xt, yt = X[:config.n_train], y[:config.n_train]
    Xp, yp = X[config.n_train:], y[config.n_train:]
    rows: list[dict] = []

    def record(step: int) -> bool:
        gW, _ = engine_gradients(net.mlp, "cce", Xp, yp)
        ev = net.evaluate(Xp, yp)
        bad = not math.isfinite(ev.loss)
        clipped = getattr(update, "clipped_steps", [0] * len(gW))
        for l, g in enumerate(gW, start=1):
            rows.append({"step": step, "layer": l, "grad_norm": float(np.linalg.norm(g)),
                         "probe_loss": ev.loss, "probe_accuracy": ev.accuracy,
                         "clipped": int(clipped[l - 1]), "diverged": bad})
        return bad

    sgd_steps_recording(net, Xt, yt, rng, config.num_steps, config.batch_size, config.record_every, record)
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class SymmetryConfig:
    """One hidden layer trained from ``init``; do the hidden neurons stay copies of each other?"""

    init: str = "constant:0.05"
    activation: str = "sigmoid"
    hidden: int = 16
    n_train: int = 1000
    num_epochs: int = 3
    batch_size: int = 20
    lr: float = 0.5
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_symmetry", SymmetryConfig,
                     "distinct hidden neurons after training from a constant vs a random init")
@one_blas_thread
def symmetry(config: SymmetryConfig) -> pd.DataFrame:
    r"""Per epoch: the number of distinct rows of :math:`W_1` and their spread.

    ``spread`` is :math:`\max_j \lVert W_{1,j\cdot} - \bar W_{1}\rVert` (the largest distance of a
    neuron's incoming weights from the mean neuron); 0 means all hidden neurons are identical.
    Columns: ``epoch, distinct_neurons, spread, train_accuracy``.
    """
    X, y, _, net = _seeded_network(config, config.n_train, [config.hidden, 10],
                                   [config.activation, "softmax"], config.init, lr=config.lr)
    rows = []
    for epoch in range(config.num_epochs + 1):
        if epoch > 0:
            net.fit(X, y, num_epochs=1, batch_size=config.batch_size, backend="reference")
        W1 = net.mlp.weights[0]
        rows.append({"epoch": epoch, "distinct_neurons": int(len(np.unique(W1, axis=0))),
                     "spread": float(np.max(np.linalg.norm(W1 - W1.mean(axis=0), axis=1))),
                     "train_accuracy": net.evaluate(X, y).accuracy})
    return pd.DataFrame(rows)


def quantized_levels(levels: int) -> np.ndarray:
    r"""``levels`` equally likely values with mean 0 and variance 1, equally spaced: the midpoints
    of ``levels`` equal bins of [-1, 1], :math:`\ell_i = (2i + 1 - K)/K`, divided by their standard
    deviation :math:`\sqrt{(K^2 - 1)/(3K^2)}`. One level (:math:`K = 1`) is the constant 1."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an int >= 1, got {levels!r}")
    if levels == 1:
        return np.ones(1)
    raw = (2.0 * np.arange(levels) + 1.0 - levels) / levels
    return raw / np.sqrt((levels ** 2 - 1) / (3.0 * levels ** 2))


def init_entropy_bits(levels: int) -> float:
    r"""Entropy of one weight drawn uniformly from ``levels`` values, the notes' eq. 1.18 in bits:
    :math:`H = -\sum_{i=1}^{K} \tfrac1K \log_2 \tfrac1K = \log_2 K` (0 for a constant)."""
    p = np.full(int(levels), 1.0 / int(levels))
    return float(-np.sum(p * np.log2(p))) + 0.0  # + 0.0: no "-0" for the constant


@dataclasses.dataclass(frozen=True)
class EntropyInitConfig:
    r"""The symmetry network (one sigmoid hidden layer) with every weight drawn uniformly from
    ``levels`` values of He's variance (:func:`quantized_levels` times :math:`\sqrt{2/p}`): the
    initialization's entropy is :math:`\log_2 K` bits per weight. ``levels = 0``: He uniform
    itself (continuous)."""

    levels: int = 2
    activation: str = "sigmoid"
    hidden: int = 16
    n_train: int = 1000
    num_epochs: int = 3
    batch_size: int = 20
    lr: float = 0.5
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_entropy_init", EntropyInitConfig,
                     "distinct hidden neurons after training from inits of 0, 1, 2, ... bits per weight")
@one_blas_thread
def entropy_init(config: EntropyInitConfig) -> pd.DataFrame:
    """Per epoch: distinct rows of :math:`W_1` and the training accuracy, after an initialization
    with ``levels`` values per weight. Columns: ``epoch, distinct_neurons, train_accuracy``."""
    X, y, rng, net = _seeded_network(config, config.n_train, [config.hidden, 10],
                                     [config.activation, "softmax"], "he_uniform", lr=config.lr)
    if config.levels:
        values = quantized_levels(config.levels)
        for W in net.mlp.weights:
            idx = rng.integers(0, len(values), size=W.shape)
            W[...] = np.sqrt(2.0 / W.shape[1]) * values[idx]
    rows = []
    for epoch in range(config.num_epochs + 1):
        if epoch > 0:
            net.fit(X, y, num_epochs=1, batch_size=config.batch_size, backend="reference")
        rows.append({"epoch": epoch, "distinct_neurons": int(len(np.unique(net.mlp.weights[0], axis=0))),
                     "train_accuracy": net.evaluate(X, y).accuracy})
    return pd.DataFrame(rows)


def init_weight_variance(init: str, fan_in: int) -> float:
    r"""Variance of one weight under a named initializer.

    .. math::
        U[-a, a]: \operatorname{Var} = a^2/3, \quad
        \text{uniform } (a=1): 1/3, \quad \text{he\_uniform } (a=\sqrt{6/p}): 2/p, \quad
        \mathcal N(0,1): 1, \quad \mathcal N(0, 1/p): 1/p

    ``p`` is the fan-in (the ablation paper's "number of rows of W", sec. 3.2.2, which in this book's
    layout ``(n_out, n_in)`` is the number of *columns*).
    """
    table = {"uniform": 1.0 / 3.0, "he_uniform": 2.0 / fan_in, "normal": 1.0,
             "normal_scaled": 1.0 / fan_in, "he_normal": 2.0 / fan_in,
             "pytorch": 1.0 / (3.0 * fan_in)}
    if init not in table:
        raise ValueError(f"no variance formula for initializer {init!r}; valid: {', '.join(table)}")
    return table[init]


def relu_second_moment_gain(slope: float) -> float:
    r""":math:`E[f(z)^2] / \operatorname{Var}(z)` for leaky ReLU of slope :math:`\alpha`, :math:`z` symmetric about 0.

    .. math:: E[f(z)^2] = \tfrac12 E[z^2] + \tfrac12\alpha^2 E[z^2] = \frac{1+\alpha^2}{2}\operatorname{Var}(z)

    (ReLU: :math:`\alpha = 0`, gain 1/2, hence He's variance :math:`2/p` [ablation sec. 3.2.2].)
    """
    return (1.0 + float(slope) ** 2) / 2.0


@dataclasses.dataclass(frozen=True)
class VarianceConfig:
    """Pre-activation variance per layer at initialization, on MNIST images."""

    init: str = "he_uniform"
    activation: str = "leaky_relu:0.1"
    depth: int = 8
    width: int = 128
    n_samples: int = 1000
    seed: int = 0
    dataset: str = "mnist"


@register_experiment("foundations_variance", VarianceConfig,
                     "measured vs predicted pre-activation variance per layer at initialization")
@one_blas_thread
def variance_per_layer(config: VarianceConfig) -> pd.DataFrame:
    r"""Measured :math:`\operatorname{Var}(z_l)` next to two predictions.

    .. math::
        \operatorname{Var}(z_{l}) \approx n_{l-1}\operatorname{Var}(w)\,E[h_{l-1}^2] \quad\text{(one step,
        from the measured } E[h_{l-1}^2]\text{)}, \qquad
        \operatorname{Var}(z_l) \approx \operatorname{Var}(z_1)\,\big(n\operatorname{Var}(w)\tfrac{1+\alpha^2}{2}\big)^{l-1}
        \quad\text{(chained)}

    Returns rows ``layer, var_z, mean_sq_h, predicted_one_step, predicted_chain``. The variance of
    ``z`` is taken over samples and units together (weights are zero-mean, so :math:`E[z] \approx 0`).
    """
    act = get_activation(config.activation)
    slope = float(getattr(act, "slope", 0.0)) if act.name in ("leaky_relu", "relu") else None
    if slope is None:
        raise ValueError(f"the chained prediction needs relu or leaky_relu, got {config.activation!r}")
    X, _ = _mnist_subset("train", 0, config.n_samples, config.dataset)
    rng = np.random.default_rng(config.seed)
    sizes = [X.shape[1]] + [config.width] * config.depth
    mlp = MLP.create(sizes, [config.activation] * config.depth, init=config.init, rng=rng)
    cache = mlp.forward(X)
    rows = []
    gain = relu_second_moment_gain(slope)
    first = None
    for l in range(1, config.depth + 1):
        n_in = sizes[l - 1]
        var_w = init_weight_variance(config.init, n_in)
        var_z = float(np.mean(cache.z[l] ** 2))
        one_step = n_in * var_w * float(np.mean(np.sum(cache.h[l - 1] ** 2, axis=1)) / n_in)
        if first is None:
            first = one_step
            chain = one_step
        else:
            chain = first * (n_in * var_w * gain) ** (l - 1)
        rows.append({"layer": l, "var_z": var_z, "mean_sq_h": float(np.mean(cache.h[l] ** 2)),
                     "predicted_one_step": one_step, "predicted_chain": chain})
    return pd.DataFrame(rows)


# =============================================================================================
# What the page shows, built from its parameters (shared by the notebook and the artifact)
# =============================================================================================


GRADIENT_FLOW_ACTIVATIONS = ("sigmoid", "relu", "leaky_relu:0.1")


def gradient_flow_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`gradient_flow` for each activation of :data:`GRADIENT_FLOW_ACTIVATIONS` and each seed
    of :func:`seed_list` (labels ``seed``, ``activation``)."""
    base = GradientFlowConfig(**_pick(params, GradientFlowConfig, n_train="flow_n_train",
                                      num_epochs="flow_epochs"))
    return [r for act in GRADIENT_FLOW_ACTIVATIONS
            for r in seed_runs("foundations_gradient_flow", dataclasses.replace(base, activation=act),
                               seed_list(params), activation=act)]


def gradient_flow_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`gradient_flow_runs`, stacked (columns ``seed``, ``activation``)."""
    return run_listed(gradient_flow_runs(params))


#: The runs of the exploding-gradient section: (label, init_gain, clip).
EXPLODING_RUNS: tuple[tuple[float, bool], ...] = ((1.0, False), (1.5, False), (1.5, True))


def exploding_label(init_gain: float, clip: float) -> str:
    """``"He"``, ``"He x 1.5"``, ``"He x 1.5, clipped at 1"``."""
    name = "He" if init_gain == 1.0 else f"He x {init_gain:g}"
    return name + (f", clipped at {clip:g}" if clip > 0 else "")


def exploding_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`exploding` for each run of :data:`EXPLODING_RUNS` ((init gain, clipped?)) and each
    seed of :func:`seed_list` (labels ``seed``, ``run``, ``init_gain``, ``clip``);
    ``params["clip"]`` is the clipped runs' norm."""
    base = ExplodingConfig(**_pick(params, ExplodingConfig, num_steps="explode_steps",
                                   depth="explode_depth", width="explode_width",
                                   n_train="flow_n_train", lr="explode_lr"))
    norm = float(params.get("clip", 1.0))
    runs = []
    for gain, clipped in EXPLODING_RUNS:
        clip = norm if clipped else 0.0
        runs += seed_runs("foundations_exploding", dataclasses.replace(base, init_gain=gain, clip=clip),
                          seed_list(params), run=exploding_label(gain, clip), init_gain=gain, clip=clip)
    return runs


def exploding_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`exploding_runs`, stacked (columns ``seed``, ``run``, ``init_gain``,
    ``clip``)."""
    return run_listed(exploding_runs(params))


def exploding_verdict(frame: pd.DataFrame) -> tuple[bool, str]:
    """Does clipping tame the exploding net? It does when the scaled-up unclipped runs
    (``init_gain > 1``, ``clip == 0``) diverge in some seed, or end at least 0.1 less accurate than
    the clipped ones, and no clipped run diverges. Returns the verdict and a sentence with the
    per-run numbers (runs, diverged, final probe accuracy of the runs that did not diverge)."""
    keys = ["run", "init_gain", "clip"]
    last = frame.sort_values("step").groupby([*keys, "seed"], sort=False).agg(
        diverged=("diverged", "max"), accuracy=("probe_accuracy", "last"))
    per = last.groupby(keys, sort=False).agg(runs=("diverged", "size"), diverged=("diverged", "sum"))
    finite = last[~last["diverged"].astype(bool)]
    per["accuracy"] = finite.groupby(keys, sort=False)["accuracy"].mean().reindex(per.index)
    per = per.reset_index()
    scaled = per[(per["init_gain"] > 1) & (per["clip"] == 0)]
    clipped = per[(per["init_gain"] > 1) & (per["clip"] > 0)]
    if scaled.empty or clipped.empty:
        return False, "no scaled-up run with and without clipping: the question is not tested here."
    u, c = scaled.iloc[0], clipped.iloc[0]
    worse = u["diverged"] > 0 or (np.isfinite(c["accuracy"]) and not (u["accuracy"] >= c["accuracy"] - 0.1))
    holds = bool(worse and c["diverged"] == 0)
    parts = [f"{r.run}: {int(r.diverged)} of {int(r.runs)} runs diverged"
             + (f", final probe accuracy {r.accuracy:.3f} (runs that did not diverge)"
                if np.isfinite(r.accuracy) else "")
             for r in per.itertuples(index=False)]
    return holds, (f"**Clipping {'tames' if holds else 'does not tame'} the exploding net**: "
                   + "; ".join(parts) + ".")


def _symmetry_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The page parameters the symmetry and entropy sections take: ``seed``, ``n_seeds``,
    ``sym_epochs`` (their network, data, batch size and rate are their configs' own, not the
    gradient-flow section's ``batch_size`` and ``lr``)."""
    return {k: params[k] for k in ("seed", "n_seeds", "sym_epochs") if k in params}


#: The symmetry section's initializers: a constant start and He's random one.
SYMMETRY_INITS: tuple[str, ...] = ("constant:0.05", "he_uniform")


def symmetry_runs(params: Mapping[str, Any], inits: Sequence[str] = SYMMETRY_INITS) -> list[PageRun]:
    """:func:`symmetry` for each initializer and seed (labels ``seed``, ``init``); of the page's
    parameters only ``seed``, ``n_seeds`` and ``sym_epochs`` apply (the rest is the config's)."""
    base = SymmetryConfig(**_pick(_symmetry_params(params), SymmetryConfig, num_epochs="sym_epochs"))
    return [r for init in inits for r in seed_runs("foundations_symmetry", dataclasses.replace(base, init=init),
                                                   seed_list(params), init=init)]


def symmetry_frame(params: Mapping[str, Any], inits: Sequence[str] = SYMMETRY_INITS) -> pd.DataFrame:
    """The runs of :func:`symmetry_runs`, stacked (columns ``seed``, ``init``)."""
    return run_listed(symmetry_runs(params, inits))


#: The entropy section's initializations: levels per weight (0 = continuous He uniform).
ENTROPY_LEVELS: tuple[int, ...] = (1, 2, 4, 16, 0)


def entropy_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`entropy_init` for each of :data:`ENTROPY_LEVELS` and each seed (labels ``seed``,
    ``levels``, ``bits``; ``bits`` is NaN for the continuous init); parameters as
    :func:`symmetry_runs`."""
    base = EntropyInitConfig(**_pick(_symmetry_params(params), EntropyInitConfig, num_epochs="sym_epochs"))
    return [r for k in ENTROPY_LEVELS
            for r in seed_runs("foundations_entropy_init", dataclasses.replace(base, levels=k),
                               seed_list(params), levels=k, bits=init_entropy_bits(k) if k else np.nan)]


def entropy_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`entropy_runs`, stacked (columns ``seed``, ``levels``, ``bits``)."""
    return run_listed(entropy_runs(params))


#: The variance section's laws: U[-1, 1] and He uniform.
VARIANCE_INITS: tuple[str, ...] = ("uniform", "he_uniform")


def variance_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """:func:`variance_per_layer` for each law of :data:`VARIANCE_INITS`, at seed ``params["seed"]``
    (``var_depth`` layers of ``var_width``, ``var_samples`` images; label ``init``)."""
    base = VarianceConfig(**_pick(params, VarianceConfig, depth="var_depth", width="var_width",
                                  n_samples="var_samples"))
    return [PageRun("foundations_variance", dataclasses.replace(base, init=init), {"init": init})
            for init in VARIANCE_INITS]


def variance_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The runs of :func:`variance_runs`, stacked (column ``init``)."""
    return run_listed(variance_runs(params))


def page_runs(params: Mapping[str, Any]) -> list[PageRun]:
    """Every stored run the vanishing page shows, from its parameters: gradient flow, exploding,
    symmetry, entropy, variance and the PReLU section (:func:`.foundations_prelu.prelu_runs`)."""
    from .foundations_prelu import prelu_runs

    return (gradient_flow_runs(params) + exploding_runs(params) + symmetry_runs(params)
            + entropy_runs(params) + variance_runs(params) + prelu_runs(params))


def _register_planner() -> None:
    from . import register_planner
    from .foundations import plan_page

    register_planner(NOTEBOOK)(lambda params, store: plan_page(page_runs(params)))


_register_planner()


def entropy_label(levels: int) -> str:
    """``"constant (0 bits)"``, ``"2 levels (1 bit)"``, ..., ``"He uniform (continuous)"``."""
    if levels == 0:
        return "He uniform (continuous)"
    if levels == 1:
        return "constant (0 bits)"
    bits = init_entropy_bits(levels)
    return f"{levels} levels ({bits:g} bit{'' if bits == 1 else 's'})"


def entropy_verdict(frame: pd.DataFrame, hidden: int) -> tuple[bool, str]:
    """The notes' advice, read as "more entropy per weight breaks symmetry better": does it hold
    beyond one bit? It does not when every init of at least 2 levels ends with all ``hidden``
    neurons distinct in every seed (the constant init, 0 bits, with one). Returns the verdict on
    that reading and a sentence with the numbers (distinct neurons, final accuracy per init)."""
    last = frame[frame["epoch"] == frame["epoch"].max()]
    per = last.groupby("levels", sort=False).agg(min_distinct=("distinct_neurons", "min"),
                                                 max_distinct=("distinct_neurons", "max"),
                                                 accuracy=("train_accuracy", "mean"))
    random_inits = per.drop(index=[1], errors="ignore")
    all_distinct = bool((random_inits["min_distinct"] == hidden).all())
    parts = [f"{entropy_label(k)}: {int(r.min_distinct)}-{int(r.max_distinct)} distinct of {hidden}, "
             f"accuracy {r.accuracy:.3f}" for k, r in per.iterrows()]
    text = ("**" + ("Does not survive" if all_distinct else "Survives")
            + "** (read as \"more entropy per weight breaks symmetry better\"): "
            + ("one bit per weight already makes every hidden neuron distinct; what the init needs is "
               "to be random, not to be of high entropy. " if all_distinct else
               "some random init with few levels leaves neurons identical. ")
            + "; ".join(parts) + ".")
    return (not all_distinct), text


# =============================================================================================
# Figures (tidy frames in, a matplotlib Figure out)
# =============================================================================================


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
                  colors[a], activation_label(a), style)
            ax.set_yscale("log")
        for layer, ls in ((1, "-"), (int(f["layer"].max()), ":")):
            _band(axes[2], mean_band(f[f["layer"] == layer], "step", "grad_norm", log=True), "step",
                  colors[a], f"{activation_label(a)}, layer {layer}", ls)
        acc = f[f["layer"] == 1]
        _band(axes[3], mean_band(acc, "step", "probe_accuracy"), "step", colors[a], activation_label(a))
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


# ------------------------------------------------------------------- artifacts (learning-rules make)


def _draw_gradient_flow(params: Mapping[str, Any]):
    return plot_gradient_flow(gradient_flow_frame(params))


_register_figure("foundations-gradient-flow", "lecture notes (Lecture 5) Ch. 1 sec. 2, the vanishing gradient "
                 "problem (no figure there): per-layer gradient norms, sigmoid vs ReLU vs leaky ReLU (PNG)",
                 NOTEBOOK, _draw_gradient_flow)
