"""scikit-learn estimators over the engine: any credit assignment x any weight update.

:class:`LearningRuleClassifier` and :class:`LearningRuleRegressor` follow ``MLPClassifier`` /
``MLPRegressor`` where a parameter exists there (``hidden_layer_sizes``, ``activation``,
``learning_rate_init``, ``batch_size``, ``max_iter`` = epochs, ``alpha`` = L2, ``shuffle``,
``random_state``) and add the book's two axes: ``credit`` ("backprop", "fa", "dfa") and ``update``
("gradient", "dual_weight", "dual_weight_stabilized"), plus ``optimizer``, ``l1``, ``init``,
``feedback_init`` and ``dtype``.

Hyper-parameters are stored untouched in ``__init__`` and validated in ``fit``. Learned attributes:
``coefs_`` (list of ``(n_in, n_out)`` arrays = ``W_l.T``; for dual weight ``W_l = W1 - W2``),
``intercepts_``, ``loss_curve_`` (per-epoch training loss, measured before each update),
``n_iter_`` (epochs run), ``t_`` (update steps), ``classes_``, ``n_features_in_``, ``network_``.

The training loop runs in exactly one place, :func:`_train_epochs` (the hook where a compiled fast
path can replace the NumPy reference).

Explained in: README.md and CONTRIBUTING.md (module contract); no book page uses the estimators yet.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .credit import CREDIT_ASSIGNMENT, FEEDBACK_INITIALIZERS
from .engine import Network
from .nn.activations import get_activation
from .nn.init import get_initializer
from .nn.mlp import MLP

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

__all__ = ["LearningRuleClassifier", "LearningRuleRegressor"]

_DUAL = ("dual_weight", "dual_weight_stabilized")


def _train_epochs(network: Network, X: np.ndarray, Y: np.ndarray, num_epochs: int, batch_size: int,
                  rng: np.random.Generator, shuffle: bool) -> list[float]:
    """The estimators' epochs: :meth:`Network.fit`'s loop on a :class:`learning_rules.training.Trainer`.

    Returns the per-epoch training losses. The backend is chosen by
    :func:`~learning_rules.training.choose_backend` (``"auto"``): the buffer trainers of
    :mod:`learning_rules.fast.minibatch` when they support the network (BP/FA/DFA, no penalty,
    SGD/Adagrad/Adadelta/RMSProp/Adam or the dual-weight rules), the compiled single-sample loop
    at batch 1, the NumPy reference otherwise; all proven equal to the reference to rounding. The
    optimizer state is the network's own, so ``partial_fit`` continues it.
    """
    from .training import Trainer

    return Trainer(network, min(batch_size, X.shape[0])).fit(X, Y, num_epochs, rng, shuffle)


def _as_generator(random_state) -> np.random.Generator:
    """``None`` -> fresh entropy; int -> ``default_rng(int)``; RandomState -> seeded from it."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32 - 1, dtype=np.uint64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    raise ValueError(f"random_state must be None, an int or a numpy random generator, got {random_state!r}")


