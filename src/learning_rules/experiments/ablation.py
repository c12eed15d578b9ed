r"""The backprop ablation of Okoma (2025), regenerated: optimizer x initialization x L2 on an MLP.

Protocol [ablation sec. 3-4]: an MLP 784(or 3072)-128-128-128-128-10, leaky ReLU (slope 0.1) hidden
units, softmax output with categorical cross-entropy; the first 10,000 official training images
train it and the next 10,000 are the cross-validation (CV) set; mini-batches of 100; 20 epochs
(40 for CIFAR-10); SGD, EMA momentum (beta 0.9, bias-corrected), RMSProp (beta 0.999,
bias-corrected, ``sqrt(s) + eps``), Adam (0.9, 0.999); weights from U[-1, 1] or He uniform, biases
zero; the cost term ``lambda/(2n) sum w^2`` with ``n = 10,000`` and ``lambda in {0, 1, 2, 3}``.

* Experiment ``ablation_run`` (:func:`run_ablation`): one training run; tidy rows of kind
  ``"epoch"`` (per epoch 0..E and split train/cv: accuracy and every cost candidate of
  :mod:`learning_rules.analysis.ablation`) and of kind ``"batch"`` (per mini-batch: its data cost
  measured before the update).
* :func:`run_grid` sweeps run configs through :func:`learning_rules.sweep.run_sweep` and the
  :class:`~learning_rules.store.Store`; :func:`dataset_status` reports missing datasets (CIFAR-10
  here) with the data layer's message instead of substituting anything.
* Plot helpers for the five figures; artifacts ``ablation-tables`` and ``ablation-figure-<k>``.

Explained in: ``book/foundations/ablation.ipynb``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._registry import Registry
from ..analysis import ablation as an
from ..nn.losses import CategoricalCrossEntropy
from ..store import Store, atomic_write_text
from ..training import Batch, epoch_batches, parameters_finite, reference_step, run_epoch
from . import one_blas_thread, register_artifact, register_experiment, save_figure

__all__ = [
    "ABLATION_INITS",
    "ABLATION_OPTIMIZERS",
    "AblationRunConfig",
    "NOTEBOOK",
    "build_network",
    "compute_all",
    "curve_summary",
    "curves_frame",
    "gap_bars",
    "reference_table",
    "reproduced_cells",
    "dataset_status",
    "not_run_note",
    "gap_frame",
    "load_ablation_data",
    "plot_curves",
    "plot_gap",
    "run_ablation",
    "run_grid",
    "run_configs",
]

NOTEBOOK = "book/foundations/ablation.ipynb"
PAPER_DATASETS = ("cifar10", "mnist", "fashion-mnist")
OPTIMIZER_ORDER = ("sgd", "momentum", "rmsprop", "adam")
OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSProp", "adam": "Adam"}

#: ablation optimizer name -> (engine optimizer name, hyper-parameters in the paper's form, sec. 3.1)
ABLATION_OPTIMIZERS: Registry[tuple[str, dict]] = Registry("ablation optimizer")
ABLATION_OPTIMIZERS.register("sgd", ("sgd", {}))
ABLATION_OPTIMIZERS.register("momentum", ("momentum", {"beta": 0.9, "bias_correction": True}))
ABLATION_OPTIMIZERS.register("rmsprop", ("rmsprop", {"beta": 0.999, "eps": 1e-8, "bias_correction": True,
                                                     "eps_placement": "outside"}))
ABLATION_OPTIMIZERS.register("adam", ("adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                               "step_count": "step"}))

#: ablation init name -> engine initializer (sec. 3.2): U[-1, 1] or He uniform U(+-sqrt(6/p)).
ABLATION_INITS: Registry[str] = Registry("ablation initialization")
ABLATION_INITS.register("uniform", "uniform")
ABLATION_INITS.register("he_uniform", "he_uniform")


@dataclasses.dataclass(frozen=True)
class AblationRunConfig:
    """One training run of the ablation (defaults: the paper's MNIST protocol, He init, SGD)."""

    dataset: str = "mnist"
    optimizer: str = "sgd"
    init: str = "he_uniform"
    lam: float = 0.0
    lr: float = 0.1
    num_epochs: int = 20
    seed: int = 0
    batch_size: int = 100
    n_train: int = 10_000
    n_val: int = 10_000
    hidden: tuple[int, ...] = (128, 128, 128, 128)
    slope: float = 0.1
    dtype: str = "float32"
    #: ``"unit"``: pixels scaled to [0, 1] (the book's); ``"raw"``: the files' 0-255 values.
    pixels: str = "unit"
    #: The data term's average: ``"samples"``, :math:`\frac1n\sum_i L_i` (sec. 2.2), or
    #: ``"entries"``, over the :math:`n \times q` label entries (CCE / q: the gradient is 1/q of it).
    cost_average: str = "samples"
    #: The ``n`` of the penalty :math:`\frac{\lambda}{2n}\sum w^2`: ``"train"`` (the training-set
    #: size, sec. 3.3) or ``"batch"`` (the mini-batch, as a cost computed per batch would use).
    l2_n: str = "train"

    def run_id(self) -> str:
        base = f"{self.dataset}|{self.optimizer}|{self.init}|lam={self.lam:g}|lr={self.lr:g}|seed={self.seed}"
        changed = [f"{name}={getattr(self, name)}" for name in PROTOCOL_FIELDS
                   if getattr(self, name) != PROTOCOL_FIELDS[name][0]]
        return "|".join([base, *changed])


#: Protocol fields of :class:`AblationRunConfig` -> (the book's value, the allowed values).
PROTOCOL_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pixels": ("unit", ("unit", "raw")),
    "cost_average": ("samples", ("samples", "entries")),
    "l2_n": ("train", ("train", "batch")),
}


