r"""The feedback-alignment chapter: MNIST-parity training with backprop, FA and DFA.

The shared trainer :func:`train_parity` reproduces the protocol of Demirbilek (2021) as read from
its code (``../shared/specs/dfa-thesis.md`` sections 1-5): a ``784k - 512 - 1`` network without
biases (ReLU hidden layer, sigmoid output, mean BCE, PyTorch-style uniform init), mini-batches of
128, fresh parity triplets every epoch for ``k >= 2``, and the thesis' hand-written optimizers
(:mod:`learning_rules.updates`). It returns one row per epoch and the trained network.

Corrections against the original code are switches, so a page can show both:

* ``adam_step_count="epoch"`` is the thesis' Adam bias-correction bug (spec 9 C), ``"step"`` the
  correct one;
* independent repeats: every call draws its own weights, feedback matrix and optimizer state from
  ``seed`` (the original shared ``B`` and the accumulators across repeats, spec 9 D);
* alignment is measured on a fixed held-out batch with the pre-update weights, next to the thesis'
  per-input-row definition (spec 5 and 9 M);
* ``validation=True`` carves a validation split from the training images for learning-rate
  selection (the thesis selected on the test stream, spec 4.2).

Backprop or DFA with the gradient update and any of the thesis' five optimizers runs through the
buffer trainers of :mod:`learning_rules.fast` (:class:`~learning_rules.fast.MinibatchSGD` for SGD,
:class:`~learning_rules.fast.MinibatchOptimizer` for Adagrad, Adadelta, RMSProp and Adam: fused
in-place updates in the run's dtype, float32 by default), equal to the reference step to rounding
(``tests/test_dfa_fast_optimizers.py``); FA and the dual-weight update run through
:class:`learning_rules.engine.Network`.

The learning-rate selection on the validation split is :mod:`.lr_selection`; the pages of
Figs. 3.2-3.5 and beyond the thesis (their plans, tables, figures and ledger cells) are
:mod:`.dfa_pages`; the lazy baselines of Figs. 2.1/3.1 are :mod:`.dfa_parity`. This module
imports none of them.

Explained in: book/dfa/index.md and the pages beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from . import one_blas_thread, register_experiment

__all__ = [
    "ALIGNMENT_LR",
    "B_INITS",
    "EVAL_CHUNK",
    "N_VALIDATION",
    "OPTIMIZER_NAMES",
    "SWEEP_LR_B",
    "SWEEP_LR_OPT",
    "THESIS_LR",
    "THESIS_LR_B",
    "ParityConfig",
    "ParityData",
    "build_network",
    "load_parity_data",
    "optimizer_params",
    "parity_background",
    "parity_batch",
    "parity_run",
    "parity_trainer",
    "published_lr",
    "run_repeats",
    "train_parity",
    "uses_buffers",
]

#: The five optimizers of thesis Fig. 3.4, in the order of its bars.
OPTIMIZER_NAMES = ("sgd", "adagrad", "adadelta", "rmsprop", "adam")

#: The four feedback-matrix laws of thesis Fig. 3.3 (engine names, spec 2.4).
B_INITS = ("uniform", "standard_uniform", "gaussian", "standard_gaussian")

#: Learning rates the thesis code used (20 epochs, k = 1 and 3; spec 4.3, NB1 cells 33, 42, 51).
THESIS_LR: dict[tuple[str, str], float] = {
    ("backprop", "sgd"): 0.12, ("backprop", "adagrad"): 0.019, ("backprop", "adadelta"): 1.0,
    ("backprop", "rmsprop"): 0.0004, ("backprop", "adam"): 0.0004,
    ("dfa", "sgd"): 0.018, ("dfa", "adagrad"): 0.018, ("dfa", "adadelta"): 0.95,
    ("dfa", "rmsprop"): 0.00022, ("dfa", "adam"): 0.0006,
}

#: DFA + SGD learning rate per feedback law (spec 4.3, NB1 cell 33).
THESIS_LR_B: dict[str, float] = {"uniform": 0.018, "standard_uniform": 0.003, "gaussian": 0.013,
                                 "standard_gaussian": 0.001}

#: The 50-epoch alignment runs (spec 4.3, NB1 cells 25 and 29).
ALIGNMENT_LR: dict[str, float] = {"sgd": 0.016, "rmsprop": 0.00022}

#: The learning-rate sweeps of App. B.1 (per feedback law, DFA + SGD) and B.2 (per optimizer, DFA).
SWEEP_LR_B: dict[str, tuple[float, ...]] = {
    "standard_uniform": (0.002, 0.003, 0.004), "uniform": (0.015, 0.02, 0.025),
    "standard_gaussian": (0.0005, 0.001, 0.0015), "gaussian": (0.012, 0.0135, 0.015),
}
SWEEP_LR_OPT: dict[str, tuple[float, ...]] = {
    "sgd": (0.015, 0.02, 0.025), "adagrad": (0.015, 0.02, 0.025), "adadelta": (0.8, 0.9, 1.0),
    "rmsprop": (1e-4, 2.5e-4, 4e-4), "adam": (1e-3, 2e-3, 3e-3),
}

#: Training images held out as the validation split when ``validation=True``.
N_VALIDATION = 10_000
#: Seed of the fixed train/validation split of the MNIST training images (same for every run).
VALIDATION_SPLIT_SEED = 2021


def published_lr(credit: str, optimizer: str = "sgd", feedback_init: str = "uniform",
                 num_epochs: int = 20) -> float:
    """The thesis' learning rate for a (credit, optimizer, feedback law) cell (spec 4.3).

    FA with one hidden layer is DFA (spec 2.3), so ``"fa"`` reads the DFA values. 50-epoch DFA
    runs with SGD or RMSProp use the alignment runs' values.
    """
    c = "dfa" if credit == "fa" else credit
    if (c, optimizer) not in THESIS_LR:
        raise ValueError(f"no published learning rate for credit {credit!r} and optimizer "
                         f"{optimizer!r}; valid credits: backprop, dfa, fa; optimizers: "
                         f"{', '.join(OPTIMIZER_NAMES)}")
    if c == "dfa" and num_epochs == 50 and optimizer in ALIGNMENT_LR and feedback_init == "uniform":
        return ALIGNMENT_LR[optimizer]
    if c == "dfa" and optimizer == "sgd":
        if feedback_init not in THESIS_LR_B:
            raise ValueError(f"unknown feedback_init {feedback_init!r}; valid: {', '.join(B_INITS)}")
        return THESIS_LR_B[feedback_init]
    return THESIS_LR[(c, optimizer)]


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------

_CREDITS = ("backprop", "fa", "dfa")
_UPDATES = ("gradient", "dual_weight", "dual_weight_stabilized")


@dataclasses.dataclass(frozen=True)
class ParityConfig:
    """One MNIST-parity training run (thesis protocol by default).

    Attributes
    ----------
    k : digits per sample (1 or 3 in the thesis); input size ``784 k``
    credit : ``"backprop"``, ``"fa"`` or ``"dfa"``
    optimizer : name in ``learning_rules.updates.OPTIMIZERS`` (the thesis' five:
        :data:`OPTIMIZER_NAMES`), with the thesis' hyper-parameters (:func:`optimizer_params`)
    lr : learning rate (see :func:`published_lr`)
    num_epochs : passes over the (regenerated) training set
    batch_size : mini-batch size (128)
    seed : every random draw (weights, B, triplets, evaluation triplets) derives from it
    feedback_init : law of B (:data:`B_INITS`)
    n_hidden : width of each hidden layer (512)
    n_hidden_layers : number of hidden layers (1 in the thesis; 2-3 for the deeper-net study)
    n_train : use only the first ``n_train`` training images (``None`` = all; quick profiles)
    n_test : use only the first ``n_test`` evaluation images (``None`` = all)
    measure_alignment : add alignment columns (fixed held-out batch + the thesis' last-batch form)
    alignment_batch : samples in the fixed held-out alignment batch
    adam_step_count : ``"step"`` (correct Adam) or ``"epoch"`` (the thesis code's bias correction)
    adadelta_variant : ``"thesis"`` (lr inside the accumulated delta, eps 1e-8) or ``"zeiler"``
        (PyTorch's form)
    validation : evaluate on a validation split carved from the training images (the last
        :data:`N_VALIDATION` of a fixed permutation) instead of the test set
    update : weight update (``"gradient"``; ``"dual_weight"``/``"dual_weight_stabilized"`` for the
        composition with the dual-weight rule)
    dtype : ``"float32"`` (as the thesis' tensors) or ``"float64"``
    """

    k: int = 3
    credit: str = "dfa"
    optimizer: str = "sgd"
    lr: float = 0.018
    num_epochs: int = 20
    batch_size: int = 128
    seed: int = 0
    feedback_init: str = "uniform"
    n_hidden: int = 512
    n_hidden_layers: int = 1
    n_train: int | None = None
    n_test: int | None = None
    measure_alignment: bool = False
    alignment_batch: int = 1000
    adam_step_count: str = "step"
    adadelta_variant: str = "thesis"
    validation: bool = False
    update: str = "gradient"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        def _int(name, lo, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"ParityConfig.{name} must be an int >= {lo}"
                                 f"{' or None' if allow_none else ''}, got {v!r}")

        for name, lo in (("k", 1), ("num_epochs", 0), ("batch_size", 1), ("seed", 0),
                         ("n_hidden", 1), ("n_hidden_layers", 1), ("alignment_batch", 1)):
            _int(name, lo)
        _int("n_train", 1, allow_none=True)
        _int("n_test", 1, allow_none=True)
        if self.credit not in _CREDITS:
            raise ValueError(f"unknown credit {self.credit!r}; valid: {', '.join(_CREDITS)}")
        if self.update not in _UPDATES:
            raise ValueError(f"unknown update {self.update!r}; valid: {', '.join(_UPDATES)}")
        from ..credit import FEEDBACK_INITIALIZERS
        from ..updates import OPTIMIZERS

        OPTIMIZERS.lookup(self.optimizer)
        FEEDBACK_INITIALIZERS.lookup(self.feedback_init)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"ParityConfig.lr must be a finite number > 0, got {self.lr!r}")
        if self.adam_step_count not in ("step", "epoch"):
            raise ValueError(f"adam_step_count must be 'step' or 'epoch', got {self.adam_step_count!r}")
        if self.adadelta_variant not in ("thesis", "zeiler"):
            raise ValueError("adadelta_variant must be 'thesis' or 'zeiler', got "
                             f"{self.adadelta_variant!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def replace(self, **changes: Any) -> ParityConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def optimizer_params(config: ParityConfig) -> dict[str, Any]:
    """The thesis code's optimizer hyper-parameters (spec 4.1): eps 1e-8 inside the root,
    rho = beta1 = 0.9, beta2 = 0.999; Adam's step counting and Adadelta's form from ``config``."""
    name = config.optimizer
    if name == "adagrad":
        return {"eps": 1e-8, "eps_placement": "inside"}
    if name == "rmsprop":
        return {"beta": 0.9, "eps": 1e-8, "bias_correction": False, "eps_placement": "inside"}
    if name == "adadelta":
        return {"variant": config.adadelta_variant, "rho": 0.9}
    if name == "adam":
        return {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "step_count": config.adam_step_count}
    return {}


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParityData:
    """Normalized source images of the training and evaluation pools.

    ``train_images``/``eval_images`` are float32 ``(N, 28, 28)`` after
    :func:`learning_rules.data.normalize_parity` (the normalization is per pixel, so normalizing
    before the triplets are assembled gives the same numbers as after).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    eval_images: np.ndarray
    eval_labels: np.ndarray
    eval_name: str
    _pools: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def pool(self, which: str, background: float):
        """The :class:`~learning_rules.fast.sparse_input.ImagePool` of the ``"train"`` or
        ``"eval"`` images with background ``background``, built once per data object (the images
        must not change afterwards: :func:`load_parity_data` hands them out read-only)."""
        from ..fast.sparse_input import ImagePool

        if which not in ("train", "eval"):
            raise ValueError(f"which must be 'train' or 'eval', got {which!r}")
        key = (which, float(background))
        if key not in self._pools:
            images = self.train_images if which == "train" else self.eval_images
            self._pools[key] = ImagePool(images, background)
        return self._pools[key]


#: The last few :func:`load_parity_data` results of this process, so the runs of a sweep worker
#: share one copy of the normalized images and their pools (keyed by what selects the data).
_PARITY_DATA_CACHE: dict[tuple, ParityData] = {}
_PARITY_DATA_CACHE_SIZE = 2

_MNIST_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in _MNIST_CACHE:
        from .. import data

        X, y = data.load("mnist", split, flatten=False)
        _MNIST_CACHE[split] = (np.asarray(X), np.asarray(y))
    return _MNIST_CACHE[split]


def load_parity_data(config: ParityConfig, dtype=np.float32) -> ParityData:
    """The image pools a run draws its triplets from.

    Training pool: the MNIST training images (minus the validation split when
    ``config.validation``), first ``n_train`` of them. Evaluation pool: the MNIST test images, or
    the validation split, first ``n_test`` of them.

    The arrays are read-only, and the last two results are kept for the process: runs that draw
    from the same images (a sweep worker's next run) get the same object, pools included.
    """
    key = (bool(config.validation), config.n_train, config.n_test, np.dtype(dtype).str)
    data = _PARITY_DATA_CACHE.pop(key, None)
    if data is None:
        data = _load_parity_data(config, dtype)
        for arr in (data.train_images, data.train_labels, data.eval_images, data.eval_labels):
            arr.flags.writeable = False
    _PARITY_DATA_CACHE[key] = data  # most recent last
    while len(_PARITY_DATA_CACHE) > _PARITY_DATA_CACHE_SIZE:
        del _PARITY_DATA_CACHE[next(iter(_PARITY_DATA_CACHE))]
    return data


def _load_parity_data(config: ParityConfig, dtype) -> ParityData:
    """:func:`load_parity_data` without the cache."""
    from ..data import normalize_parity

    Xtr, ytr = _mnist("train")
    if config.validation:
        perm = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(Xtr.shape[0])
        val, tr = perm[-N_VALIDATION:], perm[:-N_VALIDATION]
        Xev, yev, name = Xtr[val], ytr[val], "validation"
        Xtr, ytr = Xtr[tr], ytr[tr]
    else:
        Xev, yev = _mnist("test")
        name = "test"
    if config.n_train is not None:
        Xtr, ytr = Xtr[:config.n_train], ytr[:config.n_train]
    if config.n_test is not None:
        Xev, yev = Xev[:config.n_test], yev[:config.n_test]
    return ParityData(normalize_parity(Xtr, dtype), ytr.astype(np.int64),
                      normalize_parity(Xev, dtype), yev.astype(np.int64), name)


def parity_batch(images: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assemble parity samples from source indices, as :func:`learning_rules.data.make_mnist_parity`.

    Parameters
    ----------
    images : (N, 28, 28) normalized images
    labels : (N,) digits
    idx : (batch, k) source indices, slot 0 on the left

    Returns
    -------
    X : (batch, 784 k) row-major flatten of the ``28 x 28k`` wide image
    y : (batch,) int64 parity of the digit sum
    """
    from ..data import parity_label

    k = idx.shape[1]
    wide = np.concatenate([images[idx[:, s]] for s in range(k)], axis=2)
    return wide.reshape(idx.shape[0], -1), parity_label(labels[idx])


# --------------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------------


def build_network(config: ParityConfig, rng: np.random.Generator):
    """The thesis' network as an engine :class:`~learning_rules.engine.Network`.

    Sizes ``784k - n_hidden x n_hidden_layers - 1``, no biases, ReLU hidden layers, sigmoid output,
    BCE loss, PyTorch-style uniform init ``U(+-1/sqrt(fan_in))`` (spec 2.2); the feedback
    matrices are drawn after the weights from the same ``rng`` (default scale ``1/sqrt(n_l)``,
    spec 2.4).
    """
    from ..engine import Network
    from ..nn import MLP

    sizes = [784 * config.k] + [config.n_hidden] * config.n_hidden_layers + [1]
    acts = ["relu"] * config.n_hidden_layers + ["sigmoid"]
    mlp = MLP.create(sizes, acts, init="pytorch", bias=False, rng=rng, dtype=np.dtype(config.dtype))
    return Network(mlp, credit=config.credit, update=config.update, loss="bce", lr=config.lr,
                   optimizer=config.optimizer,
                   optimizer_params=optimizer_params(config) if config.update == "gradient" else None,
                   feedback_init=config.feedback_init, rng=rng)


def parity_trainer(config: ParityConfig, net, backend: str = "auto"):
    """The :class:`~learning_rules.training.Trainer` of a parity run on ``net``.

    ``backend``: ``"auto"`` (the buffer trainers of :mod:`learning_rules.fast.minibatch` where
    they support the configuration, their first layer on the sparse remainder of the input,
    :mod:`learning_rules.fast.sparse_input`, ``net``'s first weight matrix then switched to
    Fortran order in place; else the reference), ``"dense"`` (the same trainers with dense BLAS
    products) or ``"reference"`` (always :meth:`Network._step`). The backend itself is chosen by
    :func:`learning_rules.training.choose_backend`.
    """
    from ..training import Trainer

    if backend not in ("auto", "dense", "reference"):
        raise ValueError(f"backend must be 'auto', 'dense' or 'reference', got {backend!r}")
    if backend == "reference":
        return Trainer(net, config.batch_size, "reference")
    background = parity_background(np.dtype(config.dtype)) if backend == "auto" else None
    return Trainer(net, config.batch_size, "auto", background)


def uses_buffers(config: ParityConfig) -> bool:
    """Whether a run of ``config`` takes the buffer trainers (``backend="auto"``), not the reference."""
    from ..training import minibatch_unsupported

    return minibatch_unsupported(build_network(config, np.random.default_rng(0))) is None


def parity_background(dtype) -> float:
    """The normalized value of a zero pixel, :math:`-\\mu/\\sigma = -0.4242`, in ``dtype``."""
    from ..data import normalize_parity

    return float(normalize_parity(np.zeros(1), dtype)[0])


#: Samples per evaluation chunk: a chunk's first-layer output (1 MB in float32) stays in cache;
#: 2000 was about 1.4x slower per evaluation.
EVAL_CHUNK = 512


def _evaluate(net, images, labels, idx, chunk: int = EVAL_CHUNK,
              background: float | None = None, pool=None) -> tuple[float, float]:
    """Mean BCE and accuracy (``y_hat > 0.5``, i.e. ``z_L > 0``) over the samples ``idx``.

    With ``background`` the first layer is computed on the sparse remainder of the input
    (:func:`learning_rules.fast.sparse_input.sparse_matmul`; ``W_1`` in Fortran order), taken
    straight from ``pool`` (an :class:`~learning_rules.fast.sparse_input.ImagePool` of
    ``images``) when given."""
    from ..data import parity_label
    from ..nn.mlp import forward

    mlp = net.mlp
    total, correct, n = 0.0, 0, idx.shape[0]
    for start in range(0, n, chunk):
        part = idx[start:start + chunk]
        if pool is not None and background is not None:
            X, y = None, parity_label(labels[part])
        else:
            X, y = parity_batch(images, labels, part)
        Y = y[:, None].astype(mlp.dtype)
        if background is None:
            z = forward(mlp.weights, mlp.biases, mlp.acts, X).z[-1]
        else:
            from ..fast.sparse_input import sparse_matmul, sparse_matmul_rows

            z1 = (sparse_matmul(X, mlp.weights[0], background) if X is not None
                  else sparse_matmul_rows(pool.rows(part), mlp.weights[0], background))
            if mlp.biases[0] is not None:
                z1 += mlp.biases[0]
            z = forward(mlp.weights[1:], mlp.biases[1:], mlp.acts[1:], mlp.acts[0].forward(z1)).z[-1]
        total += net.loss.value(z, Y, mlp.acts[-1]) * Y.shape[0]
        correct += int(np.sum((z[:, 0] > 0) == (y == 1)))
    return total / n, correct / n


def _alignment_row(net, config: ParityConfig, Xa: np.ndarray, Ya: np.ndarray,
                   last: tuple[np.ndarray, np.ndarray] | None) -> dict[str, float]:
    """Alignment columns: on the fixed held-out batch ``(Xa, Ya)`` with the current weights, and
    the thesis' per-input-row gradient cosine on the last training batch (post-update weights)."""
    from ..credit import feedback_alignment, update_alignment

    mlp = net.mlp
    row: dict[str, float] = {}
    if config.credit != "backprop":
        for l, c in enumerate(feedback_alignment(mlp, net.credit_state, config.credit), start=1):
            # DFA: B_l vs W_L...W_{l+1} (l = 1..L-1); FA: B_l vs W_l (l = 2..L)
            row[f"feedback_cos_{l if config.credit == 'dfa' else l + 1}"] = c
    cache = mlp.forward(Xa, check=False)
    e = net.loss.output_error(cache.z[-1], Ya, mlp.acts[-1])
    deltas = net.credit.deltas(mlp, cache, e, net.credit_state)
    for item in update_alignment(mlp, cache, e, deltas):
        l = item["layer"]
        row[f"grad_cos_{l}"] = item["flat"]
        row[f"grad_cos_rows_{l}"] = item["per_input"]
        row[f"delta_cos_{l}"] = item["delta"]
    if last is not None:
        Xl, Yl = last
        cache = mlp.forward(Xl, check=False)
        e = net.loss.output_error(cache.z[-1], Yl, mlp.acts[-1])
        deltas = net.credit.deltas(mlp, cache, e, net.credit_state)
        for item in update_alignment(mlp, cache, e, deltas):
            row[f"grad_cos_rows_last_{item['layer']}"] = item["per_input"]
    return row


# --------------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------------


def train_parity(config: ParityConfig, data: ParityData | None = None, backend: str = "auto"):
    """Train one network on MNIST-parity and record every epoch.

    Per epoch ``e = 1..num_epochs``: draw the epoch's triplets (one permutation per slot for
    ``k >= 2``; the original order for ``k = 1``, spec 1), take mini-batch steps in that order,
    then evaluate on freshly drawn evaluation triplets (``k >= 2``) or the fixed evaluation set
    (``k = 1``). A row for epoch 0 holds the evaluation of the initial network.

    Random streams: ``SeedSequence(seed)`` spawns (weights and B and optimizer state, training
    triplets, evaluation triplets and the alignment batch), so two configs that differ only in
    credit or optimizer see the same data.

    Parameters
    ----------
    config : ParityConfig
    data : ParityData, optional
        Preloaded pools (must match ``config``; default: :func:`load_parity_data`).
    backend : ``"auto"`` (the buffer trainers for BP/FA/DFA with the thesis' optimizers or the
        dual-weight updates, their first
        layer on the sparse remainder of the input, :mod:`learning_rules.fast.sparse_input`; else
        the reference), ``"dense"`` (the same trainers with dense BLAS products) or
        ``"reference"`` (always :class:`~learning_rules.engine.Network`'s step). The three agree
        to rounding (tests: ``tests/test_sparse_input.py``).

    Returns
    -------
    frame : pandas.DataFrame
        One row per epoch: ``epoch``, ``train_acc`` (running mean over the epoch's batches,
        measured before each update, as the thesis), ``train_loss``, ``test_acc``, ``test_loss``
        (on the validation split when ``config.validation``), ``eval_set``, ``diverged`` (the
        weights were no longer finite after this epoch: no more steps are taken, the train columns
        of later epochs are NaN, the evaluation goes on); with
        ``measure_alignment`` also ``feedback_cos_l``, ``grad_cos_l``, ``grad_cos_rows_l``,
        ``delta_cos_l`` (fixed held-out batch) and ``grad_cos_rows_last_l`` (thesis form).
    network : learning_rules.engine.Network
        The trained network (its ``credit_state["B"]`` holds the feedback matrices).
    """
    if not isinstance(config, ParityConfig):
        raise ValueError(f"train_parity needs a ParityConfig, got {type(config).__name__}")
    if backend not in ("auto", "dense", "reference"):
        raise ValueError(f"backend must be 'auto', 'dense' or 'reference', got {backend!r}")
    dtype = np.dtype(config.dtype)
    if data is None:
        data = load_parity_data(config, dtype)
    ss = np.random.SeedSequence(config.seed)
    # four independent streams; the alignment batch has its own, so measuring alignment leaves
    # the training and the evaluation triplets (and every other column) exactly as without it
    init_rng, train_rng, eval_rng, align_rng = (np.random.default_rng(s) for s in ss.spawn(4))
    net = build_network(config, init_rng)

    from ..data.generators import parity_indices

    n_tr = data.train_images.shape[0]
    n_ev = data.eval_images.shape[0]
    k = config.k
    eval_idx_fixed = parity_indices(n_ev, k, eval_rng) if k == 1 else None

    def eval_indices():
        return eval_idx_fixed if k == 1 else parity_indices(n_ev, k, eval_rng)

    align = None
    if config.measure_alignment:
        a_idx = align_rng.permutation(n_ev)[:config.alignment_batch]
        a_idx = np.stack([a_idx] + [align_rng.permutation(n_ev)[:a_idx.shape[0]] for _ in range(k - 1)],
                         axis=1) if k > 1 else a_idx[:, None]
        Xa, ya = parity_batch(data.eval_images, data.eval_labels, a_idx)
        align = (Xa, ya[:, None].astype(dtype))

    from ..training import Batch

    trainer = parity_trainer(config, net, backend)
    background, pools = None, (None, None)
    if trainer.backend == "sparse":
        background = parity_background(dtype)
        # the batches' sparse form comes straight from the pools, never assembled densely
        pools = (data.pool("train", background), data.pool("eval", background))
    train_pool, eval_pool = pools

    from ..data import parity_label

    def batches(idx):
        for start in range(0, n_tr, config.batch_size):
            part = idx[start:start + config.batch_size]
            if train_pool is not None:
                y = parity_label(data.train_labels[part])
                yield Batch(None, y[:, None].astype(dtype), train_pool.rows(part), y, part)
            else:
                X, y = parity_batch(data.train_images, data.train_labels, part)
                yield Batch(X, y[:, None].astype(dtype), None, y, part)

    def score(z, batch):
        return int(np.sum((z[:, 0] > 0) == (batch.labels == 1)))

    rows: list[dict[str, Any]] = []
    test_loss, test_acc = _evaluate(net, data.eval_images, data.eval_labels, eval_indices(),
                                    background=background, pool=eval_pool)
    row0 = {"epoch": 0, "train_acc": np.nan, "train_loss": np.nan, "test_acc": test_acc,
            "test_loss": test_loss, "eval_set": data.eval_name, "diverged": False}
    if align is not None:
        row0.update(_alignment_row(net, config, *align, None))
    rows.append(row0)

    diverged = False
    for epoch in range(config.num_epochs):
        trainer.set_epoch(epoch)
        idx = parity_indices(n_tr, k, train_rng)
        # A rate too large for its optimizer overflows: the loss turns inf/NaN on the way. That is
        # recorded (``diverged``), not warned about on every batch.
        with np.errstate(over="ignore", invalid="ignore"):
            stats = trainer.run_epoch(batches(idx), score=score) if not diverged else None
            net.epochs_done += 1
            test_loss, test_acc = _evaluate(net, data.eval_images, data.eval_labels,
                                            eval_indices(), background=background, pool=eval_pool)
        train = (np.nan, np.nan) if diverged else (stats.correct / n_tr, stats.loss_sum / n_tr)
        # Non-finite weights never become finite again under any of the rules: stop stepping.
        # The evaluation still draws its triplets every epoch (its own stream), so the test
        # columns equal those of a run that kept stepping.
        diverged = diverged or not all(np.isfinite(W).all() for W in net.mlp.weights)
        row = {"epoch": epoch + 1, "train_acc": train[0], "train_loss": train[1],
               "test_acc": test_acc, "test_loss": test_loss, "eval_set": data.eval_name,
               "diverged": diverged}
        if align is not None:
            last = None
            if stats is not None and stats.last is not None:
                # the epoch's last training batch, assembled for the thesis' form
                Xl, yl = parity_batch(data.train_images, data.train_labels, stats.last.index)
                last = (Xl, yl[:, None].astype(dtype))
            with np.errstate(over="ignore", invalid="ignore"):
                row.update(_alignment_row(net, config, *align, last))
        rows.append(row)
    trainer.finish()  # C order again (sparse path)
    return pd.DataFrame(rows), net


@register_experiment("dfa_parity", ParityConfig,
                     "one MNIST-parity run (BP / FA / DFA, thesis optimizers), one row per epoch")
@one_blas_thread
def parity_run(config: ParityConfig) -> pd.DataFrame:
    """:func:`train_parity` without the network (for the store and sweeps)."""
    return train_parity(config)[0]


# --------------------------------------------------------------------------------------------------
# repeats
# --------------------------------------------------------------------------------------------------


def run_repeats(configs: Iterable[ParityConfig], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Run (or fetch from ``store``) every config; one frame with config columns attached.

    Each config is an independent run: its own weights, feedback matrix and optimizer state
    (the fix of spec 9 D).
    """
    from ..sweep import run_sweep

    return run_sweep(parity_run, list(configs), n_jobs=n_jobs, store=store, name="dfa_parity",
                     backend="loky" if n_jobs != 1 else "sequential")
