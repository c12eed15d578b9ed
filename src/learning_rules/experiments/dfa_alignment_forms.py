r"""Three readings of the thesis' gradient cosine, measured on the same training run.

The thesis logs its "gradient alignment" (Figs. 3.2/3.5) once per epoch, after the epoch's last
mini-batch (96 samples at k = 3), as the per-input-row cosine between DFA's ``dW1`` and
backprop's (:func:`learning_rules.credit.thesis_gradient_alignment`). Which weights and which
forward pass enter it is a reading of its code (spec ``../shared/specs/dfa-thesis.md`` section 5):
DFA's gradient is the one the step applied (the **pre-update** forward pass), and backprop's is
recomputed from the same forward quantities but with the **post-update** ``W2``. The alignment
page's run (:func:`learning_rules.experiments.dfa.train_parity`) measures it with a fresh forward
pass of the post-update network. For the epoch's last batch ``X`` (pre-update forward pass
``z_1, e``; ``W_2`` before and ``W_2'`` after the step):

.. math::

    \text{pre:}\;& \cos_{\text{rows}}\big(X^\top[(eB)\odot f'(z_1)],\; X^\top[(eW_2)\odot f'(z_1)]\big)\\
    \text{thesis:}\;& \cos_{\text{rows}}\big(X^\top[(eB)\odot f'(z_1)],\; X^\top[(eW_2')\odot f'(z_1)]\big)\\
    \text{post:}\;& \text{the same with } z_1', e' \text{ and } W_2' \text{ of the updated network}

(``post`` is the stored ``grad_cos_rows_last_1``). :func:`alignment_forms_run` retrains a parity
run exactly as :func:`~learning_rules.experiments.dfa.train_parity` does (same seed, same streams,
same trainer: every step bit for bit) and records the three per epoch, so their differences are
measurement alone. It skips the evaluation (the run's test accuracy is the stored run's).

Explained in: book/dfa/alignment.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import one_blas_thread, register_experiment
from .dfa import ParityConfig

__all__ = [
    "FORMS",
    "FORM_LABELS",
    "THESIS_FORM_PROTOCOL",
    "alignment_forms_run",
    "form_cosines",
    "form_tasks",
    "forms_frame",
    "forms_table",
    "thesis_form_means",
    "pre_update_signals",
]

#: The three readings, in the order the page shows them.
FORMS = ("post", "thesis", "pre")
#: The protocol name of the thesis' reading in the ledger (``cells.record(alternative=...)``).
THESIS_FORM_PROTOCOL = ("the thesis code's gradient cosine: pre-update forward pass, backprop with "
                        "the post-update W2 (spec 5)")
FORM_LABELS = {
    "post": "post-update forward pass (our run's grad_cos_rows_last_1)",
    "thesis": "pre-update forward pass, backprop with the post-update W2 (the thesis code)",
    "pre": "pre-update forward pass and weights (the gradients of the step itself)",
}


def pre_update_signals(net, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The forward pass of ``net`` on one batch and both teaching signals, before its step.

    Returns ``{"cache", "e", "rule", "bp"}``: the forward cache, the output error ``e``, the
    rule's deltas (DFA: :math:`(eB)\\odot f'(z_l)`) and backprop's with the current weights.
    """
    from ..credit.backprop import backprop_deltas

    mlp = net.mlp
    cache = mlp.forward(X, check=False)
    e = net.loss.output_error(cache.z[-1], Y, mlp.acts[-1])
    return {"cache": cache, "e": e, "rule": net.credit.deltas(mlp, cache, e, net.credit_state),
            "bp": backprop_deltas(mlp, cache, e)}


