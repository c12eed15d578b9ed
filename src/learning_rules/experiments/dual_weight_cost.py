r"""What the dual-weight rule costs: training and inference time against GD (Wang 2025, sec. 3).

The paper: "While our method introduces a slight increase in computational cost during training due
to the separate updates of :math:`W_1` and :math:`W_2`, the overall computational complexity remains
equivalent to the traditional method in terms of Big-O notation. Moreover, once training is
completed, we can directly compute and store :math:`W = W_1 - W_2`, ensuring that the computational
cost during the inference phase is identical to that of the conventional approach."

:func:`measure_cost` times, on one machine and in one run, the chapter's four single-sample
methods (:data:`COST_METHODS`: GD, GD + decoupled L2, dual weight, dual weight stabilized; the
corrected protocol's networks, :func:`.dual_weight.build_network`) on the paper's networks with the
chapter's data (:data:`COST_NETS`), through the engine's compiled single-sample path
(``Network.fit_steps(backend="fast")``), and their inference: the forward pass over the whole test
set with the weights the method infers with (:func:`inference_weights`: ``W1 - W2`` computed from
the halves for the dual rules, inside the timed region). A width scan (784-h-10 on MNIST,
:data:`COST_WIDTHS`) shows how the per-step time grows with the number of weights.

Methodology: every method's timed call starts from a copy of the same fresh network; the methods
alternate inside each repeat and the best repeat counts (a busy machine slows all of them alike);
the compiled kernels are loaded and the caches warmed before timing (a short warm-up call per
network and method). Times are the process's CPU time (``time.process_time``), not wall time, so
that other processes on a loaded machine stretch them less, with one BLAS thread (the build
workers' setting). They are this machine's and vary from run to run; nothing here is stored or
asserted by a test (CONTRIBUTING: speed is measured in ``benchmarks/``;
``benchmarks/bench_dual_weight_cost.py`` runs this).

Verdicts (:func:`cost_verdicts`), with the bounds stated before measuring:

* **slightly more training cost**: the ratio dual / GD of µs per step lies in
  :data:`TRAINING_RATIO_BOUNDS` (more than GD, at most twice) on every network of the paper;
* **identical inference**: the ratio dual / GD of the test-set forward pass lies within
  :math:`1 \pm` :data:`INFERENCE_TOLERANCE` on every network of the paper.

"Same big-O" is a statement about operation counts, not a timing. Per step and layer, in the
compiled loops (``fast/_kernels.py``): GD's update touches the weights of the non-zero inputs only
(``nnz(h_{l-1}) n_l``); dual weight moves, for every neuron with ``g_j != 0``, the whole row of one
half (``n_{l-1}`` entries: every weight of a moving row decays by ``1 - a``, zero inputs included),
and its forward and backward passes read both halves; decoupled L2 rescales every weight. All are
at most a few passes over the ``P`` weights, :math:`O(P)`. The timings measure the constant; the
width scan shows how it changes with the network's size on sparse inputs (MNIST), whose zeros GD's
update skips and the other two cannot.

Explained in: book/dual-weight/beyond.ipynb (section 5).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .dual_weight import DATASETS, architecture, build_network, he_normal_init, prepare

__all__ = [
    "COST_LABELS",
    "COST_METHODS",
    "COST_NETS",
    "COST_WIDTHS",
    "INFERENCE_TOLERANCE",
    "TRAINING_RATIO_BOUNDS",
    "cost_ratios",
    "cost_table",
    "cost_verdicts",
    "inference_weights",
    "measure_cost",
    "plot_cost",
    "time_inference",
    "time_training",
]

#: The methods timed (the chapter's names) and how the page calls them.
COST_METHODS: tuple[str, ...] = ("GD", "L2 0.01", "our", "our+stab")
COST_LABELS = {"GD": "GD", "L2 0.01": "GD + L2", "our": "dual weight", "our+stab": "dual weight stabilized"}
#: The paper's networks, each on its dataset: (dataset, layers).
COST_NETS: tuple[tuple[str, int], ...] = (("mnist", 2), ("mnist", 3), ("house", 2), ("house", 3),
                                          ("wine", 2), ("wine", 3))
#: Hidden widths of the scan 784-h-10 on MNIST (the big-O check).
COST_WIDTHS: tuple[int, ...] = (64, 256, 1024)
#: "Slightly more training cost": dual / GD of the per-step time in this closed range.
TRAINING_RATIO_BOUNDS = (1.0, 2.0)
#: "Identical inference": dual / GD of the test-set forward pass within 1 +- this.
INFERENCE_TOLERANCE = 0.10
_DUAL = ("our", "our+stab")


def inference_weights(net) -> list[np.ndarray]:
    """The weight matrices a trained network infers with: ``W1 - W2`` per layer for the dual rules
    (computed from the halves, paper eq. 12), the weights themselves otherwise."""
    states = getattr(net, "layer_states", None) or []
    if states and all(isinstance(s, dict) and "W1" in s for s in states):
        return [s["W1"] - s["W2"] for s in states]
    return list(net.mlp.weights)


def time_training(nets: dict, X: np.ndarray, y: np.ndarray, order: np.ndarray, repeats: int = 3) -> dict:
    """CPU µs per single-sample step of each network in ``nets`` (label -> fresh ``Network``) over
    ``order``, through the compiled path; each call trains a copy of the fresh network, the labels
    alternate inside each repeat and the best of ``repeats`` counts."""
    best = {k: float("inf") for k in nets}
    for _ in range(max(1, repeats)):
        for label, net in nets.items():
            trial = copy.deepcopy(net)
            with np.errstate(all="ignore"):
                t0 = time.process_time()
                trial.fit_steps(X, y, order, backend="fast")
                best[label] = min(best[label], time.process_time() - t0)
    return {k: v / len(order) * 1e6 for k, v in best.items()}


def time_inference(nets: dict, X: np.ndarray, repeats: int = 3, min_block_s: float = 0.02) -> dict:
    """CPU µs per test sample of the forward pass over ``X`` with each network's
    :func:`inference_weights` (their computation included; weights cast to ``X``'s dtype as the
    chapter's scoring does). A first round warms the caches and sizes the timed block: each block
    repeats the pass (``W1 - W2`` included) until it lasts about ``min_block_s`` (a pass over a
    small test set takes a fraction of a millisecond, too short to time alone); the labels
    alternate, best of ``repeats`` blocks."""
    from ..fast import forward_logits

    def one(net):
        W = [w.astype(X.dtype, copy=False) for w in inference_weights(net)]
        b = [None if v is None else v.astype(X.dtype, copy=False) for v in net.mlp.biases]
        forward_logits(W, b, net.mlp.activations, X)

    first = {}
    for label, net in nets.items():
        t0 = time.process_time()
        one(net)
        first[label] = time.process_time() - t0
    loops = max(1, int(np.ceil(min_block_s / max(max(first.values()), 1e-6))))
    best = {k: float("inf") for k in nets}
    for _ in range(max(1, repeats)):
        for label, net in nets.items():
            t0 = time.process_time()
            for _ in range(loops):
                one(net)
            best[label] = min(best[label], (time.process_time() - t0) / loops)
    return {k: v / X.shape[0] * 1e6 for k, v in best.items()}


def _nets(dataset: str, sizes: Sequence[int], methods: Sequence[str], seed: int) -> dict:
    task = DATASETS.lookup(dataset).task
    W = he_normal_init(list(sizes), np.random.default_rng([seed, len(sizes), sizes[1]]))
    return {m: build_network(m, "corrected", list(sizes), task, 1e-3, W, rng=np.random.default_rng(seed))
            for m in methods}


def measure_cost(nets: Sequence[tuple[str, int]] = COST_NETS, widths: Sequence[int] = COST_WIDTHS,
                 steps: int = 20_000, width_steps: int | None = None, repeats: int = 3,
                 infer_repeats: int = 10, methods: Sequence[str] = COST_METHODS, n: int = 500, seed: int = 0,
                 log=None) -> pd.DataFrame:
    """Time every method on every network: the paper's ``nets`` (``(dataset, layers)``) and the
    width scan 784-h-10 on MNIST for each ``widths``.

    Training: ``steps`` single-sample steps (``width_steps`` on the scan, default ``steps``) of the
    corrected protocol's order over a pool of ``n`` samples, best of ``repeats``. Inference: the
    whole test set with the networks after ``min(steps, 2000)`` steps, best of ``infer_repeats``.

    Returns one row per (network, method): ``group`` ("paper" or "width scan"), ``dataset, net,
    weights`` (number of weights), ``method, label, train_us`` (µs per step), ``infer_us`` (µs per
    test sample), ``steps, n_test``.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _measure(nets, widths, steps, width_steps, repeats, infer_repeats, tuple(methods), n, seed, log)


def _measure(nets, widths, steps, width_steps, repeats, infer_repeats, methods, n, seed, log) -> pd.DataFrame:
    jobs = [("paper", ds, L, None) for ds, L in nets] + [("width scan", "mnist", 2, int(h)) for h in widths]
    rows, data = [], {}
    for group, ds, L, h in jobs:
        if ds not in data:
            data[ds] = prepare("corrected", ds, n, seed, max(steps, width_steps or steps), ("GD",))
        prep = data[ds]
        sizes = architecture(ds, L, prep.X_pool.shape[1])
        if h is not None:
            sizes = [sizes[0], h, sizes[-1]]
        k = steps if group == "paper" else (width_steps or steps)
        order = prep.orders["GD"][:k]
        fresh = _nets(ds, sizes, methods, seed)
        time_training(fresh, prep.X_pool, prep.y_pool, order[:2], repeats=1)  # load the kernels
        train = time_training(fresh, prep.X_pool, prep.y_pool, order, repeats)
        trained = {}
        for m, net in fresh.items():  # inference times trained networks (W1, W2 no longer W_init, 0)
            trained[m] = copy.deepcopy(net)
            with np.errstate(all="ignore"):
                trained[m].fit_steps(prep.X_pool, prep.y_pool, order[: min(k, 2000)], backend="fast")
        infer = time_inference(trained, prep.X_test, infer_repeats)
        name = "-".join(map(str, sizes))
        n_weights = int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))
        for m in methods:
            rows.append((group, ds, name, n_weights, m, COST_LABELS.get(m, m), train[m], infer[m], k,
                         prep.X_test.shape[0]))
        if log is not None:
            log(f"{name:>14s} ({ds}): " + ", ".join(f"{COST_LABELS.get(m, m)} {train[m]:.2f}" for m in methods)
                + " us/step")
    return pd.DataFrame(rows, columns=["group", "dataset", "net", "weights", "method", "label", "train_us",
                                       "infer_us", "steps", "n_test"])


