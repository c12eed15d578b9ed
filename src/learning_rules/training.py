r"""The training loop, and the one place where a backend is chosen.

Every network of the book learns the same way: for each epoch, take the epoch's batches in order,
and on each batch one step (:meth:`Network._step <learning_rules.engine.Network._step>`: forward
pass, output error, teaching signals from the credit assignment, every layer's weight update).
What differs between chapters is only *which batches* (a permutation of the rows, MNIST-parity
triplets, a cyclic stream), *what is recorded* (a loss per epoch, a cost per batch, an evaluation
row, a gradient norm), and *how the step is computed*. This module holds the loop once:

* a **step** takes one step on a batch and returns the batch-mean loss measured before the
  update and the pre-update output logits :math:`z_L`: ``step(batch) -> (loss, z_L)``
  (:func:`reference_step`, or a buffer trainer's :class:`MinibatchStepper`);
* :func:`choose_backend` decides, in one place, which stepper runs a network: the NumPy reference
  (:meth:`Network._step`, the readable definition), the buffer trainers of
  :mod:`learning_rules.fast.minibatch` (mini-batches, optionally with a sparse first layer), or the
  compiled single-sample loop of :mod:`learning_rules.fast.single` (batch 1). Each fast backend
  says what it supports (:func:`minibatch_unsupported`, :func:`learning_rules.fast.unsupported_reason`);
  the tests prove each equal to the reference to rounding;
* :func:`run_epoch` takes the steps of one epoch and sums what every chapter sums (the
  sample-weighted loss, the number of correct outputs), with hooks per batch and a stop once the
  weights diverged; :func:`fit_epochs` adds the epochs of :meth:`Network.fit`, and
  :class:`Trainer` a network with the backend chosen for it (the estimators and the parity runs).

``Network.fit`` itself runs only the reference or the compiled single-sample loop: the engine
reaches no buffer trainer, so a stored run that trains through it never depends on their code
(``fingerprint.py``; ``tests/test_training.py`` checks the engine's closure).

Results are bit-for-bit those of the loops this replaced: the same steps, on the same batches, in
the same order, with the same sums.

Explained in: ``CONTRIBUTING.md`` (where training code lives) and book/foundations/backprop.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = ["BACKENDS", "Batch", "EpochStats", "Trainer", "choose_backend", "epoch_batches", "fit_epochs",
           "minibatch_unsupported", "parameters_finite", "reference_step", "run_epoch", "stream_batches"]

#: ``"auto"`` picks the fastest backend proven equal to the reference that supports the network;
#: the others force one (a forced fast backend that does not apply raises, saying why).
BACKENDS = ("auto", "reference", "minibatch", "sparse", "single")


class Batch(NamedTuple):
    """One batch: inputs ``X`` (or ``None`` with ``rows``), encoded targets ``Y``, and what hooks need.

    ``rows`` is the CSR form of ``X - x0`` for a sparse first layer; ``labels`` the raw labels
    (to count correct outputs); ``index`` the sample indices the batch was taken from.
    """

    X: np.ndarray | None
    Y: np.ndarray
    rows: Any = None
    labels: np.ndarray | None = None
    index: np.ndarray | None = None


class EpochStats(NamedTuple):
    """What :func:`run_epoch` sums over an epoch's batches, each measured before its update.

    ``loss_sum`` is :math:`\\sum_b \\bar E_b\\, |b|` (divide by ``n`` for the epoch's mean loss);
    ``correct`` the number of correct outputs (``0`` without a ``score``); ``last`` the last batch
    stepped (``None`` if none); ``diverged`` whether stepping stopped on non-finite weights.
    """

    loss_sum: float
    n: int
    correct: int
    last: Batch | None
    diverged: bool


# --------------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------------


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """One epoch's index batches: a permutation of ``0..n-1`` drawn from ``rng`` (in order when
    ``rng`` is ``None``), cut into runs of ``batch_size``; the last may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def stream_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """An endless stream of index batches of exactly ``batch_size``: taken in order from a
    permutation of ``0..n-1``, a fresh permutation (``rng``) appended whenever fewer than
    ``batch_size`` indices are left."""
    order = np.empty(0, dtype=int)
    while True:
        if order.size < batch_size:
            order = np.concatenate([order, rng.permutation(n)])
        idx, order = order[:batch_size], order[batch_size:]
        yield idx


# --------------------------------------------------------------------------------------------------
# steppers
# --------------------------------------------------------------------------------------------------


def reference_step(net) -> Callable[[Batch], tuple[float, np.ndarray]]:
    """``step(batch)`` for :func:`run_epoch` on the NumPy reference, :meth:`Network._step`: what a
    chapter whose stored results were computed with it uses (no buffer trainer is reached)."""
    def step(batch: Batch):
        if batch.rows is not None:
            raise ValueError("the reference step needs the dense batch X, not CSR rows")
        return net._step(batch.X, batch.Y)
    return step


class MinibatchStepper:
    """A buffer trainer of :mod:`learning_rules.fast.minibatch` on a network's own arrays.

    The network's weights (and, for the dual-weight rule and the adaptive optimizers on dense
    inputs, its layer states) are updated in place, so the network stays the model: evaluate it,
    step it with the reference, fit it again.
    """

    def __init__(self, net, batch_size: int, input_background: float | None = None) -> None:
        from .fast import MinibatchDualWeight, MinibatchOptimizer, MinibatchSGD
        from .fast.forms import credit_form, update_form

        reason = minibatch_unsupported(net)
        if reason is not None:
            raise ValueError(f"the mini-batch buffer trainer does not apply: {reason}")
        self.net = net
        self.name = "minibatch" if input_background is None else "sparse"
        mlp, rule = net.mlp, net.rule
        if input_background is not None:
            mlp.weights[0] = np.asfortranarray(mlp.weights[0])
        credit, update = credit_form(net.credit), update_form(rule)  # their compiled forms
        feedback = net.credit_state["B"] if credit.feedback else None
        kind = "fa" if credit.signal == "fa" else "dfa"  # with feedback; None: backprop's signal
        args = (mlp.weights, mlp.biases, mlp.activations, net.loss.name)
        if update.buffers == "dual":
            self.trainer = MinibatchDualWeight(*args, rule, net.layer_states, batch_size, feedback=feedback,
                                               input_background=input_background, credit=kind)
        elif rule.optimizer_name == "sgd":
            self.trainer = MinibatchSGD(*args, rule.lr, batch_size, feedback=feedback,
                                        input_background=input_background, credit=kind)
        else:
            # on dense inputs the optimizer state is the network's own (fit, then fit again)
            states = None if input_background is not None else net.layer_states
            self.trainer = MinibatchOptimizer(*args, rule.lr, batch_size, feedback=feedback,
                                              optimizer=rule.optimizer_name,
                                              optimizer_params=rule.optimizer_params,
                                              input_background=input_background, credit=kind,
                                              states=states)
        self._f_L = mlp.acts[-1]
        self._n_out = mlp.sizes[-1]
        self._dtype = mlp.dtype
        # cce: the trainer's loss_value, bit for bit net.loss.value from the step's own softmax sums
        self._own_value = net.loss is self.trainer.loss and net.loss.name == "cce"

    def step(self, batch: Batch) -> tuple[float, np.ndarray]:
        """One step on ``batch`` (its dense ``X`` or, ``"sparse"``, its CSR ``rows``): the loss
        before the update and the pre-update logits."""
        net = self.net
        Y = batch.Y
        if Y.dtype != self._dtype or Y.ndim != 2 or Y.shape[1] != self._n_out:  # raw: encode here
            Y = net.loss.encode(Y, self._n_out, self._dtype)
        self.trainer.step(batch.X, Y, rows=batch.rows)
        z = self.trainer._z[-1][:Y.shape[0]]
        value = self.trainer.loss_value(Y) if self._own_value else net.loss.value(z, Y, self._f_L)
        net.steps_done += 1
        return value, z

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.trainer, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def finish(self) -> None:
        """Give the first layer (and its dual-weight halves) back in C order after a sparse run."""
        mlp = self.net.mlp
        mlp.weights[0] = np.ascontiguousarray(mlp.weights[0])
        state = self.net.layer_states[0]
        for key in ("W1", "W2") if state is not None else ():
            if key in state:
                state[key] = np.ascontiguousarray(state[key])


def minibatch_unsupported(net) -> str | None:
    """Why the buffer trainers of :mod:`learning_rules.fast.minibatch` cannot run ``net`` (``None``
    if they can): what they support is BP/FA/DFA credit, every layer trained, the gradient update
    without penalties and with one of their optimizers, or the dual-weight rules with SGD, an
    element-wise hidden activation, a fused output/loss pair, float32 or float64 weights."""
    from .fast.forms import COMPILED_CREDIT, COMPILED_UPDATE, credit_form, update_form
    from .fast.minibatch import _FUSED, FAST_MINIBATCH_OPTIMIZERS

    # the compiled forms (fast/forms.py), of exactly the registered classes: a subclass may change
    # the rule, which the compiled form would not follow
    try:
        credit_form(net.credit)
    except ValueError:
        return (f"credit assignment {type(net.credit).__name__} has no buffer trainer "
                f"({', '.join(COMPILED_CREDIT)} have)")
    if not all(net.trainable):
        return "a frozen layer (trainable=False) has no buffer trainer"
    if net.mlp.gated:
        return "a layer gated by the input (learning_rules.nn.gates) has no buffer trainer"
    rule = net.rule
    try:
        update = update_form(rule)
    except ValueError:
        return f"update {type(rule).__name__} has no buffer trainer ({', '.join(COMPILED_UPDATE)} have)"
    if update.buffers == "dual":
        if rule.optimizer_name != "sgd":
            return f"the dual-weight rule with optimizer {rule.optimizer_name!r} (only sgd)"
    else:
        if rule.optimizer_name not in FAST_MINIBATCH_OPTIMIZERS:
            return (f"optimizer {rule.optimizer_name!r} has no fused kernel "
                    f"({', '.join(FAST_MINIBATCH_OPTIMIZERS)} have)")
        if rule.l2 > 0.0 or rule.l1 > 0.0:
            return "an L1/L2 penalty has no buffer trainer"
    if not rule.lr > 0.0:
        return "a learning rate of 0 has no buffer trainer"
    acts = net.mlp.acts
    if any(not a.elementwise for a in acts[:-1]):
        return "a hidden activation that is not element-wise has no buffer trainer"
    if (net.loss.name, acts[-1].name) not in _FUSED:
        return f"output {acts[-1].name!r} with loss {net.loss.name!r} has no fused step"
    if net.mlp.dtype not in (np.float32, np.float64):
        return f"dtype {net.mlp.dtype} (float32 or float64 only)"
    return None


