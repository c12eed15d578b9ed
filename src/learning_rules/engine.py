r"""The engine: a network trained by one credit assignment composed with one weight update.

One training step (:meth:`Network.train_step`) is

1. forward pass with cache, :math:`z_l = h_{l-1} W_l^\top + b_l`, :math:`h_l = f_l(z_l)`;
2. output error :math:`e = \partial E_i / \partial z_L` per sample (the loss);
3. every teaching signal :math:`\delta_1..\delta_L` from the credit assignment, all computed
   from the *pre-update* weights;
4. for each trainable layer, ``rule.apply(state_l, W_l, b_l, delta_l, h_{l-1})`` in place.

Credit assignment never touches weights; a weight update never looks at other layers, so every
pair (backprop / FA / DFA) x (gradient / dual_weight / dual_weight_stabilized) runs.

Explained in: book/conventions.md (notation), book/foundations/backprop.ipynb (backprop checked against the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .credit import get_credit
from .nn.losses import accuracy as _accuracy
from .nn.losses import check_pairing, get_loss
from .nn.losses import predict_proba as _predict_proba
from .nn.losses import predictions as _predictions
from .nn.mlp import MLP, Cache, forward

__all__ = ["Evaluation", "Network", "make_weight_update"]


class Evaluation(NamedTuple):
    """Result of :meth:`Network.evaluate`: batch-mean loss and accuracy (``nan`` for regression)."""

    loss: float
    accuracy: float


def make_weight_update(update: str | Any, lr: float, optimizer: str = "sgd",
                       optimizer_params: dict | None = None, l2: float = 0.0, l2_form: str = "loss",
                       l1: float = 0.0, n_train: int | None = None,
                       update_params: dict | None = None):
    """Build a weight-update rule by name from ``learning_rules.updates.WEIGHT_UPDATES``.

    An object that already has ``init_layer`` and ``apply`` is returned unchanged (then the other
    arguments are ignored).
    """
    if not isinstance(update, str):
        if hasattr(update, "init_layer") and hasattr(update, "apply"):
            return update
        raise ValueError(
            f"update must be a weight-update name or an object with init_layer/apply, got {update!r}"
        )
    from .updates import WEIGHT_UPDATES  # imported here: the updates package is optional at import

    cls = WEIGHT_UPDATES.lookup(update)
    return cls(lr=lr, optimizer=optimizer, optimizer_params=dict(optimizer_params or {}), l2=l2,
               l2_form=l2_form, l1=l1, n_train=n_train, **dict(update_params or {}))


class Network:
    """An :class:`~learning_rules.nn.mlp.MLP` with a credit assignment, a weight update and a loss.

    Parameters
    ----------
    mlp : MLP
        Trained in place (its weight arrays are updated by the rule).
    credit : str or object
        Name in ``CREDIT_ASSIGNMENT`` (``"backprop"``, ``"fa"``, ``"dfa"``) or an instance.
    update : str or object
        Name in ``WEIGHT_UPDATES`` (``"gradient"``, ``"dual_weight"``, ``"dual_weight_stabilized"``)
        or a ready rule object with ``init_layer``/``apply``.
    loss : str
        Name in ``LOSSES``; must suit the output activation (:func:`check_pairing`).
    lr, optimizer, optimizer_params, l2, l2_form, l1, n_train, update_params
        Passed to the weight update's constructor (``update_params`` holds rule-specific ones).
    feedback_init, feedback_scale
        Feedback-matrix law and scale for FA/DFA (``None`` = 1/sqrt(fan-in)).
    trainable : sequence of bool or None
        Per-layer mask; ``None`` trains every layer (e.g. ``[False, True]`` = output layer only).
    rng : numpy.random.Generator
        Draws the feedback matrices, then each layer's rule state, then the shuffles of :meth:`fit`.
    """

    def __init__(
        self,
        mlp: MLP,
        credit: str | Any = "backprop",
        update: str | Any = "gradient",
        loss: str = "mse",
        lr: float = 0.01,
        optimizer: str = "sgd",
        optimizer_params: dict | None = None,
        l2: float = 0.0,
        l2_form: str = "loss",
        l1: float = 0.0,
        n_train: int | None = None,
        update_params: dict | None = None,
        feedback_init: str = "uniform",
        feedback_scale: float | None = None,
        trainable: Sequence[bool] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not isinstance(mlp, MLP):
            raise ValueError(f"mlp must be a learning_rules.nn.MLP, got {type(mlp).__name__}")
        if rng is None:
            rng = np.random.default_rng()
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.mlp = mlp
        self.rng = rng
        self.loss = get_loss(loss)
        check_pairing(self.loss, mlp.acts[-1])
        L = mlp.n_layers
        if trainable is None:
            trainable = [True] * L
        trainable = [bool(t) for t in trainable]
        if len(trainable) != L:
            raise ValueError(f"trainable needs one flag per layer ({L}), got {len(trainable)}")
        self.trainable = trainable
        self.credit = get_credit(credit)
        self.credit_state = self.credit.init_state(mlp, rng, feedback_init=feedback_init,
                                                   scale=feedback_scale)
        self.rule = make_weight_update(update, lr, optimizer, optimizer_params, l2, l2_form, l1,
                                       n_train, update_params)
        self.layer_states = [
            self.rule.init_layer(W, b, rng) if t else None
            for W, b, t in zip(mlp.weights, mlp.biases, trainable)
        ]
        self.epochs_done = 0
        self.steps_done = 0

    # -- validation (public wrappers only) -------------------------------------------------------
    def _check_xy(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X = self.mlp.check_input(X)
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
        Y = self.loss.encode(y, self.mlp.sizes[-1], self.mlp.dtype)
        return X, Y

    # -- the step --------------------------------------------------------------------------------
    def _step(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """One update on a validated batch; returns the batch-mean loss before the update and
        the pre-update output logits ``z_L``."""
        mlp = self.mlp
        cache = forward(mlp.weights, mlp.biases, mlp.acts, X, mlp.gates)
        z_L, f_L = cache.z[-1], mlp.acts[-1]
        value = self.loss.value(z_L, Y, f_L)
        e = self.loss.output_error(z_L, Y, f_L)
        deltas = self.credit.deltas(mlp, cache, e, self.credit_state)
        for i, state in enumerate(self.layer_states):
            if state is not None:
                self.rule.apply(state, mlp.weights[i], mlp.biases[i], deltas[i], cache.h[i])
        self.steps_done += 1
        return value, z_L

    def train_step(self, X, y) -> float:
        """Validate a batch, take one step, and return its loss measured before the step."""
        X, Y = self._check_xy(X, y)
        return self._step(X, Y)[0]

    def signals(self, X, y) -> tuple[Cache, np.ndarray, list[np.ndarray]]:
        """Forward cache, output error and teaching signals for a batch, without updating."""
        X, Y = self._check_xy(X, y)
        cache = self.mlp.forward(X, check=False)
        e = self.loss.output_error(cache.z[-1], Y, self.mlp.acts[-1])
        return cache, e, self.credit.deltas(self.mlp, cache, e, self.credit_state)

    # -- loops -----------------------------------------------------------------------------------
    def _run_epochs(self, X: np.ndarray, Y: np.ndarray, num_epochs: int, batch_size: int,
                    rng: np.random.Generator, shuffle: bool,
                    callback: Callable[[Network, int, float], Any] | None,
                    backend: str = "auto") -> list[float]:
        """The mini-batch epochs on validated data (:func:`learning_rules.training.fit_epochs`)."""
        from .training import choose_backend, fit_epochs

        bs = min(batch_size, X.shape[0])
        single = choose_backend(self, bs, backend, buffers=False) == "single"
        return fit_epochs(self, X, Y, num_epochs, bs, rng, shuffle, callback, single=single)

    def fit(self, X, y, num_epochs: int = 1, batch_size: int = 32,
            rng: np.random.Generator | None = None, shuffle: bool = True,
            callback: Callable[[Network, int, float], Any] | None = None,
            backend: str = "auto") -> list[float]:
        """Train for ``num_epochs`` passes over ``(X, y)`` in mini-batches.

        Each epoch draws a permutation from ``rng`` (default: the network's generator) when
        ``shuffle``; the last batch may be smaller. Returns the per-epoch training loss: the
        sample-weighted mean of the batch losses, each measured before its update.
        ``callback(network, epoch, epoch_loss)`` runs after each epoch; returning ``True`` stops.

        ``backend`` (:func:`learning_rules.training.choose_backend`): ``"auto"`` takes the
        compiled single-sample loop at batch 1 when it supports this network (proven equal to the
        reference to rounding), the NumPy step otherwise; ``"reference"`` forces the NumPy step
        (bit for bit what :meth:`train_step` does); ``"single"`` forces the compiled loop and
        raises ``ValueError`` saying why when it does not apply. The mini-batch buffer trainers of
        :mod:`learning_rules.fast.minibatch` run through :class:`learning_rules.training.Trainer`
        (the estimators use it), so that the engine's stored results never depend on their code.
        """
        X, Y = self._check_xy(X, y)
        num_epochs = _positive_int("num_epochs", num_epochs, allow_zero=True)
        batch_size = _positive_int("batch_size", batch_size)
        if rng is None:
            rng = self.rng
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return self._run_epochs(X, Y, num_epochs, batch_size, rng, shuffle, callback, backend)

    def _fast_reason(self) -> str | None:
        """Why the compiled single-sample loop cannot run this network (``None`` if it can)."""
        from . import fast

        return fast.unsupported_reason(self)

    def fit_steps(self, X, y, indices, backend: str = "auto") -> np.ndarray:
        """Single-sample steps on ``X[indices[0]]``, ``X[indices[1]]``, ... (the papers' protocol).

        Returns the per-step losses (before each update), shape ``(len(indices),)``.

        ``backend``: ``"auto"`` runs the compiled loop of :mod:`learning_rules.fast` when it
        supports this network (proven equal to the reference to 1e-12 by the tests) and the NumPy
        reference otherwise; ``"numpy"`` forces the reference; ``"fast"`` requires the compiled loop
        and raises ``ValueError`` saying why when it does not apply.
        """
        if backend not in ("auto", "numpy", "fast"):
            raise ValueError(f"backend must be 'auto', 'numpy' or 'fast', got {backend!r}")
        if backend != "numpy":
            reason = self._fast_reason()
            if reason is None:
                from . import fast

                return fast.fit_steps(self, X, y, indices)
            if backend == "fast":
                raise ValueError(f"the compiled fast path does not apply: {reason}; "
                                 "use backend='numpy' (or 'auto') for the NumPy reference")
        X, Y = self._check_xy(X, y)
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise ValueError("indices must be a 1-D sequence of integer sample indices")
        if idx.size and (idx.min() < 0 or idx.max() >= X.shape[0]):
            raise ValueError(f"indices must lie in 0..{X.shape[0] - 1}")
        out = np.empty(idx.shape[0])
        for k, i in enumerate(idx):
            out[k] = self._step(X[i:i + 1], Y[i:i + 1])[0]
        return out

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, X, y) -> Evaluation:
        """Batch-mean loss and accuracy (``nan`` for regression losses) on ``(X, y)``."""
        X, Y = self._check_xy(X, y)
        z_L = self.mlp.forward(X, check=False).z[-1]
        f_L = self.mlp.acts[-1]
        return Evaluation(self.loss.value(z_L, Y, f_L), _accuracy(z_L, Y, self.loss, f_L))

    def predict(self, X) -> np.ndarray:
        """Labels (bce/cce) or values (regression); see :func:`learning_rules.nn.losses.predictions`."""
        z_L = self.mlp.forward(X).z[-1]
        return _predictions(z_L, self.loss, self.mlp.acts[-1])

    def predict_proba(self, X) -> np.ndarray:
        """The output ``y_hat`` (probabilities for bce/cce, the link applied to identity logits)."""
        z_L = self.mlp.forward(X).z[-1]
        return _predict_proba(z_L, self.loss, self.mlp.acts[-1])

    def __repr__(self) -> str:
        return (f"Network(sizes={self.mlp.sizes}, activations={self.mlp.activations}, "
                f"credit={self.credit!r}, rule={self.rule!r}, loss={self.loss.name!r})")


def _positive_int(name: str, value, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be >= {0 if allow_zero else 1}, got {value}")
    return int(value)
