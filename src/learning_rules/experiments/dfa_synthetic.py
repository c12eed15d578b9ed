r"""Chizat & Bach's synthetic clusters with backprop, DFA and the lazy (output-layer-only) net.

Thesis Figs. 2.2 and 3.8 (Demirbilek 2021, sections 2.2 and 3.2) train the ``d - 512 - 1`` net of
the parity chapter (ReLU, sigmoid + BCE, no biases except the constant input column, PyTorch-style
uniform init) with **500 full-batch steps at lr 0.5** on a sample of the clusters generator
(:func:`learning_rules.data.make_chizat_bach_clusters`, spec ``../shared/specs/dfa-thesis.md``
section 6), and report the final test error on 4000 fresh points:

* ``"n"`` experiment (Fig. 2.2 middle): d = 15, nested training sets of the first n of 512 points;
* ``"d"`` experiment (Fig. 2.2 right): n = 256, one sample with 25 spurious columns, the first d
  columns kept;
* ``"adaptive"`` experiment (Fig. 3.8): a fresh n = 256 sample with 22 spurious columns, BP / DFA x
  SGD / RMSProp, all with lr 0.5 (RMSProp's rate was never tuned, spec 9 L).

Repeats vary only the network (and B) initialization; the data of an experiment is one draw
(``data_seed``). The lazy baseline trains only W2 (``trainable=[False, True]``, spec 2.5).
Learning rates can also be chosen on a validation split carved from the training sample
(:func:`select_synthetic_lr`).

Explained in: book/dfa/synthetic.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from . import one_blas_thread, register_experiment

__all__ = [
    "EXPERIMENT_DATA",
    "METHODS",
    "OLDER_PLOT",
    "PublishedCell",
    "chosen_configs",
    "chosen_lrs",
    "draw_configs",
    "draw_summary",
    "published_cells",
    "synthetic_page_plan",
    "trial_configs",
    "PUBLISHED_SYNTHETIC_LR",
    "SyntheticConfig",
    "compare_published",
    "figure_2_2_runs",
    "figure_3_8_runs",
    "labelled_runs",
    "method_label",
    "cluster_frame",
    "figure_2_2_frame",
    "plot_clusters",
    "plot_error_curves",
    "plot_figure_2_2",
    "plot_figure_3_8",
    "table_2_2",
    "table_3_8",
    "synthetic_data",
    "synthetic_run",
    "run_synthetic",
    "select_synthetic_lr",
]

#: Sample sizes of each experiment's one data draw: (n_pool, n_spurious) (spec 6).
EXPERIMENT_DATA: dict[str, tuple[int, int]] = {"n": (512, 12), "d": (256, 25), "adaptive": (256, 22)}
#: The thesis' learning rate for every method on this problem (NB2 cell 5).
PUBLISHED_SYNTHETIC_LR = 0.5
#: The test set size of every experiment.
N_TEST = 4000
#: The methods of Fig. 3.8, as (credit, optimizer).
METHODS: tuple[tuple[str, str], ...] = (("backprop", "sgd"), ("dfa", "sgd"), ("dfa", "rmsprop"),
                                       ("backprop", "rmsprop"))


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """One training run on the clusters.

    Attributes
    ----------
    experiment : ``"n"``, ``"d"`` or ``"adaptive"`` -- which data draw (:data:`EXPERIMENT_DATA`)
    n : training points (the first ``n`` of the draw);  d : columns kept (constant included)
    credit : ``"backprop"`` or ``"dfa"``;  optimizer : ``"sgd"`` or ``"rmsprop"`` (thesis form)
    lr : learning rate;  train_first : False = output layer only (the lazy baseline)
    num_epochs : full-batch steps (thesis 500);  n_hidden : width (512)
    seed : network (and B) initialization;  data_seed : the experiment's data draw
    n_test : test points;  eval_every : also record the test error every this many steps (0 = end
        only)
    validation : hold out the last ``n_val`` training points and report the error on them instead
        of the test set (learning-rate selection)
    n_val : size of that validation split
    """

    experiment: str = "n"
    n: int = 256
    d: int = 15
    credit: str = "backprop"
    optimizer: str = "sgd"
    lr: float = 0.5
    train_first: bool = True
    num_epochs: int = 500
    n_hidden: int = 512
    seed: int = 0
    data_seed: int = 0
    n_test: int = N_TEST
    eval_every: int = 0
    validation: bool = False
    n_val: int = 64

    def __post_init__(self) -> None:
        if self.experiment not in EXPERIMENT_DATA:
            raise ValueError(f"unknown experiment {self.experiment!r}; valid: "
                             f"{', '.join(EXPERIMENT_DATA)}")
        n_pool, n_spur = EXPERIMENT_DATA[self.experiment]
        if not (isinstance(self.n, int) and 1 <= self.n <= n_pool):
            raise ValueError(f"n must be an int in 1..{n_pool} for experiment {self.experiment!r}, "
                             f"got {self.n!r}")
        if not (isinstance(self.d, int) and 3 <= self.d <= 3 + n_spur):
            raise ValueError(f"d must be an int in 3..{3 + n_spur} for experiment "
                             f"{self.experiment!r}, got {self.d!r}")
        if self.credit not in ("backprop", "dfa"):
            raise ValueError(f"credit must be 'backprop' or 'dfa', got {self.credit!r}")
        if self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"optimizer must be 'sgd' or 'rmsprop', got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.validation and not 1 <= self.n_val < self.n:
            raise ValueError(f"n_val must lie in 1..n-1 = 1..{self.n - 1} for a validation run, "
                             f"got {self.n_val}")
        for name in ("num_epochs", "n_hidden", "seed", "data_seed", "n_test", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "n_test" else 0):
                raise ValueError(f"SyntheticConfig.{name} must be a non-negative int, got {v!r}")

    def replace(self, **changes: Any) -> SyntheticConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def synthetic_data(config: SyntheticConfig):
    """The experiment's one data draw, sliced to ``config.n`` points and ``config.d`` columns.

    Draw order from ``default_rng(data_seed)``: the training pool (``n_pool`` points with all
    spurious columns), then the test set, so the same ``data_seed`` gives the same points for every
    n, d and method (nested subsets as in the thesis).

    Returns
    -------
    X_train (n, d), y_train (n,), X_eval, y_eval -- the eval pair is the test set, or the last
    ``n_val`` training points when ``config.validation`` (then the training pair loses them).
    """
    from ..data import make_chizat_bach_clusters

    n_pool, n_spur = EXPERIMENT_DATA[config.experiment]
    rng = np.random.default_rng(np.random.SeedSequence([config.data_seed, n_pool, n_spur]))
    X, y = make_chizat_bach_clusters(n_pool, 3 + n_spur, rng)
    Xte, yte = make_chizat_bach_clusters(config.n_test, 3 + n_spur, rng)
    X, y = X[:config.n, :config.d], y[:config.n]
    if config.validation:
        cut = config.n - config.n_val
        return X[:cut], y[:cut], X[cut:], y[cut:]
    return X, y, Xte[:, :config.d], yte


def _error(net, X, y) -> float:
    return float(np.mean(net.predict(X) != y))


@register_experiment("dfa_synthetic", SyntheticConfig,
                     "one full-batch run on Chizat-Bach clusters: final train and test error")
@one_blas_thread
def synthetic_run(config: SyntheticConfig) -> pd.DataFrame:
    """Train one network with full-batch steps and report its errors.

    Returns
    -------
    DataFrame, one row per recorded step (``eval_every``) and always the last:
    ``step``, ``train_error`` (after the step), ``test_error`` (validation error for a validation
    run), ``test_loss``, ``eval_set``.
    """
    from ..engine import Network
    from ..nn import MLP

    X, y, Xe, ye = synthetic_data(config)
    rng = np.random.default_rng(config.seed)
    mlp = MLP.create([config.d, config.n_hidden, 1], ["relu", "sigmoid"], init="pytorch", bias=False,
                     rng=rng, dtype=np.float64)
    params = ({"beta": 0.9, "eps": 1e-8, "bias_correction": False, "eps_placement": "inside"}
              if config.optimizer == "rmsprop" else {})
    net = Network(mlp, credit=config.credit, loss="bce", lr=config.lr, optimizer=config.optimizer,
                  optimizer_params=params, trainable=[config.train_first, True], rng=rng)
    rows = []
    eval_set = "validation" if config.validation else "test"

    def record(step: int) -> None:
        ev = net.evaluate(Xe, ye)
        rows.append({"step": step, "train_error": _error(net, X, y), "test_error": 1.0 - ev.accuracy,
                     "test_loss": ev.loss, "eval_set": eval_set})

    def callback(_net, epoch: int, _loss: float) -> None:
        if config.eval_every and (epoch + 1) % config.eval_every == 0 and epoch + 1 < config.num_epochs:
            record(epoch + 1)

    # One BLAS thread: these matmuls are small, and threads only add synchronisation (4x slower).
    with threadpool_limits(1):
        net.fit(X, y, num_epochs=config.num_epochs, batch_size=X.shape[0], shuffle=False,
                callback=callback, backend="reference")
        record(config.num_epochs)
    return pd.DataFrame(rows)


def run_synthetic(configs: Sequence[SyntheticConfig], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """Run (or fetch from ``store``) every config; the final row of each, config columns attached."""
    from ..sweep import run_sweep

    frame = run_sweep(synthetic_run, list(configs), n_jobs=n_jobs, store=store, name="dfa_synthetic",
                      backend="loky" if n_jobs != 1 else "sequential")
    last = frame.groupby(["experiment", "n", "d", "credit", "optimizer", "lr", "train_first",
                          "seed", "validation"], sort=False)["step"].transform("max")
    return frame[frame["step"] == last].reset_index(drop=True)


def trial_configs(base: SyntheticConfig, grid: Sequence[float], seeds: Sequence[int]) -> list[SyntheticConfig]:
    """The validation runs of :func:`select_synthetic_lr`: ``base`` at every rate of ``grid`` and
    seed of ``seeds``, on the validation split."""
    return [base.replace(lr=float(g), seed=int(s), validation=True) for g in grid for s in seeds]


def select_synthetic_lr(base: SyntheticConfig, grid: Sequence[float], seeds: Sequence[int] = (0,),
                        store=None) -> tuple[float, pd.DataFrame]:
    """Choose a learning rate on a validation split carved from the training sample.

    Score: mean validation error over ``seeds`` (lower is better), ties broken by the mean
    validation BCE, then by the smaller rate. The test set is never looked at.

    Returns
    -------
    best_lr : float;  scores : DataFrame with ``lr``, ``val_error``, ``val_loss``
    """
    grid = [float(g) for g in grid]
    if not grid:
        raise ValueError("select_synthetic_lr needs a non-empty grid of learning rates")
    frame = run_synthetic(trial_configs(base, grid, seeds), store)
    scores = (frame.groupby("lr", sort=True)
              .agg(val_error=("test_error", "mean"), val_loss=("test_loss", "mean")).reset_index())
    scores["val_loss"] = scores["val_loss"].fillna(np.inf)
    best = scores.sort_values(["val_error", "val_loss", "lr"]).iloc[0]
    return float(best["lr"]), scores


# --------------------------------------------------------------------------------------------------
# tables and figures for the page
# --------------------------------------------------------------------------------------------------


def method_label(credit: str, optimizer: str, train_first: bool = True) -> str:
    """``"BP SGD"``, ``"DFA RMSProp"``, ... or ``"output layer only"``."""
    if not train_first:
        return "output layer only"
    return f"{'BP' if credit == 'backprop' else 'DFA'} {'SGD' if optimizer == 'sgd' else 'RMSProp'}"


def compare_published(frame: pd.DataFrame, table: str, x: str, column: str = "final test error",
                      value: str = "test_error") -> pd.DataFrame:
    """Mean over seeds of ``value`` per (method, x), next to the thesis' number and the difference.

    ``frame`` holds the final rows of :func:`run_synthetic` plus a ``method`` column.
    """
    from .dfa_parity import published_table

    pub = published_table()
    pub = pub[(pub["table"] == table) & (pub["column"] == column)]
    out = (frame.groupby(["method", x], sort=False)
           .agg(lr=("lr", "first"), seeds=("seed", "nunique"), mean=(value, "mean"),
                sd=(value, "std")).reset_index())
    other = "d" if x == "n" else "n"
    fixed = {"n": 256, "d": 15}[other]
    published = []
    for method, v in zip(out["method"], out[x]):
        if table == "Fig. 2.2":
            tag = "both layers" if method == "BP SGD" else method
            row = f"n={v}|d={fixed}|SGD|{tag}" if x == "n" else f"d={v}|n={fixed}|SGD|{tag}"
        else:
            cred, opt = method.split(" ")
            row = f"d={v}|n=256|{opt}|{cred}"
        match = pub[pub["row"] == row]
        published.append(float(match["published"].iloc[0]) if len(match) else np.nan)
    out["published"] = published
    out["difference"] = out["mean"] - out["published"]
    return out


def cluster_frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The points :func:`plot_clusters` draws: the two informative coordinates (``x1``, ``x2``) and
    the label ``y`` of ``n`` cluster samples drawn with ``seed``."""
    from ..data import make_chizat_bach_clusters

    X, y = make_chizat_bach_clusters(n, 3, np.random.default_rng(seed))
    return pd.DataFrame({"x1": X[:, 1], "x2": X[:, 2], "y": np.asarray(y).astype(int)})


