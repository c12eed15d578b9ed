r"""The dual-weight paper's claims about the rule's range, as computed verdicts (Wang 2025, secs. 3.4, 4.1, 5.1).

The paper argues three things it never measures:

1. **Bounded weights** (sec. 3.4, "Prevention of gradient explosion"): "By computing W_1 and W_2 as
   weighted averages of input vectors, their values are inherently constrained within the range of
   the input data X";
2. **no gradient explosion** (same paragraph): "This limitation on the range of W = W_1 - W_2
   prevents the weights from growing excessively large, thereby reducing the risk of gradient
   explosion during training";
3. **targets must be scaled** (same paragraph and sec. 4.1): "the outputs of the network are limited
   to a finite range. Hence, the method requires the appropriate scaling for the training values of
   the outputs"; "the method may not function properly if the target y values in regression tasks
   exceed this limit. To address this, we applied a scaling factor by multiplying the normalized y
   values by 0.1" (and sec. 5.1: "large target values must be scaled down").

One run (:func:`run_bounds_cell`, experiment ``dual_weight_bounds_cell``) trains, on one corrected
cell (dataset, depth, n, seed), GD, L2 0.01 (decoupled, eq. 19), the dual rule and the stabilized
dual rule from the corrected cell's own initial weights, pool and sample order (as
:func:`.dual_weight.run_cell` and :func:`.dual_weight_l2.run_l2_cell` build them), every step
through an instrumented copy of the reference step (:func:`traced_step`: the same calls as
``Network._step``, so the same numbers bit for bit, plus reads of the teaching signals, the layer
inputs and each layer's weights before and after its update). On a regression set it trains the
dual rule and GD again with the z-scored targets multiplied by each other factor of
``target_scales`` instead of the paper's 0.1 (1 = the normalized targets left unscaled). It records,
every ``probe_every`` steps and per layer, the weight range and the maxima of the steps in between
(:func:`trace_training`), and the test metric at the chapter's evaluation points (every
``eval_every`` steps).

Definitions, fixed before the runs
----------------------------------
* **Effective step** (:func:`effective_step`) of layer :math:`l` at step :math:`t`: the largest
  rate any neuron's row moves with, :math:`a_{t,l} = \max_j \max(a^{(1)}_{tj}, a^{(2)}_{tj})`; for
  the dual rule :math:`a^{(1)} = \eta\max(-g, 0)`, :math:`a^{(2)} = \eta\max(g, 0)`, so
  :math:`a_{t,l} = \eta\max_j|g_{tj}|`; for the stabilizer its own rates (appendix B). For GD and
  L2 the same :math:`\eta\max_j|g_{tj}|` is recorded (the step the dual rule would take on that
  signal; no verdict uses it).
* **Input range** of layer :math:`l` up to step :math:`t` (:func:`input_range`):
  :math:`M_l(t) = \max_{s < t}\max_k |h_{l-1,k}(s)|` over the inputs the layer was updated with
  (layer 1: the training samples drawn so far; deeper layers: the ReLU activations below).
* **Bound** (:func:`half_bound`, :func:`weight_bound`): while every step has :math:`a \le 1`, a row
  moved by :math:`w \leftarrow (1-a)\,w + a\,x` stays entry by entry between its old value and the
  input, so by induction

  .. math:: \max|W_{1,l}(t)| \le B_{1,l}(t) = \max\bigl(\max|W_{1,l}(0)|, M_l(t)\bigr),\quad
            \max|W_{2,l}(t)| \le B_{2,l}(t) = \max\bigl(\max|W_{2,l}(0)|, M_l(t)\bigr),

  and :math:`\max|W_l| \le B_{1,l} + B_{2,l} \le 2\max(\max|W_l(0)|, M_l)` (the code starts
  :math:`W_1 = W_{\text{init}}`, :math:`W_2 = 0`). With :math:`a > 1` the factor :math:`1 - a` is
  negative, the row overshoots past the input and the argument fails.
* **Bound ratio** (:func:`bound_ratio`): :math:`\max(\max|W_1| / B_1, \max|W_2| / B_2)` at each probe
  (every ``probe_every`` steps and at the end; between probes the induction above covers every
  step whose :math:`a \le 1`, which is checked at every step). **Bounded weights verdict**
  (:func:`bound_verdict`), per layer kind (layer 1: the data's range; hidden layers: the range of the
  activations below): "holds" when every dual-rule run (both dual methods, every cell, seed and
  target scale) whose steps all had :math:`a \le 1` keeps its ratio :math:`\le 1 + `
  :data:`BOUND_TOLERANCE` at every probe; "does not hold" when one such run exceeds it; "undecided"
  without such a run. Runs with some :math:`a > 1` are counted apart. GD's contrast, reported and not
  judged: its growth :math:`\max|W_l(T)| / \max|W_l(0)|`.
* **Per-step change** (:func:`step_change_bound`): the dual rule moves one half of a row by
  :math:`a_j (x - w)`, so :math:`\max|\Delta W_l| \le a_{t,l}\,(M_l + \max(B_{1,l}, B_{2,l}))`;
  GD moves it by :math:`\eta g_j x`, :math:`\max|\Delta W_l| \le a_{t,l} M_l`. The same signal moves
  a dual row *at least as far* as a GD row; what differs is that the dual row cannot accumulate.
* **Teaching-signal norm**: :math:`\lVert \delta_l(t) \rVert_2` over the layer's neurons (the
  per-sample gradient of :math:`W_l` is :math:`\delta_l h_{l-1}^\top`). Per evaluation block (the
  ``eval_every`` steps between two evaluation points) its maximum; the **signal growth** of a run is
  the largest block maximum after the first divided by the first (:func:`signal_growth`).
* **Exploded run** (:func:`exploded`): its weights or its loss became non-finite (training stops
  there), or its signal growth in some layer is at least :data:`EXPLOSION_GROWTH`. **No-explosion
  verdict** (:func:`explosion_verdict`): "does not hold" when a dual-rule run whose steps all had
  :math:`a \le 1` exploded; otherwise "holds" when some GD run exploded whose plain dual run (same
  cell, seed and target scale) did not: the rule prevented an explosion GD had; "not shown" when no
  GD run exploded (there was nothing to prevent).
* **Relative test loss** (regression, :func:`relative_loss`): the test loss divided by the loss of
  predicting the pool's mean target, both in the run's own target units (scale-free: 1 = the
  input-free predictor). **Failed run** (:func:`failed`): diverged, or relative loss
  :math:`\ge` :data:`FAIL_RELATIVE_LOSS` (not better than the mean predictor by 5 %, the L2
  section's band).
* **Target-scale status** (:func:`target_scale_status`) of a method at a target factor
  :math:`s \ne 0.1` on a (dataset, layers, n): "fails" when every seed fails at :math:`s` and
  trains at 0.1; "fails at 0.1 too" when it fails at both; "mixed" when some seeds fail at
  :math:`s`; "worse" when no seed fails and the paired difference over seeds of the relative loss,
  :math:`r(s) - r(0.1)`, has its 95 % interval above 0; "not worse" when no seed fails and the
  interval reaches 0 or below; "trains" (one seed, no interval). **Targets-must-be-scaled verdict**
  (:func:`target_scale_verdict`), from the dual rule at :math:`s = 1` (the normalized targets
  without the paper's factor 0.1): "holds" when every cell fails; "holds in part" when every cell
  fails or is worse and one is worse; "does not hold" when every cell is not worse; "undecided"
  when a cell only "trains" (one seed) and none fails; "mixed" otherwise. The larger factors and
  GD's statuses are reported next to it (does the rule need scaled targets *more than GD* does?).

Cost (CPU time measured on this project's 2-core machine while another build ran, one BLAS
thread): the instrumented reference step takes about 80-140 us per single-sample step on the 2-layer
regression nets and 150-280 us on MNIST's 784-20-10 (the compiled loop of the chapter's cells takes
a few us, but it shows no single step's signals). A 2-layer cell of 60,000 steps costs about 40 s
(wine and house: the four methods plus the dual rule and GD at factors 1 and 10; the runs at 100
diverge within a few thousand steps), a 3-layer cell about 70 s (MNIST about 90 s). The quick
profile (wine, house, MNIST; 2 layers; seeds 0 and 1: six cells) is about 250 s of CPU, about
2 minutes on 2 cores; the paper profile (2 and 3 layers, seeds 0-2: 18 cells) about 1,050 s, about
9 minutes on 2 cores; the smoke profile a few seconds.

The runs reuse :mod:`.dual_weight`'s functions and change none of them (their stored results keep
their keys).

Explained in: book/dual-weight/beyond.ipynb (section 6); the argument in words:
book/dual-weight/derivation.ipynb (step 2).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..training import Batch, parameters_finite, run_epoch
from ..updates.dual_weight import DualWeightStabilizedUpdate, DualWeightUpdate
from . import Task, one_blas_thread, register_experiment
from .dual_weight import (BLOCK, DATASETS, METHOD_LABELS, CellConfig, _cell_rng, _score, _sweep, architecture,
                          build_network, dataset_status, he_normal_init, method_colors, metric_of, prepare)
from .dual_weight_l2 import majority_rate, mean_predictor_loss

__all__ = [
    "BOUND_METHODS",
    "BOUND_TOLERANCE",
    "DUAL_METHODS",
    "EXPLOSION_GROWTH",
    "FAIL_RELATIVE_LOSS",
    "PAPER_TARGET_SCALE",
    "SCALE_METHODS",
    "TARGET_SCALES",
    "VERDICTS",
    "BoundsConfig",
    "bound_ratio",
    "bound_table",
    "bound_verdict",
    "bounds_configs",
    "bounds_frame",
    "bounds_tasks",
    "claims_table",
    "effective_step",
    "explosion_verdict",
    "exploded",
    "failed",
    "half_bound",
    "input_range",
    "plot_target_scales",
    "plot_weight_bounds",
    "relative_loss",
    "run_bounds_cell",
    "run_bounds_sweep",
    "run_summary",
    "scale_frame",
    "scale_table",
    "signal_growth",
    "step_change_bound",
    "target_scale_status",
    "target_scale_verdict",
    "trace_training",
    "traced_step",
    "weight_bound",
]

#: The methods of a cell at the paper's target scale.
BOUND_METHODS: tuple[str, ...] = ("GD", "L2 0.01", "our", "our+stab")
#: The dual-weight rules (the bound is theirs).
DUAL_METHODS: tuple[str, ...] = ("our", "our+stab")
#: The methods trained again at the other target factors.
SCALE_METHODS: tuple[str, ...] = ("our", "GD")
#: The factor the paper multiplies the z-scored regression targets by.
PAPER_TARGET_SCALE = 0.1
#: The target factors of a regression cell (1 = the normalized targets, unscaled).
TARGET_SCALES: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
#: A probe's bound ratio may exceed 1 by this much (rounding of the moving averages).
BOUND_TOLERANCE = 1e-9
#: A run exploded when a layer's largest teaching-signal norm in an evaluation block reached this
#: multiple of the first block's.
EXPLOSION_GROWTH = 100.0
#: A regression run failed at this relative test loss or above (or when it diverged).
FAIL_RELATIVE_LOSS = 0.95
#: The verdicts of the three claims.
VERDICTS = ("holds", "holds in part", "does not hold", "not shown", "mixed", "undecided")

_CELL = ["dataset", "layers", "n"]
_RUN = ["dataset", "layers", "n", "seed", "method", "target_scale"]


# ----------------------------------------------------------------------------------- definitions


def effective_step(rule, state: Mapping[str, Any], delta: np.ndarray) -> float:
    r"""The largest rate a row of the layer moves with at this step (read before the update: the
    stabilizer's :math:`G` changes in it).

    .. math:: a_{t,l} = \max_j \max\bigl(a^{(1)}_{tj}, a^{(2)}_{tj}\bigr), \qquad
              \text{dual rule: } a^{(1)} = \eta\max(-g, 0),\ a^{(2)} = \eta\max(g, 0)

    (the stabilizer: :math:`\eta\min(1, 0.1\,|g_j| / G_j)`; with ``clip`` each rate capped at 1).
    For a gradient rule: :math:`\eta \max_j |g_{tj}|`, the plain dual rule's step on that signal.

    Parameters
    ----------
    rule : the layer's weight update (``Network.rule``)
    state : its layer state (``Network.layer_states[l - 1]``)
    delta : ndarray, shape (batch, n_l), the teaching signals :math:`g = \partial E / \partial z_l`
    """
    if not delta.size:
        return 0.0
    if isinstance(rule, DualWeightStabilizedUpdate):
        a1, a2 = rule.rates(state, delta)
        a = max(float(a1.max()), float(a2.max()))
    else:  # the plain rule's max(eta max(-g, 0), eta max(g, 0)) is eta max|g|
        a = float(rule.lr * np.abs(delta).max())
    return min(a, 1.0) if isinstance(rule, DualWeightUpdate) and rule.clip else a


def input_range(previous: float, h_prev: np.ndarray) -> float:
    r"""The running input range of a layer, updated with this step's input.

    .. math:: M_l(t + 1) = \max\bigl(M_l(t), \max_k |h_{l-1,k}(t)|\bigr), \qquad M_l(0) = 0

    Parameters
    ----------
    previous : float, :math:`M_l(t)`
    h_prev : ndarray, shape (batch, n_{l-1}), the layer's input at step :math:`t`
    """
    return max(float(previous), float(np.abs(h_prev).max())) if h_prev.size else float(previous)


def half_bound(init_max: float, input_max: float) -> float:
    r"""The bound on one half while every step has :math:`a \le 1`:

    .. math:: B_{i,l}(t) = \max\bigl(\max|W_{i,l}(0)|,\ M_l(t)\bigr), \qquad i = 1, 2

    Parameters
    ----------
    init_max : float, :math:`\max|W_{i,l}(0)|` (``W2`` starts at 0 in the code)
    input_max : float, :math:`M_l(t)` (:func:`input_range`)
    """
    return float(max(init_max, input_max))


def weight_bound(init1_max: float, init2_max: float, input_max: float) -> float:
    r"""The bound on :math:`W = W_1 - W_2`, :math:`\max|W_l| \le B_{1,l} + B_{2,l}`
    (:func:`half_bound`), at most :math:`2 \max(\max|W_l(0)|, M_l)` when :math:`W_2(0) = 0`."""
    return half_bound(init1_max, input_max) + half_bound(init2_max, input_max)


def bound_ratio(w1_max: float, w2_max: float, init1_max: float, init2_max: float, input_max: float) -> float:
    r"""How close the halves are to their bounds (:func:`half_bound`): at most 1 while every step
    had :math:`a \le 1`.

    .. math:: \rho = \max\Bigl(\frac{\max|W_1|}{B_1}, \frac{\max|W_2|}{B_2}\Bigr)

    (a half whose bound is 0 counts 0 when it is 0 and infinity otherwise; NaN inputs give NaN).
    """
    vals = [w1_max, w2_max, init1_max, init2_max, input_max]
    if not all(np.isfinite(v) for v in vals):
        return float("nan")
    out = 0.0
    for w, b in ((w1_max, half_bound(init1_max, input_max)), (w2_max, half_bound(init2_max, input_max))):
        out = max(out, (w / b) if b > 0 else (0.0 if w == 0 else float("inf")))
    return float(out)


def step_change_bound(a_max: float, input_max: float, half_max: float, dual: bool) -> float:
    r"""The largest entry a single step can change, from the rule:

    .. math:: \text{dual: } \max|\Delta W_l| \le a_{t,l}\,\bigl(M_l + \max(B_{1,l}, B_{2,l})\bigr),
              \qquad \text{GD: } \max|\Delta W_l| \le a_{t,l}\, M_l

    Parameters
    ----------
    a_max : float, :math:`a_{t,l}` (:func:`effective_step`)
    input_max : float, :math:`M_l`
    half_max : float, :math:`\max(B_{1,l}, B_{2,l})` (the halves' larger bound; unused for GD)
    dual : bool, the dual rule (else GD without a penalty)
    """
    return float(a_max * (input_max + half_max)) if dual else float(a_max * input_max)


def relative_loss(value: float, baseline: float) -> float:
    r"""Test loss relative to the mean predictor's, in the run's own target units (scale-free):

    .. math:: r = \frac{\frac1m\sum_i (\hat y_i - y_i)^2}{\frac1m\sum_i (\bar y_{\text{pool}} - y_i)^2}

    NaN when the run diverged (``value`` not finite)."""
    if not (np.isfinite(value) and np.isfinite(baseline)) or baseline <= 0:
        return float("nan")
    return float(value / baseline)


def failed(value: float, baseline: float) -> bool:
    """A failed regression run: diverged (NaN test loss) or relative loss (:func:`relative_loss`)
    at least :data:`FAIL_RELATIVE_LOSS`."""
    r = relative_loss(value, baseline)
    return bool(not np.isfinite(r) or r >= FAIL_RELATIVE_LOSS)


def signal_growth(block_maxima: Sequence[float]) -> float:
    r"""How much a layer's teaching signals grew: the largest per-block maximum after the first
    block divided by the first block's,

    .. math:: \max_{b \ge 2} \max_{t \in b} \lVert\delta_l(t)\rVert \,\Big/\, \max_{t \in 1} \lVert\delta_l(t)\rVert

    Infinite when a later block is not finite, NaN with fewer than two blocks or a first block of 0.
    """
    v = np.asarray(block_maxima, dtype=np.float64)
    if v.size < 2 or not np.isfinite(v[0]) or v[0] <= 0:
        return float("nan")
    later = v[1:]
    if not np.all(np.isfinite(later)):
        return float("inf")
    return float(later.max() / v[0])


def exploded(diverged: bool, growth: Sequence[float]) -> bool:
    """An exploded run: it diverged (non-finite weights or loss), or some layer's signal growth
    (:func:`signal_growth`) is at least :data:`EXPLOSION_GROWTH`."""
    g = np.asarray(growth, dtype=np.float64)
    return bool(diverged or np.any(g[~np.isnan(g)] >= EXPLOSION_GROWTH))


# ------------------------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class BoundsConfig:
    """One corrected cell (dataset, depth, n, seed): ``methods`` at the paper's target scale and,
    on a regression set, ``scale_methods`` at every other factor of ``target_scales``."""

    dataset: str = "house"
    layers: int = 2
    n: int = 500
    seed: int = 0
    steps: int = 60_000
    eval_every: int = BLOCK
    probe_every: int = 100
    lr: float = 1e-3
    methods: tuple[str, ...] = BOUND_METHODS
    target_scales: tuple[float, ...] = TARGET_SCALES
    scale_methods: tuple[str, ...] = SCALE_METHODS

    def __post_init__(self) -> None:
        spec = DATASETS.lookup(self.dataset)
        architecture(self.dataset, self.layers, 1)  # 2 or 3 layers, the paper's two networks
        self.cell()  # the methods are the chapter's
        if self.steps < 1 or self.eval_every < 1 or self.probe_every < 1:
            raise ValueError("steps, eval_every and probe_every must be >= 1")
        if self.eval_every % self.probe_every:
            raise ValueError(f"eval_every ({self.eval_every}) must be a multiple of probe_every "
                             f"({self.probe_every}): every evaluation point is a probe")
        scales = tuple(float(s) for s in self.target_scales)
        if list(scales) != sorted(set(scales)) or any(not s > 0 for s in scales):
            raise ValueError(f"target_scales must be distinct positive values in increasing order, got "
                             f"{self.target_scales}")
        if PAPER_TARGET_SCALE not in scales:
            raise ValueError(f"target_scales must contain the paper's {PAPER_TARGET_SCALE}")
        if spec.task == "classification" and scales != (PAPER_TARGET_SCALE,):
            raise ValueError(f"{self.dataset} has class labels: target_scales must be ({PAPER_TARGET_SCALE},)")
        for m in self.scale_methods:
            if m not in self.methods:
                raise ValueError(f"scale method {m!r} is not one of the cell's methods {self.methods}")
        if self.n < 2:
            raise ValueError(f"n (training samples) must be >= 2, got {self.n}")

    def cell(self) -> CellConfig:
        """The corrected cell whose pool, order and initial weights every run trains from."""
        return CellConfig("corrected", self.dataset, self.layers, self.n, self.seed, self.steps,
                          self.eval_every, self.lr, tuple(self.methods))


class _Window:
    """What :func:`traced_step` gathers per layer between two probes, and since the start."""

    def __init__(self, n_layers: int) -> None:
        self.input_max = [0.0] * n_layers  # M_l, since the start
        self.reset()

    def reset(self) -> None:
        L = len(self.input_max)
        self.a_max = [0.0] * L
        self.a_over_1 = [0] * L
        self.change_max = [0.0] * L
        self.signal_max = [0.0] * L
        self.steps = 0


def traced_step(net, window: _Window):
    r"""``step(batch) -> (loss, z_L)`` for :func:`learning_rules.training.run_epoch`: the reference
    step (``Network._step``: forward pass, output error, every teaching signal from the pre-update
    weights, then each layer's update, the same calls in the same order, so the same numbers bit for
    bit) that also records into ``window``, per layer :math:`l`, the effective step
    :math:`a_{t,l}` (:func:`effective_step`) and whether it exceeded 1, the largest weight change
    :math:`\max|W_l(t+1) - W_l(t)|`, the teaching-signal norm :math:`\lVert\delta_l\rVert_2` and the
    input range :math:`M_l` (:func:`input_range`)."""
    from ..nn.mlp import forward

    mlp, rule = net.mlp, net.rule

    def step(batch: Batch):
        cache = forward(mlp.weights, mlp.biases, mlp.acts, batch.X)
        z_L, f_L = cache.z[-1], mlp.acts[-1]
        value = net.loss.value(z_L, batch.Y, f_L)
        e = net.loss.output_error(z_L, batch.Y, f_L)
        deltas = net.credit.deltas(mlp, cache, e, net.credit_state)
        for i, state in enumerate(net.layer_states):
            if state is None:
                continue
            W, delta, h = mlp.weights[i], deltas[i], cache.h[i]
            a = effective_step(rule, state, delta)
            before = W.copy()
            rule.apply(state, W, mlp.biases[i], delta, h)
            change = float(np.abs(W - before).max())
            norm = math.sqrt(float(np.vdot(delta, delta)))
            window.a_max[i] = max(window.a_max[i], a) if math.isfinite(a) else math.nan
            window.a_over_1[i] += not a <= 1.0
            window.change_max[i] = max(window.change_max[i], change) if math.isfinite(change) else math.nan
            window.signal_max[i] = max(window.signal_max[i], norm) if math.isfinite(norm) else math.nan
            window.input_max[i] = input_range(window.input_max[i], h)
        window.steps += 1
        net.steps_done += 1
        return value, z_L

    return step


def _weight_ranges(net) -> list[tuple[float, float, float]]:
    """Per layer ``(max|W|, max|W1|, max|W2|)`` (NaN halves for a gradient rule)."""
    out = []
    with np.errstate(all="ignore"):
        for W, state in zip(net.mlp.weights, net.layer_states):
            halves = (np.nan, np.nan)
            if state is not None and "W1" in state:
                halves = (float(np.max(np.abs(state["W1"]))), float(np.max(np.abs(state["W2"]))))
            out.append((float(np.max(np.abs(W))), *halves))
    return out


def trace_training(net, X_pool: np.ndarray, y_pool: np.ndarray, order: np.ndarray, X_test: np.ndarray,
                   y_test: np.ndarray, task: str, eval_every: int, probe_every: int) -> pd.DataFrame:
    """Train ``net`` one sample at a time on ``X_pool[order]`` through :func:`traced_step` and
    :func:`learning_rules.training.run_epoch` (stopping, as the chapter's runs do, once the loss and
    the weights are no longer finite).

    One row per (probe, layer): the probes are step 0, every ``probe_every`` steps and the last.
    Columns ``layer`` (1-based), ``step``, ``w_max``, ``w1_max``, ``w2_max`` (the weights and the
    halves at the probe), ``init1_max``, ``init2_max`` (the halves at step 0; for a gradient rule
    ``max|W(0)|`` and 0), ``input_max`` (:math:`M_l` at the probe), the window's maxima since the
    previous probe ``a_max``, ``a_over_1`` (steps with :math:`a > 1`), ``change_max``,
    ``signal_max``, ``window_steps``; ``test_value`` (the chapter's test metric at the evaluation
    points, step 0 and every ``eval_every`` steps and the last; NaN elsewhere); ``diverged_at`` (the
    step whose loss was not finite, NaN if none).
    """
    L = net.mlp.n_layers
    Xv, Yv = net._check_xy(X_pool, y_pool)
    window = _Window(L)
    step = traced_step(net, window)
    ranges = _weight_ranges(net)
    init1 = [r[1] if np.isfinite(r[1]) else r[0] for r in ranges]
    init2 = [r[2] if np.isfinite(r[2]) else 0.0 for r in ranges]
    rows: list[tuple] = []

    def probe(t: int, test: float, diverged_at: float) -> None:
        for i, (w, w1, w2) in enumerate(_weight_ranges(net)):
            stats = ((window.a_max[i], window.a_over_1[i], window.change_max[i], window.signal_max[i])
                     if window.steps else (np.nan, 0, np.nan, np.nan))
            rows.append((i + 1, t, w, w1, w2, init1[i], init2[i], window.input_max[i], *stats, window.steps,
                         test, diverged_at))

    probe(0, _score(net, X_test, y_test, task), np.nan)
    ends = sorted(set(range(probe_every, len(order), probe_every)) | {len(order)})
    start, diverged_at = 0, np.nan
    for end in ends:
        window.reset()
        idx = order[start:end]
        batches = (Batch(Xv[i:i + 1], Yv[i:i + 1]) for i in idx)
        with np.errstate(all="ignore"):  # a diverging run overflows on its way to inf (as the chapter's)
            stats = run_epoch(step, batches,
                              diverged=lambda loss: not np.isfinite(loss) and not parameters_finite(net))
        if stats.diverged:
            diverged_at = float(start + window.steps)
        evaluate = stats.diverged or end % eval_every == 0 or end == len(order)
        probe(end if not stats.diverged else int(diverged_at), _score(net, X_test, y_test, task) if evaluate
              else np.nan, diverged_at)
        if stats.diverged:
            break
        start = end
    return pd.DataFrame(rows, columns=["layer", "step", "w_max", "w1_max", "w2_max", "init1_max", "init2_max",
                                       "input_max", "a_max", "a_over_1", "change_max", "signal_max",
                                       "window_steps", "test_value", "diverged_at"])


@register_experiment("dual_weight_bounds_cell", BoundsConfig,
                     "Beyond Wang (2025): weight range, per-step change, teaching signals and target scale "
                     "of GD, L2 and the dual rules on one corrected cell", timing_columns=("cpu_s",))
@one_blas_thread
def run_bounds_cell(cfg: BoundsConfig) -> pd.DataFrame:
    """Every run of one bounds cell (:class:`BoundsConfig`): :func:`trace_training`'s rows with the
    columns ``method``, ``target_scale``, ``baseline`` (the input-free score in the run's target
    units: the mean predictor's loss x 1e4, or the majority rate), ``cpu_s`` (the run's training and
    test passes, timing only), ``metric``, ``n_test``."""
    spec = DATASETS.lookup(cfg.dataset)
    cell = cfg.cell()
    prep = prepare("corrected", cfg.dataset, cfg.n, cfg.seed, cfg.steps, cfg.methods)
    sizes = architecture(cfg.dataset, cfg.layers, prep.X_pool.shape[1])
    W_init = he_normal_init(sizes, _cell_rng(cell, 0))
    frames = []
    for scale in cfg.target_scales:
        factor = float(scale) / PAPER_TARGET_SCALE
        y_pool, y_test = prep.y_pool, prep.y_test
        if spec.task == "regression" and float(scale) != PAPER_TARGET_SCALE:
            y_pool, y_test = y_pool * factor, y_test * factor
        baseline = (mean_predictor_loss(y_pool, y_test) if spec.task == "regression"
                    else majority_rate(prep.y_pool, prep.y_test))
        methods = cfg.methods if float(scale) == PAPER_TARGET_SCALE else cfg.scale_methods
        for method in methods:
            started = time.process_time()
            net = build_network(method, "corrected", sizes, spec.task, cfg.lr, W_init, rng=_cell_rng(cell, 2))
            frame = trace_training(net, prep.X_pool, y_pool, prep.orders[method], prep.X_test, y_test, spec.task,
                                   cfg.eval_every, cfg.probe_every)
            frame.insert(0, "method", method)
            frame.insert(1, "target_scale", float(scale))
            frame["baseline"] = baseline
            frame["cpu_s"] = time.process_time() - started
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["metric"] = metric_of(cfg.dataset)
    out["n_test"] = prep.X_test.shape[0]
    return out


def run_bounds_sweep(configs: Sequence[BoundsConfig], n_jobs: int = 2) -> pd.DataFrame:
    """:func:`run_bounds_cell` over ``configs`` through the store (datasets must be present)."""
    return _sweep(run_bounds_cell, list(configs), n_jobs, "dual_weight_bounds_cell")


# ------------------------------------------------------------------------------- the page's plan


def bounds_configs(params: Mapping[str, Any], datasets: Sequence[str]) -> list[BoundsConfig]:
    """The beyond page's bounds cells: every (dataset, layers, seed) of its ``bounds_*`` parameters;
    the regression sets at every factor of ``bounds_scales``, the image sets at the paper's only."""
    scales = tuple(sorted({float(s) for s in params["bounds_scales"]} | {PAPER_TARGET_SCALE}))
    out = []
    for ds in datasets:
        reg = DATASETS.lookup(ds).task == "regression"
        for L in params["bounds_layers"]:
            for s in params["bounds_seeds"]:
                out.append(BoundsConfig(ds, int(L), int(params["bounds_n"]), int(s), int(params["bounds_steps"]),
                                        int(params["bounds_eval_every"]), int(params["bounds_probe_every"]),
                                        1e-3, BOUND_METHODS, scales if reg else (PAPER_TARGET_SCALE,)))
    return out


def _cost(cfg: BoundsConfig) -> float:
    """A cell's rough cost for longest-first scheduling (the unit of :func:`.dual_weight.cell_cost`):
    the instrumented reference step is about 20-40 times the compiled loop's."""
    image = DATASETS.lookup(cfg.dataset).task == "classification"
    runs = len(cfg.methods) + (len(cfg.target_scales) - 1) * len(cfg.scale_methods)
    return float(cfg.steps / 60_000 * runs * (8.0 if image else 4.0) * (1.6 if cfg.layers == 3 else 1.0) + 0.05)


def bounds_tasks(params: Mapping[str, Any]) -> list[Task]:
    """Every run the beyond page's bounds section asks for (its datasets on this machine)."""
    present = [d for d in params["bounds_datasets"] if dataset_status(d) is None]
    return [Task("dual_weight_bounds_cell", c, cost=_cost(c)) for c in bounds_configs(params, present)]


# -------------------------------------------------------------------------------------- summaries


def _blocks(g: pd.DataFrame, eval_every: int) -> np.ndarray:
    """Per evaluation block (``eval_every`` steps), the largest window signal maximum."""
    w = g[g["window_steps"] > 0]
    if w.empty:
        return np.zeros(0)
    block = (w["step"].to_numpy() - 1) // eval_every
    out = pd.Series(w["signal_max"].to_numpy()).groupby(block).max(min_count=1)  # NaN stays NaN
    return out.to_numpy(dtype=float)


def run_summary(frame: pd.DataFrame, eval_every: int | None = None) -> pd.DataFrame:
    """One row per (run, layer) of :func:`run_bounds_cell` frames (with the config's ``dataset,
    layers, n, seed`` columns; ``eval_every`` default: the config's column, else
    :data:`.dual_weight.BLOCK`).

    Columns: the run (``dataset, layers, n, seed, method, target_scale``), ``layer``, ``steps``
    (done), ``diverged``, ``w0`` (max|W(0)|), ``w_final``, ``w_peak`` (over the probes),
    ``growth`` (``w_final / w0``), ``input_max`` (:math:`M_l` at the end), ``bound``
    (:func:`weight_bound` at the end), ``ratio`` (the largest :func:`bound_ratio` over the probes
    after step 0, where it is 1 by definition; NaN for gradient rules), ``a_max``, ``a_over_1`` (steps), ``a_frac`` (their share of the steps),
    ``change_max``, ``change_bound_ratio`` (the largest window ``change_max`` over
    :func:`step_change_bound` of that window; GD and the dual rules), ``signal_first``,
    ``signal_growth`` (:func:`signal_growth`), ``value`` (the last test metric), ``baseline``,
    ``relative`` (:func:`relative_loss`, regression), ``failed`` (:func:`failed`, regression).
    """
    rows = []
    keys = [k for k in _RUN if k in frame.columns]
    for key, g in frame.groupby([*keys, "layer"], sort=False):
        g = g.sort_values("step")
        run = dict(zip([*keys, "layer"], key))
        every = int(eval_every if eval_every is not None else
                    (g["eval_every"].iloc[0] if "eval_every" in g else BLOCK))
        method = run["method"]
        dual = method in DUAL_METHODS
        first, last = g.iloc[0], g.iloc[-1]
        diverged = bool(np.isfinite(g["diverged_at"]).any())
        ratios = [bound_ratio(r.w1_max, r.w2_max, r.init1_max, r.init2_max, r.input_max)
                  for r in g[g["step"] > 0].itertuples(index=False)] if dual else []  # step 0: 1 by definition
        change_ratios = []
        if method in ("GD", *DUAL_METHODS):
            for r in g[g["window_steps"] > 0].itertuples(index=False):
                half = max(half_bound(r.init1_max, r.input_max), half_bound(r.init2_max, r.input_max))
                b = step_change_bound(r.a_max, r.input_max, half, dual)
                change_ratios.append(r.change_max / b if b > 0 else (0.0 if r.change_max == 0 else np.inf))
        blocks = _blocks(g, every)
        tests = g["test_value"].dropna()
        value = float(tests.iloc[-1]) if len(tests) and not diverged else float("nan")
        baseline = float(g["baseline"].iloc[0]) if "baseline" in g else float("nan")
        steps_done = int(g["window_steps"].sum())
        reg = DATASETS.lookup(run["dataset"]).task == "regression"
        with np.errstate(all="ignore"):
            ratio = float(np.nanmax(ratios)) if ratios and np.isfinite(ratios).any() else float("nan")
            change_ratio = (float(np.nanmax(change_ratios)) if change_ratios and not np.isnan(change_ratios).all()
                            else float("nan"))
            rows.append({**run, "steps": steps_done, "diverged": diverged, "w0": float(first["w_max"]),
                         "w_final": float(last["w_max"]), "w_peak": float(g["w_max"].max()),
                         "growth": float(last["w_max"] / first["w_max"]), "input_max": float(last["input_max"]),
                         "bound": weight_bound(last["init1_max"], last["init2_max"], last["input_max"]),
                         "ratio": ratio, "a_max": float(g["a_max"].max()),
                         "a_over_1": int(g["a_over_1"].sum()),
                         "a_frac": float(g["a_over_1"].sum() / steps_done) if steps_done else float("nan"),
                         "change_max": float(g["change_max"].max()), "change_bound_ratio": change_ratio,
                         "signal_first": float(blocks[0]) if blocks.size else float("nan"),
                         "signal_growth": signal_growth(blocks), "value": value, "baseline": baseline,
                         "relative": relative_loss(value, baseline) if reg else float("nan"),
                         "failed": failed(value, baseline) if reg else False})
    return pd.DataFrame(rows)


def _run_level(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per run: diverged, exploded (:func:`exploded` over its layers), a > 1 anywhere,
    the last test value, relative loss and failure."""
    rows = []
    for key, g in summary.groupby(_RUN, sort=False):
        rows.append({**dict(zip(_RUN, key)), "diverged": bool(g["diverged"].any()),
                     "exploded": exploded(bool(g["diverged"].any()), g["signal_growth"].to_numpy()),
                     "a_over_1": int(g["a_over_1"].sum()), "relative": float(g["relative"].iloc[0]),
                     "failed": bool(g["failed"].iloc[0])})
    return pd.DataFrame(rows, columns=[*_RUN, "diverged", "exploded", "a_over_1", "relative", "failed"])


# --------------------------------------------------------------------------------------- verdicts


def bound_verdict(summary: pd.DataFrame) -> pd.DataFrame:
    """Claim 1 per layer kind from :func:`run_summary` (rule in the module docstring).

    Columns ``layers_judged`` ("layer 1" or "hidden layers"), ``runs`` (dual-rule runs with every
    step's :math:`a \\le 1`), ``within`` (those whose ratio stayed within the bound),
    ``worst_ratio``, ``a_over_1_runs`` (dual runs with some :math:`a > 1`, not judged),
    ``a_over_1_outside`` (of those, how many left the bound), ``gd_growth`` (GD's largest weight growth
    at the paper's target scale), ``verdict``.
    """
    rows = []
    dual = summary[summary["method"].isin(DUAL_METHODS)]
    for kind, sel in (("layer 1", lambda s: s["layer"] == 1), ("hidden layers", lambda s: s["layer"] > 1)):
        d = dual[sel(dual)]
        if d.empty:
            continue
        per_run = d.groupby(_RUN, sort=False).agg(ratio=("ratio", "max"), a_over_1=("a_over_1", "sum"),
                                                   diverged=("diverged", "any"))
        covered = per_run[(per_run["a_over_1"] == 0) & ~per_run["diverged"]]
        other = per_run.drop(covered.index)
        inside = covered["ratio"] <= 1 + BOUND_TOLERANCE
        if covered.empty:
            verdict = "undecided"
        else:
            verdict = "holds" if bool(inside.all()) else "does not hold"
        gd = summary[(summary["method"] == "GD") & np.isclose(summary["target_scale"], PAPER_TARGET_SCALE)]
        gd = gd[sel(gd)]
        rows.append({"layers_judged": kind, "runs": len(covered), "within": int(inside.sum()),
                     "worst_ratio": float(covered["ratio"].max()) if len(covered) else float("nan"),
                     "a_over_1_runs": len(other),
                     "a_over_1_outside": int((~(other["ratio"] <= 1 + BOUND_TOLERANCE)).sum()),
                     "gd_growth": float(gd["growth"].max()) if len(gd) else float("nan"), "verdict": verdict})
    return pd.DataFrame(rows, columns=["layers_judged", "runs", "within", "worst_ratio", "a_over_1_runs",
                                       "a_over_1_outside", "gd_growth", "verdict"])


def explosion_verdict(summary: pd.DataFrame) -> pd.DataFrame:
    """Claim 2 from :func:`run_summary` (rule in the module docstring): one row with ``dual_runs``
    (dual-rule runs with every :math:`a \\le 1`), ``dual_exploded`` (of those), ``dual_exploded_a_over_1``
    (dual runs with some :math:`a > 1` that exploded), ``gd_runs``, ``gd_exploded``, ``prevented``
    (GD runs that exploded where the plain dual run of the same cell, seed and target scale did not),
    ``verdict``."""
    runs = _run_level(summary)
    dual = runs[runs["method"].isin(DUAL_METHODS)]
    covered = dual[dual["a_over_1"] == 0]
    gd = runs[runs["method"] == "GD"]
    key = ["dataset", "layers", "n", "seed", "target_scale"]
    our = runs[runs["method"] == "our"].set_index(key)["exploded"]
    prevented = 0
    for r in gd[gd["exploded"]].itertuples(index=False):
        k = tuple(getattr(r, c) for c in key)
        if k in our.index and not bool(our.loc[k]):
            prevented += 1
    if bool(covered["exploded"].any()):
        verdict = "does not hold"
    elif prevented:
        verdict = "holds"
    else:
        verdict = "not shown"
    return pd.DataFrame([{"dual_runs": len(covered), "dual_exploded": int(covered["exploded"].sum()),
                          "dual_exploded_a_over_1": int(dual[dual["a_over_1"] > 0]["exploded"].sum()),
                          "gd_runs": len(gd), "gd_exploded": int(gd["exploded"].sum()), "prevented": prevented,
                          "verdict": verdict}])


def target_scale_status(summary: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (dataset, layers, n, method, target factor other than the paper's) the status of the
    module docstring, from :func:`run_summary` (regression runs).

    Columns ``dataset, layers, n, method, target_scale, seeds, failed, failed_paper`` (seeds failed
    at the factor and at 0.1), ``relative`` (mean over seeds, NaN if any diverged), ``diff, low,
    high`` (the paired difference of the relative loss, factor minus 0.1, and its ``level``
    t-interval), ``a_frac`` (share of steps with :math:`a > 1` in the output layer, mean over
    seeds), ``status``.
    """
    from ..analysis.dual_weight import t_interval

    runs = _run_level(summary)
    runs = runs[[DATASETS.lookup(d).task == "regression" for d in runs["dataset"]]]
    out_layer = summary.groupby(_RUN, sort=False)["layer"].transform("max") == summary["layer"]
    afrac = summary[out_layer].set_index(_RUN)["a_frac"]
    rows = []
    for (ds, L, n, method), g in runs.groupby(["dataset", "layers", "n", "method"], sort=False):
        paper = g[np.isclose(g["target_scale"], PAPER_TARGET_SCALE)].set_index("seed")
        for scale, h in g[~np.isclose(g["target_scale"], PAPER_TARGET_SCALE)].groupby("target_scale", sort=True):
            h = h.set_index("seed")
            seeds = [s for s in h.index if s in paper.index]
            if not seeds:
                continue
            f, f0 = h.loc[seeds, "failed"], paper.loc[seeds, "failed"]
            d = (h.loc[seeds, "relative"] - paper.loc[seeds, "relative"]).to_numpy(dtype=float)
            m, lo, hi = t_interval(d, level) if np.isfinite(d).all() else (np.nan, np.nan, np.nan)
            if f.all():
                status = "fails at 0.1 too" if f0.all() else "fails"
            elif f.any():
                status = "mixed"
            elif len(seeds) < 2:
                status = "trains"
            else:
                status = "worse" if lo > 0 else "not worse"
            rel = h.loc[seeds, "relative"].to_numpy(dtype=float)
            a = [afrac.get((ds, L, n, s, method, scale), np.nan) for s in seeds]
            rows.append((ds, int(L), int(n), method, float(scale), len(seeds), int(f.sum()), int(f0.sum()),
                         float(rel.mean()) if np.isfinite(rel).all() else float("nan"), m, lo, hi,
                         float(np.nanmean(a)) if np.isfinite(a).any() else float("nan"), status))
    return pd.DataFrame(rows, columns=[*_CELL, "method", "target_scale", "seeds", "failed", "failed_paper",
                                       "relative", "diff", "low", "high", "a_frac", "status"])


def target_scale_verdict(status: pd.DataFrame, scale: float = 1.0, method: str = "our") -> str:
    """Claim 3's verdict from :func:`target_scale_status` at factor ``scale`` for ``method`` (rule in
    the module docstring)."""
    s = status[np.isclose(status["target_scale"], scale) & (status["method"] == method)]["status"]
    if s.empty:
        return "undecided"
    if (s == "fails").all():
        return "holds"
    if s.isin(["fails", "worse"]).all():
        return "holds in part"
    if (s == "not worse").all():
        return "does not hold"
    if (s == "trains").any() and not s.isin(["fails", "worse", "fails at 0.1 too", "mixed"]).any():
        return "undecided"
    return "mixed"


# ------------------------------------------------------------------------------- the page's tables


def _pm(values) -> str:
    from ..analysis.dual_weight import t_interval

    m, lo, hi = t_interval(np.asarray(values, dtype=float))
    if not np.isfinite(m):
        return "diverged"
    return f"{m:.3g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) else f"{m:.3g}"


def bound_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, layers, layer, method) at the paper's target scale: the bound
    :math:`B_1 + B_2` at the end (mean over seeds), the weights at the start, at the end and at their
    peak, GD's growth, the largest bound ratio (dual rules), the largest effective step and per-step
    change, the teaching signals' growth, and the exploded seeds."""
    s = summary[np.isclose(summary["target_scale"], PAPER_TARGET_SCALE)]
    runs = _run_level(s).set_index(_RUN)["exploded"]
    rows = []
    for (ds, L, layer, method), g in s.groupby(["dataset", "layers", "layer", "method"], sort=False):
        exp = [bool(runs.get(tuple(r), False)) for r in g[_RUN].itertuples(index=False, name=None)]
        rows.append({"dataset": ds, "layers": int(L), "layer": int(layer), "method": method,
                     "bound B1+B2": float(g["bound"].mean()), "max|W| start": float(g["w0"].mean()),
                     "max|W| end": _pm(g["w_final"]), "peak / bound": float((g["w_peak"] / g["bound"]).max()),
                     "halves' ratio": float(g["ratio"].max()) if g["ratio"].notna().any() else float("nan"),
                     "growth end/start": _pm(g["growth"]), "max a": float(g["a_max"].max()),
                     "max step change": float(g["change_max"].max()),
                     "signal growth": float(g["signal_growth"].max()),
                     "exploded": f"{sum(exp)} of {len(exp)}"})
    return pd.DataFrame(rows)


def scale_table(status: pd.DataFrame) -> pd.DataFrame:
    """:func:`target_scale_status` for the page: per (dataset, layers, method, factor) the relative
    loss, its paired change against the paper's 0.1, failed seeds and the status."""
    rows = []
    for r in status.itertuples(index=False):
        diff = ("-" if not np.isfinite(r.diff) else
                f"{r.diff:+.3g}" + (f" [{r.low:+.3g}, {r.high:+.3g}]" if np.isfinite(r.low) else ""))
        rows.append({"dataset": r.dataset, "layers": r.layers, "method": r.method, "target factor": f"{r.target_scale:g}",
                     "relative loss r": "diverged" if not np.isfinite(r.relative) else f"{r.relative:.3g}",
                     "r - r at 0.1 (paired)": diff, "failed": f"{r.failed} of {r.seeds}",
                     "failed at 0.1": f"{r.failed_paper} of {r.seeds}",
                     "steps a > 1 (output)": f"{r.a_frac:.2%}" if np.isfinite(r.a_frac) else "-",
                     "status": r.status})
    return pd.DataFrame(rows)


def claims_table(bounds: pd.DataFrame, explosion: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """The section's verdicts in one table: claim, evidence, verdict (rules in the module docstring)."""
    rows = []
    for r in bounds.itertuples(index=False):
        rows.append((f"bounded weights, {r.layers_judged}",
                     f"{r.within} of {r.runs} dual-rule runs with every a <= 1 stay within B1, B2 "
                     f"(largest ratio {r.worst_ratio:.3g}); {r.a_over_1_runs} runs with some a > 1 not judged "
                     f"({r.a_over_1_outside} left the bound); GD's largest weight growth x{r.gd_growth:.3g}",
                     r.verdict))
    for r in explosion.itertuples(index=False):
        rows.append(("no gradient explosion",
                     f"{r.dual_exploded} of {r.dual_runs} dual-rule runs with every a <= 1 exploded "
                     f"({r.dual_exploded_a_over_1} with some a > 1); GD exploded in {r.gd_exploded} of "
                     f"{r.gd_runs} runs, {r.prevented} of them where the dual rule did not", r.verdict))
    if not status.empty:
        s1 = status[np.isclose(status["target_scale"], 1.0)]
        ours = s1[s1["method"] == "our"]
        gd = s1[s1["method"] == "GD"]
        text = "; ".join(f"{r.dataset} {r.layers} layers: {r.status} ({r.failed} of {r.seeds} failed)"
                         for r in ours.itertuples(index=False))
        gd_text = ", ".join(f"{r.dataset} {r.layers}L {r.status}" for r in gd.itertuples(index=False))
        rows.append(("targets must be scaled (dual rule, normalized targets unscaled: factor 1)",
                     f"{text or 'no cell'}; GD at factor 1: {gd_text or 'no cell'}", target_scale_verdict(status)))
        larger = status[status["target_scale"] > 1.0]
        if not larger.empty:
            parts = []
            for scale, g in larger.groupby("target_scale"):
                said = {m: ", ".join(f"{r.dataset} {r.layers}L {r.status}" for r in g[g["method"] == m]
                                     .itertuples(index=False)) or "no cell" for m in ("our", "GD")}
                parts.append(f"factor {scale:g}: dual rule {said['our']}; GD {said['GD']}")
            rows.append(("larger targets (reported, not judged)", "; ".join(parts), "-"))
    return pd.DataFrame(rows, columns=["claim", "evidence", "verdict"])


# ------------------------------------------------------------------------------- the page's figures


def bounds_frame(frame: pd.DataFrame, layer: int = 1, bins: int = 60) -> pd.DataFrame:
    """What :func:`plot_weight_bounds` draws: layer ``layer``'s probes at the paper's target scale,
    gathered into at most ``bins`` bins of training steps per run (step 0 on its own): the largest
    ``w_max``, ``bound`` (:func:`weight_bound`) and ``change_max`` of the probes in a bin, at the
    bin's last step. Columns ``dataset, layers, seed, method, step, w_max, bound, change_max``."""
    cols = ["dataset", "layers", "seed", "method", "step", "w_max", "bound", "change_max"]
    f = frame[(frame["layer"] == layer) & np.isclose(frame["target_scale"], PAPER_TARGET_SCALE)].copy()
    if f.empty:
        return pd.DataFrame(columns=cols)
    f["bound"] = [weight_bound(a, b, c) for a, b, c in zip(f["init1_max"], f["init2_max"], f["input_max"])]
    width = max(1, -(-int(f["step"].max()) // max(1, int(bins))))
    f["bin"] = -(-f["step"] // width)  # ceil: step 0 alone, then (0, width], (width, 2 width], ...
    out = (f.groupby(["dataset", "layers", "seed", "method", "bin"], sort=False)
           .agg(step=("step", "max"), w_max=("w_max", "max"), bound=("bound", "max"),
                change_max=("change_max", "max")).reset_index())
    return out[cols]


def _panel_grid(n: int, width: float, height: float, max_cols: int = 3):
    """A figure of ``n`` panels, each a (top, bottom) pair of axes sharing their x axis, at most
    ``max_cols`` pairs to a row (constrained layout); returns the figure and the ``(top, bottom)``
    pairs."""
    import matplotlib.pyplot as plt

    n = max(1, n)
    cols = n if n <= max_cols else -(-n // -(-n // max_cols))
    blocks = -(-n // cols)
    fig = plt.figure(figsize=(width * cols, height * blocks + 0.4), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(blocks, cols, squeeze=False)).ravel()
    pairs = []
    for k, sub in enumerate(subs):
        if k < n:
            top, bottom = sub.subplots(2, 1, sharex=True)
            pairs.append((top, bottom))
    return fig, pairs


def plot_weight_bounds(frame: pd.DataFrame, layer: int = 1):
    """Top: :math:`\\max|W_l|` over training (log axis), one line per method and seed, the bound
    :math:`B_1 + B_2` of the dual rules dashed (the same for every method in layer 1: the same
    initial weights and samples); bottom: the largest one-step change of a weight of the layer.
    One column per (dataset, layers); the points are :func:`bounds_frame`'s bins."""
    data = bounds_frame(frame, layer)
    panels = list(dict.fromkeys(zip(data["dataset"], data["layers"])))
    colors = method_colors()
    fig, pairs = _panel_grid(len(panels), 3.6, 5.2)
    for k, (ds, L) in enumerate(panels):
        d = data[(data["dataset"] == ds) & (data["layers"] == L)]
        top, bottom = pairs[k]
        for (method, seed), g in d.groupby(["method", "seed"], sort=False):
            first = seed == d["seed"].min()
            top.plot(g["step"], g["w_max"], color=colors[method], lw=1.1,
                     label=METHOD_LABELS[method] if first and k == 0 else None)
            w = g[g["step"] > 0]
            bottom.plot(w["step"], w["change_max"], color=colors[method], lw=0.8, alpha=0.8)
        b = d[d["method"] == d["method"].iloc[0]]
        for seed, g in b.groupby("seed"):
            # a running maximum: drawn as steps (it jumps at the first sample, to the largest input
            # seen), not as a slope between probes
            top.plot(g["step"], g["bound"], color="0.2", ls="--", lw=1, drawstyle="steps-pre",
                     label="bound B1 + B2 of the dual rules" if seed == b["seed"].min() and k == 0 else None)
        top.set_yscale("log")
        bottom.set_yscale("log")
        top.set_title(f"{DATASETS.lookup(ds).title}, {L} layers (layer {layer})", fontsize=9)
        top.set_ylabel(f"max |W_{layer}|")
        bottom.set_ylabel(f"max one-step change of W_{layer}")
        bottom.set_xlabel("training step (samples)")
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def scale_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """What :func:`plot_target_scales` draws: per regression run of the methods trained at several
    target factors (:data:`SCALE_METHODS`) the relative test loss (NaN: diverged) and the output
    layer's share of steps with :math:`a > 1`; columns ``dataset, layers, seed, method, target_scale,
    relative, diverged, a_frac``."""
    cols = ["dataset", "layers", "seed", "method", "target_scale", "relative", "diverged", "a_frac"]
    reg = summary[[DATASETS.lookup(d).task == "regression" for d in summary["dataset"]]] if len(summary) else summary
    reg = reg[reg["method"].isin(SCALE_METHODS)] if len(reg) else reg
    if reg.empty:
        return pd.DataFrame(columns=cols)
    out = reg[reg.groupby(_RUN, sort=False)["layer"].transform("max") == reg["layer"]]
    return out[cols].reset_index(drop=True)


def plot_target_scales(summary: pd.DataFrame):
    """Top: relative test loss against the target factor (log axis; 0.1 = the paper's), one line per
    method and seed, an x at the top for a diverged run, the failure line dashed; bottom: the share of
    steps whose output-layer step :math:`a` exceeded 1 (for GD: :math:`\\eta|g|`, the dual rule's
    step on GD's signal). One column per (dataset, layers)."""
    data = scale_frame(summary)
    panels = list(dict.fromkeys(zip(data["dataset"], data["layers"])))
    colors = method_colors()
    fig, pairs = _panel_grid(len(panels), 3.8, 5.0)
    cap = 2.0
    for k, (ds, L) in enumerate(panels):
        d = data[(data["dataset"] == ds) & (data["layers"] == L)]
        top, bottom = pairs[k]
        top.axhline(FAIL_RELATIVE_LOSS, color="0.4", ls="--", lw=1,
                    label="failure line (mean predictor - 5 %)" if k == 0 else None)
        for m, ((method, seed), g) in enumerate(d.groupby(["method", "seed"], sort=False)):
            g = g.sort_values("target_scale")
            x, r = g["target_scale"].to_numpy(float), g["relative"].to_numpy(float)
            first = seed == d["seed"].min()
            top.plot(x, np.minimum(r, cap), marker="o", ms=3, color=colors[method], lw=1,
                     label=METHOD_LABELS[method] if first and k == 0 else None)
            bad = ~np.isfinite(r)
            if bad.any():  # diverged: an x at the top, the methods side by side
                shift = 1.12 if method == SCALE_METHODS[-1] else 1 / 1.12
                top.plot(x[bad] * shift, np.full(bad.sum(), cap), "x", color=colors[method], ms=7)
            bottom.plot(x, g["a_frac"].to_numpy(float), marker="o", ms=3, color=colors[method], lw=1)
        for ax in (top, bottom):
            ax.axvline(PAPER_TARGET_SCALE, color="0.7", lw=0.8)
        top.set_xscale("log")
        top.set_ylim(0, cap * 1.08)
        top.set_title(f"{DATASETS.lookup(ds).title}, {L} layers", fontsize=9)
        top.set_ylabel("relative test loss")
        bottom.set_ylabel("share of steps with a > 1")
        bottom.set_xlabel("target factor (paper: 0.1)")
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig
