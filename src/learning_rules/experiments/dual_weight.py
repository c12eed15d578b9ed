r"""The dual-weight paper's experiments (Wang 2025, Tables 1-4, Figures 2-8), as coded and corrected.

One *cell* of the grid is (protocol, dataset, depth, training-set size, seed): it trains the five
methods of the paper from one shared initial weight draw ``W_init`` and measures the test metric
after every ``eval_every`` single-sample steps (and at step 0), plus one noise test at the end.

Methods (``METHODS``): ``"our"`` (dual weight, eqs. 15-17), ``"our+stab"`` (appendix B),
``"GD"`` (plain SGD), ``"L2 0.01"`` and ``"L2 0.1"``. Every method trains its biases by SGD at the
same ``lr`` and starts from ``W_init`` (the dual halves as the code does: ``W1 = W_init, W2 = 0``).

Protocols (``PROTOCOLS``):

``"as_coded"`` -- the authors' code (spec ``dual-weight-paper.md`` sec. 5 and 10):
    the training pool is ``RandomState(5).randint(0, N, n)`` (with replacement), the test set the
    rest of the same file; MNIST is the TF reader's train split (rows 5,000..59,999 of the official
    train file: its first 5,000 were held out for validation), Fashion-MNIST the 60k train file,
    CIFAR-10 ``data_batch_1`` only (HWC order); tables z-scored over all rows (ddof=1), target x 0.1;
    the "L2" subtracts ``eta lambda W / ||W||_F`` (unsquared norm). The step order is the code's
    own: after the pool draw the same ``RandomState`` draws 10,000 indices for each method in turn
    (our, stab, GD, L2 0.01, L2 0.1) per block, so each method sees its own order -- bit for bit
    the original's sample sequence. Only ``W_init`` (unseeded torch in the original) and the noise
    draw come from ``seed``.

``"corrected"`` -- distinct training samples (drawn without replacement with ``seed``), the
    official test splits for the image sets (the regression sets have none: the rest of the file),
    z-scoring with training-sample statistics only, L2 as ``W (1 - eta lambda)`` (paper eq. 19), one
    sample order for every method (reshuffled passes over the pool), many seeds.

Metrics: regression, mean squared error of the x0.1-scaled z-scored target times 1e4 (the paper's
"loss x 10000"; 100 = predicting the mean); classification, accuracy in percent. Noise test:
``x + noise_std * N(0, 1)``, clamped to [0, 1] for images.

This module holds the runs (everything a registered run reaches), the chapter's method labels and
colours, and a cell's cost for the planners. The pages' tables, figures, planners and artifacts
are one module per page: :mod:`.dual_weight_tables` (experiments page, with the ledger cells),
:mod:`.dual_weight_curves`, :mod:`.dual_weight_fields` and :mod:`.dual_weight_beyond`.

Explained in: book/dual-weight/experiments.ipynb, curves.ipynb, receptive-fields.ipynb, beyond.ipynb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._registry import Registry
from ..training import Batch, parameters_finite, reference_step, run_epoch
from . import one_blas_thread, register_experiment

__all__ = [
    "DATASETS",
    "METHODS",
    "METHOD_LABELS",
    "PROTOCOLS",
    "BatchConfig",
    "CellConfig",
    "DatasetSpec",
    "GridConfig",
    "PreparedData",
    "ReceptiveFieldConfig",
    "architecture",
    "as_coded_orders",
    "as_coded_pool",
    "build_network",
    "cell_cost",
    "corrected_order",
    "dataset_status",
    "default_n_jobs",
    "he_normal_init",
    "grid_cells",
    "load_raw",
    "method_colors",
    "metric_of",
    "missing_reasons",
    "prepare",
    "receptive_fields",
    "run_batch_cell",
    "run_batch_grid",
    "run_cell",
    "run_grid",
    "zscore",
]

METHODS: tuple[str, ...] = ("our", "our+stab", "GD", "L2 0.01", "L2 0.1")
PROTOCOLS: tuple[str, ...] = ("as_coded", "corrected")
BLOCK = 10_000  # steps between two test evaluations in the original (one "epoch" of its plots)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the paper and where the data layer keeps it."""

    name: str
    task: str  # "regression" | "classification"
    loader: str  # name in learning_rules.data.DATASETS
    coded_rows: int  # MAXNUM of the original code
    title: str


