r"""The foundations part of the book: backprop derived twice, vanishing gradients and
initialization, optimizers on 2-D test functions, and L2/L1 regularization.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation" (sec. 2.3 univariate
and multivariate backprop, sec. 3.1 optimizers, sec. 3.2 He uniform, sec. 3.3 L2);
[notes] Alrabeiah (2022), Lecture 5 (eqs. 1.1-1.14 worked two-layer example, eqs. 1.15-1.16 sigmoid
and tanh, eqs. 2.2-2.7 weight decay and its recursion, eq. 2.8 L1);
[qa] the Q&A thread on the weight-decay dynamics of Nielsen's update
:math:`w \to (1 - \eta\lambda/n) w - (\eta/m)\sum_x \partial C_x/\partial w`.

Pure math first (one function per equation), then the experiments (config dataclass -> tidy
DataFrame, registered in :data:`~learning_rules.experiments.EXPERIMENTS`).

Explained in: book/foundations/backprop.ipynb, vanishing.ipynb, optimizers.ipynb,
regularization.ipynb.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._registry import Registry
from ..nn.activations import get_activation, softmax
from ..nn.losses import get_loss
from ..nn.mlp import MLP, forward
from ..training import epoch_batches, stream_batches
from ..updates import OPTIMIZERS
from ..updates.gradient import bias_gradient, weight_gradient
from . import one_blas_thread, register_experiment

__all__ = [
    "ENTROPY_LEVELS",
    "EntropyInitConfig",
    "entropy_frame",
    "entropy_init",
    "entropy_label",
    "entropy_verdict",
    "init_entropy_bits",
    "quantized_levels",
    "EXPLODING_RUNS",
    "ExplodingConfig",
    "GRADIENT_FLOW_ACTIVATIONS",
    "TEST_FUNCTIONS",
    "WEIGHT_DECAY_RUNS",
    "TestFunction",
    "GradientFlowConfig",
    "L2RecursionConfig",
    "OptimizerPathsConfig",
    "SymmetryConfig",
    "VarianceConfig",
    "WeightDecayConfig",
    "WeightHistogramConfig",
    "activation_jacobian",
    "backprop_elementwise",
    "backprop_jacobian",
    "decay_factor_exact",
    "decay_factor_limit",
    "ema",
    "engine_gradients",
    "gradient_check",
    "exploding",
    "exploding_frame",
    "exploding_label",
    "exploding_verdict",
    "gradient_flow",
    "gradient_flow_frame",
    "init_weight_variance",
    "l2_recursion_check",
    "loss_derivative_check",
    "numerical_gradients",
    "one_blas_thread",
    "optimizer_frames",
    "optimizer_paths",
    "optimizer_trajectory",
    "recursion_closed_form",
    "relu_second_moment_gain",
    "run_cached",
    "run_seeds",
    "seed_list",
    "sgd_steps_recording",
    "symmetry_frame",
    "weight_histogram_frame",
    "symmetry",
    "variance_per_layer",
    "weight_decay_dynamics",
    "weight_decay_frame",
    "weight_histogram",
]


# =============================================================================================
# 1. Backpropagation derived twice
# =============================================================================================


def activation_jacobian(activation: Any, z: np.ndarray) -> np.ndarray:
    r"""Jacobian :math:`J_f(z)_{kj} = \partial f_k / \partial z_j` of one layer's activation, one sample.

    .. math::
        \text{element-wise } f:\ J_f(z) = \operatorname{diag}\big(f'(z)\big), \qquad
        \text{softmax } s:\ J_s(z) = \operatorname{diag}(s) - s s^\top

    [ablation Definition 2.1 and eq. (4); the softmax Jacobian is derived in book/foundations/backprop.ipynb]

    Parameters
    ----------
    activation : str or Activation
    z : ndarray, shape (n,)
        One sample's pre-activation.

    Returns
    -------
    ndarray, shape (n, n)
    """
    act = get_activation(activation)
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"z must be one sample, shape (n,), got {z.shape}")
    if act.name == "softmax":
        s = softmax(z[None, :])[0]
        return np.diag(s) - np.outer(s, s)
    if not getattr(act, "elementwise", True):
        raise ValueError(f"no Jacobian rule for the non-element-wise activation {act.name!r}")
    return np.diag(act.derivative(z[None, :])[0])


def _single_sample_forward(weights, biases, acts, x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be one sample, shape (n_0,), got {x.shape}")
    cache = forward(weights, biases, [get_activation(a) for a in acts], x[None, :])
    h = [v[0] for v in cache.h]
    z = [None] + [v[0] for v in cache.z[1:]]
    return h, z


def backprop_elementwise(weights, biases, acts, x, dE_dhL):
    r"""Backprop with scalar sums only, for element-wise activations [ablation eqs. (1)-(3)].

    In the book's notation (``W_l`` row ``j`` = neuron ``j``), for one sample:

    .. math::
        \frac{\partial E}{\partial h_{l-1,k}} = \sum_j \frac{\partial E}{\partial h_{l,j}}
            f_l'(z_{l,j})\, W_{l,jk}, \qquad
        \frac{\partial E}{\partial W_{l,jk}} = \frac{\partial E}{\partial h_{l,j}} f_l'(z_{l,j})\,
            h_{l-1,k}, \qquad
        \frac{\partial E}{\partial b_{l,j}} = \frac{\partial E}{\partial h_{l,j}} f_l'(z_{l,j})

    Parameters
    ----------
    weights : list of ndarray, ``W_l`` shape (n_l, n_{l-1})
    biases : list of (ndarray (n_l,) or None)
    acts : list of str, element-wise activations only
    x : ndarray, shape (n_0,)
    dE_dhL : ndarray, shape (n_L,)
        Derivative of the sample's loss with respect to the output ``h_L``.

    Returns
    -------
    grads_W : list of ndarray, shapes of ``weights``
    grads_b : list of ndarray, shapes (n_l,)
    """
    for a in acts:
        if not getattr(get_activation(a), "elementwise", True):
            raise ValueError(f"backprop_elementwise needs element-wise activations; {a!r} is not "
                             "(use backprop_jacobian for softmax)")
    h, z = _single_sample_forward(weights, biases, acts, x)
    L = len(weights)
    g_h = [float(v) for v in np.asarray(dE_dhL, dtype=np.float64)]
    grads_W: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grads_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        W = weights[l - 1]
        fprime = get_activation(acts[l - 1]).derivative(z[l][None, :])[0]
        n_out, n_in = W.shape
        gW = np.zeros((n_out, n_in))
        gb = np.zeros(n_out)
        g_prev = [0.0] * n_in
        for j in range(n_out):
            dz = g_h[j] * float(fprime[j])  # dE/dz_{l,j}
            gb[j] = dz
            for k in range(n_in):
                gW[j, k] = dz * float(h[l - 1][k])
                g_prev[k] += dz * float(W[j, k])
        grads_W[l - 1], grads_b[l - 1] = gW, gb
        g_h = g_prev
    return grads_W, grads_b


def backprop_jacobian(weights, biases, acts, x, dE_dhL):
    r"""Backprop with one Jacobian per layer, any activation incl. softmax [ablation eqs. (4)-(7)].

    .. math::
        \frac{\partial E}{\partial z_l} = J_{f_l}(z_l)^\top \frac{\partial E}{\partial h_l}, \qquad
        \frac{\partial E}{\partial h_{l-1}} = W_l^\top \frac{\partial E}{\partial z_l}, \qquad
        \frac{\partial E}{\partial W_l} = \frac{\partial E}{\partial z_l}\, h_{l-1}^\top, \qquad
        \frac{\partial E}{\partial b_l} = \frac{\partial E}{\partial z_l}

    Shapes as in :func:`backprop_elementwise`.
    """
    h, z = _single_sample_forward(weights, biases, acts, x)
    g_h = np.asarray(dE_dhL, dtype=np.float64)
    L = len(weights)
    grads_W: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grads_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        g_z = activation_jacobian(acts[l - 1], z[l]).T @ g_h
        grads_W[l - 1] = np.outer(g_z, h[l - 1])
        grads_b[l - 1] = g_z
        g_h = weights[l - 1].T @ g_z
    return grads_W, grads_b


def engine_gradients(mlp: MLP, loss: str, X: np.ndarray, y: np.ndarray):
    r"""Gradients of the batch-mean loss from the engine's backprop credit assignment.

    .. math:: \nabla_{W_l} = \tfrac1B \delta_l^\top h_{l-1}, \qquad \nabla_{b_l} = \tfrac1B \textstyle\sum_i \delta_{l,i}

    Returns ``(grads_W, grads_b)`` (``grads_b[l]`` is ``None`` for a layer without bias).
    """
    from ..engine import Network

    net = Network(mlp.copy(), credit="backprop", loss=loss, lr=0.0, rng=np.random.default_rng(0))
    cache, _, deltas = net.signals(X, y)
    grads_W = [weight_gradient(d, hp) for d, hp in zip(deltas, cache.h[:-1])]
    grads_b = [None if b is None else bias_gradient(d) for d, b in zip(deltas, mlp.biases)]
    return grads_W, grads_b


def numerical_gradients(mlp: MLP, loss: str, X: np.ndarray, y: np.ndarray, eps: float = 1e-6):
    r"""Central finite differences of the batch-mean loss for every weight and bias.

    .. math:: \frac{\partial J}{\partial \theta} \approx \frac{J(\theta + \epsilon) - J(\theta - \epsilon)}{2\epsilon}

    The truncation error is :math:`O(\epsilon^2)`; rounding adds about :math:`10^{-16}/\epsilon`.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    lossf = get_loss(loss)
    work = mlp.copy()

    def J() -> float:
        cache = forward(work.weights, work.biases, work.acts, np.asarray(X, dtype=np.float64))
        return lossf.value(cache.z[-1], y, work.acts[-1])

    def diff(arr: np.ndarray) -> np.ndarray:
        out = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), out.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = J()
            flat[i] = old - eps
            down = J()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        return out

    grads_W = [diff(W) for W in work.weights]
    grads_b = [None if b is None else diff(b) for b in work.biases]
    return grads_W, grads_b


