"""Losses: the batch-mean value and the per-sample output error ``e = dE_i/dz_L``.

A :class:`Loss` sees the output pre-activation ``z_L`` (batch, n_L), the targets ``y`` and the
output activation ``f_L``. The prediction is ``y_hat = f_L(z_L)``.

* ``value(z_L, y, f_L)`` -- the mean over the batch of the per-sample loss ``E_i`` (a float);
* ``output_error(z_L, y, f_L)`` -- ``e[i] = dE_i/dz_L[i]``, shape (batch, n_L). The gradient of
  the batch-mean loss with respect to ``W_L`` is then ``e^T h_{L-1} / batch``.

Fused, overflow-free forms serve the canonical pairs (identity, mse), (identity, squared_error),
(sigmoid, bce) and (softmax, cce): they work on the logits ``z_L`` through softplus and
log-sum-exp, so logits of +-1e4 give finite, exact values. An ``identity`` output with ``bce`` or
``cce`` means "the network emits logits and the loss applies the link" -- the convention of
PyTorch's ``BCEWithLogitsLoss`` / ``CrossEntropyLoss`` that the dual-weight paper's code uses (a
linear output layer, softmax inside the loss); it takes the same fused path. Every other allowed
pairing (e.g. sigmoid + mse, softmax + bce) takes the general path: ``dE/dy_hat`` pushed back
through ``f_L.backward`` (which is :func:`~learning_rules.nn.activations.softmax_jvp` for softmax).
:func:`check_pairing` rejects pairings whose prediction cannot be a probability.

Targets: ``mse``/``squared_error``/``bce`` take ``(batch, n_L)`` or, when ``n_L == 1``, ``(batch,)``;
``cce`` takes integer labels ``(batch,)`` or one-hot/soft rows ``(batch, n_L)``.

Explained in: book/foundations/backprop.ipynb (loss derivatives and the sources' sign slips).
"""

from __future__ import annotations

import numpy as np

from .._registry import Registry
from .activations import Activation, get_activation, sigmoid, softmax

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Loss",
    "MeanSquaredError",
    "SquaredError",
    "accuracy",
    "check_pairing",
    "encode_targets",
    "get_loss",
    "log_sigmoid",
    "logsumexp",
    "predict_proba",
    "predictions",
    "softplus",
]


# ----------------------------------------------------------------------------------------------
# stable building blocks
# ----------------------------------------------------------------------------------------------