def plot_clusters(n: int = 1000, seed: int = 0):
    """The first two informative coordinates of the clusters, coloured by label (Fig. 2.2 left;
    the points of :func:`cluster_frame`)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    points = cluster_frame(n, seed)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    pal = sns.color_palette("colorblind", 2)
    for label in (0, 1):
        sel = points[points["y"] == label]
        ax.scatter(sel["x1"], sel["x2"], s=5, color=pal[label], label=f"y = {label}")
    ax.set(xlabel="x1 (informative coordinate)", ylabel="x2 (informative coordinate)",
           aspect="equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def plot_error_curves(frame: pd.DataFrame, x: str, panels: Sequence[tuple[str, str]],
                      hue_order: Sequence[str] | None = None, style: str | None = None):
    """Point plots of the errors against ``x`` with a 95% bootstrap interval over seeds.

    ``panels``: (value column, y-axis label) per panel.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.0), squeeze=False)
    hue_order = list(hue_order or frame["method"].unique())
    for i, (ax, (value, ylabel)) in enumerate(zip(axes[0], panels)):
        sns.lineplot(data=frame, x=x, y=value, hue="method", hue_order=hue_order, style=style,
                     palette="colorblind", marker="o", errorbar=("ci", 95), n_boot=1000, seed=0,
                     ax=ax, legend=i == len(panels) - 1)
        ax.set(xlabel={"n": "training points n", "d": "input dimension d (incl. constant)"}[x],
               ylabel=ylabel)
    leg = axes[0][-1].get_legend()
    if leg is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def labelled_runs(configs: Sequence[SyntheticConfig], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """:func:`run_synthetic` with a ``method`` column (:func:`method_label`)."""
    frame = run_synthetic(configs, store, n_jobs=n_jobs)
    frame["method"] = [method_label(c, o, t) for c, o, t in
                       zip(frame["credit"], frame["optimizer"], frame["train_first"])]
    return frame


def _figure_common(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings every run of the page's figures shares: its steps, test set and data draw, at
    the thesis' lr 0.5."""
    return dict(num_epochs=int(params["num_epochs"]), n_test=int(params["n_test"]),
                data_seed=int(params["data_seed"]), lr=PUBLISHED_SYNTHETIC_LR)


def figure_2_2_runs(params: Mapping[str, Any], store=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs of thesis Fig. 2.2 (middle and right) for the page's ``params``: BP + SGD at lr 0.5
    training both layers or the output layer only, on the n curve (``n_values``, d = 15) and the
    d curve (``d_values``, n = 256), every seed of ``seeds``. Returns the final rows of each,
    ``method`` ``"both layers"`` or ``"output layer only"``."""
    common = _figure_common(params)
    cfg_n = [SyntheticConfig(experiment="n", n=int(n), d=15, train_first=tf, seed=int(s), **common)
             for n in params["n_values"] for tf in (True, False) for s in params["seeds"]]
    cfg_d = [SyntheticConfig(experiment="d", n=256, d=int(d), train_first=tf, seed=int(s), **common)
             for d in params["d_values"] for tf in (True, False) for s in params["seeds"]]
    res_n, res_d = labelled_runs(cfg_n, store), labelled_runs(cfg_d, store)
    res_n["method"] = res_n["method"].replace({"BP SGD": "both layers"})
    res_d["method"] = res_d["method"].replace({"BP SGD": "both layers"})
    return res_n, res_d


def figure_2_2_frame(res_n: pd.DataFrame, res_d: pd.DataFrame) -> pd.DataFrame:
    """The runs :func:`plot_figure_2_2` draws: those of the n curve and of the d curve stacked,
    with a ``curve`` column (``"n"`` or ``"d"``)."""
    return pd.concat([res_n.assign(curve="n"), res_d.assign(curve="d")])


def plot_figure_2_2(res_n: pd.DataFrame, res_d: pd.DataFrame):
    """Thesis Fig. 2.2, middle and right (:func:`figure_2_2_runs`): test error against n (d = 15)
    and against d (n = 256), both layers against the output layer only, 95 % bootstrap band over
    seeds. Figure 2 of ``book/dfa/synthetic.ipynb``; artifact ``dfa-figure-2-2``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    both = figure_2_2_frame(res_n, res_d)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (curve, x, label) in zip(axes, [("n", "n", "training points n (d = 15)"),
                                             ("d", "d", "input dimension d, constant included (n = 256)")]):
        sns.lineplot(data=both[both["curve"] == curve], x=x, y="test_error", hue="method",
                     hue_order=["both layers", "output layer only"], marker="o", errorbar=("ci", 95),
                     n_boot=1000, seed=0, ax=ax, legend=curve == "d")
        ax.set(xlabel=label, ylabel="test error (fraction)")
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def table_2_2(res_n: pd.DataFrame, res_d: pd.DataFrame) -> pd.DataFrame:
    """Thesis Fig. 2.2's cells: final test error per (method, n) and (method, d), mean and sd over
    seeds, next to the thesis' stored means (:func:`compare_published`). Table 1 of the page;
    artifact ``dfa-figure-2-2-table``."""
    t2 = pd.concat([compare_published(res_n.replace({"method": {"both layers": "BP SGD"}}), "Fig. 2.2", "n"),
                    compare_published(res_d.replace({"method": {"both layers": "BP SGD"}}), "Fig. 2.2", "d")])
    t2["method"] = t2["method"].replace({"BP SGD": "both layers"})
    t2 = t2[["method", "n", "d", "lr", "seeds", "mean", "sd", "published", "difference"]]
    for col in ("n", "d"):
        t2[col] = [("" if pd.isna(v) else str(int(v))) for v in t2[col]]
    return t2


#: Order of the methods of Fig. 3.8 (:data:`METHODS`) in its legend.
FIG_3_8_ORDER = tuple(method_label(c, o) for c, o in METHODS)


def figure_3_8_runs(params: Mapping[str, Any], store=None) -> pd.DataFrame:
    """The runs of thesis Fig. 3.8 for the page's ``params``: BP and DFA with SGD and RMSProp at
    lr 0.5 on the adaptive experiment's draw (n = 256), every d of ``d_values`` and seed of
    ``seeds``; final rows with ``method``."""
    common = _figure_common(params)
    return labelled_runs([SyntheticConfig(experiment="adaptive", n=256, d=int(d), credit=c, optimizer=o,
                                          seed=int(s), **common)
                          for d in params["d_values"] for c, o in METHODS for s in params["seeds"]], store)


def plot_figure_3_8(res_a: pd.DataFrame):
    """Thesis Fig. 3.8, middle and right (:func:`figure_3_8_runs`): test and training error against
    d for BP and DFA with SGD and RMSProp. Figure 3 of ``book/dfa/synthetic.ipynb``; artifact
    ``dfa-figure-3-8``."""
    return plot_error_curves(res_a, "d", [("test_error", "test error (fraction)"),
                                          ("train_error", "training error (fraction)")], FIG_3_8_ORDER)


def table_3_8(res_a: pd.DataFrame) -> pd.DataFrame:
    """Thesis Fig. 3.8's cells: final test error per (method, d), mean and sd over seeds, next to
    the thesis' stored means, and the final training error next to the thesis'. Table 2 of the
    page; artifact ``dfa-figure-3-8-table``."""
    t3 = compare_published(res_a, "Fig. 3.8", "d")
    t3_train = compare_published(res_a, "Fig. 3.8", "d", column="final train error", value="train_error")
    t3["train error"] = t3_train["mean"].to_numpy()
    t3["published train error"] = t3_train["published"].to_numpy()
    return t3[["method", "d", "lr", "seeds", "mean", "sd", "published", "difference", "train error",
               "published train error"]]


# --------------------------------------------------------------------------------------------------
# reproduction ledger (learning_rules.report)
# --------------------------------------------------------------------------------------------------

NOTEBOOK = "book/dfa/synthetic.ipynb"
REPRODUCES = {"sources": ["dfa_thesis"], "chapter": NOTEBOOK,
              "description": "Demirbilek (2021) Figs. 2.2 and 3.8: synthetic-cluster test errors"}


@dataclasses.dataclass(frozen=True)
class PublishedCell:
    """One number of Figs. 2.2/3.8: its ledger key, the run result it reads (``value``:
    ``"test_error"`` or ``"train_error"``) and the run that gives it, up to ``seed`` and
    ``data_seed``."""

    table: str
    row: str
    column: str
    value: str
    base: SyntheticConfig


def published_cells(params: Mapping[str, Any]) -> list[PublishedCell]:
    """Every cell of Figs. 2.2 and 3.8 the page's ``params`` regenerate, at the thesis' lr 0.5.

    Fig. 2.2 (SGD, both layers or the output layer only): the n curve at d = 15 and the d curve at
    n = 256; Fig. 3.8: BP/DFA x SGD/RMSProp on the d curve, final test and training error.
    """
    common = dict(num_epochs=int(params["num_epochs"]), n_test=int(params["n_test"]),
                  lr=PUBLISHED_SYNTHETIC_LR)
    cells = []
    for tf, tag in ((True, "both layers"), (False, "output layer only")):
        for n in params["n_values"]:
            cells.append(PublishedCell("Fig. 2.2", f"n={n}|d=15|SGD|{tag}", "final test error", "test_error",
                                       SyntheticConfig(experiment="n", n=int(n), d=15, train_first=tf, **common)))
        for d in params["d_values"]:
            cells.append(PublishedCell("Fig. 2.2", f"d={d}|n=256|SGD|{tag}", "final test error", "test_error",
                                       SyntheticConfig(experiment="d", n=256, d=int(d), train_first=tf, **common)))
    for credit, opt in METHODS:
        cred, optname = method_label(credit, opt).split(" ")
        for d in params["d_values"]:
            base = SyntheticConfig(experiment="adaptive", n=256, d=int(d), credit=credit, optimizer=opt, **common)
            for column, value in (("final test error", "test_error"), ("final train error", "train_error")):
                cells.append(PublishedCell("Fig. 3.8", f"d={d}|n=256|{optname}|{cred}", column, value, base))
    return cells


def draw_configs(params: Mapping[str, Any]) -> list[SyntheticConfig]:
    """The runs of :func:`draw_summary`: every cell's run for every data draw (``draw_seeds``) and
    initialization (``seeds``), each once (a test and a train cell share their run)."""
    out = {c.base.replace(data_seed=int(k), seed=int(s)): None
           for c in published_cells(params) for k in params["draw_seeds"] for s in params["seeds"]}
    return list(out)


def draw_summary(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> pd.DataFrame:
    r"""Each published cell over many data draws: what the thesis' one unseeded draw could give.

    The thesis prints, per cell, the mean over three initializations on **one** draw of the data.
    Here every draw ``k`` of ``draw_seeds`` gives such a mean :math:`m_k` (over ``seeds``), and

    .. math::

        \bar m \pm t_{0.975,K-1}\, s_m/\sqrt K \;\text{(the protocol's mean)}, \qquad
        \bar m \pm t_{0.975,K-1}\, s_m \sqrt{1 + 1/K} \;\text{(where one draw's } m \text{ falls)}

    over the :math:`K` draws (:func:`learning_rules.analysis.stats.prediction_interval`).

    Returns
    -------
    DataFrame, one row per cell: ``table, row, column, draws, first_draw`` (the mean on the page's
    ``data_seed``, the draw of its figures), ``mean, low, high, draw_sd, draw_min, draw_max,
    pred_low, pred_high, published, within_tolerance, in_draw_range``.
    """
    from ..analysis.stats import prediction_interval
    from ..cells import in_single_run_range, mean_interval, tolerance

    draws = [int(k) for k in params["draw_seeds"]]
    seeds = [int(s) for s in params["seeds"]]
    if not draws or not seeds:
        raise ValueError("draw_summary needs at least one draw seed and one seed")
    configs = draw_configs(params)
    frame = run_synthetic(configs, store, n_jobs=n_jobs)
    at = dict(zip(configs, range(len(configs))))
    pub = _published_values()
    half = _published_half_units()
    rows = []
    for cell in published_cells(params):
        values = np.array([[frame[cell.value].iloc[at[cell.base.replace(data_seed=k, seed=s)]] for s in seeds]
                           for k in draws], dtype=float)
        m = values.mean(axis=1)
        mean, low, high = mean_interval(m)
        p = pub.get((cell.table, cell.row, cell.column), np.nan)
        pred = prediction_interval(m)
        rows.append({
            "table": cell.table, "row": cell.row, "column": cell.column, "draws": len(draws),
            "first_draw": float(m[draws.index(int(params["data_seed"]))])
            if int(params["data_seed"]) in draws else np.nan,
            "mean": mean, "low": low, "high": high,
            "draw_sd": float(m.std(ddof=1)) if len(m) > 1 else np.nan,
            "draw_min": float(m.min()), "draw_max": float(m.max()),
            "pred_low": pred[0], "pred_high": pred[1], "published": p,
            "within_tolerance": bool(abs(mean - p) <= tolerance("error", p)) if np.isfinite(p) else None,
            "in_draw_range": bool(in_single_run_range(p, half.get((cell.table, cell.row, cell.column), 0.0),
                                                      *pred))
            if np.isfinite(p) and np.isfinite(pred).all() else None,
        })
    return pd.DataFrame(rows)


def _published_values() -> dict[tuple[str, str, str], float]:
    from .dfa_parity import published_table

    pub = published_table()
    return {(t, r, c): float(v) for t, r, c, v in zip(pub["table"], pub["row"], pub["column"], pub["published"])}


def _published_half_units() -> dict[tuple[str, str, str], float]:
    """Half a unit of each published number's last printed decimal (the ledger's reading of it)."""
    from .dfa_parity import published_table

    pub = published_table()
    return {(t, r, c): float(h) for t, r, c, h in
            zip(pub["table"], pub["row"], pub["column"], pub["printed_half_unit"])}


def synthetic_page_plan(params: Mapping[str, Any], store) -> list:
    """The runs of the synthetic page for the build's precompute pool: the figures' runs at lr 0.5
    on the page's draw, every data draw of :func:`draw_summary` (and of :func:`draw_cells`), DFA
    with SGD's runs that also record the step before the last (:func:`before_last_configs`), the
    validation trials of the
    learning-rate table (stage 0) and, once they are stored, the reruns at the chosen rates."""
    from . import Task

    seeds = [int(s) for s in params["seeds"]]
    fixed = dict.fromkeys(c.base.replace(data_seed=int(params["data_seed"]), seed=s)
                          for c in published_cells(params) for s in seeds)
    fixed.update(dict.fromkeys(draw_configs(params)))
    fixed.update(dict.fromkeys(before_last_configs(params)))
    cost = lambda c: c.num_epochs * c.n / 256 + 1.0  # noqa: E731 - full-batch steps x points
    tasks = [Task("dfa_synthetic", c, cost(c)) for c in fixed]
    trials = [c for configs in _trial_groups(params).values() for c in configs]
    tasks += [Task("dfa_synthetic", c, cost(c), stage=0) for c in trials]
    if all(("dfa_synthetic", c) in store for c in trials):
        tasks += [Task("dfa_synthetic", c, cost(c)) for c in chosen_configs(params, store)]
    return tasks


def _trial_groups(params: Mapping[str, Any]) -> dict[tuple[str, str, int], list[SyntheticConfig]]:
    """(credit, optimizer, d) -> the validation runs of :func:`select_synthetic_lr` on the page."""
    out = {}
    for c, o in METHODS:
        grid = params["sgd_grid"] if o == "sgd" else params["rmsprop_grid"]
        for d in params["tune_d_values"]:
            out[(c, o, int(d))] = trial_configs(_tuning_base(params, c, o, int(d)), grid, params["seeds"][:1])
    return out


def _tuning_base(params: Mapping[str, Any], credit: str, optimizer: str, d: int) -> SyntheticConfig:
    return SyntheticConfig(experiment="adaptive", n=256, d=d, credit=credit, optimizer=optimizer,
                           num_epochs=int(params["num_epochs"]), n_test=int(params["n_test"]),
                           data_seed=int(params["data_seed"]), n_val=int(params["n_val"]))


def chosen_lrs(params: Mapping[str, Any], store=None) -> dict[tuple[str, str, int], tuple[float, pd.DataFrame]]:
    """(credit, optimizer, tuned d) -> (rate chosen on the validation split, its scores)."""
    out = {}
    for c, o in METHODS:
        grid = params["sgd_grid"] if o == "sgd" else params["rmsprop_grid"]
        for d in params["tune_d_values"]:
            out[(c, o, int(d))] = select_synthetic_lr(_tuning_base(params, c, o, int(d)), grid,
                                                      seeds=[params["seeds"][0]], store=store)
    return out


def chosen_configs(params: Mapping[str, Any], store=None) -> list[SyntheticConfig]:
    """The Fig. 3.8 runs at the rates chosen on validation, the nearest tuned d's rate for each d."""
    lrs = chosen_lrs(params, store)
    tuned = [int(t) for t in params["tune_d_values"]]
    out = []
    for d in params["d_values"]:
        near = min(tuned, key=lambda t: (abs(t - int(d)), t))
        for c, o in METHODS:
            out += [SyntheticConfig(experiment="adaptive", n=256, d=int(d), credit=c, optimizer=o, seed=int(s),
                                    num_epochs=int(params["num_epochs"]), n_test=int(params["n_test"]),
                                    data_seed=int(params["data_seed"]), lr=lrs[(c, o, near)][0])
                    for s in params["seeds"]]
    return out


def reproduced_cells(profile: str) -> pd.DataFrame:
    """Figs. 2.2 and 3.8 cells (test error; train error for Fig. 3.8) regenerated at lr 0.5 with
    ``profile``'s parameters of the synthetic page (through the store), over every data draw of
    the page (:func:`draw_summary`): the mean over draws, its 95 % interval, and the single-draw
    range the thesis' one draw is checked against (``within_seed_range``). DFA with SGD's
    training-error cells also carry the same mean measured before the last step, the thesis'
    reading (:func:`train_error_before_last`), as their ``alternative``."""
    from ..cells import record
    from ..profiles import page_parameters
    from ..store import NotStoredError, Store

    p = page_parameters(profile, NOTEBOOK)
    store = Store()
    summary = draw_summary(p, store)
    try:
        before = {(r.table, r.row, r.column): r.before
                  for r in train_error_before_last(p, store).itertuples(index=False)}
    except NotStoredError:  # a store from before these runs: the cells, without the alternative
        before = {}
    draws = [int(k) for k in p["draw_seeds"]]
    note = (f"mean over {len(draws)} data draws x initializations {list(p['seeds'])}; intervals over "
            "the draws' means; `seeds` lists the data draws")
    rows = []
    for r in summary.itertuples(index=False):
        ok = np.isfinite([r.low, r.high]).all()
        pred = (r.pred_low, r.pred_high) if np.isfinite([r.pred_low, r.pred_high]).all() else None
        alt = before.get((r.table, r.row, r.column))
        rows.append(record("dfa_thesis", r.table, r.row, r.column, r.mean, r.low if ok else None,
                           r.high if ok else None, profile=profile, seeds=draws, note=note,
                           single_run=pred,
                           alternative=None if alt is None else (BEFORE_LAST_PROTOCOL, alt)))
    return pd.DataFrame(rows)


def _register_planner() -> None:
    from . import register_planner

    register_planner(NOTEBOOK)(synthetic_page_plan)


_register_planner()


def _register_artifacts() -> None:
    from ..store import Store, atomic_write_text
    from . import register_artifact, save_book_figure

    @register_artifact("dfa-figure-2-2-clusters", "thesis Fig. 2.2 (left; also Fig. 3.8, left): "
                       "the two informative coordinates of 1000 cluster samples, coloured by label (PNG)",
                       notebook=NOTEBOOK)
    def make_clusters(params, out_path):
        return save_book_figure(plot_clusters, out_path)

    @register_artifact("dfa-figure-2-2", "thesis Fig. 2.2 (middle and right): test error against n "
                       "(d = 15) and d (n = 256), both layers vs the output layer only, SGD at lr 0.5 (PNG)",
                       notebook=NOTEBOOK)
    def make_figure_2_2(params, out_path):
        res_n, res_d = figure_2_2_runs(params, Store())
        return save_book_figure(lambda: plot_figure_2_2(res_n, res_d), out_path)

    @register_artifact("dfa-figure-2-2-table", "thesis Fig. 2.2: final test error per n and d next "
                       "to the thesis' stored means (CSV)", notebook=NOTEBOOK, suffix=".csv")
    def make_table_2_2(params, out_path):
        atomic_write_text(out_path, table_2_2(*figure_2_2_runs(params, Store())).to_csv(index=False))
        return out_path

    @register_artifact("dfa-figure-3-8", "thesis Fig. 3.8 (middle and right): test and training "
                       "error against d, BP and DFA with SGD and RMSProp at lr 0.5 (PNG)",
                       notebook=NOTEBOOK)
    def make_figure_3_8(params, out_path):
        res_a = figure_3_8_runs(params, Store())
        return save_book_figure(lambda: plot_figure_3_8(res_a), out_path)

    @register_artifact("dfa-figure-3-8-table", "thesis Fig. 3.8: final test and training error per "
                       "d next to the thesis' stored means (CSV)", notebook=NOTEBOOK, suffix=".csv")
    def make_table_3_8(params, out_path):
        atomic_write_text(out_path, table_3_8(figure_3_8_runs(params, Store())).to_csv(index=False))
        return out_path


_register_artifacts()


# --------------------------------------------------------------------------------------------------
# one data draw or many, cell by cell (the page's section "One data draw, or many")
# --------------------------------------------------------------------------------------------------

#: The methods whose Fig. 3.8 training error is not 0 in the thesis (DFA with SGD): the ones whose
#: training error is also measured before the last step (:func:`before_last_configs`).
BEFORE_LAST_METHODS: tuple[tuple[str, str], ...] = (("dfa", "sgd"),)
#: The protocol name of that measurement in the ledger (``cells.record(alternative=...)``).
BEFORE_LAST_PROTOCOL = "training error before the last step (the thesis' running accuracy, spec 6)"
#: The thesis' other run of one Fig. 3.8 cell: its repository's ``plots/syntheticData_adaptive.png``
#: predates the CSV the thesis printed (same code, another draw and initializations, test error
#: only) and reads about this for DFA with SGD at d = 25 (spec 8.6, read off the figure: two digits).
OLDER_PLOT = {("Fig. 3.8", "d=25|n=256|SGD|DFA", "final test error"): 0.255}


def mean_prediction_interval(x: Sequence[float], m: int, level: float = 0.95) -> tuple[float, float]:
    r"""Where the mean of ``m`` new runs of the protocol falls, from the runs ``x`` (normal model):

    .. math:: \bar x \pm t_{(1+\text{level})/2,\,n-1}\; s \sqrt{1/n + 1/m}

    ``m = 1`` is :func:`learning_rules.analysis.stats.prediction_interval`; ``(NaN, NaN)`` with
    fewer than two finite values. With ``x`` the seeds of one data draw and ``m`` the thesis' three
    initializations, it is the range the thesis' mean would have to lie in if only the network's
    initialization differed (the *network-seed range*).
    """
    from scipy import stats

    if int(m) < 1:
        raise ValueError(f"m must be a positive number of runs, got {m!r}")
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) * np.sqrt(1.0 / x.size + 1.0 / int(m))
    return float(x.mean() - half), float(x.mean() + half)


def draws_beyond(means: Sequence[float], published: float) -> int:
    """How many draw means lie at or beyond ``published``, on its side of their average: the
    empirical count behind the draw range (``0`` when ``published`` is NaN)."""
    x = np.asarray(means, dtype=np.float64)
    if not np.isfinite(published) or x.size == 0:
        return 0
    return int(np.sum(x <= published + 1e-12) if published <= x.mean() else np.sum(x >= published - 1e-12))


def _cell_values(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> tuple[list, dict, list[int], list[int]]:
    """Per published cell, the (draws x seeds) array of its final values over ``draw_seeds`` and
    ``seeds``, and the seeds' values on the page's own draw ``data_seed``."""
    draws = [int(k) for k in params["draw_seeds"]]
    seeds = [int(s) for s in params["seeds"]]
    own = int(params["data_seed"])
    cells = published_cells(params)
    configs = list(dict.fromkeys([*draw_configs(params)] + [c.base.replace(data_seed=own, seed=s)
                                                             for c in cells for s in seeds]))
    frame = run_synthetic(configs, store, n_jobs=n_jobs)
    at = dict(zip(configs, range(len(configs))))
    values = {}
    for cell in cells:
        col = frame[cell.value].to_numpy(dtype=float)
        grid = np.array([[col[at[cell.base.replace(data_seed=k, seed=s)]] for s in seeds] for k in draws])
        values[(cell.table, cell.row, cell.column)] = (grid, np.array([col[at[cell.base.replace(data_seed=own, seed=s)]]
                                                                       for s in seeds]))
    return cells, values, draws, seeds


def draw_cells(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> pd.DataFrame:
    r"""Every published cell of Figs. 2.2 and 3.8 against three ranges of our protocol.

    The thesis printed the mean over three initializations on one unseeded data draw. Per cell,
    from the final values :math:`x_{ks}` on draw ``k`` of ``draw_seeds`` and initialization ``s``
    of ``seeds`` (``S`` of them):

    * **network-seed range**: where a mean of ``S`` initializations falls when only the
      initialization is redrawn, on the page's own draw ``data_seed``
      (:func:`mean_prediction_interval` of its ``S`` values);
    * **data-draw range**: where one draw's mean :math:`m_k = \bar x_{k\cdot}` falls when the draw
      is redrawn too (:func:`learning_rules.analysis.stats.prediction_interval` of the ``K``
      draw means: the ledger's single-run range of these cells);
    * **one-run range**: where a single run falls, draw and initialization both random
      (the prediction interval of all ``K S`` values, for a published single run).

    Returns
    -------
    DataFrame, one row per cell: ``table, row, column, published``; ``seed_mean, seed_low,
    seed_high`` (our page's draw, 95 % t-interval over seeds), ``seed_range_low/high``;
    ``draws, draw_mean, draw_low, draw_high`` (mean over draws and its 95 % interval),
    ``draw_sd`` (between-draw sd of the draw means), ``within_draw_sd`` (pooled sd over
    initializations within a draw), ``draw_range_low/high``, ``run_range_low/high``,
    ``beyond`` (:func:`draws_beyond`), ``in_seed_range``, ``in_draw_range``, ``in_run_range``
    (``None`` where a range is undefined or the cell unpublished).
    """
    from ..analysis.stats import prediction_interval
    from ..cells import in_single_run_range, mean_interval

    cells, values, draws, seeds = _cell_values(params, store, n_jobs)
    pub = _published_values()
    half = _published_half_units()

    rows = []
    for cell in cells:
        grid, own = values[(cell.table, cell.row, cell.column)]
        m = grid.mean(axis=1)
        p = pub.get((cell.table, cell.row, cell.column), np.nan)
        h = half.get((cell.table, cell.row, cell.column), 0.0)

        def inside(p, lo, hi, h=h):  # the ledger's reading: the number as printed meets the range
            return bool(in_single_run_range(p, h, lo, hi)) if np.isfinite([p, lo, hi]).all() else None

        s_mean, s_low, s_high = mean_interval(own)
        seed_range = mean_prediction_interval(own, len(seeds))
        d_mean, d_low, d_high = mean_interval(m)
        draw_range = prediction_interval(m)
        run_range = prediction_interval(grid.ravel())
        rows.append({
            "table": cell.table, "row": cell.row, "column": cell.column, "published": p,
            "seed_mean": s_mean, "seed_low": s_low, "seed_high": s_high,
            "seed_range_low": seed_range[0], "seed_range_high": seed_range[1],
            "draws": len(draws), "draw_mean": d_mean, "draw_low": d_low, "draw_high": d_high,
            "draw_sd": float(m.std(ddof=1)) if m.size > 1 else np.nan,
            "within_draw_sd": float(np.sqrt(grid.var(axis=1, ddof=1).mean())) if len(seeds) > 1 else np.nan,
            "draw_range_low": draw_range[0], "draw_range_high": draw_range[1],
            "run_range_low": run_range[0], "run_range_high": run_range[1],
            "beyond": draws_beyond(m, p),
            "in_seed_range": inside(p, *seed_range), "in_draw_range": inside(p, *draw_range),
            "in_run_range": inside(p, *run_range),
        })
    return pd.DataFrame(rows)


def draw_means_frame(params: Mapping[str, Any], store=None, table: str = "Fig. 3.8",
                     rows: Sequence[str] | None = None) -> pd.DataFrame:
    """The draw means :func:`plot_draw_means` draws: one row per (cell, draw) of ``table`` (and
    ``rows`` when given) with ``table, row, column, d, n, draw, mean`` (over ``seeds``) and the
    cell's ``published`` value."""
    cells, values, draws, _ = _cell_values(params, store)
    pub = _published_values()
    out = []
    for cell in cells:
        if cell.table != table or (rows is not None and cell.row not in rows):
            continue
        grid, _ = values[(cell.table, cell.row, cell.column)]
        for k, m in zip(draws, grid.mean(axis=1)):
            out.append({"table": cell.table, "row": cell.row, "column": cell.column, "d": cell.base.d,
                        "n": cell.base.n, "draw": k, "mean": float(m),
                        "published": pub.get((cell.table, cell.row, cell.column), np.nan)})
    return pd.DataFrame(out)


def plot_draw_means(frame: pd.DataFrame, x: str = "d"):
    """One panel per column (test error, training error) of :func:`draw_means_frame`: each data
    draw's mean over initializations as a dot per ``x``, the thesis' value as a black cross."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    columns = list(dict.fromkeys(frame["column"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(5.4 * len(columns), 4.0), squeeze=False)
    for ax, column in zip(axes[0], columns):
        part = frame[frame["column"] == column]
        order = sorted(part[x].unique())
        sns.stripplot(data=part, x=x, y="mean", order=order, color=sns.color_palette("colorblind")[0],
                      size=4, jitter=0.15, alpha=0.7, ax=ax, label="one data draw (mean over seeds)")
        pub = part.groupby(x)["published"].first().reindex(order)
        ax.scatter(range(len(order)), pub.to_numpy(), marker="X", s=80, color="black", zorder=5,
                   label="thesis (its one draw)")
        ax.set(xlabel={"d": "input dimension d (incl. constant)", "n": "training points n"}[x],
               ylabel=f"{column} (fraction)")
        if ax.get_legend() is not None:  # seaborn draws one per panel, an entry per category
            ax.get_legend().remove()
    handles, labels = axes[0][-1].get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    axes[0][-1].legend(keep.values(), keep.keys(), loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def before_last_configs(params: Mapping[str, Any]) -> list[SyntheticConfig]:
    """The Fig. 3.8 runs of :data:`BEFORE_LAST_METHODS` on every draw and initialization, also
    recording the errors after ``num_epochs - 1`` steps (``eval_every``): the training error the
    thesis printed, its last epoch's accuracy measured before that epoch's update (spec 6)."""
    steps = int(params["num_epochs"])
    if steps < 2:
        return []
    out = {c.base.replace(data_seed=int(k), seed=int(s), eval_every=steps - 1): None
           for c in published_cells(params) if c.table == "Fig. 3.8" and c.value == "train_error"
           and (c.base.credit, c.base.optimizer) in BEFORE_LAST_METHODS
           for k in params["draw_seeds"] for s in params["seeds"]}
    return list(out)


def train_error_before_last(params: Mapping[str, Any], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """The training error of :data:`BEFORE_LAST_METHODS` after ``num_epochs - 1`` steps (the
    thesis' reading) and after all of them (ours), mean over draws x initializations.

    Returns one row per Fig. 3.8 training-error cell of those methods: ``table, row, column,
    published, runs, after, before, shift`` (the mean paired difference before - after, in
    fraction of the training set), ``max_shift`` (the largest of a run), ``within_tolerance`` (of
    ``before``). Empty when the page runs fewer than two steps.
    """
    from ..cells import tolerance
    from ..sweep import run_sweep

    configs = before_last_configs(params)
    if not configs:
        return pd.DataFrame(columns=["table", "row", "column", "published", "runs", "after", "before",
                                     "shift", "max_shift", "within_tolerance"])
    steps = int(params["num_epochs"])
    frame = run_sweep(synthetic_run, configs, n_jobs=n_jobs, store=store, name="dfa_synthetic",
                      backend="loky" if n_jobs != 1 else "sequential")
    frame = frame.assign(run=np.repeat(np.arange(len(configs)), 2))
    before = frame[frame["step"] == steps - 1].set_index("run")["train_error"]
    after = frame[frame["step"] == steps].set_index("run")["train_error"]
    pub = _published_values()
    rows = []
    for credit, optimizer in BEFORE_LAST_METHODS:
        cred, optname = method_label(credit, optimizer).split(" ")
        for d in params["d_values"]:
            runs = [i for i, c in enumerate(configs) if (c.credit, c.optimizer, c.d) == (credit, optimizer, int(d))]
            b, a = before.loc[runs].to_numpy(float), after.loc[runs].to_numpy(float)
            key = ("Fig. 3.8", f"d={d}|n=256|{optname}|{cred}", "final train error")
            p = pub.get(key, np.nan)
            rows.append({"table": key[0], "row": key[1], "column": key[2], "published": p, "runs": len(runs),
                         "after": float(a.mean()), "before": float(b.mean()), "shift": float(np.mean(b - a)),
                         "max_shift": float(np.max(np.abs(b - a))),
                         "within_tolerance": bool(abs(b.mean() - p) <= tolerance("train error", p) + 1e-12)
                         if np.isfinite(p) else None})
    return pd.DataFrame(rows)
