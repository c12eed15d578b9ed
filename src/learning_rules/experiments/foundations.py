r"""The foundations part of the book, what its four pages share: the MNIST data and the seeded
networks their runs train, the engine's backprop gradients they measure, the SGD loop with
records that stops on divergence, and the runs through the result store (one per seed).

Each page has its module, which imports this one (and :mod:`.foundations_plots`) and no other page's:

* :mod:`.foundations_backprop` -- backprop derived twice (book/foundations/backprop.ipynb);
* :mod:`.foundations_vanishing` -- vanishing and exploding gradients, symmetry, initialization
  (book/foundations/vanishing.ipynb);
* :mod:`.foundations_optimizers` -- optimizers on 2-D test functions (book/foundations/optimizers.ipynb);
* :mod:`.foundations_regularization` -- L2/L1 regularization (book/foundations/regularization.ipynb).

A page lists the stored runs it shows as :class:`PageRun` values (``*_runs(params)``, one list per
section and ``page_runs`` for the page): its frames run that list (:func:`run_listed`), and its
planner hands the same list to the build's precompute (:func:`plan_page`), which runs it on every
worker before the notebook opens.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation"; [notes] Alrabeiah
(2022), Lecture 5; [qa] the Q&A thread on the weight-decay dynamics of Nielsen's update (see the
page modules for sections and equations).

Explained in: book/foundations/backprop.ipynb, vanishing.ipynb, optimizers.ipynb,
regularization.ipynb.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..nn.mlp import MLP
from ..training import stream_batches
from ..updates.gradient import bias_gradient, weight_gradient


__all__ = [
    "PageRun",
    "engine_gradients",
    "plan_page",
    "run_cached",
    "run_cost",
    "run_listed",
    "seed_list",
    "seed_runs",
    "sgd_steps_recording",
]


# =============================================================================================
# Data and seeded networks
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


# =============================================================================================
# Gradients and the SGD loop with records
# =============================================================================================


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


# =============================================================================================
# Runs through the result store, and the notebooks' parameters
# =============================================================================================


def run_cached(name: str, config: Any) -> pd.DataFrame:
    """Run a registered experiment through the default result store (the book's code path)."""
    from ..store import Store
    from . import run_experiment

    return run_experiment(name, config, store=Store())


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


@dataclasses.dataclass(frozen=True)
class PageRun:
    """One stored run a foundations page shows: experiment ``name`` with ``config``, and the
    constant columns ``labels`` the page's frame gives its rows. A page lists its runs as these
    (``*_runs(params)``), so its frames (:func:`run_listed`) and its planner (the build's
    precompute) read one list."""

    name: str
    config: Any
    labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def seed_runs(name: str, config: Any, seeds: Sequence[int], **labels: Any) -> list[PageRun]:
    """Experiment ``name`` once per seed: ``config`` with ``seed`` replaced, labelled with a
    ``seed`` column and the constant ``labels``."""
    return [PageRun(name, dataclasses.replace(config, seed=int(s)), {"seed": int(s), **labels})
            for s in seeds]


def run_listed(runs: Sequence[PageRun]) -> pd.DataFrame:
    """Every run through the result store, each frame with its labels as columns, stacked."""
    return pd.concat([run_cached(r.name, r.config).assign(**r.labels) for r in runs], ignore_index=True)


#: The foundations' engine runs' rough time: a fixed cost per step plus one per (sample x weight),
#: fitted to the paper build's runs (784-30-10 in batches of 10: about 1.1 ms per step; 10 x 128
#: ReLU layers in batches of 50: about 12 ms per step), and the seconds of the planners' cost unit
#: (one k = 3 parity epoch, ``lr_selection.run_cost``).
_SECONDS_PER_STEP = 6e-4
_SECONDS_PER_SAMPLE_WEIGHT = 1e-9
_SECONDS_PER_COST_UNIT = 4.35


def run_cost(config: Any) -> float:
    r"""A foundations run's rough cost for longest-first scheduling, in the unit of
    :func:`learning_rules.experiments.lr_selection.run_cost`:

    .. math:: t \approx s\, t_{\text{step}} + N P\, t_{\text{sample-weight}}

    for :math:`N` training samples (``n_train`` x ``num_epochs``, ``num_steps`` x ``batch_size``
    or ``n_samples``) in :math:`s` steps of ``batch_size`` and :math:`P` weights (784 inputs,
    ``depth`` layers of ``width`` or one of ``hidden``, 10 outputs). It only orders the runs."""
    get = functools.partial(getattr, config)
    batch = get("batch_size", 1)
    if hasattr(config, "num_epochs"):
        samples = get("n_train") * get("num_epochs")
    elif hasattr(config, "num_steps"):
        samples = get("num_steps") * batch
    else:  # a forward pass only
        samples, batch = get("n_samples", 1000), get("n_samples", 1000)
    if hasattr(config, "width"):
        w, depth = get("width"), get("depth", 1)
        weights = 784 * w + (depth - 1) * w * w + 10 * w
    else:
        h = get("hidden", 30)
        weights = 784 * h + 10 * h
    seconds = samples / batch * _SECONDS_PER_STEP + samples * weights * _SECONDS_PER_SAMPLE_WEIGHT
    return float(seconds / _SECONDS_PER_COST_UNIT + 0.05)


def plan_page(runs: Sequence[PageRun]) -> list:
    """A foundations page's planner answer: its runs as precompute tasks, less those whose dataset
    (``config.dataset``) is not on this machine (the page then stops with the data layer's error;
    the build's precompute does not fail on it)."""
    from .. import data
    from . import Task
    from .datasets import quiet_downloads

    present: dict[str, bool] = {}
    tasks = []
    for r in runs:
        name = r.config.dataset
        if name not in present:
            try:
                with quiet_downloads():
                    data.where(name)
                present[name] = True
            except data.DatasetNotFoundError:
                present[name] = False
        if present[name]:
            tasks.append(Task(r.name, r.config, cost=run_cost(r.config)))
    return tasks