class _LearningRuleBase(BaseEstimator):
    """Shared parameters, validation and the fit loop."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        credit="backprop",
        update="gradient",
        optimizer="auto",
        learning_rate_init=0.001,
        batch_size=32,
        max_iter=200,
        alpha=0.0,
        l1=0.0,
        init="he_uniform",
        feedback_init="uniform",
        shuffle=True,
        random_state=None,
        dtype="float64",
        optimizer_params=None,
        update_params=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.credit = credit
        self.update = update
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.l1 = l1
        self.init = init
        self.feedback_init = feedback_init
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.optimizer_params = optimizer_params
        self.update_params = update_params

    # -- validation ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        hl = self.hidden_layer_sizes
        if isinstance(hl, numbers.Integral):
            hl = (hl,)
        try:
            hl = tuple(hl)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got {hl!r}") from None
        if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hl):
            raise ValueError(f"hidden_layer_sizes must hold ints >= 1, got {self.hidden_layer_sizes!r}")
        self._hidden = [int(h) for h in hl]
        get_activation(self.activation)
        CREDIT_ASSIGNMENT.lookup(self.credit)
        from .updates import OPTIMIZERS, WEIGHT_UPDATES

        WEIGHT_UPDATES.lookup(self.update)
        if self.optimizer != "auto":
            OPTIMIZERS.lookup(self.optimizer)
        get_initializer(self.init)
        FEEDBACK_INITIALIZERS.lookup(self.feedback_init)
        for name in ("learning_rate_init", "alpha", "l1"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.learning_rate_init <= 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        bs = self.batch_size
        if not (bs == "auto" or (isinstance(bs, numbers.Integral) and not isinstance(bs, bool) and bs >= 1)):
            raise ValueError(f"batch_size must be an int >= 1 or 'auto', got {bs!r}")
        mi = self.max_iter
        if isinstance(mi, bool) or not isinstance(mi, numbers.Integral) or mi < 1:
            raise ValueError(f"max_iter (the number of epochs) must be an int >= 1, got {mi!r}")
        if str(np.dtype(self.dtype)) not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        for name in ("optimizer_params", "update_params"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict or None")

    def _resolved_optimizer(self) -> str:
        if self.optimizer != "auto":
            return self.optimizer
        # the dual-weight rule has no optimizer (it moves W1/W2 by running averages): "sgd";
        # gradient steps default to Adam, like MLPClassifier's default solver
        return "sgd" if self.update in _DUAL else "adam"

    # -- building and training -----------------------------------------------------------------
    def _build(self, n_in: int, n_out: int, out_act: str, loss: str, n_samples: int) -> None:
        self._rng = _as_generator(self.random_state)
        L_hidden = len(self._hidden)
        mlp = MLP.create([n_in, *self._hidden, n_out], [self.activation] * L_hidden + [out_act],
                         init=self.init, bias=True, rng=self._rng, dtype=np.dtype(self.dtype))
        self.network_ = Network(
            mlp, credit=self.credit, update=self.update, loss=loss, lr=self.learning_rate_init,
            optimizer=self._resolved_optimizer(), optimizer_params=self.optimizer_params,
            l2=self.alpha, l2_form="loss", l1=self.l1, n_train=n_samples,
            update_params=self.update_params, feedback_init=self.feedback_init, rng=self._rng,
        )
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.t_ = 0

    def _train(self, X: np.ndarray, Y: np.ndarray, num_epochs: int) -> None:
        bs = min(200, X.shape[0]) if self.batch_size == "auto" else int(self.batch_size)
        losses = _train_epochs(self.network_, X, Y, num_epochs, bs, self._rng, bool(self.shuffle))
        self.loss_curve_.extend(losses)
        self.n_iter_ += len(losses)
        self.t_ = self.network_.steps_done
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        self.coefs_ = [W.T.copy() for W in self.network_.mlp.weights]
        self.intercepts_ = [b.copy() for b in self.network_.mlp.biases]

    def _z_out(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, reset=False, dtype=np.dtype(self.dtype))
        return self.network_.mlp.forward(X, check=False).z[-1]


class LearningRuleClassifier(ClassifierMixin, _LearningRuleBase):
    """Multi-layer perceptron classifier trained by (``credit``, ``update``).

    Two classes: one sigmoid output with binary cross-entropy (the thesis set-up); more: softmax
    outputs with categorical cross-entropy (the dual-weight paper's linear output + CE is the same
    teaching signal ``softmax(z) - onehot(y)``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : str, default "relu"
        Hidden activation (a name in ``ACTIVATIONS``, or ``"leaky_relu:0.1"``).
    credit : {"backprop", "fa", "dfa"}, default "backprop"
    update : {"gradient", "dual_weight", "dual_weight_stabilized"}, default "gradient"
    optimizer : str, default "auto"
        A name in ``OPTIMIZERS``; "auto" = "adam" for gradient steps, "sgd" for the dual-weight rules
        (which accept no other).
    learning_rate_init : float, default 0.001
    batch_size : int or "auto", default 32
        "auto" = min(200, n_samples) as in scikit-learn.
    max_iter : int, default 200
        Number of epochs (no early stopping).
    alpha : float, default 0.0
        L2 strength; penalty ``alpha/(2 n) ||W||^2`` with ``n`` the training-set size.
    l1 : float, default 0.0
    init : str, default "he_uniform"
        Weight initializer name (``INITIALIZERS``); biases start at zero.
    feedback_init : str, default "uniform"
        Feedback-matrix law for FA/DFA (scale 1/sqrt(fan-in)).
    shuffle : bool, default True
    random_state : int, None or numpy random generator
    dtype : {"float64", "float32"}
    optimizer_params, update_params : dict or None
        Extra hyper-parameters of the optimizer / the weight update (e.g. ``{"init_split": ...}``).
    """

    def _encode_y(self, y):
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[idx] == y):
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(f"y contains labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        if len(self.classes_) == 2:
            return idx.astype(np.dtype(self.dtype))
        return idx

    def _fit(self, X, y, first: bool, classes=None, num_epochs=None):
        self._check_params()
        X, y = _validate_data(self, X, y, reset=first, dtype=np.dtype(self.dtype))
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                    f"got 1 class ({self.classes_[0]!r})"
                )
            k = len(self.classes_)
            out_act, loss, n_out = ("sigmoid", "bce", 1) if k == 2 else ("softmax", "cce", k)
            self._build(X.shape[1], n_out, out_act, loss, X.shape[0])
        Y = self._encode_y(y)
        self._train(X, Y, self.max_iter if num_epochs is None else num_epochs)
        return self

    def fit(self, X, y):
        """Train from scratch for ``max_iter`` epochs."""
        return self._fit(X, y, first=True)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call."""
        first = not hasattr(self, "network_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if not first and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {classes!r} differ from the first call's {self.classes_.tolist()}")
        return self._fit(X, y, first=first, classes=classes, num_epochs=1)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        z = self._z_out(X)
        p = self.network_.mlp.acts[-1].forward(z)  # sigmoid (two classes) or softmax
        if len(self.classes_) == 2:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels (threshold 0.5, ties to the first class, for two classes; argmax otherwise)."""
        z = self._z_out(X)
        if len(self.classes_) == 2:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]


class LearningRuleRegressor(RegressorMixin, _LearningRuleBase):
    """Multi-layer perceptron regressor (identity output) trained by (``credit``, ``update``).

    Parameters are those of :class:`LearningRuleClassifier`, plus

    loss : {"mse", "squared_error"}, default "mse"
        "mse" = mean of 1/2 ||y_hat - y||^2 (scikit-learn's convention); "squared_error" drops the
        1/2 (PyTorch ``MSELoss``, the dual-weight paper's regression loss).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss="mse", credit="backprop",
                 update="gradient", optimizer="auto", learning_rate_init=0.001, batch_size=32,
                 max_iter=200, alpha=0.0, l1=0.0, init="he_uniform", feedback_init="uniform",
                 shuffle=True, random_state=None, dtype="float64", optimizer_params=None,
                 update_params=None):
        super().__init__(hidden_layer_sizes, activation, credit=credit, update=update,
                         optimizer=optimizer, learning_rate_init=learning_rate_init,
                         batch_size=batch_size, max_iter=max_iter, alpha=alpha, l1=l1, init=init,
                         feedback_init=feedback_init, shuffle=shuffle, random_state=random_state,
                         dtype=dtype, optimizer_params=optimizer_params, update_params=update_params)
        self.loss = loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _fit(self, X, y, first: bool, num_epochs=None):
        self._check_params()
        if self.loss not in ("mse", "squared_error"):
            raise ValueError(f"loss must be 'mse' or 'squared_error', got {self.loss!r}")
        X, y = _validate_data(self, X, y, reset=first, dtype=np.dtype(self.dtype), multi_output=True,
                              y_numeric=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        Y = Y.astype(np.dtype(self.dtype), copy=False)
        if first:
            self._y_1d = y.ndim == 1
            self._build(X.shape[1], Y.shape[1], "identity", self.loss, X.shape[0])
        elif Y.shape[1] != self.network_.mlp.sizes[-1]:
            raise ValueError(f"y has {Y.shape[1]} outputs, but the first fit had {self.network_.mlp.sizes[-1]}")
        self._train(X, Y, self.max_iter if num_epochs is None else num_epochs)
        return self

    def fit(self, X, y):
        """Train from scratch for ``max_iter`` epochs."""
        return self._fit(X, y, first=True)

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)`` (builds the network on the first call)."""
        return self._fit(X, y, first=not hasattr(self, "network_"), num_epochs=1)

    def predict(self, X):
        """Predicted values, shape (n_samples,) for 1-D training targets, else (n_samples, n_outputs)."""
        z = self._z_out(X)
        return z[:, 0] if self._y_1d else z