def cost_ratios(frame: pd.DataFrame, baseline: str = "GD") -> pd.DataFrame:
    """Per (group, dataset, net) and method: ``train_ratio`` and ``infer_ratio``, the method's time
    over ``baseline``'s on the same network in the same run."""
    keys = ["group", "dataset", "net", "weights"]
    base = frame.loc[frame["method"] == baseline, [*keys, "train_us", "infer_us"]].rename(
        columns={"train_us": "train_us_base", "infer_us": "infer_us_base"})
    out = frame.merge(base, on=keys, how="left")
    out["train_ratio"] = out["train_us"] / out["train_us_base"]
    out["infer_ratio"] = out["infer_us"] / out["infer_us_base"]
    return out[[*keys, "method", "label", "train_us", "infer_us", "train_ratio", "infer_ratio"]]


def cost_verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """The verdicts on the paper's sentence, per dual rule (rules in the module docstring): columns
    ``claim, method, measured, bound, margin, verdict``. ``margin``: how far the measured ratios
    lie inside the bound (negative: outside by that much), in units of the ratio; a small margin
    can flip between runs and machines."""
    ratios = cost_ratios(frame)
    paper = ratios[ratios["group"] == "paper"]
    lo, hi = TRAINING_RATIO_BOUNDS
    rows = []
    for m in _DUAL:
        r = paper[paper["method"] == m]
        if r.empty:
            continue
        tr, inf = r["train_ratio"].to_numpy(float), r["infer_ratio"].to_numpy(float)
        margin = float(min(tr.min() - lo, hi - tr.max()))
        rows.append(("slightly more training cost", m, f"dual / GD per step {tr.min():.2f}-{tr.max():.2f}x",
                     f"within [{lo:g}, {hi:g}] on every net", margin,
                     "holds" if margin >= 0 else "does not hold"))
        margin = float(INFERENCE_TOLERANCE - np.max(np.abs(inf - 1)))
        rows.append(("identical inference", m, f"dual / GD forward {inf.min():.2f}-{inf.max():.2f}x",
                     f"within 1 +- {INFERENCE_TOLERANCE:g} on every net", margin,
                     "holds" if margin >= 0 else "does not hold"))
    return pd.DataFrame(rows, columns=["claim", "method", "measured", "bound", "margin", "verdict"])