def softplus(z: np.ndarray) -> np.ndarray:
    r"""Overflow-free softplus.

    .. math:: \operatorname{softplus}(z) = \log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})
    """
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Overflow-free :math:`\log \sigma(z) = -\operatorname{softplus}(-z)`."""
    return -softplus(-z)


def logsumexp(z: np.ndarray) -> np.ndarray:
    r"""Row-wise log-sum-exp, shape (batch, 1).

    .. math:: \operatorname{lse}(z) = m + \log \sum_k e^{z_k - m}, \qquad m = \max_k z_k
    """
    m = np.max(z, axis=-1, keepdims=True)
    return m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------

class Loss:
    """Base class. Subclasses define the fused logit path and the general probability path."""

    name: str = "loss"
    #: The output activation for which the fused form is exact (the "canonical link").
    link: str = "identity"
    #: Output activations (besides ``link``) that are allowed; ``None`` = all.
    allowed: tuple[str, ...] | None = None
    #: Whether an ``identity`` output is read as logits of ``link`` (bce/cce) or as the prediction.
    identity_is_logits: bool = False
    #: ``True`` for classification losses (accuracy is defined).
    classification: bool = False

    # -- targets ---------------------------------------------------------------------------
    def encode(self, y: np.ndarray, n_out: int, dtype=np.float64) -> np.ndarray:
        """Targets as a float array (batch, n_out) (see the module docstring for accepted forms)."""
        y = np.asarray(y)
        if y.ndim == 1:
            if n_out != 1:
                raise ValueError(
                    f"loss {self.name!r}: 1-D targets need a single output unit, but the network "
                    f"has {n_out}; pass targets of shape (batch, {n_out})"
                )
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError(
                f"loss {self.name!r}: targets of shape {y.shape} do not match the {n_out} output "
                f"units; expected (batch, {n_out})" + (" or (batch,)" if n_out == 1 else "")
            )
        return y.astype(dtype, copy=False)

    def _fused(self, act: Activation) -> bool:
        return act.name == self.link or (self.identity_is_logits and act.name == "identity")

    # -- public API --------------------------------------------------------------------------
    def value(self, z_L: np.ndarray, y: np.ndarray, output_activation: Activation | str) -> float:
        """Batch mean of the per-sample loss ``E_i`` (a Python float)."""
        act = get_activation(output_activation)
        Y = self.encode(y, z_L.shape[1], z_L.dtype)
        per_sample = (self._value_logits(z_L, Y) if self._fused(act)
                      else self._value_probs(act.forward(z_L), Y))
        return float(np.mean(per_sample))

    def per_sample(self, z_L, y, output_activation) -> np.ndarray:
        """The per-sample losses ``E_i``, shape (batch,)."""
        act = get_activation(output_activation)
        Y = self.encode(y, z_L.shape[1], z_L.dtype)
        return (self._value_logits(z_L, Y) if self._fused(act)
                else self._value_probs(act.forward(z_L), Y))

    def output_error(self, z_L: np.ndarray, y: np.ndarray,
                     output_activation: Activation | str) -> np.ndarray:
        """Per-sample output error ``e = dE_i/dz_L``, shape (batch, n_L)."""
        act = get_activation(output_activation)
        Y = self.encode(y, z_L.shape[1], z_L.dtype)
        if self._fused(act):
            return self._error_logits(z_L, Y)
        return act.backward(z_L, self._dE_dyhat(act.forward(z_L), Y))

    # -- to be defined per loss ----------------------------------------------------------------
    def _value_logits(self, z, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _error_logits(self, z, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _value_probs(self, y_hat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dE_dyhat(self, y_hat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    r"""Half squared error, averaged over samples (scikit-learn's ``squared_error`` convention).

    .. math:: E_i = \tfrac12 \lVert \hat y_i - y_i \rVert^2, \qquad
              \frac{\partial E_i}{\partial \hat y_i} = \hat y_i - y_i

    With an identity output, :math:`e_i = \hat y_i - y_i` (the fused form).
    """

    name = "mse"
    link = "identity"

    def _value_logits(self, z, Y):
        return self._value_probs(z, Y)

    def _error_logits(self, z, Y):
        return z - Y

    def _value_probs(self, y_hat, Y):
        d = y_hat - Y
        return 0.5 * np.sum(d * d, axis=1)

    def _dE_dyhat(self, y_hat, Y):
        return y_hat - Y


class SquaredError(MeanSquaredError):
    r"""Squared error without the 1/2, averaged over samples (PyTorch ``MSELoss`` for one output).

    .. math:: E_i = \lVert \hat y_i - y_i \rVert^2, \qquad
              \frac{\partial E_i}{\partial \hat y_i} = 2(\hat y_i - y_i)

    Source: Wang (2025) code, ``nn.MSELoss`` on a scalar output: the output grad is ``2(y_hat - y)``.
    """

    name = "squared_error"

    def _error_logits(self, z, Y):
        return 2 * (z - Y)

    def _value_probs(self, y_hat, Y):
        d = y_hat - Y
        return np.sum(d * d, axis=1)

    def _dE_dyhat(self, y_hat, Y):
        return 2 * (y_hat - Y)


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy per output unit, summed over units, averaged over samples.

    On logits (sigmoid or identity output), with :math:`p = \sigma(z)`:

    .. math::
        E_i = \sum_k -y_k \log p_k - (1 - y_k)\log(1 - p_k)
            = \sum_k \operatorname{softplus}(z_k) - y_k z_k,
        \qquad \frac{\partial E_i}{\partial z_k} = \sigma(z_k) - y_k

    For one output unit this is PyTorch's ``BCELoss`` (mean reduction) on ``sigmoid(z)``.
    Source: Demirbilek (2021) Appendix A and section 2.3 of the code spec (``e = y_hat - y``).
    """

    name = "bce"
    link = "sigmoid"
    allowed = ("identity", "sigmoid", "softmax")
    identity_is_logits = True
    classification = True

    def _value_logits(self, z, Y):
        return np.sum(softplus(z) - Y * z, axis=1)

    def _error_logits(self, z, Y):
        return sigmoid(z) - Y

    def _value_probs(self, p, Y):
        return -np.sum(Y * np.log(p) + (1 - Y) * np.log1p(-p), axis=1)

    def _dE_dyhat(self, p, Y):
        return (p - Y) / (p * (1 - p))


class CategoricalCrossEntropy(Loss):
    r"""Categorical cross-entropy, averaged over samples; labels as integers or (soft) one-hot rows.

    On logits (softmax or identity output), with :math:`s = \operatorname{softmax}(z)`:

    .. math::
        E_i = -\sum_k y_k \log s_k = \sum_k y_k\,(\operatorname{lse}(z) - z_k),
        \qquad \frac{\partial E_i}{\partial z_j} = s_j \sum_k y_k - y_j
        \;\overset{\text{one-hot}}{=}\; s_j - y_j

    Source: Wang (2025) code, ``nn.CrossEntropyLoss`` on a linear output: grad = softmax(z) - onehot(y).
    """

    name = "cce"
    link = "softmax"
    allowed = ("identity", "softmax", "sigmoid")
    identity_is_logits = True
    classification = True

    def encode(self, y, n_out, dtype=np.float64):
        y = np.asarray(y)
        if y.ndim == 1:
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ValueError("loss 'cce': labels contain NaN or inf")
            labels = y.astype(np.int64, copy=False)
            if y.size and (np.any(labels != y) or labels.min() < 0 or labels.max() >= n_out):
                raise ValueError(
                    f"loss 'cce': integer labels must lie in 0..{n_out - 1} (one per output unit); "
                    f"got values in [{y.min()}, {y.max()}]"
                )
            Y = np.zeros((y.shape[0], n_out), dtype=dtype)
            Y[np.arange(y.shape[0]), labels] = 1
            return Y
        return super().encode(y, n_out, dtype)

    def _value_logits(self, z, Y):
        return np.sum(Y * (logsumexp(z) - z), axis=1)

    def _error_logits(self, z, Y):
        return softmax(z) * np.sum(Y, axis=1, keepdims=True) - Y

    def _value_probs(self, p, Y):
        return -np.sum(Y * np.log(p), axis=1)

    def _dE_dyhat(self, p, Y):
        return -Y / p


#: name -> Loss instance.
LOSSES: Registry[Loss] = Registry("loss")
LOSSES.register("mse", MeanSquaredError())
LOSSES.register("squared_error", SquaredError())
LOSSES.register("bce", BinaryCrossEntropy())
LOSSES.register("cce", CategoricalCrossEntropy())


def get_loss(spec: str | Loss) -> Loss:
    """Resolve a loss name or pass a :class:`Loss` instance through (``ValueError`` if unknown)."""
    if isinstance(spec, Loss):
        return spec
    return LOSSES.lookup(spec)


def check_pairing(loss: str | Loss, output_activation: str | Activation) -> None:
    """Raise ``ValueError`` if ``output_activation`` cannot feed ``loss``.

    ``bce``/``cce`` need an output in (0, 1) (sigmoid or softmax) or logits (identity).
    """
    L = get_loss(loss)
    act = get_activation(output_activation)
    if L.allowed is not None and act.name not in L.allowed:
        raise ValueError(
            f"loss {L.name!r} cannot follow output activation {act.name!r}: its prediction must be a "
            f"probability; use one of {', '.join(L.allowed)} (identity = logits, link applied in the loss)"
        )


def encode_targets(loss: str | Loss, y, n_out: int, dtype=np.float64) -> np.ndarray:
    """Targets in the (batch, n_out) float form the loss uses internally."""
    return get_loss(loss).encode(y, n_out, dtype)


# ----------------------------------------------------------------------------------------------
# predictions and accuracy
# ----------------------------------------------------------------------------------------------

def predict_proba(z_L: np.ndarray, loss: str | Loss, output_activation: str | Activation) -> np.ndarray:
    """The prediction ``y_hat`` (batch, n_L): ``f_L(z_L)``, or the loss's link when ``f_L`` is identity logits."""
    L = get_loss(loss)
    act = get_activation(output_activation)
    if L.identity_is_logits and act.name == "identity":
        return get_activation(L.link).forward(z_L)
    return act.forward(z_L)


def predictions(z_L: np.ndarray, loss: str | Loss, output_activation: str | Activation) -> np.ndarray:
    """Predicted labels (classification) or values (regression).

    * ``cce``: ``argmax_k z_L`` (shape (batch,)); the argmax of the logits equals that of any
      monotone output.
    * ``bce``: ``1[p > 0.5]`` per unit, with ``p = 0.5`` mapped to 0 as in the thesis code;
      shape (batch,) for one output unit, else (batch, n_L).
    * ``mse``/``squared_error``: ``f_L(z_L)``.
    """
    L = get_loss(loss)
    if L.name == "cce":
        return np.argmax(z_L, axis=1)
    p = predict_proba(z_L, L, output_activation)
    if L.name == "bce":
        lab = (p > 0.5).astype(np.int64)
        return lab[:, 0] if lab.shape[1] == 1 else lab
    return p


def accuracy(z_L: np.ndarray, y, loss: str | Loss, output_activation: str | Activation) -> float:
    """Fraction of correctly classified samples (``cce``/``bce`` only; ``nan`` for regression losses)."""
    L = get_loss(loss)
    if not L.classification:
        return float("nan")
    pred = predictions(z_L, L, output_activation)
    y = np.asarray(y)
    if L.name == "cce":
        labels = np.argmax(y, axis=1) if y.ndim == 2 else y
        return float(np.mean(pred == labels))
    Y = L.encode(y, z_L.shape[1])
    P = pred.reshape(Y.shape)
    return float(np.mean(np.all(P == (Y > 0.5), axis=1)))