def gradient_check(mlp: MLP, loss: str, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> pd.DataFrame:
    r"""Engine gradients against central differences, one row per layer and parameter.

    Columns: ``layer`` (1-based), ``parameter`` (``"W"``/``"b"``), ``max_abs_diff``,
    ``relative_error`` :math:`= \lVert g - \hat g\rVert / \max(\lVert g\rVert + \lVert\hat g\rVert, 10^{-300})`.
    """
    eW, eb = engine_gradients(mlp, loss, X, y)
    nW, nb = numerical_gradients(mlp, loss, X, y, eps)
    rows = []
    for l, (pairs) in enumerate(zip(zip(eW, nW), zip(eb, nb)), start=1):
        for name, (a, b) in zip(("W", "b"), pairs):
            if a is None:
                continue
            d = float(np.linalg.norm(a - b))
            s = float(np.linalg.norm(a) + np.linalg.norm(b))
            rows.append({"layer": l, "parameter": name, "max_abs_diff": float(np.max(np.abs(a - b))),
                         "relative_error": d / max(s, 1e-300)})
    return pd.DataFrame(rows)


def loss_derivative_check(y: Sequence[float], a: Sequence[float], eps: float = 1e-6) -> pd.DataFrame:
    r"""The ablation paper's printed loss derivatives against finite differences of the losses.

    Losses (per sample, summed over output units ``j``), correct forms:

    .. math::
        \text{MSE: } \tfrac12\sum_j (y_j - a_j)^2 \to \frac{\partial L}{\partial a_j} = a_j - y_j, \quad
        \text{BCE: } -\sum_j [y_j\log a_j + (1-y_j)\log(1-a_j)] \to
            -\frac{y_j}{a_j} + \frac{1-y_j}{1-a_j}, \quad
        \text{CCE: } -\sum_j y_j \log a_j \to -\frac{y_j}{a_j}

    The paper (sec. 2.2) prints :math:`y-a`, :math:`y/a - (1-y)/(1-a)` and :math:`y/a`.

    Returns
    -------
    DataFrame with columns ``loss, unit, printed, corrected, finite_difference``.
    """
    y = np.asarray(y, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if y.shape != a.shape or y.ndim != 1:
        raise ValueError(f"y and a must be 1-D of equal length, got {y.shape} and {a.shape}")
    if np.any((a <= 0) | (a >= 1)):
        raise ValueError("a must lie strictly inside (0, 1) for the cross-entropies")
    losses = {
        "MSE": (lambda v: 0.5 * np.sum((y - v) ** 2), y - a, a - y),
        "BCE": (lambda v: -np.sum(y * np.log(v) + (1 - y) * np.log(1 - v)),
                y / a - (1 - y) / (1 - a), -y / a + (1 - y) / (1 - a)),
        "CCE": (lambda v: -np.sum(y * np.log(v)), y / a, -y / a),
    }
    rows = []
    for name, (f, printed, corrected) in losses.items():
        for j in range(a.size):
            up, down = a.copy(), a.copy()
            up[j] += eps
            down[j] -= eps
            rows.append({"loss": name, "unit": j + 1, "printed": float(printed[j]),
                         "corrected": float(corrected[j]),
                         "finite_difference": float((f(up) - f(down)) / (2 * eps))})
    return pd.DataFrame(rows)


# =============================================================================================
# 2. Vanishing gradients and initialization
# =============================================================================================


@functools.lru_cache(maxsize=4)
def _load_flat(dataset: str, split: str):
    from .. import data
    from .datasets import quiet_downloads

    with quiet_downloads():
        X, y = data.load(dataset, split, dtype=np.float64)
    X = np.ascontiguousarray(X.reshape(len(X), -1))
    y = np.asarray(y)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _mnist_subset(split: str, start: int, count: int, dataset: str = "mnist"):
    X, y = _load_flat(dataset, split)
    if start + count > len(X):
        raise ValueError(f"{dataset} {split} has {len(X)} samples; asked for {start}..{start + count}")
    return X[start:start + count], np.asarray(y[start:start + count])


def _seeded_network(config: Any, n_samples: int, layers: Sequence[int], activations: Sequence[str],
                    init: str, **network: Any):
    """The first ``n_samples`` MNIST training images and a backprop + CCE
    :class:`~learning_rules.engine.Network` ``784 -> layers`` with ``activations``.

    One generator, ``default_rng(config.seed)``, draws the weights and then every shuffle, so a
    config's ``seed`` fixes the whole run. Returns ``(X, y, rng, net)``.
    """
    from ..engine import Network

    X, y = _mnist_subset("train", 0, n_samples, config.dataset)
    rng = np.random.default_rng(config.seed)
    mlp = MLP.create([X.shape[1], *layers], list(activations), init=init, rng=rng)
    return X, y, rng, Network(mlp, credit="backprop", loss="cce", rng=rng, **network)


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


def sgd_steps_recording(net, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, num_steps: int,
                        batch_size: int, record_every: int, record: Callable[[int], bool]) -> None:
    """``num_steps`` mini-batch steps of ``net`` on ``(X, y)``, measured along the way.

    Batches are taken in order from a permutation of the rows (``rng``), a fresh permutation appended
    whenever fewer than ``batch_size`` indices are left. ``record(step)`` runs before the first step
    (step 0), after every ``record_every``-th step and after the last; training stops when it returns
    True (a diverged run: overflow warnings are silenced, the record says what happened).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if record(0):
            return
        for step, idx in enumerate(itertools.islice(stream_batches(len(X), batch_size, rng), num_steps),
                                   start=1):
            net.train_step(X[idx], y[idx])
            if (step % record_every == 0 or step == num_steps) and record(step):
                return


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


#: The entropy section's initializations: levels per weight (0 = continuous He uniform).
ENTROPY_LEVELS: tuple[int, ...] = (1, 2, 4, 16, 0)


def entropy_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`entropy_init` for each of :data:`ENTROPY_LEVELS` and each seed (columns ``levels``,
    ``bits``, ``seed``; ``bits`` is NaN for the continuous init)."""
    base = EntropyInitConfig(**_pick(params, EntropyInitConfig, num_epochs="sym_epochs"))
    return pd.concat([run_seeds("foundations_entropy_init", dataclasses.replace(base, levels=k),
                                seed_list(params), levels=k,
                                bits=init_entropy_bits(k) if k else np.nan)
                      for k in ENTROPY_LEVELS], ignore_index=True)


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
# 3. Optimizers
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
# 4. Regularization
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
# plumbing
# =============================================================================================


def run_cached(name: str, config: Any) -> pd.DataFrame:
    """Run a registered experiment through the default result store (the book's code path)."""
    from ..store import Store
    from . import run_experiment

    return run_experiment(name, config, store=Store())


# =============================================================================================
# What the notebooks show, built from their parameters (shared by the notebooks and the artifacts)
# =============================================================================================

GRADIENT_FLOW_ACTIVATIONS = ("sigmoid", "relu", "leaky_relu:0.1")
WEIGHT_DECAY_RUNS = (("N(0,1) + L2", "normal", True), ("N(0,1/n_in) + L2", "normal_scaled", True),
                     ("N(0,1/n_in), no L2", "normal_scaled", False))


def _pick(params: Mapping[str, Any], cls: type, **rename: str) -> dict[str, Any]:
    """Config fields of ``cls`` taken from notebook ``params`` (``rename``: field -> param name)."""
    out = {}
    for f in dataclasses.fields(cls):
        key = rename.get(f.name, f.name)
        if key in params:
            out[f.name] = params[key]
    return out


def seed_list(params: Mapping[str, Any]) -> list[int]:
    """A notebook's seeds: ``seed, seed + 1, ..., seed + n_seeds - 1`` (defaults 0 and 1)."""
    first, n = int(params.get("seed", 0)), int(params.get("n_seeds", 1))
    if n < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n}")
    return list(range(first, first + n))


def run_seeds(name: str, config: Any, seeds: Sequence[int], **labels: Any) -> pd.DataFrame:
    """Experiment ``name`` once per seed (``config`` with ``seed`` replaced), stacked with a
    ``seed`` column and constant ``labels`` columns; each run goes through the result store."""
    return pd.concat([run_cached(name, dataclasses.replace(config, seed=int(s))).assign(seed=int(s), **labels)
                      for s in seeds], ignore_index=True)


def gradient_flow_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`gradient_flow` for each activation of :data:`GRADIENT_FLOW_ACTIVATIONS` and each seed
    of :func:`seed_list`, stacked (columns ``activation``, ``seed``)."""
    base = GradientFlowConfig(**_pick(params, GradientFlowConfig, n_train="flow_n_train",
                                      num_epochs="flow_epochs"))
    return pd.concat([run_seeds("foundations_gradient_flow", dataclasses.replace(base, activation=act),
                                seed_list(params), activation=act)
                      for act in GRADIENT_FLOW_ACTIVATIONS], ignore_index=True)


#: The runs of the exploding-gradient section: (label, init_gain, clip).
EXPLODING_RUNS: tuple[tuple[float, bool], ...] = ((1.0, False), (1.5, False), (1.5, True))


def exploding_label(init_gain: float, clip: float) -> str:
    """``"He"``, ``"He x 1.5"``, ``"He x 1.5, clipped at 1"``."""
    name = "He" if init_gain == 1.0 else f"He x {init_gain:g}"
    return name + (f", clipped at {clip:g}" if clip > 0 else "")


def exploding_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`exploding` for each run of :data:`EXPLODING_RUNS` ((init gain, clipped?)) and each
    seed of :func:`seed_list`, stacked (columns ``run``, ``init_gain``, ``clip``, ``seed``);
    ``params["clip"]`` is the clipped runs' norm."""
    base = ExplodingConfig(**_pick(params, ExplodingConfig, num_steps="explode_steps",
                                   depth="explode_depth", width="explode_width",
                                   n_train="flow_n_train", lr="explode_lr"))
    norm = float(params.get("clip", 1.0))
    frames = []
    for gain, clipped in EXPLODING_RUNS:
        clip = norm if clipped else 0.0
        frames.append(run_seeds("foundations_exploding", dataclasses.replace(base, init_gain=gain, clip=clip),
                                seed_list(params), run=exploding_label(gain, clip), init_gain=gain, clip=clip))
    return pd.concat(frames, ignore_index=True)


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


def symmetry_frame(params: Mapping[str, Any], inits: Sequence[str] = ("constant:0.05", "he_uniform")
                   ) -> pd.DataFrame:
    """:func:`symmetry` for each initializer and seed (columns ``init``, ``seed``)."""
    base = SymmetryConfig(**_pick(params, SymmetryConfig, num_epochs="sym_epochs"))
    return pd.concat([run_seeds("foundations_symmetry", dataclasses.replace(base, init=init),
                                seed_list(params), init=init) for init in inits], ignore_index=True)


def optimizer_frames(params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """:func:`optimizer_paths` on every test function, keyed by function name."""
    steps = int(params.get("num_steps", OptimizerPathsConfig.num_steps))
    return {name: run_cached("foundations_optimizer_paths", OptimizerPathsConfig(function=name, num_steps=steps))
            for name in TEST_FUNCTIONS}


def weight_decay_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`weight_decay_dynamics` for the three runs of :data:`WEIGHT_DECAY_RUNS` and each seed,
    with ``run`` and ``seed`` columns."""
    base = WeightDecayConfig(**_pick(params, WeightDecayConfig))
    return pd.concat([run_seeds("foundations_weight_decay",
                                dataclasses.replace(base, init=init, lam=base.lam if reg else 0.0),
                                seed_list(params), run=label)
                      for label, init, reg in WEIGHT_DECAY_RUNS], ignore_index=True)


def weight_histogram_frame(params: Mapping[str, Any],
                           penalties: Sequence[tuple[str, float]]) -> pd.DataFrame:
    """:func:`weight_histogram` for each ``(penalty, lambda)`` and seed (columns ``penalty``,
    ``lam``, ``seed``); training length from ``hist_epochs``."""
    base = WeightHistogramConfig(**_pick(params, WeightHistogramConfig, num_epochs="hist_epochs"))
    return pd.concat([run_seeds("foundations_weight_histogram",
                                dataclasses.replace(base, penalty=pen, lam=float(lam)), seed_list(params),
                                penalty=pen, lam=float(lam)) for pen, lam in penalties], ignore_index=True)
