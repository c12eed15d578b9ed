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

Explained in: book/dual-weight/experiments.ipynb, curves.ipynb, receptive-fields.ipynb, beyond.ipynb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._registry import Registry
from ..training import Batch, parameters_finite, reference_step, run_epoch
from . import Task, one_blas_thread, register_experiment, register_planner

__all__ = [
    "DATASETS",
    "METHODS",
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
    "corrected_order",
    "dataset_status",
    "default_n_jobs",
    "field_images",
    "he_normal_init",
    "grid_cells",
    "load_raw",
    "method_colors",
    "metric_of",
    "missing_reasons",
    "curves_data",
    "lr_sweep_frame",
    "plot_curves",
    "plot_fields",
    "silent_neurons",
    "plot_figure2",
    "plot_lr_sweep",
    "prepare",
    "receptive_fields",
    "run_batch_cell",
    "run_batch_grid",
    "run_cell",
    "reproduced_cells",
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
    """``{dataset: reason}`` for each dataset in ``datasets`` that is not on this machine."""
    out = {}
    for name in datasets:
        reason = dataset_status(name)
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


# ------------------------------------------------------------------------------------------ plots

METHOD_LABELS = {"our": "dual weight (our)", "our+stab": "dual weight + stabilizer",
                 "GD": "gradient descent (GD)", "L2 0.01": "L2, lambda = 0.01", "L2 0.1": "L2, lambda = 0.1"}


def method_colors() -> dict[str, Any]:
    """One seaborn colour-blind colour per method (the same on every figure of the chapter)."""
    import seaborn as sns

    pal = sns.color_palette("colorblind", 10)
    return {"our": pal[0], "our+stab": pal[2], "GD": pal[3], "L2 0.01": pal[4], "L2 0.1": pal[5],
            "init": pal[7]}


def curves_data(frame: pd.DataFrame, dataset: str, published_curves: pd.DataFrame | None = None,
                level: float = 0.95) -> dict[str, pd.DataFrame]:
    """What :func:`plot_curves` draws for ``dataset``: ``"regenerated"``, the mean and ``level``
    t-interval over seeds per (layers, n, method, step) of the normal test inputs (columns
    ``layers, n, method, step, mean, low, high, seeds``; low/high NaN with one seed), and, when
    ``published_curves`` has rows of the dataset, ``"published"``: the authors' single runs
    (columns ``layers, n, method, step, published``)."""
    from ..analysis.dual_weight import t_interval

    d = frame[(frame["dataset"] == dataset) & (frame["condition"] == "normal")]
    if d.empty:
        raise ValueError(f"no results for dataset {dataset!r}")
    rows = []
    for L in sorted(d["layers"].unique()):
        for n in sorted(d["n"].unique()):
            for method, g in d[(d["layers"] == L) & (d["n"] == n)].groupby("method", sort=False):
                for step, v in g.groupby("step"):
                    m, lo, hi = t_interval(v["value"].to_numpy(), level)
                    rows.append({"layers": L, "n": n, "method": method, "step": step, "mean": m,
                                 "low": lo, "high": hi, "seeds": int(v["seed"].nunique())})
    out = {"regenerated": pd.DataFrame(rows)}
    if published_curves is not None:
        pub = published_curves[published_curves["row"].str.startswith(f"{dataset}|")]
        if not pub.empty:
            parts = pub["row"].str.split("|", expand=True)
            out["published"] = pd.DataFrame({
                "layers": parts[1].str.rstrip("L").astype(int).to_numpy(),
                "n": parts[2].str.replace("n=", "").astype(int).to_numpy(),
                "method": parts[3].to_numpy(),
                "step": pub["column"].str.replace("step=", "").astype(int).to_numpy(),
                "published": pub["published"].to_numpy()})
    return out


def plot_curves(frame: pd.DataFrame, dataset: str, published_curves: pd.DataFrame | None = None,
                level: float = 0.95):
    """Figures 4-8: test metric against single-sample steps, one panel per (layers, n).

    Lines: mean over seeds, band: ``level`` t-interval (when there are >= 2 seeds). ``published_curves``
    (Appendix B rows of :func:`learning_rules.analysis.dual_weight.published`) adds the authors'
    single runs as dotted lines with markers. The drawn numbers are :func:`curves_data`'s.
    """
    import matplotlib.pyplot as plt

    data = curves_data(frame, dataset, published_curves, level)
    ours, pub = data["regenerated"], data.get("published")
    d = frame[(frame["dataset"] == dataset) & (frame["condition"] == "normal")]
    layers = sorted(ours["layers"].unique())
    sizes = sorted(ours["n"].unique())
    colors = method_colors()
    fig, axes = plt.subplots(len(layers), len(sizes), figsize=(3.6 * len(sizes), 2.8 * len(layers)),
                             squeeze=False, sharex=True)
    for i, L in enumerate(layers):
        for j, n in enumerate(sizes):
            ax = axes[i, j]
            for method, g in ours[(ours["layers"] == L) & (ours["n"] == n)].groupby("method", sort=False):
                s, m, lo, hi = (g[c].to_numpy() for c in ("step", "mean", "low", "high"))
                ax.plot(s / 1000, m, color=colors[method], label=METHOD_LABELS[method], lw=1.5)
                if np.isfinite(lo).any():
                    ax.fill_between(s / 1000, lo, hi, color=colors[method], alpha=0.2, lw=0)
                if pub is not None:
                    p = pub[(pub["layers"] == L) & (pub["n"] == n) & (pub["method"] == method)]
                    if not p.empty:
                        ax.plot(p["step"] / 1000, p["published"], ls=":", marker="o", ms=2.5,
                                color=colors[method])
            ax.set_title(f"{L} layers, n = {n}", fontsize=9)
            if i == len(layers) - 1:
                ax.set_xlabel("single-sample steps (thousands)")
            if j == 0:
                ax.set_ylabel("test loss x 1e4" if metric_of(dataset) == "loss x 1e4" else "test accuracy (%)")
            if metric_of(dataset) == "loss x 1e4":  # the untrained step-0 loss is huge: cap the axis
                later = d[(d["layers"] == L) & (d["n"] == n) & (d["step"] > 0)]["value"]
                top = np.nanmedian(later) if later.notna().any() else 100.0
                ax.set_ylim(0, max(120.0, 1.8 * top))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=5, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def plot_figure2(table: pd.DataFrame):
    """Figure 2: relative improvement over GD per method, one panel per task and condition.

    ``table`` has columns ``source, task, method, condition, mean`` and optionally ``low, high``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    tasks = [t for t in ("regression", "classification") if t in set(table["task"])]
    conds = ["normal", "noise"]
    sources = list(dict.fromkeys(table["source"]))
    pal = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    methods = [m for m in METHODS if m != "GD" and m in set(table["method"])]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(10, 3.0 * len(tasks)), squeeze=False)
    width = 0.8 / max(1, len(sources))
    for i, task in enumerate(tasks):
        for j, cond in enumerate(conds):
            ax = axes[i, j]
            for k, src in enumerate(sources):
                sub = table[(table["task"] == task) & (table["condition"] == cond) & (table["source"] == src)]
                sub = sub.set_index("method").reindex(methods)
                x = np.arange(len(methods)) + (k - (len(sources) - 1) / 2) * width
                err = None
                if {"low", "high"} <= set(sub.columns) and sub["low"].notna().any():
                    err = np.vstack([sub["mean"] - sub["low"], sub["high"] - sub["mean"]])
                    err = np.where(np.isfinite(err), err, 0.0)
                ax.bar(x, sub["mean"], width, yerr=err, color=pal[src], label=src, capsize=2)
            ax.axhline(0, color="0.3", lw=0.8)
            ax.set_xticks(np.arange(len(methods)), methods, fontsize=8)
            ax.set_ylabel("improvement over GD (%)")
            ax.set_title(f"{task}, {cond} test inputs", fontsize=9)
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def field_images(rf: pd.DataFrame, method: str, neurons: Sequence[int], seed: int | None = None) -> np.ndarray:
    """Layer-1 weights of ``neurons`` of ``method`` as (k, 28, 28) images (first seed by default)."""
    d = rf[rf["method"] == method]
    if seed is None:
        seed = int(d["seed"].min()) if "seed" in d.columns else None
    if seed is not None and "seed" in d.columns:
        d = d[d["seed"] == seed]
    imgs = []
    for j in neurons:
        w = d[d["neuron"] == j].sort_values("pixel")["weight"].to_numpy()
        imgs.append(w.reshape(28, 28))
    return np.stack(imgs)


FIELD_SCALES = ("shared", "row", "image")


def plot_fields(rf: pd.DataFrame, methods: Sequence[str], neurons: Sequence[int] = range(10),
                scale: str = "shared", seed: int | None = None):
    """Figure 3: one row per method, one column per neuron, weights as 28x28 images (cmap ``bwr``).

    ``scale="shared"``: one colour scale for the whole figure, centred at 0 (white = 0), ``vmax`` =
    the 99th percentile of ``|w|`` over every shown field, so magnitudes compare across methods.
    ``scale="row"``: the same, one scale per method. ``scale="image"``: the original's per-image
    autoscale (white is not zero), with the dual methods' images clipped below at -1 as its code does.
    """
    import matplotlib.pyplot as plt

    _check_choice("scale", scale, FIELD_SCALES)
    neurons = list(neurons)
    images = {method: field_images(rf, method, neurons, seed) for method in methods}
    shared = float(np.percentile(np.abs(np.concatenate(list(images.values()))), 99)) or 1.0
    fig, axes = plt.subplots(len(methods), len(neurons), figsize=(1.05 * len(neurons), 1.2 * len(methods)),
                             squeeze=False)
    for i, method in enumerate(methods):
        imgs = images[method]
        vmax = shared if scale == "shared" else float(np.percentile(np.abs(imgs), 99)) or 1.0
        for j, img in enumerate(imgs):
            ax = axes[i, j]
            if scale == "image":
                shown = np.maximum(img, -1.0) if method in ("our", "our+stab") else img
                ax.imshow(shown, cmap="bwr")
            else:
                im = ax.imshow(img, cmap="bwr", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"neuron {neurons[j]}", fontsize=7)
            if j == 0:
                ax.set_ylabel(method, fontsize=8, rotation=0, ha="right", va="center")
        if scale == "row":
            cb = fig.colorbar(im, ax=axes[i, :].tolist(), fraction=0.02, pad=0.01)
            cb.ax.tick_params(labelsize=6)
            cb.set_label("weight", fontsize=6)
    if scale == "shared":
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
        cb.ax.tick_params(labelsize=7)
        cb.set_label("weight (white = 0)", fontsize=7)
    return fig


def silent_neurons(rf: pd.DataFrame, method: str, seed: int | None = None, rtol: float = 0.1) -> list[int]:
    """Hidden units of ``method`` whose layer-1 field barely moved from the shared initial field.

    A unit counts when :math:`\\lVert W_j - W_j^{(0)} \\rVert \\le \\text{rtol}\\,
    \\lVert W_j^{(0)} \\rVert` (rows ``method == "init"`` hold :math:`W^{(0)}`): it was updated on
    few or no training steps (for instance a ReLU unit that soon stopped firing, whose teaching
    signal is then always zero), so its picture is mostly its initial noise whatever the rule.
    """
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must be in [0, 1), got {rtol}")
    neurons = sorted(rf.loc[rf["method"] == method, "neuron"].unique())
    W = field_images(rf, method, neurons, seed).reshape(len(neurons), -1)
    W0 = field_images(rf, "init", neurons, seed).reshape(len(neurons), -1)
    moved = np.linalg.norm(W - W0, axis=1)
    return [int(j) for j, m, w0 in zip(neurons, moved, np.linalg.norm(W0, axis=1)) if m <= rtol * w0]


def lr_sweep_frame(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """What :func:`plot_lr_sweep` draws: the final test metric of the normal test inputs, mean and
    ``level`` t-interval over seeds (NaN mean: every seed diverged) per (dataset, layers, method,
    lr); columns ``dataset, layers, method, lr, mean, low, high, seeds``."""
    from ..analysis.dual_weight import t_interval

    fin = frame[(frame["condition"] == "normal")]
    fin = fin[fin["step"] == fin.groupby(["dataset", "layers", "n", "lr", "seed"])["step"].transform("max")]
    rows = []
    for ds, L in dict.fromkeys(zip(fin["dataset"], fin["layers"])):
        d = fin[(fin["dataset"] == ds) & (fin["layers"] == L)]
        for method, g in d.groupby("method", sort=False):
            for lr, v in g.groupby("lr"):
                m, lo, hi = t_interval(v["value"].to_numpy(), level)
                rows.append({"dataset": ds, "layers": L, "method": method, "lr": lr, "mean": m,
                             "low": lo, "high": hi, "seeds": int(v["seed"].nunique())})
    return pd.DataFrame(rows, columns=["dataset", "layers", "method", "lr", "mean", "low", "high", "seeds"])


def plot_lr_sweep(frame: pd.DataFrame, level: float = 0.95):
    """Final test metric against the learning rate, one panel per (dataset, layers)
    (:func:`lr_sweep_frame`)."""
    import matplotlib.pyplot as plt

    summary = lr_sweep_frame(frame, level)
    panels = list(dict.fromkeys(zip(summary["dataset"], summary["layers"])))
    colors = method_colors()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.0), squeeze=False)
    for ax, (ds, L) in zip(axes[0], panels):
        d = summary[(summary["dataset"] == ds) & (summary["layers"] == L)]
        for method, g in d.groupby("method", sort=False):
            lr, m, lo, hi = (g[c].to_numpy(dtype=float) for c in ("lr", "mean", "low", "high"))
            ax.plot(lr, m, marker="o", ms=3, color=colors[method], label=METHOD_LABELS[method])
            if np.isfinite(lo).any():
                ax.fill_between(lr, lo, hi, color=colors[method], alpha=0.2, lw=0)
            bad = ~np.isfinite(m)
            if bad.any():
                ax.plot(lr[bad], np.zeros(bad.sum()), "x", color=colors[method])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate eta")
        reg = metric_of(ds) == "loss x 1e4"
        ax.set_ylabel("test loss x 1e4" if reg else "test accuracy (%)")
        if reg:
            ax.set_ylim(0, 200)
        ax.set_title(f"{ds}, {L} layers", fontsize=9)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ the pages' tables and figures


def page_grids(params: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The as-coded and corrected grids of the experiments and curves pages for their ``params``
    (through the store): the runs every table and figure of Tables 1-4 and Figures 2, 4-8 read."""
    def grid(protocol, seeds):
        cfg = GridConfig(protocol, tuple(params["datasets"]), tuple(params["layers"]),
                         tuple(params["sizes"]), tuple(seeds), int(params["steps"]),
                         int(params["eval_every"]), n_jobs=int(params.get("n_jobs", 2)))
        return run_grid(cfg)

    return grid("as_coded", params["coded_seeds"]), grid("corrected", params["corrected_seeds"])


def table_frame(coded: pd.DataFrame, corrected: pd.DataFrame, table: str) -> pd.DataFrame:
    """Paper ``table`` (``"Table 1"`` .. ``"Table 4"``): every published cell next to the as-coded
    and the corrected regenerated mean with its 95 % interval over seeds (columns ``row, column,
    published, unit, <protocol>_mean, <protocol>_low, <protocol>_high, <protocol>_seeds``)."""
    from ..analysis import dual_weight as A

    summary = A.relative_table if table in ("Table 3", "Table 4") else A.final_summary
    out = None
    for label, frame in (("as_coded", coded), ("corrected", corrected)):
        cmp = A.compare(summary(frame), table).rename(columns={
            "mean": f"{label}_mean", "low": f"{label}_low", "high": f"{label}_high",
            "n_seeds": f"{label}_seeds"})
        keep = ["row", "column", "published", "unit"] if out is None else ["row", "column"]
        cmp = cmp[keep + [f"{label}_{k}" for k in ("mean", "low", "high", "seeds")]]
        out = cmp if out is None else out.merge(cmp, on=["row", "column"], how="left")
    return out


def figure2_frame(coded: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """The bars of the paper's Figure 2: the task averages of Tables 3-4 as published, as coded and
    corrected (:func:`plot_figure2` draws them)."""
    from ..analysis import dual_weight as A

    pub34 = pd.concat([A.published("Table 3"), A.published("Table 4")])
    parts = pub34["row"].str.split("|", expand=True)
    pub_rel = pd.DataFrame({"dataset": parts[0], "method": parts[1], "condition": pub34["column"],
                            "mean": pub34["published"]})
    return pd.concat([
        A.task_average(pub_rel).rename(columns={"value": "mean"}).assign(source="published (Tables 3-4)"),
        A.figure2(coded).assign(source="as coded"),
        A.figure2(corrected).assign(source="corrected"),
    ], ignore_index=True)


#: Paper figure number -> dataset of its curves (Figures 4-8: test metric against steps).
CURVE_FIGURES = {4: "wine", 5: "house", 6: "mnist", 7: "fashion", 8: "cifar10"}


def _register_page_artifacts() -> None:
    from ..analysis import dual_weight as A
    from ..store import atomic_write_text
    from . import register_artifact, save_figure

    for number in (1, 2, 3, 4):
        def make_table(params, out_path, table=f"Table {number}"):
            coded, corrected = page_grids(params)
            atomic_write_text(out_path, table_frame(coded, corrected, table).to_csv(index=False))
            return out_path

        register_artifact(f"dual-weight-table-{number}", f"Wang 2025 Table {number}: published next to "
                          "the as-coded and corrected regenerated means (CSV)", notebook=NOTEBOOK,
                          suffix=".csv")(make_table)

    def make_figure2(params, out_path):
        coded, corrected = page_grids(params)
        return save_figure(plot_figure2(figure2_frame(coded, corrected)), out_path)

    register_artifact("dual-weight-figure-2", "Wang 2025 Figure 2: relative improvement over GD per "
                      "task, published, as coded and corrected (PNG)", notebook=NOTEBOOK)(make_figure2)

    for number, dataset in CURVE_FIGURES.items():
        def make_curves(params, out_path, dataset=dataset):
            missing = missing_reasons([dataset])
            if missing:
                raise FileNotFoundError(missing[dataset])
            coded, _ = page_grids({**params, "datasets": [dataset]})
            return save_figure(plot_curves(coded, dataset, A.published("Appendix B")), out_path)

        register_artifact(f"dual-weight-figure-{number}", f"Wang 2025 Figure {number}: {dataset}, test "
                          "metric against steps, as coded, with the authors' values (PNG)",
                          notebook="book/dual-weight/curves.ipynb")(make_curves)


# ------------------------------------------------------------------------ reproduction ledger

NOTEBOOK = "book/dual-weight/experiments.ipynb"
REPRODUCES = {"sources": ["dual_weight"], "chapter": NOTEBOOK,
              "description": "Wang (2025) Tables 1-4 and the notebook values (Appendix A/B), as coded"}



def cell_cost(cell: CellConfig) -> float:
    """A cell's rough cost for longest-first scheduling, in the unit of
    :func:`learning_rules.experiments.lr_selection.run_cost` (one k = 3 parity epoch): five methods'
    single-sample steps, the image sets' nets being larger (a guess; it only orders the runs)."""
    per_step = 2.0 if cell.dataset in ("mnist", "fashion", "cifar10") else 0.3
    return float(cell.steps / 60_000 * len(cell.methods) / 5 * per_step + 0.05)


def _grid_tasks(params, protocol: str, seeds) -> list[Task]:
    cfg = GridConfig(protocol, tuple(params["datasets"]), tuple(params["layers"]), tuple(params["sizes"]),
                     tuple(seeds), int(params["steps"]), int(params["eval_every"]))
    present = [d for d in cfg.datasets if dataset_status(d) is None]
    return [Task("dual_weight_cell", c, cost=cell_cost(c)) for c in grid_cells(cfg, present)]


@register_planner("book/dual-weight/experiments.ipynb")
@register_planner("book/dual-weight/curves.ipynb")
def plan_grid_pages(params, store) -> list[Task]:
    """The cells of the experiments and curves pages (one grid, shared): both protocols' grids."""
    return _grid_tasks(params, "as_coded", params["coded_seeds"]) + _grid_tasks(
        params, "corrected", params["corrected_seeds"])


@register_planner("book/dual-weight/receptive-fields.ipynb")
def plan_receptive_page(params, store) -> list[Task]:
    """The receptive-field page's MNIST cells, per protocol and seed (none without MNIST)."""
    if dataset_status("mnist") is not None:
        return []
    return [Task("dual_weight_receptive_cell", c, cost=cell_cost(c))
            for protocol in params["protocols"]
            for c in (CellConfig(protocol, "mnist", int(params["rf_layers"]), int(params["n"]), int(s),
                                 int(params["steps"])) for s in params["seeds"])]


# ------------------------------------------------------------------ the beyond page's runs

#: The methods of the beyond page's DFA comparison.
BEYOND_DFA_METHODS = ("our", "our+stab", "GD")


def beyond_sweep_config(params, datasets) -> GridConfig:
    """The learning-rate sweep of ``book/dual-weight/beyond.ipynb`` (corrected protocol)."""
    return GridConfig("corrected", tuple(datasets), tuple(params["sweep_layers"]), (int(params["sweep_n"]),),
                      tuple(params["sweep_seeds"]), int(params["steps"]), int(params["steps"]),
                      tuple(params["lrs"]), METHODS, n_jobs=int(params["n_jobs"]))


def beyond_dfa_configs(params, datasets) -> dict[str, GridConfig]:
    """The beyond page's comparison of backprop and DFA credit, one grid per credit assignment."""
    return {credit: GridConfig("corrected", tuple(datasets), (3,), (int(params["sweep_n"]),),
                               tuple(params["dfa_seeds"]), int(params["steps"]), int(params["steps"]),
                               (0.001,), BEYOND_DFA_METHODS, credit, n_jobs=int(params["n_jobs"]))
            for credit in ("backprop", "dfa")}


def beyond_batch_configs(params, datasets) -> list[BatchConfig]:
    """The beyond page's mini-batch runs: batch 1, and each larger batch with the rate fixed or
    scaled by the batch size."""
    return [BatchConfig(ds, 3, int(params["sweep_n"]), int(s), int(params["steps"]), int(B), scaling)
            for ds in datasets for s in params["batch_seeds"] for B in params["batches"]
            for scaling in (("none",) if B == 1 else ("none", "linear"))]


def _present(names) -> list[str]:
    return [d for d in names if dataset_status(d) is None]


@register_planner("book/dual-weight/beyond.ipynb")
def plan_beyond_page(params, store) -> list[Task]:
    """Every cell the beyond page asks for: the sweep, both credits' grids, the mini-batch runs."""
    grids = [beyond_sweep_config(params, _present(params["sweep_datasets"])),
             *beyond_dfa_configs(params, _present(params["dfa_datasets"])).values()]
    tasks = [Task("dual_weight_cell", c, cost=cell_cost(c))
             for g in grids for c in grid_cells(g, _present(g.datasets))]
    return tasks + [Task("dual_weight_batch_cell", b, cost=float(b.samples) / 60_000 * 0.5 + 0.05)
                    for b in beyond_batch_configs(params, _present(params["batch_datasets"]))]


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Every published cell of ``reference/dual_weight.csv`` with the as-coded regenerated mean and
    interval for ``profile`` (the grid of the experiments page, read from the store). Missing
    datasets give empty cells with the data layer's reason."""
    from ..analysis import dual_weight as an
    from ..cells import record
    from ..profiles import page_parameters

    params = page_parameters(profile, NOTEBOOK)
    cfg = GridConfig("as_coded", tuple(params["datasets"]), tuple(params["layers"]),
                     tuple(params["sizes"]), tuple(params["coded_seeds"]), int(params["steps"]),
                     int(params["eval_every"]), n_jobs=int(params["n_jobs"]))
    frame = run_grid(cfg)
    missing = missing_reasons(cfg.datasets)
    seeds = list(cfg.seeds)
    rows = []
    summaries = {"Table 1": an.final_summary(frame), "Table 2": an.final_summary(frame),
                 "Appendix A": an.final_summary(frame), "Table 3": an.relative_table(frame),
                 "Table 4": an.relative_table(frame)}
    for table, summary in summaries.items():
        for r in an.compare(summary, table).itertuples(index=False):
            ds = r.row.split("|")[0]
            note = missing.get(ds) or (None if np.isfinite(r.mean) else "not in this profile's grid")
            if table in ("Table 3", "Table 4"):
                note = "; ".join(filter(None, [note, "averaged over the (layers, n) cells of this profile"]))
            pred = (getattr(r, "pred_low", np.nan), getattr(r, "pred_high", np.nan))
            rows.append(record("dual_weight", table, r.row, r.column,
                               r.mean if np.isfinite(r.mean) else None,
                               r.low if np.isfinite(r.low) else None,
                               r.high if np.isfinite(r.high) else None,
                               profile=profile, seeds=seeds, note=note,
                               single_run=pred if np.isfinite(pred).all() else None))
    normal = frame[frame["condition"] == "normal"] if not frame.empty else frame
    for r in an.published("Appendix B").itertuples(index=False):
        ds, L, n, method = r.row.split("|")
        step = int(r.column.split("=")[1])
        v = normal[(normal["dataset"] == ds) & (normal["layers"] == int(L[0])) & (normal["n"] == int(n[2:]))
                   & (normal["method"] == method) & (normal["step"] == step)]["value"] if not normal.empty else []
        if len(v) == 0:
            rows.append(record("dual_weight", "Appendix B", r.row, r.column, None, profile=profile,
                               seeds=seeds, note=missing.get(ds) or "not in this profile's grid"))
            continue
        from ..analysis.dual_weight import t_interval

        from ..analysis.stats import prediction_interval

        m, lo, hi = t_interval(np.asarray(v))
        pred = prediction_interval(np.asarray(v))
        rows.append(record("dual_weight", "Appendix B", r.row, r.column, m,
                           lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None,
                           profile=profile, seeds=seeds,
                           single_run=pred if np.isfinite(pred).all() else None))
    return pd.DataFrame(rows)


_register_page_artifacts()