DATASETS: Registry[DatasetSpec] = Registry("dual-weight dataset")
for _spec in (
    DatasetSpec("wine", "regression", "wine-quality-white", 4898, "White Wine"),
    DatasetSpec("house", "regression", "california-housing-csv", 20433, "House"),
    DatasetSpec("mnist", "classification", "mnist", 55000, "MNIST"),
    DatasetSpec("fashion", "classification", "fashion-mnist", 60000, "Fashion"),
    DatasetSpec("cifar10", "classification", "cifar10", 10000, "CIFAR10"),
):
    DATASETS.register(_spec.name, _spec)

MNIST_VALIDATION = 5000  # the TF tutorial reader keeps the first 5,000 train images for validation


def metric_of(dataset: str) -> str:
    """``"loss x 1e4"`` for the regression sets, ``"accuracy %"`` for the image sets."""
    return "loss x 1e4" if DATASETS.lookup(dataset).task == "regression" else "accuracy %"


def _check_choice(name: str, value: Any, valid: Sequence[Any]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(str, valid))}")


# ------------------------------------------------------------------------------------------ data


def zscore(A: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    r"""Column-wise z-score with the sample standard deviation (pandas' ``ddof=1``).

    .. math:: z_{ik} = \frac{a_{ik} - \bar r_k}{s_k}, \qquad
              s_k^2 = \frac{1}{m-1}\sum_i (r_{ik} - \bar r_k)^2

    Parameters
    ----------
    A : ndarray, shape (N, k)
        Values to standardise.
    ref : ndarray, shape (m, k), optional
        Rows whose statistics are used (default ``A``: the whole table, as the code does).

    Returns
    -------
    ndarray, shape (N, k)
    """
    ref = A if ref is None else ref
    if ref.shape[0] < 2:
        raise ValueError("z-scoring needs at least 2 reference rows")
    mean = ref.mean(axis=0)
    std = ref.std(axis=0, ddof=1)
    std = np.where(std > 0, std, 1.0)
    return (A - mean) / std


@functools.lru_cache(maxsize=8)
def load_raw(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw arrays of one split, images as float32 in [0, 1] (flattened; CIFAR-10 in HWC order).

    float32 is what the original's TF reader produced (``uint8 * (1/255)`` in float32) and halves
    the memory of the cached sets; the few training rows are cast to float64 for training.

    ``split`` is ``"coded"`` (the file the original read: wine/house whole table, MNIST's TF
    55k train split, Fashion's train file, CIFAR-10 ``data_batch_1``), ``"train"`` or ``"test"``
    (the official splits of the image sets). Cached per process; raises the data layer's
    ``DatasetNotFoundError`` when the files are not on this machine.
    """
    from .. import data
    from .datasets import quiet_downloads

    spec = DATASETS.lookup(dataset)
    _check_choice("split", split, ("coded", "train", "test"))
    with quiet_downloads():
        if spec.task == "regression":
            if split == "test":
                raise ValueError(f"{dataset} has no official test split; use 'coded' (the whole table)")
            X, y = data.load(spec.loader, "train")
            return np.asarray(X, np.float64), np.asarray(y, np.float64)
        if dataset == "mnist" and split == "coded":  # the TF reader's 55k: train rows 5,000..59,999
            X, y = load_raw("mnist", "train")
            return X[MNIST_VALIDATION:], y[MNIST_VALIDATION:]
        source_split = {"coded": "train", "train": "train", "test": "test"}[split]
        if dataset == "cifar10" and split == "coded":
            source_split = "data_batch_1"
        X, y = data.load(spec.loader, source_split, flatten=False, dtype=np.float32)
    if dataset == "cifar10" and X.ndim == 4 and X.shape[1] == 3:
        X = X.transpose(0, 2, 3, 1)  # channel-major -> HWC, the original's flattening order
    X = np.ascontiguousarray(X.reshape(X.shape[0], -1))
    return X, np.asarray(y, np.int64)


def dataset_status(dataset: str) -> str | None:
    """``None`` when ``dataset`` is on this machine, else the data layer's reason (first line + fix)."""
    from .. import data

    from .datasets import quiet_downloads

    spec = DATASETS.lookup(dataset)
    try:
        with quiet_downloads():
            data.where(spec.loader)
    except data.DatasetNotFoundError as exc:
        first = str(exc).splitlines()[0]
        return f"{first} Fix: learning-rules data fetch {spec.loader}"
    except Exception as exc:  # noqa: BLE001 - any other reason is reported, never hidden
        return f"{type(exc).__name__}: {exc}"
    return None


def missing_reasons(datasets: Sequence[str]) -> dict[str, str]:
    """``{dataset: reason}`` for each dataset in ``datasets`` that cannot be used here.

    Unlike :func:`dataset_status` (which only looks), a dataset that is not on this machine is
    downloaded first (:func:`.datasets.availability`: checksum-verified, into the user cache,
    never when ``LEARNING_RULES_OFFLINE`` is set), so a page opened in Colab fetches the datasets
    its parameters name before it runs them.
    """
    from .datasets import availability

    out = {}
    for name in datasets:
        reason = availability(DATASETS.lookup(name).loader)
        if reason is not None:
            out[name] = reason
    return out


def as_coded_pool(n_rows: int, n: int) -> tuple[np.random.RandomState, np.ndarray]:
    """The original's training pool: ``np.random.seed(5); randint(0, N, size=n)`` (with replacement).

    Returns the legacy ``RandomState`` positioned after the draw (the code keeps drawing its step
    order from it) and the pool indices. This is the one place a legacy generator is used: it is
    the only way to regenerate the original's samples.
    """
    rs = np.random.RandomState(5)
    return rs, rs.randint(0, n_rows, size=n)


def as_coded_orders(rs: np.random.RandomState, n: int, n_blocks: int, block: int,
                    methods: Sequence[str] = METHODS) -> dict[str, np.ndarray]:
    """Step orders (positions in the pool) of the original's shared-RNG loop.

    The code trains the five models one after another, ``block`` steps each, in the order
    our, stab, GD, L2 0.01, L2 0.1, and repeats that ``n_blocks`` times; every step is
    ``np.random.choice(numlist)``, which draws ``randint(0, n)`` from the global generator.
    Methods not in ``methods`` still consume their draws (so the others keep their original order).
    """
    orders: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    for _ in range(n_blocks):
        for m in METHODS:
            orders[m].append(rs.randint(0, n, size=block))
    return {m: np.concatenate(orders[m]) if orders[m] else np.zeros(0, np.int64) for m in methods}


def corrected_order(rng: np.random.Generator, n: int, steps: int) -> np.ndarray:
    """Reshuffled passes over the ``n`` pool samples, truncated to ``steps`` (one order for all methods)."""
    passes = -(-steps // n)
    return np.concatenate([rng.permutation(n) for _ in range(passes)])[:steps]


class PreparedData(NamedTuple):
    """Training pool, test set and per-method step orders of one cell."""

    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    orders: dict
    n_unique: int


def prepare(protocol: str, dataset: str, n: int, seed: int, steps: int,
            methods: Sequence[str] = METHODS) -> PreparedData:
    """Training pool, test set and step orders of a cell under ``protocol`` (see module docstring)."""
    _check_choice("protocol", protocol, PROTOCOLS)
    spec = DATASETS.lookup(dataset)
    if n < 2:
        raise ValueError(f"n (training samples) must be >= 2, got {n}")
    if protocol == "as_coded":
        X, y = load_raw(dataset, "coded")
        if X.shape[0] != spec.coded_rows:
            raise ValueError(f"{dataset}: expected {spec.coded_rows} rows as in the code, got {X.shape[0]}")
        if spec.task == "regression":
            Z = zscore(np.column_stack([X, y]))  # whole table, target included (the code)
            X, y = Z[:, :-1], Z[:, -1] * 0.1
        rs, pool = as_coded_pool(X.shape[0], n)
        n_blocks = -(-steps // BLOCK)
        orders = {m: o[:steps] for m, o in as_coded_orders(rs, n, n_blocks, BLOCK, methods).items()}
        test = np.setdiff1d(np.arange(X.shape[0]), pool)
        return PreparedData(X[pool].astype(np.float64), y[pool], X[test], y[test], orders,
                            int(np.unique(pool).size))
    rng = np.random.default_rng([seed, 1])
    if spec.task == "regression":
        X, y = load_raw(dataset, "coded")
        if n >= X.shape[0]:
            raise ValueError(f"n={n} leaves no test rows in {dataset} ({X.shape[0]} rows)")
        perm = rng.permutation(X.shape[0])
        tr, te = perm[:n], np.sort(perm[n:])
        T = np.column_stack([X, y])
        Z = zscore(T, T[tr])  # training-sample statistics only: no test leak
        X, y = Z[:, :-1], Z[:, -1] * 0.1
        X_pool, y_pool, X_test, y_test = X[tr], y[tr], X[te], y[te]
    else:
        Xtr, ytr = load_raw(dataset, "train")
        X_test, y_test = load_raw(dataset, "test")
        if n > Xtr.shape[0]:
            raise ValueError(f"n={n} exceeds the {Xtr.shape[0]} training images of {dataset}")
        tr = rng.choice(Xtr.shape[0], size=n, replace=False)
        X_pool, y_pool = Xtr[tr].astype(np.float64), ytr[tr]
    order = corrected_order(rng, n, steps)
    return PreparedData(X_pool, y_pool, X_test, y_test, {m: order for m in methods}, n)


# ---------------------------------------------------------------------------------------- models


def architecture(dataset: str, layers: int, n_in: int) -> list[int]:
    """Layer sizes: 2 layers = in-20-out, 3 layers = in-64-32-out (out = 1 or 10)."""
    n_out = 1 if DATASETS.lookup(dataset).task == "regression" else 10
    if layers == 2:
        return [n_in, 20, n_out]
    if layers == 3:
        return [n_in, 64, 32, n_out]
    raise ValueError(f"layers must be 2 or 3 (the paper's two architectures), got {layers}")


def build_network(method: str, protocol: str, sizes: Sequence[int], task: str, lr: float,
                  init_weights: Sequence[np.ndarray], credit: str = "backprop",
                  rng: np.random.Generator | None = None):
    """A ``Network`` for one method, starting from copies of ``init_weights`` and zero biases.

    ``"L2 x"`` uses the code's unsquared-norm penalty under ``"as_coded"`` and the decoupled
    ``W (1 - lr x)`` under ``"corrected"``.
    """
    from ..engine import Network
    from ..nn.mlp import MLP

    _check_choice("method", method, METHODS)
    _check_choice("protocol", protocol, PROTOCOLS)
    acts = ["relu"] * (len(sizes) - 2) + ["identity"]
    mlp = MLP([np.array(W, dtype=np.float64, copy=True) for W in init_weights],
              [np.zeros(s, np.float64) for s in sizes[1:]], acts)
    loss = "squared_error" if task == "regression" else "cce"
    kw: dict[str, Any] = dict(credit=credit, loss=loss, lr=lr,
                              rng=rng if rng is not None else np.random.default_rng(0))
    if method == "our":
        return Network(mlp, update="dual_weight", update_params={"init_split": "coded"}, **kw)
    if method == "our+stab":
        return Network(mlp, update="dual_weight_stabilized", update_params={"init_split": "coded"}, **kw)
    if method == "GD":
        return Network(mlp, update="gradient", **kw)
    lam = float(method.split()[1])
    return Network(mlp, update="gradient", l2=lam,
                   l2_form="coded" if protocol == "as_coded" else "decoupled", **kw)


def he_normal_init(sizes: Sequence[int], rng: np.random.Generator) -> list[np.ndarray]:
    r"""``W_l ~ N(0, 2 / fan_in)``, shape (n_l, n_{l-1}), one draw per layer (the code's Kaiming normal)."""
    from ..nn.init import he_normal

    return [he_normal(rng, sizes[l], sizes[l + 1]) for l in range(len(sizes) - 1)]


def _score(net, X: np.ndarray, y: np.ndarray, task: str) -> float:
    """Test metric: MSE x 1e4 (regression) or accuracy in % (classification); ``nan`` if diverged."""
    from ..fast import forward_logits

    W, b = net.mlp.weights, net.mlp.biases
    if X.dtype == np.float32:  # image test sets: float32 forward pass (2x faster; argmax only)
        W = [w.astype(np.float32) for w in W]
        b = [None if v is None else v.astype(np.float32) for v in b]
    with np.errstate(all="ignore"):
        z = forward_logits(W, b, net.mlp.activations, X)
        if not np.all(np.isfinite(z)):
            return float("nan")
        if task == "regression":
            return float(np.mean((z[:, 0] - y) ** 2) * 1e4)
        return float(np.mean(np.argmax(z, axis=1) == y) * 100.0)


def _noisy(X: np.ndarray, std: float, rng: np.random.Generator, clamp: bool) -> np.ndarray:
    r"""Noise test inputs, :math:`\tilde x = x + \sigma \varepsilon`, :math:`\varepsilon \sim N(0, I)`,
    clamped to [0, 1] for images (spec sec. 5); drawn in ``X``'s dtype."""
    Xn = X + X.dtype.type(std) * rng.standard_normal(X.shape, dtype=X.dtype)
    if clamp:
        np.clip(Xn, 0.0, 1.0, out=Xn)
    return Xn


# ----------------------------------------------------------------------------------------- cells


@dataclasses.dataclass(frozen=True)
class CellConfig:
    """One grid cell: every method in ``methods`` trained on one (dataset, depth, n, seed)."""

    protocol: str = "as_coded"
    dataset: str = "wine"
    layers: int = 2
    n: int = 100
    seed: int = 0
    steps: int = 60_000
    eval_every: int = BLOCK
    lr: float = 1e-3
    methods: tuple[str, ...] = METHODS
    credit: str = "backprop"
    noise_std: float = 0.3

    def __post_init__(self) -> None:
        _check_choice("protocol", self.protocol, PROTOCOLS)
        DATASETS.lookup(self.dataset)
        for m in self.methods:
            _check_choice("method", m, METHODS)
        if self.steps < 1 or self.eval_every < 1:
            raise ValueError("steps and eval_every must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def _cell_rng(cfg: CellConfig, purpose: int) -> np.random.Generator:
    """A generator per (seed, dataset, depth, n, purpose): distinct streams, same seed -> same draws."""
    ds = list(DATASETS).index(cfg.dataset)
    return np.random.default_rng([cfg.seed, ds, cfg.layers, cfg.n, purpose])


@register_experiment("dual_weight_cell", CellConfig,
                     "Wang (2025): the five methods on one (dataset, depth, n, seed) cell",
                     timing_columns=("cpu_s",))
@one_blas_thread
def run_cell(cfg: CellConfig, return_networks: bool = False):
    """Train the methods of one cell; tidy rows ``method, step, condition, value``.

    ``step`` counts single-sample steps done (0, eval_every, ..., steps); the noise test
    (``condition="noise"``) is taken once, after the last step. ``cpu_s`` is the process CPU time
    of each method's training and test passes (a measurement, the one column that is not
    reproducible bit for bit). With ``return_networks`` the
    trained networks are returned too, as ``(frame, {method: Network})``.
    """
    spec = DATASETS.lookup(cfg.dataset)
    prep = prepare(cfg.protocol, cfg.dataset, cfg.n, cfg.seed, cfg.steps, cfg.methods)
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cfg, 0))
    noise_X = _noisy(prep.X_test, cfg.noise_std, _cell_rng(cfg, 1), spec.task == "classification")
    checkpoints = list(range(0, cfg.steps, cfg.eval_every)) + [cfg.steps]
    rows, nets, cpu = [], {}, {}
    for method in cfg.methods:
        started = time.process_time()
        net = build_network(method, cfg.protocol, sizes, spec.task, cfg.lr, W_init, cfg.credit,
                            rng=_cell_rng(cfg, 2))
        order = prep.orders[method]
        for a, b in zip(checkpoints[:-1], checkpoints[1:]):
            if a == 0:
                rows.append((method, 0, "normal", _score(net, prep.X_test, prep.y_test, spec.task)))
            if not parameters_finite(net):  # a run that blew up stays blown up: nan from here on
                rows.append((method, b, "normal", float("nan")))
                continue
            with np.errstate(all="ignore"):
                net.fit_steps(prep.X_pool, prep.y_pool, order[a:b])
            rows.append((method, b, "normal", _score(net, prep.X_test, prep.y_test, spec.task)))
        rows.append((method, cfg.steps, "noise", _score(net, noise_X, prep.y_test, spec.task)))
        nets[method] = net
        cpu[method] = time.process_time() - started
    frame = pd.DataFrame(rows, columns=["method", "step", "condition", "value"])
    frame["cpu_s"] = frame["method"].map(cpu)  # training + test passes of that method (timing only)
    frame["metric"] = metric_of(cfg.dataset)
    frame["n_unique"] = prep.n_unique
    frame["n_test"] = prep.X_test.shape[0]
    return (frame, nets) if return_networks else frame


# ------------------------------------------------------------------------------------------ grid


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """A sweep of cells: every (dataset, layers, n, seed) of the given lists under one protocol."""

    protocol: str = "as_coded"
    datasets: tuple[str, ...] = ("wine", "house", "mnist", "fashion", "cifar10")
    layers: tuple[int, ...] = (2, 3)
    sizes: tuple[int, ...] = (100, 500, 1000)
    seeds: tuple[int, ...] = (0,)
    steps: int = 60_000
    eval_every: int = BLOCK
    lrs: tuple[float, ...] = (1e-3,)
    methods: tuple[str, ...] = METHODS
    credit: str = "backprop"
    n_jobs: int = 2


def grid_cells(cfg: GridConfig, datasets: Sequence[str] | None = None) -> list[CellConfig]:
    """The cells of ``cfg`` (for ``datasets``, default all of ``cfg.datasets``)."""
    names = cfg.datasets if datasets is None else datasets
    return [CellConfig(cfg.protocol, d, L, n, s, cfg.steps, cfg.eval_every, lr, tuple(cfg.methods),
                       cfg.credit)
            for d in names for L in cfg.layers for n in cfg.sizes for s in cfg.seeds for lr in cfg.lrs]


@contextlib.contextmanager
def _grid_lock(root: Path) -> Iterator[None]:
    """An exclusive lock across processes (pages of this chapter run in parallel and share cells:
    the second one waits, then reads the first one's results from the store)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, at worst a cell is computed twice
        yield
        return
    with open(root / ".dual_weight.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sweep(fn, cells: list, n_jobs: int, name: str) -> pd.DataFrame:
    from ..store import Store
    from ..sweep import run_sweep

    from .datasets import quiet_downloads

    store = Store()
    with _grid_lock(Path(store.root)), quiet_downloads(), warnings.catch_warnings():
        # loky recycles a worker whose memory grew by the cached datasets and says so on stderr
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs")
        return run_sweep(fn, cells, n_jobs=n_jobs, store=store, name=name)


@register_experiment("dual_weight_grid", GridConfig,
                     "Wang (2025) Tables 1-2 / Figs 4-8: the five methods on every grid cell",
                     cache=False)  # cells are cached one by one; which datasets exist is not in the key
@one_blas_thread
def run_grid(cfg: GridConfig) -> pd.DataFrame:
    """Every cell of ``cfg`` whose dataset is on this machine (``run_sweep``, cached per cell).

    Datasets that are missing are skipped; :func:`missing_reasons` says why.
    """
    present = [d for d in cfg.datasets if dataset_status(d) is None]
    cells = grid_cells(cfg, present)
    if not cells:
        return pd.DataFrame(columns=["protocol", "dataset", "layers", "n", "seed", "method", "step",
                                     "condition", "value", "metric"])
    return _sweep(run_cell, cells, cfg.n_jobs, "dual_weight_cell")


# ------------------------------------------------------------------------------ receptive fields


@dataclasses.dataclass(frozen=True)
class ReceptiveFieldConfig:
    """Figure 3: first-layer weights after MNIST with ``n`` samples (2 layers: the spec's best guess)."""

    protocol: str = "as_coded"
    layers: int = 2
    n: int = 1000
    seeds: tuple[int, ...] = (0,)
    steps: int = 60_000
    n_jobs: int = 2


@register_experiment("dual_weight_receptive_cell", CellConfig,
                     "Wang (2025) Fig. 3: one cell's first-layer weights per method")
@one_blas_thread
def _receptive_cell(cfg: CellConfig) -> pd.DataFrame:
    frame, nets = run_cell(cfg, return_networks=True)
    rows = []
    for method, net in nets.items():
        W = net.mlp.weights[0]
        for j in range(W.shape[0]):
            rows.append(pd.DataFrame({"method": method, "neuron": j, "pixel": np.arange(W.shape[1]),
                                      "weight": W[j]}))
    W0 = he_normal_init(architecture("mnist", cfg.layers, 784), _cell_rng(cfg, 0))[0]
    for j in range(W0.shape[0]):  # the shared starting point, for reference
        rows.append(pd.DataFrame({"method": "init", "neuron": j, "pixel": np.arange(W0.shape[1]),
                                  "weight": W0[j]}))
    out = pd.concat(rows, ignore_index=True)
    final = frame[(frame.step == cfg.steps) & (frame.condition == "normal")].set_index("method")["value"]
    out["final_accuracy"] = out["method"].map(final)
    return out


@register_experiment("dual_weight_receptive_fields", ReceptiveFieldConfig,
                     "Wang (2025) Fig. 3: layer-1 weights of every method after MNIST", cache=False)
@one_blas_thread
def receptive_fields(cfg: ReceptiveFieldConfig) -> pd.DataFrame:
    """Rows ``seed, method, neuron, pixel, weight`` (``W1 - W2`` for the dual methods)."""
    cells = [CellConfig(cfg.protocol, "mnist", cfg.layers, cfg.n, s, cfg.steps) for s in cfg.seeds]
    return _sweep(_receptive_cell, cells, cfg.n_jobs, "dual_weight_receptive_cell")


# ----------------------------------------------------------------------------- mini-batches


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    """Beyond the paper: dual weight and SGD with mini-batches of ``batch`` samples, same sample budget."""

    dataset: str = "house"
    layers: int = 3
    n: int = 1000
    seed: int = 0
    samples: int = 60_000
    batch: int = 8
    lr_scaling: str = "none"  # "none": lr; "linear": lr * batch
    lr: float = 1e-3
    methods: tuple[str, ...] = ("our", "GD")

    def __post_init__(self) -> None:
        DATASETS.lookup(self.dataset)
        _check_choice("lr_scaling", self.lr_scaling, ("none", "linear"))
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")


@register_experiment("dual_weight_batch_cell", BatchConfig,
                     "Beyond the paper: dual weight and SGD with mini-batches, one cell")
@one_blas_thread
def run_batch_cell(cfg: BatchConfig) -> pd.DataFrame:
    """Corrected protocol, ``samples // batch`` steps of ``batch`` samples each; final test metric."""
    spec = DATASETS.lookup(cfg.dataset)
    cell = CellConfig("corrected", cfg.dataset, cfg.layers, cfg.n, cfg.seed, cfg.samples,
                      cfg.samples, cfg.lr, tuple(cfg.methods))
    prep = prepare("corrected", cfg.dataset, cfg.n, cfg.seed, cfg.samples, cfg.methods)
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cell, 0))
    lr = cfg.lr * (cfg.batch if cfg.lr_scaling == "linear" else 1)
    rows = []
    for method in cfg.methods:
        net = build_network(method, "corrected", sizes, spec.task, lr, W_init, rng=_cell_rng(cell, 2))
        order = prep.orders[method]
        n_steps = cfg.samples // cfg.batch
        with np.errstate(all="ignore"):
            if cfg.batch == 1:
                net.fit_steps(prep.X_pool, prep.y_pool, order)
            else:
                # the reference step (the stored results were computed with it); a run stops once
                # its weights are no longer finite (they never become finite again)
                Xv, Yv = net._check_xy(prep.X_pool, prep.y_pool)
                batches = (Batch(Xv[idx], Yv[idx]) for idx in
                           (order[t * cfg.batch:(t + 1) * cfg.batch] for t in range(n_steps)))
                run_epoch(reference_step(net), batches,
                          diverged=lambda loss: not np.isfinite(loss) and not parameters_finite(net))
        rows.append((method, n_steps, _score(net, prep.X_test, prep.y_test, spec.task)))
    frame = pd.DataFrame(rows, columns=["method", "updates", "value"])
    frame["metric"] = metric_of(cfg.dataset)
    frame["effective_lr"] = lr
    return frame


def run_batch_grid(configs: Sequence[BatchConfig], n_jobs: int = 2) -> pd.DataFrame:
    """``run_batch_cell`` over ``configs`` through the store (datasets must be present)."""
    return _sweep(run_batch_cell, list(configs), n_jobs, "dual_weight_batch_cell")


def default_n_jobs() -> int:
    """2, or fewer when the machine has fewer cores."""
    return max(1, min(2, os.cpu_count() or 1))


# ------------------------------------------------------------- the chapter's method vocabulary

METHOD_LABELS = {"our": "dual weight (our)", "our+stab": "dual weight + stabilizer",
                 "GD": "gradient descent (GD)", "L2 0.01": "L2, lambda = 0.01", "L2 0.1": "L2, lambda = 0.1"}


def method_colors() -> dict[str, Any]:
    """One seaborn colour-blind colour per method (the same on every figure of the chapter)."""
    import seaborn as sns

    pal = sns.color_palette("colorblind", 10)
    return {"our": pal[0], "our+stab": pal[2], "GD": pal[3], "L2 0.01": pal[4], "L2 0.1": pal[5],
            "init": pal[7]}


# --------------------------------------------------------------------- cost, for the pages' planners


def cell_cost(cell: CellConfig) -> float:
    """A cell's rough cost for longest-first scheduling, in the unit of
    :func:`learning_rules.experiments.lr_selection.run_cost` (one k = 3 parity epoch): five methods'
    single-sample steps, the image sets' nets being larger (a guess; it only orders the runs)."""
    per_step = 2.0 if cell.dataset in ("mnist", "fashion", "cifar10") else 0.3
    return float(cell.steps / 60_000 * len(cell.methods) / 5 * per_step + 0.05)