def _check_config(c: AblationRunConfig) -> None:
    ABLATION_OPTIMIZERS.lookup(c.optimizer)
    ABLATION_INITS.lookup(c.init)
    if not (c.lam >= 0 and np.isfinite(c.lam)):
        raise ValueError(f"lam must be a finite number >= 0, got {c.lam}")
    if not (c.lr > 0 and np.isfinite(c.lr)):
        raise ValueError(f"lr must be a finite number > 0, got {c.lr}")
    for name in ("num_epochs", "batch_size", "n_train", "n_val"):
        value = getattr(c, name)
        if not isinstance(value, (int, np.integer)) or value < (0 if name == "num_epochs" else 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if c.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {c.dtype!r}")
    for name, (_, allowed) in PROTOCOL_FIELDS.items():
        if getattr(c, name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                             f"got {getattr(c, name)!r}")


def l2_n(config: AblationRunConfig) -> int:
    r"""The ``n`` of the penalty :math:`\frac{\lambda}{2n}\sum w^2` under ``config.l2_n``."""
    return config.n_train if config.l2_n == "train" else config.batch_size


@functools.lru_cache(maxsize=4)
def load_ablation_data(dataset: str, n_train: int = 10_000, n_val: int = 10_000,
                       dtype: str = "float32",
                       pixels: str = "unit") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The paper's split: official training images ``[0, n_train)`` train, ``[n_train,
    n_train + n_val)`` cross-validate; flattened, pixels scaled to [0, 1] (``pixels="unit"``) or
    left at the files' 0-255 values (``"raw"``, a candidate reading of the paper's protocol).

    Raises the data layer's ``DatasetNotFoundError`` (with its fix) when the dataset is missing.
    """
    if pixels not in PROTOCOL_FIELDS["pixels"][1]:
        raise ValueError(f"pixels must be 'unit' or 'raw', got {pixels!r}")
    from .. import data
    from .datasets import quiet_downloads

    with quiet_downloads():
        if pixels == "unit":
            X, y = data.load(dataset, "train", dtype=np.dtype(dtype))
        else:  # the files' 8-bit values, cast exactly
            X, y = data.load(dataset, "train")
            X = X.astype(np.dtype(dtype))
    if n_train + n_val > len(X):
        raise ValueError(f"{dataset} has {len(X)} training images; n_train + n_val = "
                         f"{n_train + n_val} is too many")
    return X[:n_train], y[:n_train], X[n_train:n_train + n_val], y[n_train:n_train + n_val]


def dataset_status(names: Sequence[str] = PAPER_DATASETS) -> pd.DataFrame:
    """``dataset, available, message``: the data layer's own message for each missing dataset.

    A dataset counts as available when its files are on this machine or can be fetched now
    (:func:`.datasets.availability`: a checksum-verified download, skipped when offline). Any
    failure (not found, checksum mismatch, no network) is reported in ``message``, never raised.
    """
    from .datasets import availability

    rows = []
    for name in names:
        message = availability(name) or ""
        rows.append({"dataset": name, "available": not message, "message": message})
    return pd.DataFrame(rows, columns=["dataset", "available", "message"])


def not_run_note(dataset: str, message: str) -> str:
    """The ledger's reason for a cell of a dataset that is not on this machine."""
    return f"not run: {dataset} missing, see {NOTEBOOK} ({message})"


def build_network(config: AblationRunConfig, n_in: int, n_out: int = 10):
    """The paper's MLP and its trainer (:class:`~learning_rules.engine.Network`) for ``config``.

    The generator ``default_rng(seed)`` draws the weights, then the mini-batch shuffles.
    """
    from ..engine import Network
    from ..nn import MLP

    _check_config(config)
    rng = np.random.default_rng(config.seed)
    sizes = [n_in, *config.hidden, n_out]
    acts = [f"leaky_relu:{config.slope}"] * len(config.hidden) + ["softmax"]
    mlp = MLP.create(sizes, acts, init=ABLATION_INITS.lookup(config.init), bias=True,
                     bias_init="zeros", rng=rng, dtype=np.dtype(config.dtype))
    name, params = ABLATION_OPTIMIZERS.lookup(config.optimizer)
    loss = "cce" if config.cost_average == "samples" else EntryMeanCrossEntropy()
    net = Network(mlp, credit="backprop", update="gradient", loss=loss, lr=config.lr, optimizer=name,
                  optimizer_params=params, l2=config.lam, l2_form="loss", n_train=l2_n(config), rng=rng)
    return net


class EntryMeanCrossEntropy(CategoricalCrossEntropy):
    r"""Cross-entropy averaged over the :math:`n \times q` entries of the label matrix, the value
    of ``mean(-Y * log(A))`` in NumPy:

    .. math::
        J = \frac{1}{nq}\sum_{i,k} -y_{ik}\log a_{ik} = \frac{1}{q}\,\frac1n\sum_i L^{CCE}_i,
        \qquad \frac{\partial J_i}{\partial z_{ij}} = \frac{a_{ij} - y_{ij}}{q}

    The training signal is the categorical cross-entropy's divided by :math:`q`: for SGD and
    momentum a rate :math:`q` times smaller; Adam and RMSProp divide the scale out (up to
    :math:`\epsilon`). A candidate reading of the ablation's "cost" (its printed costs are about
    1/10 of a mean cross-entropy), used only by the ablation's protocol candidates.
    """

    name = "cce/q"

    def value(self, z_L, y, output_activation) -> float:
        return super().value(z_L, y, output_activation) / z_L.shape[1]

    def per_sample(self, z_L, y, output_activation):
        return super().per_sample(z_L, y, output_activation) / z_L.shape[1]

    def output_error(self, z_L, y, output_activation):
        return super().output_error(z_L, y, output_activation) / z_L.shape[1]


def _epoch_rows(net, config, epoch, splits) -> list[dict[str, Any]]:
    from ..fast import forward_logits  # the forward chain without keeping every layer's cache

    rows = []
    for split, (X, y) in splits.items():
        z = forward_logits(net.mlp.weights, net.mlp.biases, net.mlp.activations, X, chunk=2000)
        Y = np.eye(z.shape[1])[y]
        terms = an.cost_terms(z, Y, net.mlp.weights, config.lam, l2_n(config))
        row = {"kind": "epoch", "epoch": epoch, "split": split,
               "accuracy": float(np.mean(np.argmax(z, axis=1) == y)) if np.all(np.isfinite(z)) else np.nan,
               "cce": terms["cce"], "half_sse": terms["half_sse"], "l2_term": terms["l2_term"]}
        for name in an.COST_CANDIDATES:
            row[f"cost[{name}]"] = an.COST_CANDIDATES[name].value(terms)
        rows.append(row)
    return rows


