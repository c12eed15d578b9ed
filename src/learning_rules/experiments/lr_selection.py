r"""Learning-rate selection on the validation split, and the runs a page asks the build for.

Generic over the MNIST-parity runs of the feedback-alignment chapter: a config is an engine run
(:class:`~learning_rules.experiments.dfa.ParityConfig`, store name ``"dfa_parity"``) or a lazy
baseline (:class:`~learning_rules.experiments.dfa_parity.LazyParityConfig`, ``"dfa_parity_lazy"``),
fetched or computed through :func:`~learning_rules.experiments.dfa_parity.run_curve_specs`.

* :func:`select_lrs` scores every group's validation trials (``base.replace(lr=g,
  validation=True)`` for each rate ``g`` of its grid) in one sweep; an incumbent (the published
  rate) stays unless beaten by more than :func:`switch_margin`; a trial whose loss rose
  (:func:`loss_rose`) is never chosen.
* :func:`settle_lrs` checks each pick on its full-length runs (:class:`PagePlan`'s ``rerun``) and
  sets a rate aside when their training loss rose (:func:`full_run_diverged`).
* :func:`plan_tasks` lists a :class:`PagePlan`'s runs for the build's precompute pool, the reruns
  at the chosen rates once the trials are stored (:func:`run_cost` orders them longest first).

The pages that use it: :mod:`.dfa_pages` (alignment, feedback, optimizers, beyond and the parity
page's plan).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .dfa import N_VALIDATION
from .dfa_parity import LazyParityConfig, experiment_of, run_curve_specs

__all__ = [
    "SWITCH_Z",
    "PagePlan",
    "full_run_diverged",
    "loss_rose",
    "plan_tasks",
    "run_cost",
    "score_text",
    "select_lr",
    "select_lrs",
    "settle_lrs",
    "switch_margin",
    "trial_configs",
    "validation_size",
]

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
    incumbent)``; the config may be a
    :class:`~learning_rules.experiments.dfa.ParityConfig` or a
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
    (:func:`select_lrs` for one group; ``base`` a
    :class:`~learning_rules.experiments.dfa.ParityConfig` or a
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


#: Relative cost of one epoch per lazy method (measured at k = 3 against an engine DFA + SGD
#: epoch; only the order of the tasks depends on it).
_LAZY_COST = {"bp": 1.2, "relu_features": 0.6, "gaussian_features": 0.6, "linear_features": 0.6,
              "ntk_coded": 2.0, "ntk_dm": 1.7}


def run_cost(config: Any) -> float:
    """A run's rough cost in k = 3 engine epochs (for longest-first scheduling only)."""
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