def form_cosines(net, before: Mapping[str, Any], X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    r"""The three readings of the per-input-row gradient cosine for each hidden layer ``l``.

    ``before``: :func:`pre_update_signals` of the batch ``(X, Y)`` taken before ``net``'s step on
    it; ``net`` now holds the post-update weights. Keys ``grad_cos_rows_last_{form}_{l}`` for
    ``form`` in :data:`FORMS`.
    """
    from ..credit import update_alignment
    from ..credit.alignment import thesis_gradient_alignment
    from ..credit.backprop import backprop_deltas, weight_gradient

    mlp = net.mlp
    cache, e = before["cache"], before["e"]
    bp_thesis = backprop_deltas(mlp, cache, e)  # the pre-update z and e, the post-update weights
    row: dict[str, float] = {}
    for i in range(mlp.n_layers - 1):
        G_rule = weight_gradient(before["rule"][i], cache.h[i])
        row[f"grad_cos_rows_last_pre_{i + 1}"] = thesis_gradient_alignment(
            G_rule, weight_gradient(before["bp"][i], cache.h[i]))
        row[f"grad_cos_rows_last_thesis_{i + 1}"] = thesis_gradient_alignment(
            G_rule, weight_gradient(bp_thesis[i], cache.h[i]))
    # post: exactly the stored run's measurement (dfa._alignment_row on the last batch)
    post = mlp.forward(X, check=False)
    e_post = net.loss.output_error(post.z[-1], Y, mlp.acts[-1])
    deltas = net.credit.deltas(mlp, post, e_post, net.credit_state)
    for item in update_alignment(mlp, post, e_post, deltas):
        row[f"grad_cos_rows_last_post_{item['layer']}"] = item["per_input"]
    return row


@register_experiment("dfa_alignment_forms", ParityConfig,
                     "one MNIST-parity run retrained step for step, the last batch's gradient cosine "
                     "read three ways per epoch (pre-update, the thesis', post-update)")
@one_blas_thread
def alignment_forms_run(config: ParityConfig) -> pd.DataFrame:
    """Retrain ``config``'s parity run and record the three gradient-cosine readings per epoch.

    The training is :func:`~learning_rules.experiments.dfa.train_parity`'s: the same
    ``SeedSequence(seed)`` streams (weights and B, then the training triplets), the same trainer
    (:func:`~learning_rules.experiments.dfa.parity_trainer`), the same batches; only the
    evaluation is left out (its stream never touches the training). Before the step on each
    epoch's last batch the pre-update signals are kept (:func:`pre_update_signals`), after the
    epoch the readings are taken (:func:`form_cosines`).

    Returns
    -------
    DataFrame, one row per epoch ``1..num_epochs``: ``epoch``, ``last_batch`` (its size), and
    ``grad_cos_rows_last_{pre,thesis,post}_{l}`` per hidden layer (NaN once the run diverged).
    """
    from ..data import parity_label
    from ..data.generators import parity_indices
    from ..training import Batch
    from .dfa import build_network, load_parity_data, parity_background, parity_batch, parity_trainer

    if config.credit == "backprop":
        raise ValueError("the gradient-cosine readings compare a rule with backprop: credit must be "
                         f"'fa' or 'dfa', got {config.credit!r}")
    dtype = np.dtype(config.dtype)
    data = load_parity_data(config, dtype)
    ss = np.random.SeedSequence(config.seed)
    init_rng, train_rng, _eval_rng, _align_rng = (np.random.default_rng(s) for s in ss.spawn(4))
    net = build_network(config, init_rng)
    n_tr, k = data.train_images.shape[0], config.k
    trainer = parity_trainer(config, net)
    train_pool = (data.pool("train", parity_background(dtype)) if trainer.backend == "sparse"
                  else None)
    kept: dict[str, Any] = {}

    def batches(idx):
        for start in range(0, n_tr, config.batch_size):
            part = idx[start:start + config.batch_size]
            last = start + config.batch_size >= n_tr
            if train_pool is not None and not last:  # as train_parity: no dense batch
                y = parity_label(data.train_labels[part])
                yield Batch(None, y[:, None].astype(dtype), train_pool.rows(part), y, part)
                continue
            X, y = parity_batch(data.train_images, data.train_labels, part)
            Y = y[:, None].astype(dtype)
            if last:  # the epoch's last batch: keep its pre-update signals
                with np.errstate(over="ignore", invalid="ignore"):
                    kept.update(X=X, Y=Y, before=pre_update_signals(net, X, Y))
            rows = train_pool.rows(part) if train_pool is not None else None
            yield Batch(None if rows is not None else X, Y, rows, y, part)

    rows: list[dict[str, Any]] = []
    diverged = False
    for epoch in range(config.num_epochs):
        trainer.set_epoch(epoch)
        idx = parity_indices(n_tr, k, train_rng)
        kept.clear()
        row: dict[str, Any] = {"epoch": epoch + 1, "last_batch": np.nan}
        with np.errstate(over="ignore", invalid="ignore"):
            if not diverged:
                trainer.run_epoch(batches(idx))
            net.epochs_done += 1
            diverged = diverged or not all(np.isfinite(W).all() for W in net.mlp.weights)
            if kept and not diverged:
                row["last_batch"] = kept["X"].shape[0]
                row.update(form_cosines(net, kept["before"], kept["X"], kept["Y"]))
        rows.append(row)
    trainer.finish()
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# the alignment page: its forms runs, their table and the ledger's alternative
# --------------------------------------------------------------------------------------------------


def form_tasks(configs: Sequence[ParityConfig]) -> list:
    """Build tasks for the forms runs of the alignment page's DFA runs ``configs`` (its
    published-rate runs: the same configs, another experiment)."""
    from . import Task
    from .lr_selection import run_cost

    return [Task("dfa_alignment_forms", c, 0.9 * run_cost(c)) for c in configs if c.credit != "backprop"]


def forms_frame(pairs: Sequence[tuple[str, ParityConfig]], store=None, n_jobs: int = 1) -> pd.DataFrame:
    """The forms runs of ``pairs`` (``(published row, config)``, through ``store``), one row per
    run and epoch, with ``row`` and ``seed``."""
    from ..sweep import run_sweep

    configs = [c for _, c in pairs]
    frame = run_sweep(alignment_forms_run, configs, n_jobs=n_jobs, store=store,
                      name="dfa_alignment_forms", backend="loky" if n_jobs != 1 else "sequential")
    frame["row"] = np.repeat([r for r, _ in pairs], [c.num_epochs for c in configs])
    return frame


def forms_table(frame: pd.DataFrame, published: Mapping[tuple[str, int], float]) -> pd.DataFrame:
    r"""Each reading of the gradient cosine at each published epoch, mean over seeds, next to the
    thesis' value and the ledger's tolerance.

    ``frame``: :func:`forms_frame`; ``published``: ``(row, epoch) -> value`` (the thesis' epochs).
    Per (row, epoch): ``seeds``, ``published``, ``tolerance`` (the ledger's: the 95 % half-width of
    a difference of two means of as many runs, from the post-update values' spread, at least 0.02;
    :func:`learning_rules.analysis.stats.two_run_set_tolerance`), the means of ``post`` (the
    ledger's value), ``thesis`` and ``pre``, and ``post e-1``/``post e+1`` (the post-update
    reading one epoch either side: how far an epoch-indexing slip would move the cell), then
    ``within``: the readings whose mean lies within the tolerance (``""`` for none).
    """
    from ..analysis.stats import two_run_set_tolerance

    out = []
    for (row, epoch), p in published.items():
        g = frame[frame["row"] == row]
        if g.empty:
            continue
        at = g[g["epoch"] == epoch]
        if at.empty:
            continue
        post = at["grad_cos_rows_last_post_1"].to_numpy(dtype=float)
        tol = two_run_set_tolerance(post, floor=0.02)
        rec: dict[str, Any] = {"row": row, "epoch": int(epoch), "seeds": len(post), "published": p,
                               "tolerance": tol}
        for form in FORMS:
            rec[form] = float(np.mean(at[f"grad_cos_rows_last_{form}_1"].to_numpy(dtype=float)))
        for shift, name in ((-1, "post e-1"), (1, "post e+1")):
            near = g.loc[g["epoch"] == epoch + shift, "grad_cos_rows_last_post_1"].to_numpy(dtype=float)
            rec[name] = float(near.mean()) if near.size else np.nan
        close = [name for name in (*FORMS, "post e-1", "post e+1")
                 if np.isfinite([rec[name], tol]).all() and abs(rec[name] - p) <= tol + 1e-12]
        rec["within"] = ", ".join(close)
        out.append(rec)
    return pd.DataFrame(out)


def thesis_form_means(frame: pd.DataFrame) -> dict[tuple[str, int], float]:
    """``(row, epoch) -> `` mean over seeds of the thesis' reading (the ledger's alternative)."""
    return {(r, int(e)): float(v) for (r, e), v in
            frame.groupby(["row", "epoch"])["grad_cos_rows_last_thesis_1"].mean().items()}