@register_experiment("ablation_run", AblationRunConfig,
                     "one ablation run: per-epoch train/CV accuracy and cost candidates, per-batch cost")
@one_blas_thread
def run_ablation(config: AblationRunConfig) -> pd.DataFrame:
    """Train one configuration; evaluate the full train and CV sets before training and after each
    epoch; record every mini-batch's data cost (mean CCE, before its update).

    Overflow in diverging U[-1, 1] runs is allowed (NaN/inf results are recorded, not raised).
    """
    _check_config(config)
    return _run_ablation(config)


def _nan_epoch_rows(epoch: int) -> list[dict[str, Any]]:
    """The rows :func:`_epoch_rows` gives for a diverged network: every metric NaN."""
    nan = float("nan")
    return [{"kind": "epoch", "epoch": epoch, "split": split, "accuracy": nan, "cce": nan,
             "half_sse": nan, "l2_term": nan, **{f"cost[{name}]": nan for name in an.COST_CANDIDATES}}
            for split in ("train", "cv")]


def _run_ablation(config: AblationRunConfig) -> pd.DataFrame:
    """The training loop. Once a step leaves a NaN/inf parameter (U[-1, 1] with SGD overflows in
    a few steps), NaN is absorbing: every later forward pass, cost and update is NaN. The rest of
    the run is then written as NaN rows without computing them (the same rows, tested)."""
    Xtr, ytr, Xcv, ycv = load_ablation_data(config.dataset, config.n_train, config.n_val, config.dtype,
                                            config.pixels)
    net = build_network(config, Xtr.shape[1], 10)
    splits = {"train": (Xtr, ytr), "cv": (Xcv, ycv)}
    # The reference step: the book's ablation results were computed with it (the buffer trainer
    # agrees to rounding, which would still move the stored numbers in their last bits).
    step = reference_step(net)
    Xv, Yv = net._check_xy(Xtr, ytr)
    rows: list[dict[str, Any]] = []
    n, bs = len(Xtr), config.batch_size
    steps_per_epoch = -(-n // bs)
    done = 0
    diverged = False

    def record(batch, cost) -> None:
        nonlocal done
        done += 1
        rows.append({"kind": "batch", "epoch": epoch, "step": done, "batch_cost": float(cost)})

    def blew_up(cost) -> bool:
        return not np.isfinite(cost) and not parameters_finite(net)

    with np.errstate(all="ignore"):
        rows += _epoch_rows(net, config, 0, splits)
        for epoch in range(1, config.num_epochs + 1):
            if diverged:
                rows += [{"kind": "batch", "epoch": epoch, "step": done + k, "batch_cost": float("nan")}
                         for k in range(1, steps_per_epoch + 1)]
                done += steps_per_epoch
                rows += _nan_epoch_rows(epoch)
                continue
            batches = (Batch(Xv[idx], Yv[idx]) for idx in epoch_batches(n, bs, net.rng))
            diverged = run_epoch(step, batches, on_batch=record, diverged=blew_up).diverged
            rows += _nan_epoch_rows(epoch) if diverged else _epoch_rows(net, config, epoch, splits)
    frame = pd.DataFrame(rows)
    frame.insert(0, "run_id", config.run_id())
    return frame


def run_configs(datasets: Sequence[str], optimizers: Sequence[str], inits: Sequence[str],
                lams: Sequence[float], seeds: Sequence[int],
                lrs: Mapping[str, float] | Mapping[str, Sequence[float]],
                **fixed: Any) -> list[AblationRunConfig]:
    """The Cartesian product as configs; ``lrs[opt]`` is one rate or a list of rates to sweep."""
    configs = []
    for d in datasets:
        for opt in optimizers:
            rates = lrs[opt]
            rates = [rates] if np.isscalar(rates) else list(rates)
            for init in inits:
                for lam in lams:
                    for lr in rates:
                        for seed in seeds:
                            configs.append(AblationRunConfig(dataset=d, optimizer=opt, init=init,
                                                             lam=float(lam), lr=float(lr), seed=int(seed),
                                                             **fixed))
    return configs


def run_grid(configs: Sequence[AblationRunConfig], n_jobs: int = 2,
             store: Store | None = None) -> pd.DataFrame:
    """All configs through :func:`~learning_rules.sweep.run_sweep` (cached in the store under
    ``ablation_run``); config fields become columns."""
    from ..sweep import run_sweep

    store = store if store is not None else Store()
    return run_sweep(run_ablation, configs, n_jobs=n_jobs, store=store, name="ablation_run")


# --------------------------------------------------------------------------- protocol candidates


@dataclasses.dataclass(frozen=True)
class ProtocolCandidate:
    """One reading of how the paper's numbers were produced, run over the page's whole grid.

    Attributes
    ----------
    name : str
    reading : what the candidate assumes, in one sentence (shown on the page)
    lrs : fixed learning rate per optimizer, or ``None`` for the book's rates chosen on the CV split
    fields : protocol fields of :class:`AblationRunConfig` (:data:`PROTOCOL_FIELDS`) it changes
    declared : ``"before running"``, or ``"after seeing the results"`` for a candidate added once
        the others had run (the page says which)
    """

    name: str
    reading: str
    lrs: Mapping[str, float] | None = None
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    declared: str = "before running"

    def __post_init__(self) -> None:
        if self.lrs is not None and set(self.lrs) != set(OPTIMIZER_ORDER):
            raise ValueError(f"protocol {self.name!r}: lrs needs one rate for each of {OPTIMIZER_ORDER}")
        for field, value in self.fields.items():
            if field not in PROTOCOL_FIELDS or value not in PROTOCOL_FIELDS[field][1]:
                raise ValueError(f"protocol {self.name!r}: {field}={value!r} is not a protocol field "
                                 f"value; valid: {PROTOCOL_FIELDS}")
        if self.declared not in ("before running", "after seeing the results"):
            raise ValueError(f"protocol {self.name!r}: declared must be 'before running' or "
                             f"'after seeing the results', got {self.declared!r}")


#: Keras's default rates (``SGD``, ``SGD(momentum=...)``, ``RMSprop``, ``Adam``): 0.01, 0.01, 0.001,
#: 0.001. PyTorch gives no default for SGD, so it makes no complete candidate.
KERAS_LRS = {"sgd": 0.01, "momentum": 0.01, "rmsprop": 0.001, "adam": 0.001}

#: The candidate that is the book's own protocol (CV-tuned rates; its grid is the page's).
BOOK_PROTOCOL = "book"
#: The candidates, declared before any of them ran (issue [fidelity]). Not candidates, with the
#: reason: the He bound (Keras's ``he_uniform`` and PyTorch's ``kaiming_uniform_`` with ``a = 0``
#: both use sqrt(6 / fan_in), the paper's; the leaky-ReLU gain changes it by 0.5 %), the batch size
#: and the epoch (the paper's "33 epochs or 3300 mini-batches" fixes 100 batches of 100 per epoch).
PROTOCOLS: Registry[ProtocolCandidate] = Registry("ablation protocol candidate")
for _p in [
    ProtocolCandidate(BOOK_PROTOCOL, "the book's protocol: per optimizer the rate with the best CV accuracy "
                      "of a 4-point grid; pixels in [0, 1]; mean cross-entropy over samples; "
                      "penalty over n = 10,000"),
    ProtocolCandidate("lr=0.1", "one untuned rate, 0.1, for every optimizer",
                      dict.fromkeys(OPTIMIZER_ORDER, 0.1)),
    ProtocolCandidate("lr=0.01", "one untuned rate, 0.01, for every optimizer",
                      dict.fromkeys(OPTIMIZER_ORDER, 0.01)),
    ProtocolCandidate("lr=0.001", "one untuned rate, 0.001, for every optimizer",
                      dict.fromkeys(OPTIMIZER_ORDER, 0.001)),
    ProtocolCandidate("keras", "Keras's default rates (0.01, 0.01, 0.001, 0.001)", KERAS_LRS),
    ProtocolCandidate("keras+cost/q", "Keras's rates, and the cross-entropy averaged over the n x 10 "
                      "label entries (a gradient 10 x smaller), as the printed costs suggest",
                      KERAS_LRS, {"cost_average": "entries"}),
    ProtocolCandidate("keras+raw", "Keras's rates on unscaled pixels (0-255)", KERAS_LRS,
                      {"pixels": "raw"}),
    ProtocolCandidate("keras+l2/m", "Keras's rates, and the penalty over the mini-batch "
                      "(lambda / (2 x 100)), as a cost computed per batch would have it",
                      KERAS_LRS, {"l2_n": "batch"}),
]:
    PROTOCOLS.register(_p.name, _p)


def page_protocols(params: Mapping[str, Any]) -> list[str]:
    """The candidates the page runs (``params["protocols"]``; every candidate by default), checked."""
    names = list(params.get("protocols", list(PROTOCOLS)))
    for name in names:
        PROTOCOLS.lookup(name)
    return names


def protocol_configs(params: Mapping[str, Any], name: str,
                     book_lrs: Mapping[str, float] | None = None) -> list[AblationRunConfig]:
    """The page's whole grid under candidate ``name`` (the book's rates ``book_lrs`` for
    candidates without fixed rates)."""
    candidate = PROTOCOLS.lookup(name)
    lrs = candidate.lrs if candidate.lrs is not None else book_lrs
    if lrs is None:
        raise ValueError(f"protocol {name!r} uses the rates chosen on the CV split: pass book_lrs")
    scope = params.get("protocol_grid", "tables")
    if scope == "tables":  # the settings the published tables print, every seed
        params = {**params, "inits": ["he_uniform"],
                  "lams": [lam for lam in params["lams"] if lam in table_lams()]}
    elif scope != "full":
        raise ValueError(f"protocol_grid must be 'tables' or 'full', got {scope!r}")
    return grid_configs(params, lrs, candidate.fields)


def table_lams() -> set[float]:
    """The lambdas the published tables name (``lambda=0or1`` names both): {0, 1}."""
    parts = reference_table()["row"].str.split("|").str[2].str.removeprefix("lambda=")
    return {float(v) for text in parts for v in text.split("or")}


# --------------------------------------------------------------------------- figures


def _palette():
    import seaborn as sns

    colors = sns.color_palette("colorblind", len(OPTIMIZER_ORDER))
    return dict(zip(OPTIMIZER_ORDER, colors))


def _band(ax, x, mean, low, high, color, label, limits=(0.0, np.inf)):
    """The mean line and its interval band, the band drawn inside the quantity's range ``limits``
    (with 2-3 seeds a t-interval reaches below 0 or above an accuracy of 1; the data keep it)."""
    ax.plot(x, mean, color=color, lw=1.4, label=label)
    ax.fill_between(x, np.clip(low, *limits), np.clip(high, *limits), color=color, alpha=0.25, lw=0)


def curve_summary(frame: pd.DataFrame, metric: str, split: str = "train") -> pd.DataFrame:
    """Per (dataset, optimizer, init, lam, epoch): mean and 95 % interval over seeds of ``metric``."""
    epochs = frame[(frame["kind"] == "epoch") & (frame["split"] == split)]
    rows = []
    keys = ["dataset", "optimizer", "init", "lam", "epoch"]
    for key, group in epochs.groupby(keys, sort=True):
        mean, low, high = an.mean_interval(group[metric].to_numpy())
        rows.append({**dict(zip(keys, key)), "mean": mean, "low": low, "high": high})
    return pd.DataFrame(rows)


def curves_frame(frame: pd.DataFrame, dataset: str, init: str, lams: Sequence[float],
                 cost_metric: str) -> pd.DataFrame:
    """What :func:`plot_curves` draws: :func:`curve_summary` of the training cost (``metric`` =
    ``cost_metric``) and of the training accuracy (``metric`` = ``"accuracy"``) of ``dataset``,
    ``init`` and each lambda of ``lams``, per optimizer and epoch (mean and 95 % interval)."""
    keys = ["metric", "dataset", "optimizer", "init", "lam", "epoch", "mean", "low", "high"]
    parts = []
    for metric in dict.fromkeys((cost_metric, "accuracy")):  # each metric once
        summ = curve_summary(frame[frame["dataset"] == dataset], metric)
        if not summ.empty:
            parts.append(summ[(summ["init"] == init) & summ["lam"].isin(list(lams))].assign(metric=metric))
    return pd.concat(parts, ignore_index=True)[keys] if parts else pd.DataFrame(columns=keys)


def plot_curves(frame: pd.DataFrame, dataset: str, init: str, lams: Sequence[float], cost_metric: str,
                cost_label: str, log_cost: bool = False):
    """Training cost (top row) and training accuracy (bottom row) per epoch, one column per lambda,
    one line per optimizer (mean over seeds, band = 95 % t-interval; :func:`curves_frame`)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    colors = _palette()
    lams = list(lams)
    fig, axes = plt.subplots(2, len(lams), figsize=(3.4 * len(lams) + 0.6, 5.4), squeeze=False,
                             sharex=True)
    drawn = curves_frame(frame, dataset, init, lams, cost_metric)
    cost = drawn[drawn["metric"] == cost_metric]
    acc = drawn[drawn["metric"] == "accuracy"]
    for col, lam in enumerate(lams):
        for row, (summ, label) in enumerate([(cost, cost_label), (acc, "training accuracy (fraction)")]):
            ax = axes[row, col]
            sel = summ[(summ["init"] == init) & (summ["lam"] == lam)]
            for opt in OPTIMIZER_ORDER:
                s = sel[sel["optimizer"] == opt]
                if not s.empty:
                    name = OPTIMIZER_LABELS[opt]
                    if s["mean"].isna().any():  # a seed overflowed: weights became NaN/inf
                        name += " (diverged)"
                        finite = s[s["mean"].notna()]
                        ax.plot(finite["epoch"].iloc[-1:], finite["mean"].iloc[-1:], "x", color=colors[opt],
                                ms=8, mew=2)
                    _band(ax, s["epoch"], s["mean"], s["low"], s["high"], colors[opt], name,
                          limits=(0.0, np.inf) if row == 0 else (0.0, 1.0))
            if row == 0:
                ax.set_title(f"{dataset}, {init}, $\\lambda$ = {lam:g}", fontsize=9)
                if log_cost:
                    ax.set_yscale("log")
            else:
                ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if col == 0:
                ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def gap_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run at its last epoch: generalization gap = training accuracy - CV accuracy."""
    last = an.final_epoch(frame)
    wide = last.pivot_table(index=["run_id", "dataset", "optimizer", "init", "lam", "seed"],
                            columns="split", values="accuracy").reset_index()
    wide["gap"] = wide["train"] - wide["cv"]
    return wide


def gap_bars(frame: pd.DataFrame, datasets: Sequence[str], lams: Sequence[float] = (0.0, 3.0),
             init: str = "he_uniform") -> pd.DataFrame:
    """What :func:`plot_gap` draws: per dataset, lambda and optimizer, the mean and 95 % interval
    over seeds of the last epoch's accuracy gap (training - CV) of ``init`` (:func:`gap_frame`);
    NaN where no run exists. Columns ``dataset, init, lam, optimizer, mean, low, high, runs``."""
    gaps = gap_frame(frame)
    gaps = gaps[(gaps["init"] == init) & gaps["lam"].isin(list(lams))]
    rows = []
    for dataset in datasets:
        g = gaps[gaps["dataset"] == dataset]
        for lam in lams:
            for opt in OPTIMIZER_ORDER:
                sel = g[(g["optimizer"] == opt) & (g["lam"] == lam)]["gap"]
                m, lo, hi = an.mean_interval(sel)
                rows.append({"dataset": dataset, "init": init, "lam": lam, "optimizer": opt, "mean": m,
                             "low": lo, "high": hi, "runs": len(sel)})
    return pd.DataFrame(rows, columns=["dataset", "init", "lam", "optimizer", "mean", "low", "high", "runs"])


def plot_gap(frame: pd.DataFrame, datasets: Sequence[str], lams: Sequence[float] = (0.0, 3.0),
             init: str = "he_uniform"):
    """Bars: accuracy gap (train - CV) per optimizer, one bar per lambda, error bar = 95 % interval
    (:func:`gap_bars`)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    bars = gap_bars(frame, datasets, lams, init)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.0 * len(datasets), 3.5), squeeze=False)
    colors = sns.color_palette("colorblind", 8)[4:4 + len(lams)]
    width = 0.8 / len(lams)
    for ax, dataset in zip(axes[0], datasets):
        g = bars[bars["dataset"] == dataset]
        for k, lam in enumerate(lams):
            means, errs = [], []
            for opt in OPTIMIZER_ORDER:
                b = g[(g["optimizer"] == opt) & (g["lam"] == lam)].iloc[0]
                m, lo, hi = b["mean"], b["low"], b["high"]
                means.append(m)
                errs.append([m - lo, hi - m])
            x = np.arange(len(OPTIMIZER_ORDER)) + (k - (len(lams) - 1) / 2) * width
            ax.bar(x, means, width, yerr=np.array(errs).T, color=colors[k], capsize=3,
                   label=f"$\\lambda$ = {lam:g}")
        ax.set_xticks(np.arange(len(OPTIMIZER_ORDER)), [OPTIMIZER_LABELS[o] for o in OPTIMIZER_ORDER],
                      fontsize=8)
        ax.set_ylabel("accuracy gap,\ntrain - CV (fraction)")
        ax.set_title(f"{dataset} (stand-in for CIFAR-10), {init}", fontsize=9)
        ax.axhline(0, color="0.3", lw=0.8)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- notebook pipeline


def reference_table() -> pd.DataFrame:
    """The published numbers (``reference/ablation.csv``)."""
    return pd.read_csv(Path(__file__).resolve().parents[1] / "reference" / "ablation.csv")


def _page_setup(params: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str], dict, dict]:
    """(dataset status, datasets available here, fixed config fields, epochs per dataset)."""
    status = dataset_status(PAPER_DATASETS)
    available = [d for d in params.get("datasets", list(PAPER_DATASETS))
                 if bool(status.set_index("dataset").loc[d, "available"])]
    fixed = {"n_train": int(params.get("n_train", 10_000)), "n_val": int(params.get("n_val", 10_000)),
             "batch_size": int(params.get("batch_size", 100)), "dtype": str(params.get("dtype", "float32"))}
    epochs = {d: int(params.get("cifar_epochs", 40)) if d == "cifar10" else int(params["num_epochs"])
              for d in available}
    return status, available, fixed, epochs


def search_configs(params: Mapping[str, Any]) -> list[AblationRunConfig]:
    """The learning-rate trials of the page: He init, no L2, one seed, every rate of the grid."""
    _, available, fixed, epochs = _page_setup(params)
    return [c for d in available for c in run_configs(
        [d], OPTIMIZER_ORDER, ["he_uniform"], [0.0], [int(params.get("lr_search_seed", 0))],
        dict(params["lr_grid"]), num_epochs=min(epochs[d], int(params["lr_search_epochs"])), **fixed)]


def grid_configs(params: Mapping[str, Any], lrs: Mapping[str, float],
                 protocol: Mapping[str, str] | None = None) -> list[AblationRunConfig]:
    """The page's full grid at the rates ``lrs``, under the protocol fields ``protocol`` (the
    book's when ``None``; see :data:`PROTOCOL_FIELDS`)."""
    _, available, fixed, epochs = _page_setup(params)
    lams = {"he_uniform": list(params["lams"]), "uniform": list(params.get("uniform_lams", params["lams"]))}
    configs = [c for d in available for init in params.get("inits", ["uniform", "he_uniform"])
               for c in run_configs([d], OPTIMIZER_ORDER, [init], lams[init],
                                    list(range(int(params["n_seeds"]))), lrs, num_epochs=epochs[d], **fixed,
                                    **dict(protocol or {}))]
    # without a penalty its n changes nothing: one config (and one stored run) for both readings
    return [dataclasses.replace(c, l2_n="train") if c.lam == 0 else c for c in configs]


def compute_all(params: Mapping[str, Any], store: Store | None = None) -> dict[str, Any]:
    """Everything the chapter shows, from the notebook's parameters: the learning-rate search on
    the CV split, the chosen rates, the full grid with them, and the dataset status."""
    status, available, _, _ = _page_setup(params)
    n_jobs = int(params.get("n_jobs", 2))
    trials = search_configs(params)
    if not trials:  # no dataset on this machine: nothing to run, every cell is "not run"
        return {"status": status, "available": [], "search": pd.DataFrame(), "lrs": {},
                "grid": pd.DataFrame()}
    search = run_grid(trials, n_jobs=n_jobs, store=store)
    lrs = an.choose_learning_rates(search)
    grid = run_grid(grid_configs(params, lrs), n_jobs=n_jobs, store=store)
    return {"status": status, "available": available, "search": search, "lrs": lrs, "grid": grid}


# --------------------------------------------------------------- claims that need more than the grid

#: The setting of the paper's Figure 3 (MNIST, He uniform, lambda = 1), trained this many times the
#: page's epochs, tests "the slopes stayed positive (accuracy) and negative (cost) up to epoch 20,
#: suggesting training had not converged" (sec. 4.2, and the limitation of sec. 6.1).
CONTINUATION_FACTOR = 2
CONTINUATION = {"dataset": "mnist", "init": "he_uniform", "lam": 1.0}


def continuation_configs(params: Mapping[str, Any], lrs: Mapping[str, float]) -> list[AblationRunConfig]:
    """Figure 3's runs (every optimizer at its chosen rate, every seed) for
    :data:`CONTINUATION_FACTOR` times the page's epochs; their first epochs are the grid's runs
    (same seed, same draws). Empty when MNIST is not on this machine."""
    _, available, fixed, epochs = _page_setup(params)
    dataset = CONTINUATION["dataset"]
    if dataset not in available or not lrs:
        return []
    return run_configs([dataset], OPTIMIZER_ORDER, [CONTINUATION["init"]], [CONTINUATION["lam"]],
                       list(range(int(params["n_seeds"]))), lrs,
                       num_epochs=CONTINUATION_FACTOR * epochs[dataset], **fixed)


def init_gradient_norms(dataset: str = "mnist", n: int = 1000, seeds: Sequence[int] = (0, 1, 2),
                        inits: Sequence[str] = ("uniform", "he_uniform")) -> pd.DataFrame:
    r"""The size of the gradient of every layer at initialization, :math:`U[-1, 1]` against He
    uniform: the measurement sec. 6.1 names as missing ("this study did not investigate the sizes of
    the gradients back-propagated through the network").

    On the first ``n`` training images (float64), for each init and seed, the gradient of the
    batch-mean cross-entropy, :math:`\nabla_{W_l} J = \frac1B \delta_l^\top h_{l-1}`, from one
    backward pass of the paper's net (784-128x4-10, leaky ReLU 0.1, softmax). Columns ``init, seed,
    layer, grad_norm`` (Frobenius), ``grad_rms`` (per weight), ``weight_rms``.
    """
    from ..updates.gradient import weight_gradient

    Xtr, ytr, _, _ = load_ablation_data(dataset, n_train=n, n_val=0, dtype="float64")
    rows = []
    for init in inits:
        for seed in seeds:
            config = AblationRunConfig(dataset=dataset, init=init, seed=int(seed), dtype="float64")
            net = build_network(config, Xtr.shape[1])
            with np.errstate(over="ignore", invalid="ignore"):
                cache, _, deltas = net.signals(Xtr, ytr)
            for l, (delta, h, W) in enumerate(zip(deltas, cache.h, net.mlp.weights), start=1):
                g = weight_gradient(delta, h)
                rows.append({"init": init, "seed": int(seed), "layer": l,
                             "grad_norm": float(np.linalg.norm(g)), "grad_rms": float(np.sqrt(np.mean(g**2))),
                             "weight_rms": float(np.sqrt(np.mean(W**2)))})
    return pd.DataFrame(rows)


def run_cost(config: AblationRunConfig) -> float:
    """A run's rough cost for longest-first scheduling, in the unit of
    :func:`learning_rules.experiments.lr_selection.run_cost` (one k = 3 parity epoch): an epoch over 10,000
    training and 10,000 CV images costs about 0.18 of one (the paper build's first 32 trials:
    7.7 s per unit of the earlier guess 0.1 against 4.35 s per unit for the parity runs, side by
    side); it only orders the runs."""
    return float(config.num_epochs * (config.n_train + config.n_val) / 20_000 * 0.18
                 * (3.0 if config.dataset == "cifar10" else 1.0) + 0.05)


def chosen_cost(res: Mapping[str, Any]) -> str:
    """The cost candidate :func:`~learning_rules.analysis.ablation.cost_evidence` picks for ``res``."""
    metrics = ["accuracy"] + [f"cost[{c}]" for c in an.COST_CANDIDATES]
    summary = an.summarize_final(res["grid"], metrics)
    evaluations = pd.concat([res["search"], res["grid"]], ignore_index=True)
    return an.cost_evidence(summary, evaluations, reference_table())[1]


@register_artifact("ablation-tables", "Okoma 2025 Tables 1-3: final training/CV cost and accuracy "
                   "regenerated next to the published numbers (CSV)",
                   notebook=NOTEBOOK, suffix=".csv")
def make_ablation_tables(params: Mapping[str, Any], out_path: Path) -> Path:
    res = compute_all(params)
    cost = f"cost[{chosen_cost(res)}]"
    summary = an.summarize_final(res["grid"], ["accuracy", cost])
    ref = reference_table()
    table = an.compare_with_published(summary, ref[ref["table"].str.startswith("Table")], cost)
    atomic_write_text(out_path, table.to_csv(index=False))
    return out_path


def _figure_maker(number: int):
    def make(params: Mapping[str, Any], out_path: Path) -> Path:
        res = compute_all(params)
        cand = chosen_cost(res)
        cost = f"cost[{cand}]"
        grid, avail = res["grid"], res["available"]
        if number == 5:
            fig = plot_gap(grid, avail)
        elif number == 1:
            fig = plot_curves(grid, avail[0], "uniform", [0.0, 3.0], cost, f"training cost ({cand})", True)
        elif number == 2:
            fig = plot_curves(grid, avail[0], "he_uniform", sorted(set(grid["lam"])), cost,
                              f"training cost ({cand})")
        else:
            dataset = "mnist" if number == 3 else "fashion-mnist"
            fig = plot_curves(grid, dataset, "he_uniform", [1.0 if number == 3 else 2.0], cost,
                              f"training cost ({cand})")
        return save_figure(fig, out_path)

    return make


for _k, _what in [(1, "U[-1,1] curves, lambda 0 and 3 (stand-in for CIFAR-10)"),
                  (2, "He-uniform curves per lambda (stand-in for CIFAR-10)"),
                  (3, "MNIST, He uniform, lambda 1"), (4, "Fashion-MNIST, He uniform, lambda 2"),
                  (5, "generalization gap, lambda 0 vs 3 (stand-in for CIFAR-10)")]:
    register_artifact(f"ablation-figure-{_k}", f"Okoma 2025 Figure {_k}: {_what} (PNG)",
                      notebook=NOTEBOOK, suffix=".png")(_figure_maker(_k))


# --------------------------------------------------------------------------- reproduction ledger

REPRODUCES = {"sources": ["ablation"], "chapter": NOTEBOOK,
              "description": "Okoma (2025) Tables 1-3: final training/CV cost and accuracy"}



def _profile_params(profile: str) -> dict[str, Any]:
    from ..profiles import page_parameters

    return page_parameters(profile, NOTEBOOK)


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Every published cell of ``reference/ablation.csv`` with the regenerated mean and interval
    for ``profile`` (through the store: a cache hit after the book build). Costs use the
    definition chosen by :func:`~learning_rules.analysis.ablation.cost_evidence`; Table 2 is
    compared at lambda = 0 (its caption); CIFAR-10 cells carry the missing-dataset message."""
    params = _profile_params(profile)
    res = compute_all(params)
    cells = cells_of(res["grid"], res["search"], res["available"], res["status"], params, profile)
    alternative = best_alternative(params, res)
    if alternative is not None:  # each cell as the best other protocol gives it: a tested cause
        label, other = alternative
        values = {tuple(k): v for k, v in zip(other[["table", "row", "column"]].itertuples(index=False),
                                              other["reproduced"])}
        cells["alternative_protocol"] = [label if np.isfinite(values.get((t, r, c), np.nan)) else None
                                         for t, r, c in zip(cells["table"], cells["row"], cells["column"])]
        cells["alternative"] = [values.get((t, r, c), np.nan)
                                for t, r, c in zip(cells["table"], cells["row"], cells["column"])]
    return cells


def best_alternative(params: Mapping[str, Any], res: Mapping[str, Any],
                     store: Store | None = None) -> tuple[str, pd.DataFrame] | None:
    """The candidate protocol other than the book's that best explains the published numbers
    (:func:`best_protocol` over :func:`protocol_table`) and its ledger cells, labelled for the
    ledger's ``alternative_protocol``; ``None`` when no other candidate is listed or ran. A
    candidate whose runs are not stored (a report that only reads) is skipped with a warning."""
    import warnings

    from ..store import NotStoredError

    if not res["available"] or not [n for n in page_protocols(params) if n != BOOK_PROTOCOL]:
        return None
    try:
        results = protocol_results(params, store, res)
    except NotStoredError as exc:
        warnings.warn(f"ablation: protocol candidates not stored, so no tested cause from them: {exc}",
                      stacklevel=2)
        return None
    others = {n: g for n, g in results.items() if n != BOOK_PROTOCOL}
    if not others:
        return None
    table = protocol_table(params, store, res, results=others)
    best = best_protocol(table)
    name = str(best["candidate"])
    profile = str(params.get("profile", "paper"))
    candidate = PROTOCOLS.lookup(name)
    search = res["search"] if candidate.lrs is None else others[name].iloc[:0]
    cells = cells_of(others[name], search, res["available"], res["status"], params, profile)
    label = (f"candidate protocol {name!r} (the best of {len(others)} candidates, declared "
             f"{candidate.declared}; an inference, see Table D)")
    return label, cells


def cells_of(grid: pd.DataFrame, search: pd.DataFrame, available: Sequence[str], status: pd.DataFrame,
             params: Mapping[str, Any], profile: str) -> pd.DataFrame:
    """The ledger's cells (:func:`learning_rules.report.record` rows) from one grid of runs:
    the book's (:func:`reproduced_cells`) or a protocol candidate's (:func:`protocol_table`)."""
    from ..cells import record

    status = status.set_index("dataset")
    ref = reference_table()
    seeds = list(range(int(params["n_seeds"])))
    if available:
        metrics = ["accuracy"] + [f"cost[{c}]" for c in an.COST_CANDIDATES]
        summary = an.summarize_final(grid, metrics)
        _, best = an.cost_evidence(summary, pd.concat([search, grid], ignore_index=True), ref)
    else:
        summary, best = None, None
    rows = []
    for rec in ref.itertuples(index=False):
        dataset, init, lam_text, optimizer = rec.row.split("|")
        if dataset not in available:
            msg = status.loc[dataset, "message"] if dataset in status.index else "not in this profile"
            rows.append(record("ablation", rec.table, rec.row, rec.column, None, profile=profile,
                               seeds=seeds, note=not_run_note(dataset, msg)))
            continue
        lam = float(lam_text.removeprefix("lambda=").split("or")[0])
        split, quantity = rec.column.split("_", 1)
        metric = f"cost[{best}]" if quantity == "cost" else "accuracy"
        note = f"cost = {best}" if quantity == "cost" else None
        if "or" in lam_text:
            note = "; ".join(filter(None, [note, "compared at lambda = 0 (caption)"]))
        hit = summary[(summary["dataset"] == dataset) & (summary["optimizer"] == optimizer.lower())
                      & (summary["init"] == init) & (summary["lam"] == lam) & (summary["split"] == split)
                      & (summary["metric"] == metric)]
        if hit.empty or not np.isfinite(hit["mean"].iloc[0]):
            rows.append(record("ablation", rec.table, rec.row, rec.column, None, profile=profile,
                               seeds=seeds, note="not run: not in this profile's grid, or diverged"))
            continue
        h = hit.iloc[0]
        low, high = (h["low"], h["high"]) if h["low"] < h["high"] else (None, None)
        rows.append(record("ablation", rec.table, rec.row, rec.column, h["mean"], low, high,
                           profile=profile, seeds=seeds, note=note))
    return pd.DataFrame(rows)


def protocol_results(params: Mapping[str, Any], store: Store | None = None,
                     res: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Candidate name -> its runs (through the store): the page's whole grid when
    ``params["protocol_grid"] == "full"``, else (``"tables"``, the default) the settings the
    published tables print (He init, lambda 0 and 1, every seed). ``res`` is :func:`compute_all`'s
    result (computed when not given), whose grid is the ``"book"`` candidate's."""
    res = compute_all(params, store) if res is None else res
    if not res["available"]:
        return {}
    out = {}
    for name in page_protocols(params):
        if PROTOCOLS.lookup(name).lrs is None and not PROTOCOLS.lookup(name).fields:
            out[name] = res["grid"]
        else:
            out[name] = run_grid(protocol_configs(params, name, res["lrs"]),
                                 n_jobs=int(params.get("n_jobs", 2)), store=store)
    return out


def protocol_table(params: Mapping[str, Any], store: Store | None = None,
                   res: Mapping[str, Any] | None = None,
                   results: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per candidate: how many published cells of the runnable tables fall within the ledger's
    tolerance (accuracy and cost separately), and in how many row groups the method ranking
    survives (:func:`learning_rules.report.build_ledger`'s rules, the same as the report's).

    Each candidate's cost definition is chosen from its own runs, as for the book's. ``results``:
    :func:`protocol_results`' candidates and runs when already at hand (computed otherwise). Columns:
    ``candidate, reading, declared, cost_definition, cells, within, accuracy_within, cost_within,
    rank_groups, rank_kept, mean_abs_accuracy_delta``.
    """
    from ..cells import PUBLISHED_COLUMNS, build_ledger

    res = compute_all(params, store) if res is None else res
    profile = str(params.get("profile", "paper"))
    reference = reference_table()
    rows = []
    results = protocol_results(params, store, res) if results is None else results
    for name, grid in results.items():
        candidate = PROTOCOLS.lookup(name)
        search = res["search"] if candidate.lrs is None else grid.iloc[:0]
        cells = cells_of(grid, search, res["available"], res["status"], params, profile)
        ledger = build_ledger(reference[PUBLISHED_COLUMNS], cells, profile)
        ran = ledger[ledger["reproduced"].notna()]
        acc = ran["unit"] == "accuracy"
        groups = ran.groupby("rank_group")["rank_preserved"].first().dropna()
        notes = cells["note"].dropna()
        cost = notes[notes.str.startswith("cost = ")].str.removeprefix("cost = ").str.split(";").str[0]
        rows.append({
            "candidate": name, "reading": candidate.reading, "declared": candidate.declared,
            "cost_definition": cost.iloc[0] if len(cost) else "",
            "cells": len(ran), "within": int(ran["within_tolerance"].sum()),
            "accuracy_within": int(ran.loc[acc, "within_tolerance"].sum()),
            "cost_within": int(ran.loc[~acc, "within_tolerance"].sum()),
            "rank_groups": len(groups), "rank_kept": int(groups.astype(bool).sum()),
            "mean_abs_accuracy_delta": float(ran.loc[acc, "delta"].abs().mean()) if acc.any() else np.nan,
        })
    return pd.DataFrame(rows)


def best_protocol(table: pd.DataFrame) -> pd.Series:
    """The candidate that best explains the published numbers: most cells within tolerance, then
    most rank groups kept, then the smallest mean accuracy difference."""
    if table.empty:
        raise ValueError("no protocol candidate ran (no dataset available or no candidate listed)")
    order = table.sort_values(["within", "rank_kept", "mean_abs_accuracy_delta"],
                              ascending=[False, False, True], kind="stable")
    return order.iloc[0]
