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

Explained in: book/dfa/index.md and the pages beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import one_blas_thread, register_experiment

__all__ = [
    "ALIGNMENT_EPOCHS",
    "ALIGNMENT_LR",
    "LEDGER_TABLES",
    "PAGES",
    "REPRODUCES",
    "page_cells",
    "page_configs",
    "page_params",
    "page_plan",
    "beyond_page_plan",
    "page_runs",
    "PagePlan",
    "plan_tasks",
    "run_cost",
    "trial_configs",
    "page_table",
    "plot_page",
    "reproduced_cells",
    "B_INITS",
    "CREDIT_LABEL",
    "OPT_LABEL",
    "SWEEP_LR_B",
    "SWEEP_LR_OPT",
    "base_config",
    "comparison_table",
    "label_runs",
    "lr_grid",
    "markdown",
    "published_row",
    "OPTIMIZER_NAMES",
    "THESIS_LR",
    "THESIS_LR_B",
    "ParityConfig",
    "ParityData",
    "build_network",
    "load_parity_data",
    "optimizer_params",
    "parity_batch",
    "parity_run",
    "published_lr",
    "run_repeats",
    "select_lr",
    "select_lrs",
    "settle_lrs",
    "full_run_diverged",
    "loss_rose",
    "score_text",
    "switch_margin",
    "validation_size",
    "train_parity",
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
# repeats and learning-rate selection
# --------------------------------------------------------------------------------------------------


def run_repeats(configs: Iterable[ParityConfig], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Run (or fetch from ``store``) every config; one frame with config columns attached.

    Each config is an independent run: its own weights, feedback matrix and optimizer state
    (the fix of spec 9 D).
    """
    from ..sweep import run_sweep

    return run_sweep(parity_run, list(configs), n_jobs=n_jobs, store=store, name="dfa_parity",
                     backend="loky" if n_jobs != 1 else "sequential")


#: Standard errors by which a rate must beat the incumbent (published) one on the validation split
#: before it replaces it (:func:`switch_margin`).
SWITCH_Z = 2.0


def switch_margin(p: float, n: int, z: float = SWITCH_Z) -> float:
    r"""How much better than the incumbent's score a rate must score to replace it.

    .. math:: \Delta_{\min} = z \sqrt{2\,p(1-p)/n}

    ``z`` standard errors of the difference of two accuracies ``p`` each measured on ``n``
    validation samples (binomial; the two trials see the same samples, which only makes the real
    error smaller, and the mean over epochs is treated as one measurement). With ``z = 2`` a
    difference that validation sampling alone produces in about 1 of 20 comparisons is not
    enough: at ``p = 0.6``, ``n = 10,000`` the margin is 0.014.
    """
    if not (n >= 1):
        raise ValueError(f"n must be a positive number of validation samples, got {n}")
    p = min(max(float(p), 0.0), 1.0)
    return float(z * math.sqrt(2.0 * p * (1.0 - p) / n))


def validation_size(config: Any) -> int:
    """Validation samples a trial of ``config`` is scored on (one per validation image, k digits
    each): the split's size, or ``n_test`` of them when set."""
    return int(min(config.n_test or N_VALIDATION, N_VALIDATION))


def loss_rose(losses: Sequence[float], rtol: float = 0.01) -> bool:
    r"""Whether a trial diverged by its loss: the last epoch's validation loss ends more than
    ``rtol`` above the first entry's (epoch 0, the untrained net), or is not finite,

    .. math:: \neg\big(L_{\text{last}} \le (1 + r) L_0\big).

    A rate that leaves the loss above where it started has made the net worse than its
    initialization, whatever its accuracy happens to be on the way. The tolerance keeps a net
    that sits at chance (loss about :math:`\ln 2` from start to end, moving in the fifth
    digit) from counting as diverged."""
    losses = np.asarray(losses, float)
    if losses.ndim != 1 or losses.size < 1:
        raise ValueError(f"need a 1-d sequence of per-epoch losses, got shape {losses.shape}")
    if not (rtol >= 0):
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    return not bool(losses[-1] <= (1.0 + rtol) * losses[0])


def score_text(scores: pd.DataFrame) -> str:
    """One group's validation scores (:func:`select_lrs`) as text for a table cell:
    ``"0.018: 0.505, 0.054: 0.522 (diverged)"``, rates ascending, diverged trials marked, and a
    rate set aside by the full-run check of :func:`settle_lrs` marked with its count."""
    bad = scores["diverged"] if "diverged" in scores else pd.Series(False, index=scores.index)
    full = scores["full runs"] if "full runs" in scores else pd.Series("", index=scores.index)
    return ", ".join(f"{lr:g}: {sc:.3f}" + (" (diverged)" if b else "")
                     + (f" ({t.replace('set aside: ', 'set aside, ')})" if t.startswith("set aside") else "")
                     for lr, sc, b, t in zip(scores["lr"], scores["score"], bad, full))


def _scores(frame: pd.DataFrame, num_epochs: int, last: int, incumbent: float | None = None,
            n_eval: int = N_VALIDATION) -> tuple[float, pd.DataFrame]:
    """Best rate and per-rate scores of one group's validation trials.

    Without ``incumbent``: the highest score (ties: the smaller rate). With it: the incumbent,
    unless the highest-scoring rate beats it by more than :func:`switch_margin`. A trial that
    diverged is marked ``diverged`` in ``scores`` and never chosen (unless every trial did):
    its weights overflowed (a ``diverged`` column), or its validation loss (``test_loss``)
    ended more than 1 % above the untrained net's, :func:`loss_rose`. Accuracy alone misses the second
    kind: a DFA + SGD trial at 0.054 scored 0.54 for two epochs, then its loss jumped from
    0.69 to 2.8 while its accuracy fell back to chance, and over 20 epochs it never learned.
    """
    m = min(last, num_epochs)
    tail = frame[frame["epoch"] > num_epochs - m]
    scores = tail.groupby("lr", sort=True)["test_acc"].mean().rename("score").reset_index()
    bad = np.zeros(len(scores), bool)
    if "diverged" in frame:  # a trial whose weights overflowed is shown, and never chosen
        bad |= frame.groupby("lr", sort=True)["diverged"].any().to_numpy(bool)
    if "test_loss" in frame:
        bad |= np.array([loss_rose(g.sort_values("epoch")["test_loss"].to_numpy())
                         for _, g in frame.groupby("lr", sort=True)], bool)
    if "diverged" in frame or "test_loss" in frame:
        scores["diverged"] = bad
    usable = scores
    if "diverged" in scores and not scores["diverged"].all():
        usable = scores[~scores["diverged"]]
    best = float(usable.sort_values(["score", "lr"], ascending=[False, True]).iloc[0]["lr"])
    if incumbent is None:
        return best, scores
    mine = scores.loc[np.isclose(scores["lr"], incumbent), "score"]
    if mine.empty:
        raise ValueError(f"incumbent learning rate {incumbent:g} is not in the grid "
                         f"{list(scores['lr'])}; put it in the grid")
    margin = switch_margin(float(mine.iloc[0]), n_eval)
    scores["margin"] = margin
    top = float(usable["score"].max())
    return (best if top - float(mine.iloc[0]) > margin else float(incumbent)), scores


def select_lrs(groups: Mapping[Any, tuple], store=None, last: int = 10,
               n_jobs: int = 1) -> dict[Any, tuple[float, pd.DataFrame]]:
    """Choose a learning rate for every group on the validation split, all trials in one sweep.

    ``groups`` maps a label to ``(base config, grid of rates)`` or ``(base config, grid,
    incumbent)``; the config may be a :class:`ParityConfig` or a
    :class:`~learning_rules.experiments.dfa_parity.LazyParityConfig`. Every trial
    ``base.replace(lr=g, validation=True)`` of every group goes to one sweep, so ``n_jobs``
    workers stay busy across groups (one group of 3 trials on 2 workers would leave one idle for
    a whole trial). Score of a rate: the mean validation accuracy over the last ``min(last,
    num_epochs)`` epochs (the thesis' score, spec 4.2, on validation data, never on test).

    Without an incumbent the best score wins (ties: the smaller rate). With one (the published
    rate, which must be in the grid) the incumbent stays unless another rate beats it by more than
    :func:`switch_margin` (two standard errors on the validation samples): a rate that wins by
    noise would cost three full-length reruns and change nothing real. A trial whose weights
    overflowed or whose validation loss ended over 1 % above its start (:func:`loss_rose`) is never
    chosen while another trial of its group did not diverge.

    Returns ``{label: (chosen_lr, scores)}``, ``scores`` with ``lr`` and ``score`` per grid point
    (and ``margin`` when there is an incumbent).
    """
    frames = _trial_frames(groups, store, n_jobs)
    return {label: _scores(frames[label], base.num_epochs, last, incumbent=rest[0] if rest else None,
                           n_eval=validation_size(base))
            for label, (base, _, *rest) in groups.items()}


def _run_frames(configs: Sequence[Any], store=None, n_jobs: int = 1) -> list[pd.DataFrame]:
    """One frame per config (engine or lazy parity runs, fetched from ``store`` or computed in one
    sweep of ``n_jobs`` workers), in order."""
    from .dfa_parity import run_curve_specs

    if not configs:
        return []
    frame = run_curve_specs([(str(cfg.lr), cfg) for cfg in configs], store, n_jobs=n_jobs)
    ends = np.cumsum([cfg.num_epochs + 1 for cfg in configs])
    return [frame.iloc[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]


def _trial_frames(groups: Mapping[Any, tuple], store=None, n_jobs: int = 1) -> dict[Any, pd.DataFrame]:
    """Every group's validation trials (:func:`trial_configs`), all in one sweep: ``{label: frame}``."""
    owners, configs = trial_configs(groups)
    frames = _run_frames(configs, store, n_jobs)
    return {label: pd.concat([f for f, o in zip(frames, owners) if o == label], ignore_index=True)
            for label in groups}


def full_run_diverged(frame: pd.DataFrame, rtol: float = 0.01) -> bool:
    r"""Whether a full-length run went wrong in training: its weights overflowed (``diverged``), or
    its training loss (the running mean over each epoch's batches, epochs 1..N) ended more than
    ``rtol`` above the first epoch's (:func:`loss_rose`). Training data only: the check that sets a
    validation-chosen rate aside (:func:`settle_lrs`) never looks at the test set."""
    f = frame.sort_values("epoch")
    if "diverged" in f and bool(f["diverged"].astype(bool).any()):
        return True
    if "train_loss" not in f:
        return False
    losses = f.loc[f["epoch"] >= 1, "train_loss"].to_numpy(float)
    return bool(losses.size) and loss_rose(losses, rtol)


def _settle(plan: PagePlan, frames: Mapping[Any, pd.DataFrame], fetch) -> tuple[dict, list]:
    """The walk of :func:`settle_lrs`, with ``fetch(configs)`` returning the full runs' frames, or
    ``None`` when they are not available (a planner reading the store). Returns ``(picked,
    missing)``: ``picked`` as :func:`settle_lrs` (complete only when ``missing`` is empty) and the
    configs the walk is waiting for."""
    set_aside: dict[Any, list[tuple[float, int, int]]] = {label: [] for label in plan.groups}
    final: dict[Any, float | None] = {}
    missing: list = []
    # a rate whose trial diverged is never a fallback (unless every trial of the group diverged,
    # and then the first pick was one of them already)
    first = {label: _scores(frames[label], base.num_epochs, plan.last, incumbent=rest[0] if rest else None,
                            n_eval=validation_size(base))
             for label, (base, _, *rest) in plan.groups.items()}
    trial_bad = {}
    for label, (_, sc) in first.items():
        bad = sc["diverged"].to_numpy(bool) if "diverged" in sc else np.zeros(len(sc), bool)
        trial_bad[label] = sc.loc[bad, "lr"].to_numpy(float) if not bad.all() else np.array([])
    while True:
        candidates = {}
        for label, (base, _, *rest) in plan.groups.items():
            if label in final:
                continue
            out = np.array([r[0] for r in set_aside[label]], float)
            f = frames[label]
            if out.size and trial_bad[label].size:
                f = f[~np.isclose(f["lr"].to_numpy(float)[:, None], trial_bad[label][None, :]).any(axis=1)]
            keep = f[~np.isclose(f["lr"].to_numpy(float)[:, None], out[None, :]).any(axis=1)] \
                if out.size else f
            if keep.empty:  # every rate of the grid set aside: keep the validation pick, marked
                final[label] = None
                continue
            inc = rest[0] if rest and not np.isclose(rest[0], out).any() else None
            candidates[label] = _scores(keep, base.num_epochs, plan.last, incumbent=inc,
                                        n_eval=validation_size(base))[0]
        if not candidates:
            break
        reruns = {label: list(plan.rerun(label, lr)) for label, lr in candidates.items()}
        got = fetch([c for cs in reruns.values() for c in cs])
        if got is None:
            missing = [c for cs in reruns.values() for c in cs]
            break
        i = 0
        for label, cs in reruns.items():
            bad = sum(full_run_diverged(f) for f in got[i:i + len(cs)])
            i += len(cs)
            if bad:
                set_aside[label].append((candidates[label], bad, len(cs)))
            else:
                final[label] = candidates[label]
    picked = {}
    for label, (lr, scores) in first.items():
        notes = {}
        for r, bad, n in set_aside[label]:
            notes[r] = f"set aside: training loss rose in {bad}/{n} full runs"
        if final.get(label) is not None:
            lr = final[label]
            notes[lr] = "full runs passed"
        scores["full runs"] = [next((t for r, t in notes.items() if np.isclose(r, x)), "")
                               for x in scores["lr"]]
        picked[label] = (lr, scores)
    return picked, missing


def settle_lrs(plan: PagePlan, store=None, n_jobs: int = 1) -> dict[Any, tuple[float, pd.DataFrame]]:
    """:func:`select_lrs` on ``plan``'s groups, each pick then checked on its full-length runs.

    A validation trial is short (a few epochs); a rate that wins it can still blow up later in a
    full run. So the runs at the chosen rate (``plan.rerun``, every seed, full length, full
    training set) are looked at, training data only: if any seed's training loss ended above its
    first epoch's (:func:`full_run_diverged`), the rate is set aside, the choice is made again
    among the remaining rates of the grid by the same rule (the incumbent's advantage kept while
    it is not set aside), and the runs at the new pick are checked in turn. "Halve the rate and
    restart when training diverges" is the practice this formalizes; the test set is never used.
    When every rate is set aside, the validation pick stays, marked.

    Returns ``{label: (lr, scores)}`` as :func:`select_lrs`, ``scores`` with a ``full runs``
    column (``"set aside: ..."``, ``"full runs passed"`` or empty for rates never run in full).
    """
    frames = _trial_frames(plan.groups, store, n_jobs)
    return _settle(plan, frames, lambda configs: _run_frames(configs, store, n_jobs))[0]


def trial_configs(groups: Mapping[Any, tuple]) -> tuple[list[Any], list[Any]]:
    """The validation trials of :func:`select_lrs`'s ``groups``: ``(owners, configs)``, one
    ``base.replace(lr=g, validation=True)`` per rate ``g`` of each group's grid, in order."""
    owners, configs = [], []
    for label, (base, grid, *rest) in groups.items():
        grid = [float(g) for g in grid]
        if not grid:
            raise ValueError(f"group {label!r} has an empty grid of learning rates; give at least one")
        if len(rest) > 1:
            raise ValueError(f"group {label!r}: give (config, grid) or (config, grid, incumbent)")
        for g in grid:
            configs.append(base.replace(lr=g, validation=True))
            owners.append(label)
    return owners, configs


def select_lr(base, grid: Sequence[float], store=None, last: int = 10,
              n_jobs: int = 1, incumbent: float | None = None) -> tuple[float, pd.DataFrame]:
    """Choose a learning rate on the validation split carved from the training images
    (:func:`select_lrs` for one group; ``base`` a :class:`ParityConfig` or a
    :class:`~learning_rules.experiments.dfa_parity.LazyParityConfig`).

    Score of a learning rate: the mean validation accuracy over the last ``min(last,
    num_epochs)`` epochs (the thesis' score, spec 4.2, but on validation data, never on test).
    Ties go to the smaller learning rate; an ``incumbent`` (the published rate) stays unless
    beaten by more than :func:`switch_margin`.

    Returns
    -------
    best_lr : float
    scores : DataFrame with ``lr`` and ``score`` per grid point
    """
    if not list(grid):
        raise ValueError("select_lr needs a non-empty grid of learning rates")
    group = (base, grid) if incumbent is None else (base, grid, incumbent)
    return select_lrs({0: group}, store=store, last=last, n_jobs=n_jobs)[0]


# --------------------------------------------------------------------------------------------------
# page plans: every run a page asks for, so a build can compute all pages' runs in one pool
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PagePlan:
    """The runs of one page.

    Attributes
    ----------
    runs : configs the page runs whatever the learning-rate selection picks (published rates,
        sweeps), in the page's order
    groups : the page's :func:`select_lrs` groups (label -> ``(base, grid, incumbent)``); empty
        when the page selects nothing
    last : the scoring window passed to :func:`select_lrs`
    rerun : ``rerun(label, lr)`` -> the configs the page runs for one group at rate ``lr`` (every
        seed, full length); the full-run check of :func:`settle_lrs` looks at them
    """

    runs: list[Any]
    groups: dict[Any, tuple]
    last: int
    rerun: Any

    def chosen(self, lrs: Mapping[Any, float]) -> list[Any]:
        """Every group's configs at its chosen rate (``lrs``: label -> rate), group by group."""
        return [c for label in self.groups for c in self.rerun(label, lrs[label])]


def experiment_of(config: Any) -> str:
    """Store name of a parity config: ``"dfa_parity"`` (engine) or ``"dfa_parity_lazy"``."""
    from .dfa_parity import LazyParityConfig

    if isinstance(config, ParityConfig):
        return "dfa_parity"
    if isinstance(config, LazyParityConfig):
        return "dfa_parity_lazy"
    raise ValueError(f"not a parity config: {type(config).__name__}")


#: Relative cost of one epoch per lazy method (measured at k = 3 against an engine DFA + SGD
#: epoch; only the order of the tasks depends on it).
_LAZY_COST = {"bp": 1.2, "relu_features": 0.6, "gaussian_features": 0.6, "linear_features": 0.6,
              "ntk_coded": 2.0, "ntk_dm": 1.7}


def run_cost(config: Any) -> float:
    """A run's rough cost in k = 3 engine epochs (for longest-first scheduling only)."""
    from .dfa_parity import LazyParityConfig

    width = 0.25 + 0.75 * config.k / 3  # the first layer dominates; the rest does not shrink
    per_epoch = _LAZY_COST[config.method] if isinstance(config, LazyParityConfig) else (
        (1.0 if config.optimizer == "sgd" and config.update == "gradient" else 1.15)
        * (1.0 + 0.25 * (config.n_hidden_layers - 1))  # a 512 x 512 layer: a fifth of the first
        * (1.1 if config.measure_alignment else 1.0))
    data = (5 / 6) if config.validation else 1.0  # 50,000 training images instead of 60,000
    return float(config.num_epochs * width * per_epoch * data + 0.1)


def plan_tasks(plan: PagePlan, store) -> list:
    """The :class:`~learning_rules.experiments.Task` list of ``plan`` as far as ``store`` decides
    it: the runs and the trials, and once every trial is stored the reruns at the rates
    :func:`select_lrs` chooses from them (read from the store, nothing computed here)."""
    from ..store import read_only
    from . import Task

    tasks = [Task(experiment_of(c), c, run_cost(c)) for c in plan.runs]
    if not plan.groups:
        return tasks
    _, trials = trial_configs(plan.groups)
    tasks += [Task(experiment_of(c), c, run_cost(c), stage=0) for c in trials]
    if not all((experiment_of(c), c) in store for c in trials):
        return tasks
    with read_only():
        frames = _trial_frames(plan.groups, store)
        seen: list = []

        def fetch(configs):  # the full-run check walks as far as the store holds its runs
            seen.extend(configs)
            if not all((experiment_of(c), c) in store for c in configs):
                return None
            return _run_frames(configs, store)

        _settle(plan, frames, fetch)  # every pick it reached, the final ones included, is in seen
    listed: set = set()
    for c in seen:  # each once (a rerun at the published rate is a published run)
        if c not in listed:
            listed.add(c)
            tasks.append(Task(experiment_of(c), c, run_cost(c)))
    return tasks


def page_plan(page: str, params: Mapping[str, Any]) -> PagePlan:
    """The runs of the alignment, feedback or optimizers page for its notebook ``params``
    (:func:`page_configs` for the published rates, the appendix sweeps, the validation groups
    and the reruns at the chosen rates), as the notebook builds them."""
    p = page_params(page, params)
    k, num_epochs, seeds = int(p["k"]), int(p["num_epochs"]), range(int(p["seeds"]))
    trial_epochs = int(p.get("select_epochs") or 0) or num_epochs
    factors = p.get("lr_factors", [0.5, 1.0, 2.0])
    last = max(1, trial_epochs // 2)
    runs = [c for _, c in page_configs(page, p)]
    if page == "alignment":
        base = base_config(k, num_epochs, p["n_train"], p["n_test"], credit="dfa",
                           measure_alignment=True, alignment_batch=p["alignment_batch"])
        opts = ("sgd", "rmsprop")
        groups = {o: (base.replace(optimizer=o, measure_alignment=False, seed=0, num_epochs=trial_epochs),
                      lr_grid(ALIGNMENT_LR[o], factors), ALIGNMENT_LR[o]) for o in opts}
        return PagePlan(runs, groups, last,
                        lambda o, lr: [base.replace(optimizer=o, lr=lr, seed=s) for s in seeds])
    if page == "feedback":
        base = base_config(k, num_epochs, p["n_train"], p["n_test"], credit="dfa")
        if p.get("sweep", True):
            runs += [base.replace(feedback_init=b, lr=lr, seed=0) for b in B_INITS for lr in SWEEP_LR_B[b]]
        groups = {b: (base.replace(feedback_init=b, seed=0, num_epochs=trial_epochs),
                      lr_grid(THESIS_LR_B[b], factors), THESIS_LR_B[b]) for b in B_INITS}
        return PagePlan(runs, groups, last,
                        lambda b, lr: [base.replace(feedback_init=b, lr=lr, seed=s) for s in seeds])
    base = base_config(k, num_epochs, p["n_train"], p["n_test"])
    if p.get("sweep", True):
        runs += [base.replace(credit="dfa", optimizer=o, lr=lr, seed=0)
                 for o in OPTIMIZER_NAMES for lr in SWEEP_LR_OPT[o]]
    pairs = [(c, o) for c in ("backprop", "dfa") for o in OPTIMIZER_NAMES]
    groups = {} if not p.get("select", True) else {
        (c, o): (base.replace(credit=c, optimizer=o, seed=0, num_epochs=trial_epochs),
                 lr_grid(published_lr(c, o), factors), published_lr(c, o)) for c, o in pairs}
    return PagePlan(runs, groups, last,
                    lambda pair, lr: [base.replace(credit=pair[0], optimizer=pair[1], lr=lr, seed=s)
                                      for s in seeds])


# --------------------------------------------------------------------------------------------------
# figure helpers (used by the book pages)
# --------------------------------------------------------------------------------------------------

#: Labels of the credit assignments and optimizers as the thesis prints them.
CREDIT_LABEL = {"backprop": "BP", "fa": "FA", "dfa": "DFA"}
OPT_LABEL = {"sgd": "SGD", "adagrad": "Adagrad", "adadelta": "Adadelta", "rmsprop": "RMSProp",
             "adam": "Adam"}


def base_config(k: int = 3, num_epochs: int = 20, n_train: int = 0, n_test: int = 0,
                **changes: Any) -> ParityConfig:
    """A :class:`ParityConfig` from notebook parameters (``0`` samples = all of them)."""
    return ParityConfig(k=k, num_epochs=num_epochs, n_train=n_train or None, n_test=n_test or None,
                        **changes)


def published_row(config: ParityConfig, figure: str) -> str:
    """The ``row`` key of ``reference/dfa_thesis.csv`` a run corresponds to.

    ``figure``: ``"3.4"`` (``k=3|RMSProp|DFA``), ``"3.3"`` (``k=3|SGD|B=gaussian|DFA``) or
    ``"3.2"`` (``k=3|SGD|lr=0.016|DFA``, the 50-epoch alignment runs at the published rates).
    """
    c, o = CREDIT_LABEL[config.credit], OPT_LABEL.get(config.optimizer, config.optimizer)
    if figure == "3.4":
        return f"k={config.k}|{o}|{c}"
    if figure == "3.3":
        return f"k={config.k}|{o}|B={config.feedback_init}|{c}"
    if figure == "3.2":
        return f"k={config.k}|{o}|lr={ALIGNMENT_LR.get(config.optimizer, config.lr):g}|{c}"
    raise ValueError(f"unknown figure {figure!r}; valid: 3.2, 3.3, 3.4")


def lr_grid(lr: float, factors: Sequence[float]) -> list[float]:
    """Learning rates ``lr * f`` for the validation search around a published value."""
    if not factors or any(not (f > 0) for f in factors):
        raise ValueError(f"factors must be positive numbers, got {factors!r}")
    return [float(f"{lr * f:.6g}") for f in factors]


def label_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``method`` (``"DFA"``, ``"BP"``), ``opt`` (``"RMSProp"``) and ``run`` labels to a sweep frame."""
    out = frame.copy()
    out["method"] = out["credit"].map(CREDIT_LABEL)
    out["opt"] = out["optimizer"].map(OPT_LABEL)
    return out


def comparison_table(summary: pd.DataFrame, table: str, column: str, comparable: bool) -> pd.DataFrame:
    """Regenerated final numbers next to the thesis' (:func:`~learning_rules.analysis.dfa.compare_to_published`),
    rounded for display, with a ``comparable`` flag (``False`` when the profile's protocol differs
    from the thesis', e.g. another ``k`` or a subsample: then the difference measures the reduced
    protocol, not the reproduction)."""
    from ..analysis.dfa import compare_to_published

    out = compare_to_published(summary, table, column)
    out["comparable"] = bool(comparable)
    cols = [c for c in out.columns if c not in ("low", "high", "sd", "seeds")] + ["low", "high"]
    out = out[cols].copy()
    for c in ("mean", "published", "difference", "low", "high"):
        out[c] = out[c].round(4)
    return out


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (NaN as an empty cell)."""
    from .datasets import markdown_table

    return markdown_table(frame)


# --------------------------------------------------------------------------------------------------
# the pages' published-rate runs, their tables, figures (artifacts) and ledger cells
# --------------------------------------------------------------------------------------------------

#: The three pages of Figs. 3.2-3.5 and B.1-B.2 and the reference-CSV tables they reproduce.
#: (Figs. 2.1 and 3.1 belong to :mod:`.dfa_parity`, Figs. 2.2 and 3.8 to :mod:`.dfa_synthetic`:
#: each published cell is regenerated by exactly one module, ``tests/test_dfa_ledger.py``.)
PAGES: dict[str, dict[str, Any]] = {
    "alignment": {"notebook": "book/dfa/alignment.ipynb", "tables": ("Fig. 3.2/3.5",),
                  "defaults": {"k": 3, "num_epochs": 50, "seeds": 3, "n_train": 0, "n_test": 0,
                               "alignment_batch": 1000}},
    "feedback": {"notebook": "book/dfa/feedback.ipynb", "tables": ("Fig. 3.3",),
                 "defaults": {"k": 3, "num_epochs": 20, "seeds": 3, "n_train": 0, "n_test": 0}},
    "optimizers": {"notebook": "book/dfa/optimizers.ipynb", "tables": ("Fig. 3.4",),
                   "defaults": {"k": 3, "num_epochs": 20, "seeds": 3, "n_train": 0, "n_test": 0}},
}
LEDGER_TABLES = tuple(t for page in PAGES.values() for t in page["tables"])

REPRODUCES = {"sources": ["dfa_thesis"], "chapter": PAGES["optimizers"]["notebook"],
              "pages": [meta["notebook"] for meta in PAGES.values()],
              "description": "Demirbilek (2021) Figs. 3.2-3.5: DFA alignment, feedback matrices "
                             "and adaptive optimizers (MNIST parity, published learning rates)"}

#: Epochs of the thesis' alignment CSV rows (Fig. 3.2/3.5).
ALIGNMENT_EPOCHS = (1, 10, 20, 50)
#: Frame column -> published column prefix of the alignment rows.
ALIGNMENT_METRICS = {"test_acc": "test accuracy", "feedback_cos_1": "cos(B, W2)",
                     "grad_cos_rows_last_1": "gradient cosine"}


def page_params(page: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A page's parameters: its paper-protocol defaults updated with ``params`` (a profile's)."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}; valid: {', '.join(PAGES)}")
    return {**PAGES[page]["defaults"], **dict(params or {})}


def page_configs(page: str, params: dict[str, Any] | None = None) -> list[tuple[str, ParityConfig]]:
    """``(published row, config)`` of every published-rate run a page shows (the configs the
    notebook builds, so the store returns the page's own runs).

    alignment: DFA + SGD (0.016) and + RMSProp (0.00022), alignment measured; feedback: DFA + SGD
    per law of B at its rate; optimizers: BP and DFA with each optimizer at its rate, Adam also
    with the thesis' epoch count (row suffix ``|epoch-count``).
    """
    p = page_params(page, params)
    k, seeds = int(p["k"]), range(int(p["seeds"]))
    out: list[tuple[str, ParityConfig]] = []
    if page == "alignment":
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"], credit="dfa",
                           measure_alignment=True, alignment_batch=p["alignment_batch"])
        for o in ("sgd", "rmsprop"):
            row = f"k={k}|{OPT_LABEL[o]}|lr={ALIGNMENT_LR[o]:g}|DFA"
            out += [(row, base.replace(optimizer=o, lr=ALIGNMENT_LR[o], seed=s)) for s in seeds]
    elif page == "feedback":
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"], credit="dfa")
        for b in B_INITS:
            out += [(f"k={k}|SGD|B={b}|DFA", base.replace(feedback_init=b, lr=THESIS_LR_B[b], seed=s))
                    for s in seeds]
    else:
        base = base_config(k, p["num_epochs"], p["n_train"], p["n_test"])
        for c in ("backprop", "dfa"):
            for o in OPTIMIZER_NAMES:
                row = f"k={k}|{OPT_LABEL[o]}|{CREDIT_LABEL[c]}"
                out += [(row, base.replace(credit=c, optimizer=o, lr=published_lr(c, o), seed=s))
                        for s in seeds]
            out += [(f"k={k}|Adam|{CREDIT_LABEL[c]}|epoch-count",
                     base.replace(credit=c, optimizer="adam", lr=published_lr(c, "adam"), seed=s,
                                  adam_step_count="epoch")) for s in seeds]
    return out


def page_runs(page: str, params: dict[str, Any] | None = None, store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Every published-rate run of a page (through ``store``), labelled, with its ``row``."""
    pairs = page_configs(page, params)
    frame = label_runs(run_repeats([c for _, c in pairs], store=store, n_jobs=n_jobs))
    rows = []
    for row, cfg in pairs:
        rows += [row] * (cfg.num_epochs + 1)
    frame["row"] = rows
    return frame


def page_cells(page: str, runs: pd.DataFrame, num_epochs: int) -> list[dict[str, Any]]:
    """The page's published cells regenerated from ``runs`` (:func:`page_runs`).

    One dict per cell: ``table, row, column, values`` (per-seed values) and ``epoch`` (the epoch
    used: the published one, or the profile's last epoch when it stops earlier). Fig. 3.4's Adam
    rows use the thesis' epoch-counting Adam (what its CSV ran); the corrected Adam is on the page.
    """
    cells: list[dict[str, Any]] = []
    if page == "alignment":
        for row, g in runs.groupby("row", sort=False):
            for col, prefix in ALIGNMENT_METRICS.items():
                for e in ALIGNMENT_EPOCHS:
                    at = min(e, num_epochs)
                    vals = g.loc[g["epoch"] == at, col].dropna().to_numpy(dtype=float)
                    cells.append({"table": "Fig. 3.2/3.5", "row": row, "column": f"{prefix} epoch {e}",
                                  "values": vals, "epoch": at, "published_epoch": e})
        return cells
    last = runs[runs["epoch"] == num_epochs]
    if page == "feedback":
        for row, g in last.groupby("row", sort=False):
            cells.append({"table": "Fig. 3.3", "row": row, "column": "final test accuracy",
                          "values": g["test_acc"].to_numpy(dtype=float), "epoch": num_epochs,
                          "published_epoch": 20})
        return cells
    for row, g in last.groupby("row", sort=False):
        if row.endswith("|Adam|BP") or row.endswith("|Adam|DFA"):
            continue  # the thesis' Adam counted epochs: its cell is the epoch-count run below
        cells.append({"table": "Fig. 3.4", "row": row.replace("|epoch-count", ""),
                      "column": "final test accuracy", "values": g["test_acc"].to_numpy(dtype=float),
                      "epoch": num_epochs, "published_epoch": 20})
    return cells


def page_table(page: str, params: dict[str, Any] | None = None, store=None) -> pd.DataFrame:
    """The page's regenerated cells next to the thesis' (mean, 95 % t-interval, difference)."""
    from ..analysis.dfa import load_published, mean_interval

    p = page_params(page, params)
    runs = page_runs(page, p, store)
    pub = load_published()
    out = []
    for c in page_cells(page, runs, int(p["num_epochs"])):
        m, lo, hi = mean_interval(c["values"])
        hit = pub[(pub["table"] == c["table"]) & (pub["row"] == c["row"]) & (pub["column"] == c["column"])]
        pv = float(hit["published"].iloc[0]) if len(hit) else float("nan")
        out.append({"table": c["table"], "row": c["row"], "column": c["column"], "epoch": c["epoch"],
                    "seeds": len(c["values"]), "mean": m, "low": lo, "high": hi, "published": pv,
                    "difference": m - pv})
    return pd.DataFrame(out)


#: Columns of the thesis' second stored run of a setting (spec 8.2, 8.3): the same protocol as the
#: main column, so the regenerated value is compared with both runs.
SECOND_RUNS: dict[tuple[str, str], tuple[str, str]] = {
    ("Fig. 3.4", "final test accuracy (k3_All older run)"):
        ("final test accuracy", "runs/k3_All.csv, the thesis' earlier run of the same setting"),
    ("Fig. 3.3", "final test accuracy (line-plot run)"):
        ("final test accuracy", "runs/K3_SGD_DFA_RandomMatrices.csv, the thesis' line-plot run "
                                "of the same setting"),
}


#: Columns of Figs. 3.2/3.5 that hold cosines, not accuracies.
COSINE_COLUMNS = ("cos(B, W2)", "gradient cosine")
#: The smallest tolerance of a cosine cell: the report's 0.02 for fractions.
COSINE_TOLERANCE_FLOOR = 0.02


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Figs. 3.2/3.5, 3.3 and 3.4 cells of ``reference/dfa_thesis.csv`` regenerated with
    ``profile``'s parameters of the alignment, feedback and optimizers pages (through the store: a
    cache hit after the book build). A cell at an epoch the profile does not reach is given at its
    last epoch, with a note; so is a profile that runs another ``k`` or a subsample. The thesis'
    second runs of a setting (:data:`SECOND_RUNS`) get the same regenerated value as the main
    column, with a note naming the run."""
    from pathlib import Path

    from ..cells import mean_interval, record
    from ..profiles import load_profile
    from ..store import Store

    from ..analysis.dfa import load_published
    from ..analysis.stats import two_run_set_tolerance

    root = Path(__file__).resolve().parents[3]
    notebooks = load_profile(root, profile).notebooks
    store = Store()
    pub = load_published()
    published = set(zip(pub["table"], pub["row"], pub["column"]))
    rows = []
    for page, meta in PAGES.items():
        p = page_params(page, notebooks.get(meta["notebook"], {}))
        reduced = [] if not (p["n_train"] or p["n_test"]) else [
            f"subsample {p['n_train'] or 'all'} train / {p['n_test'] or 'all'} test images"]
        runs = page_runs(page, p, store)
        for c in page_cells(page, runs, int(p["num_epochs"])):
            if (c["table"], c["row"], c["column"]) not in published:
                continue  # e.g. a profile at k = 1: the thesis stored these figures at k = 3 only
            mean, low, high = mean_interval(c["values"])
            notes = list(reduced)
            tol = None
            if c["column"].startswith(COSINE_COLUMNS):  # a cosine's noise is its own: from the seeds
                tol = two_run_set_tolerance(c["values"], floor=COSINE_TOLERANCE_FLOOR)
                tol = None if not np.isfinite(tol) else tol
                if tol is not None:
                    notes.append(f"tolerance {tol:.3f} from the spread of {len(c['values'])} seeds "
                                 "(two sets of runs, 95 %)")
            if c["epoch"] != c["published_epoch"]:
                notes.append(f"profile {profile} stops at epoch {c['epoch']}")
            if c["table"] == "Fig. 3.4" and "|Adam|" in c["row"]:
                notes.append("Adam with the thesis' epoch-indexed bias correction")
            columns = [(c["column"], notes)] + [
                (alt, notes + [f"same run as column '{main}'; compared with {what}"])
                for (table, alt), (main, what) in SECOND_RUNS.items()
                if table == c["table"] and main == c["column"] and (table, c["row"], alt) in published]
            for column, why in columns:
                rows.append(record("dfa_thesis", c["table"], c["row"], column, mean, low, high,
                                   profile=profile, seeds=list(range(int(p["seeds"]))), tolerance=tol,
                                   note="; ".join(why) or None))
    return pd.DataFrame(rows)


def plot_page(page: str, runs: pd.DataFrame):
    """The page's main figure (Figure 1 of its notebook, which calls this function, and artifact
    ``dfa-<page>-figure``) from the page's runs at the published rates (:func:`page_runs`):
    alignment (thesis Figs. 3.2/3.5: test accuracy and cos(B, W2) per epoch), feedback (thesis
    Fig. 3.3: test accuracy per epoch per law of B, and the last epoch's as bars) or optimizers
    (thesis Fig. 3.4: test accuracy at the last epoch per optimizer, bars)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if page == "alignment":
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        sns.lineplot(data=runs[runs.epoch > 0], x="epoch", y="test_acc", hue="opt",
                     errorbar=("ci", 95), palette="colorblind", ax=axes[0])
        axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="DFA test accuracy")
        sns.lineplot(data=runs, x="epoch", y="feedback_cos_1", hue="opt", errorbar=("ci", 95),
                     palette="colorblind", ax=axes[1])
        axes[1].set(xlabel="epoch", ylabel=r"cos(B, $W_2$) (unitless)", title="feedback alignment")
    elif page == "feedback":
        runs = runs.assign(B=runs["feedback_init"].str.replace("_", " "))
        num_epochs = int(runs.epoch.max())
        fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
        sns.lineplot(data=runs[runs.epoch > 0], x="epoch", y="test_acc", hue="B", errorbar=("ci", 95),
                     palette="colorblind", ax=axes[0])
        axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="DFA + SGD, four laws of B")
        final = runs[runs.epoch == num_epochs]
        sns.barplot(data=final, x="B", y="test_acc", errorbar=("ci", 95), ax=axes[1])
        axes[1].set(xlabel="law of B", ylabel="final test accuracy (fraction)", title=f"epoch {num_epochs}")
        axes[1].tick_params(axis="x", rotation=25)
        axes[1].set_ylim(max(0.0, final.test_acc.min() - 0.05), min(1.0, final.test_acc.max() + 0.03))
    else:
        num_epochs = int(runs.epoch.max())
        final = runs[runs.epoch == num_epochs].copy()
        final.loc[final.adam_step_count == "epoch", "opt"] = "Adam (epoch count)"
        fig, ax = plt.subplots(figsize=(10, 4))
        sns.barplot(data=final, x="opt", y="test_acc", hue="method", errorbar=("ci", 95), ax=ax,
                    palette="colorblind",
                    order=["SGD", "Adagrad", "Adadelta", "RMSProp", "Adam", "Adam (epoch count)"])
        ax.set(xlabel="optimizer", ylabel=f"test accuracy at epoch {num_epochs} (fraction)",
               title="BP and DFA with adaptive optimizers")
        ax.set_ylim(max(0.0, final.test_acc.min() - 0.05), min(1.0, final.test_acc.max() + 0.03))
        return fig  # as the page has always drawn it: no tight_layout (the saved file is cropped)
    fig.tight_layout()
    return fig


#: What each page's main figure (:func:`plot_page`) shows, for its artifact's description.
PAGE_FIGURES = {"alignment": "DFA test accuracy and cos(B, W2) per epoch, SGD and RMSProp",
                "feedback": "DFA + SGD test accuracy per epoch and at the last epoch for the four "
                            "laws of B",
                "optimizers": "final test accuracy per optimizer, BP and DFA (Adam also with the "
                              "thesis' epoch count)"}


def _page_artifacts(page: str) -> None:
    from . import register_artifact, save_book_figure

    nb = PAGES[page]["notebook"]
    figs = {"alignment": "Figs. 3.2/3.5", "feedback": "Fig. 3.3", "optimizers": "Fig. 3.4"}[page]

    def make_table(params, out_path):
        from ..store import Store, atomic_write_text

        atomic_write_text(out_path, page_table(page, params, Store()).to_csv(index=False))
        return out_path

    def make_figure(params, out_path):
        import matplotlib

        matplotlib.use("Agg")
        from ..store import Store

        runs = page_runs(page, page_params(page, params), Store())
        return save_book_figure(lambda: plot_page(page, runs), out_path)

    register_artifact(f"dfa-{page}-table", f"thesis {figs}: regenerated cells next to the thesis' "
                      "stored results (CSV)", notebook=nb, suffix=".csv")(make_table)
    register_artifact(f"dfa-{page}-figure", f"thesis {figs}: {PAGE_FIGURES[page]} (PNG)",
                      notebook=nb, suffix=".png")(make_figure)


for _page in PAGES:
    _page_artifacts(_page)


#: The page beyond the thesis (deeper nets, DFA x dual-weight).
BEYOND_NOTEBOOK = "book/dfa/beyond.ipynb"


def beyond_page_plan(params: Mapping[str, Any]) -> PagePlan:
    """The runs of the beyond page: validation trials of BP, FA and DFA at every depth and of
    BP and DFA with the gradient and the dual-weight update (no incumbent: the best rate wins),
    then the runs at the chosen rates, with alignment measured for every depth and for the
    update comparison's gradient rows (which are then the one-layer runs of the depth comparison,
    same config, stored once). ``params``: the notebook's parameters as the build passes them
    (its defaults updated with the profile's)."""
    p = dict(params)
    num_epochs, seeds = int(p["num_epochs"]), range(int(p["seeds"]))
    base = base_config(int(p["k"]), num_epochs, p["n_train"], p["n_test"])
    trial_epochs = int(p["select_epochs"] or 0) or num_epochs
    nets = [(int(L), c) for L in p["depths"] for c in ("backprop", "fa", "dfa")]
    combos = [(c, u) for c in ("backprop", "dfa") for u in ("gradient", "dual_weight")]
    groups: dict[Any, tuple] = {
        (L, c): (base.replace(credit=c, n_hidden_layers=L, seed=0, num_epochs=trial_epochs),
                 p["grid_bp"] if c == "backprop" else p["grid_fa"]) for L, c in nets}
    groups.update({(c, u): (base.replace(credit=c, update=u, seed=0, num_epochs=trial_epochs),
                            p["grid_dual"] if u == "dual_weight" else
                            (p["grid_bp"] if c == "backprop" else p["grid_fa"])) for c, u in combos})

    def rerun(label, lr):
        if label in combos:  # (credit, update) of Table 2
            c, u = label
            return [base.replace(credit=c, update=u, lr=lr, seed=s, measure_alignment=u == "gradient")
                    for s in seeds]
        L, c = label  # (depth, credit) of Table 1
        return [base.replace(credit=c, n_hidden_layers=L, lr=lr, seed=s, measure_alignment=True)
                for s in seeds]

    return PagePlan([], groups, max(1, trial_epochs // 2), rerun)


def _register_planners() -> None:
    from . import register_planner

    for page, meta in PAGES.items():
        register_planner(meta["notebook"])(
            lambda params, store, page=page: plan_tasks(page_plan(page, params), store))
    from . import dfa_depth

    register_planner(BEYOND_NOTEBOOK)(lambda params, store: plan_tasks(beyond_page_plan(params), store)
                                      + dfa_depth.planned_tasks(params))


_register_planners()