def choose_backend(net, batch_size: int, backend: str = "auto",
                   input_background: float | None = None, buffers: bool = True) -> str:
    """The backend that runs ``net`` at ``batch_size``: the one place this is decided.

    ``"auto"``: batch 1 -> ``"single"`` (the compiled single-sample loop) when it supports the
    network; larger batches -> ``"sparse"`` (with ``input_background``) or ``"minibatch"`` when
    the buffer trainers support it; otherwise ``"reference"``. A forced fast backend that does not
    apply raises ``ValueError`` with the reason; ``"sparse"`` needs ``input_background``, and
    ``"minibatch"`` runs dense inputs even when one is given. ``buffers=False`` leaves the
    buffer trainers out (:meth:`Network.fit`: the engine itself reaches only the reference and
    the compiled single-sample loop, so a stored run that trains through it never depends on
    the buffer trainers' code, ``fingerprint.py``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "reference":
        return backend
    if not buffers and backend in ("minibatch", "sparse"):
        raise ValueError(f"backend {backend!r} runs through learning_rules.training.Trainer (or the "
                         "estimators), not Network.fit; Network.fit takes 'auto', 'reference' or 'single'")
    if backend in ("auto", "single") and batch_size == 1:
        from . import fast

        reason = fast.unsupported_reason(net)
        if reason is None:
            return "single"
        if backend == "single":
            raise ValueError(f"the compiled single-sample loop does not apply: {reason}")
    if backend == "single":
        raise ValueError(f"the compiled single-sample loop runs batch 1, got batch_size={batch_size}")
    if not buffers:
        return "reference"
    if backend == "sparse" and input_background is None:
        raise ValueError("backend 'sparse' computes the first layer on the inputs that differ from "
                         "their background value: pass input_background (the value most inputs "
                         "take), or use backend='minibatch' for dense inputs")
    reason = minibatch_unsupported(net)
    if reason is None:
        if backend == "minibatch":  # forced dense, even where a background would allow sparse
            return backend
        return "sparse" if input_background is not None else "minibatch"
    if backend != "auto":
        raise ValueError(f"the mini-batch buffer trainer does not apply: {reason}")
    return "reference"


def parameters_finite(net) -> bool:
    """Every weight and bias of ``net`` is finite (NaN and inf are absorbing under every rule)."""
    biases = (b for b in net.mlp.biases if b is not None)
    return all(np.isfinite(a).all() for a in (*net.mlp.weights, *biases))


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------


def run_epoch(step: Callable[[Batch], tuple[float, np.ndarray]], batches: Iterable[Batch], *,
              score: Callable[[np.ndarray, Batch], int] | None = None,
              on_batch: Callable[[Batch, float], Any] | None = None,
              diverged: Callable[[float], bool] | None = None) -> EpochStats:
    """One epoch: a step on each batch in order, summing the loss and the correct outputs.

    Parameters
    ----------
    step : ``step(batch) -> (loss, z_L)``, the loss before the update and the pre-update logits
    batches : the epoch's batches
    score : ``score(z_L, batch) -> int``, the batch's correct outputs (optional)
    on_batch : ``on_batch(batch, loss)`` after each batch; after a divergence it is still called
        for the remaining batches, with ``loss = nan``, and no step is taken
    diverged : ``diverged(loss) -> bool`` after each step; ``True`` stops stepping for the rest of
        the epoch (default: never)
    """
    loss_sum, n, correct, last, stopped = 0.0, 0, 0, None, False
    for batch in batches:
        if stopped:
            if on_batch is not None:
                on_batch(batch, float("nan"))
            continue
        value, z = step(batch)
        size = batch.Y.shape[0]
        loss_sum += value * size  # as the loops before: the step's own float type
        n += size
        if score is not None:
            correct += score(z, batch)
        last = batch
        if on_batch is not None:
            on_batch(batch, value)
        if diverged is not None and diverged(value):
            stopped = True
    return EpochStats(loss_sum, n, correct, last, stopped)


class Trainer:
    """A network, the backend chosen for it, and its epochs.

    Parameters
    ----------
    net : learning_rules.engine.Network
        Trained in place.
    batch_size : int
    backend : one of :data:`BACKENDS` (see :func:`choose_backend`)
    input_background : float, optional
        The value most input entries take (MNIST-parity's zero pixel): the buffer trainers then
        compute the first layer on the sparse remainder of the input (``backend="sparse"``).
    """

    def __init__(self, net, batch_size: int, backend: str = "auto",
                 input_background: float | None = None) -> None:
        self.net = net
        self.batch_size = int(batch_size)
        self.backend = choose_backend(net, self.batch_size, backend, input_background)
        stepper = self.backend
        if stepper == "single":  # whole epochs compiled in fit(); a batch at a time, the buffers
            stepper = "minibatch" if minibatch_unsupported(net) is None else "reference"
        #: the buffer trainer's stepper, or None for the reference (``Network._step`` itself)
        self.stepper: MinibatchStepper | None = None
        if stepper in ("minibatch", "sparse"):
            self.stepper = MinibatchStepper(net, self.batch_size,
                                            input_background if stepper == "sparse" else None)
            self._step = self.stepper.step
        else:
            self._step = reference_step(net)

    def set_epoch(self, epoch: int) -> None:
        """Tell the rule (and the fast trainer) the 0-based epoch (Adam's epoch counting uses it)."""
        set_epoch = getattr(self.net.rule, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
        self._stepper_epoch(epoch)

    def _stepper_epoch(self, epoch: int) -> None:
        if self.stepper is not None:
            self.stepper.set_epoch(epoch)

    def step(self, batch: Batch) -> tuple[float, np.ndarray]:
        """One step on ``batch``: its loss before the update and the pre-update logits."""
        return self._step(batch)

    def run_epoch(self, batches: Iterable[Batch], **hooks) -> EpochStats:
        """:func:`run_epoch` with this trainer's step."""
        return run_epoch(self.step, batches, **hooks)

    def finish(self) -> None:
        """Leave the network's arrays in their usual layout (after a sparse run)."""
        finish = getattr(self.stepper, "finish", None)
        if finish is not None:
            finish()

    def fit(self, X: np.ndarray, Y: np.ndarray, num_epochs: int, rng: np.random.Generator,
            shuffle: bool = True, callback: Callable[[Any, int, float], Any] | None = None) -> list[float]:
        """:func:`fit_epochs` on this trainer's backend (``Y`` encoded once, not per batch)."""
        Y = self.net.loss.encode(Y, self.net.mlp.sizes[-1], self.net.mlp.dtype)
        try:
            return fit_epochs(self.net, X, Y, num_epochs, self.batch_size, rng, shuffle, callback,
                              step=self._step, set_epoch=self._stepper_epoch,
                              single=self.backend == "single")
        finally:
            self.finish()


def fit_epochs(net, X: np.ndarray, Y: np.ndarray, num_epochs: int, batch_size: int,
               rng: np.random.Generator, shuffle: bool = True,
               callback: Callable[[Any, int, float], Any] | None = None, *,
               step: Callable[[Batch], tuple[float, np.ndarray]] | None = None,
               set_epoch: Callable[[int], Any] | None = None, single: bool = False) -> list[float]:
    """:meth:`Network.fit`'s epochs on validated data.

    Per epoch: the rule learns the epoch number, a permutation of the rows is drawn from ``rng``
    (the rows in order without ``shuffle``), and :func:`run_epoch` steps through mini-batches of
    ``batch_size`` (``step``: default the reference :meth:`Network._step`; ``single``: the whole
    epoch in one call of the compiled single-sample loop, the same samples in the same order).
    Returns the per-epoch loss, the sample-weighted mean of the batch losses measured before each
    update; ``callback(network, epoch, loss)`` runs after each epoch and ``True`` stops.
    """
    if step is None:
        step = reference_step(net)
    n = X.shape[0]
    losses: list[float] = []
    for _ in range(num_epochs):
        rule_epoch = getattr(net.rule, "set_epoch", None)
        if rule_epoch is not None:
            rule_epoch(net.epochs_done)
        if set_epoch is not None:
            set_epoch(net.epochs_done)
        order = rng.permutation(n) if shuffle else np.arange(n)
        if single:
            from . import fast

            losses.append(float(np.mean(fast.fit_steps(net, X, Y, order))))
        else:
            # ndarray.take: the rows X[idx], gathered somewhat faster than by fancy indexing
            batches = (Batch(X.take(idx, axis=0), Y.take(idx, axis=0)) for idx in
                       (order[s:s + batch_size] for s in range(0, n, batch_size)))
            losses.append(run_epoch(step, batches).loss_sum / n)
        net.epochs_done += 1
        if callback is not None and callback(net, net.epochs_done - 1, losses[-1]) is True:
            break
    return losses