def plot_cost(frame: pd.DataFrame):
    """Three panels against the number of weights (log axis), one colour per method: CPU µs per
    training step (log-log), the training time as a multiple of GD's with the band
    :data:`TRAINING_RATIO_BOUNDS`, and the inference time as a multiple of GD's with the band
    ``1 +- INFERENCE_TOLERANCE``. Circles: the paper's networks; squares joined by a line: the
    width scan."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ratios = cost_ratios(frame)
    methods = list(dict.fromkeys(frame["method"]))
    pal = dict(zip(methods, sns.color_palette("colorblind", max(4, len(methods)))))
    markers = {"paper": "o", "width scan": "s"}
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 3.4))
    lo, hi = TRAINING_RATIO_BOUNDS
    axes[1].axhspan(lo, hi, color="0.9", lw=0)
    axes[2].axhspan(1 - INFERENCE_TOLERANCE, 1 + INFERENCE_TOLERANCE, color="0.9", lw=0)
    panels = ((axes[0], "train_us", "training (CPU µs per step)"),
              (axes[1], "train_ratio", "training time / GD's"),
              (axes[2], "infer_ratio", "inference time / GD's"))
    for ax, col, ylabel in panels:
        for m in methods:
            for group, g in ratios[ratios["method"] == m].groupby("group", sort=False):
                g = g.sort_values("weights")
                ax.plot(g["weights"], g[col], marker=markers.get(group, "o"), ms=4,
                        ls="-" if group == "width scan" else "none", color=pal[m],
                        label=COST_LABELS.get(m, m) if group == "paper" else None)
        ax.set_xscale("log")
        ax.set_xlabel("number of weights")
        ax.set_ylabel(ylabel)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7, frameon=False)
    axes[1].set_title(f"grey: the bound [{lo:g}, {hi:g}]", fontsize=8)
    axes[2].set_title(f"grey: 1 +- {INFERENCE_TOLERANCE:g}", fontsize=8)
    fig.tight_layout()
    return fig


def cost_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`cost_ratios` one row per network: GD's µs per step and per test sample, and every other
    method's training and inference time as a multiple of GD's (same run)."""
    r = cost_ratios(frame)
    rows = []
    for (group, ds, net, w), g in r.groupby(["group", "dataset", "net", "weights"], sort=False):
        g = g.set_index("method")
        row = {"group": group, "net": net, "data": ds, "weights": int(w),
               "GD us/step": float(g.loc["GD", "train_us"]) if "GD" in g.index else np.nan,
               "GD us/test sample": float(g.loc["GD", "infer_us"]) if "GD" in g.index else np.nan}
        for m in g.index:
            if m != "GD":
                row[f"{COST_LABELS.get(m, m)} training x"] = float(g.loc[m, "train_ratio"])
        for m in g.index:
            if m != "GD":
                row[f"{COST_LABELS.get(m, m)} inference x"] = float(g.loc[m, "infer_ratio"])
        rows.append(row)
    return pd.DataFrame(rows)
