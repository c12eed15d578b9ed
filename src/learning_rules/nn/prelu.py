r"""The parameterized ReLU (PReLU) of the lecture notes' eq. 1.17, whose negative slope is learned, and
backprop through an MLP with PReLU hidden layers: each forward formula next to its derivative.

.. math::
    \varphi_\alpha(z) = \begin{cases} z, & z > 0 \\ \alpha z, & z \le 0 \end{cases}
    = \max(0, z) + \alpha \min(0, z),
    \qquad \frac{\partial \varphi_\alpha}{\partial z} = \begin{cases} 1, & z > 0 \\ \alpha, & z \le 0 \end{cases},
    \qquad \frac{\partial \varphi_\alpha}{\partial \alpha} = \min(0, z)

``alpha = 0`` is ReLU, a fixed ``alpha`` is the leaky ReLU
(:class:`~learning_rules.nn.activations.LeakyReLU`, derivative at 0 taken from the ``z <= 0``
branch as there), ``alpha = 1`` the identity. The notes write one learnable :math:`\alpha`;
He et al. (2015) learn one per channel or one shared by a layer ("channel-shared"), starting at
0.25. Here each hidden layer ``l`` has ``alphas[l-1]`` of shape ``()`` (one per layer, the notes'
reading) or ``(n_l,)`` (one per unit).

Why not an ``ACTIVATIONS`` entry: an :class:`~learning_rules.nn.activations.Activation` is a
stateless name, and the engine (:class:`~learning_rules.engine.Network`, ``credit/``,
``updates/``) trains ``W`` and ``b`` only. A learnable :math:`\alpha` is a parameter of the
network, so this module carries its own small network (:class:`PReLUMLP`), its gradients
(:func:`prelu_gradients`: :math:`\nabla W, \nabla b, \nabla\alpha`) and a plain-SGD step for
:func:`learning_rules.training.run_epoch` (:func:`prelu_sgd_step`). With every ``alpha`` fixed at
a leaky slope it computes the engine's backprop gradients (``tests/test_prelu.py`` checks that).

Notation as in ``CONTRIBUTING.md``: :math:`z_l = h_{l-1} W_l^\top + b_l`, ``W_l`` of shape
``(n_l, n_{l-1})``, batch-first arrays; the output layer is linear with softmax and categorical
cross-entropy (the vanishing page's networks), the loss :math:`J` is the batch mean of the
per-sample :math:`E_i`.

Sources: [notes] Alrabeiah (2022), Lecture 5, eq. 1.17 ("where α is a learnable parameter");
He, Zhang, Ren, Sun (2015), "Delving deep into rectifiers", sec. 2.1 (the gradient in α, summed
over the positions that share it; initialization 0.25).

Explained in: book/foundations/vanishing.ipynb (section "A learnable slope: the parameterized ReLU").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .activations import softmax
from .losses import CategoricalCrossEntropy
from .mlp import MLP, Cache, layer_forward

__all__ = [
    "PReLUGradients",
    "PReLUMLP",
    "alpha_gradient",
    "prelu",
    "prelu_alpha_derivative",
    "prelu_backprop",
    "prelu_backward",
    "prelu_derivative",
    "prelu_forward",
    "prelu_gradients",
    "prelu_loss",
    "prelu_sgd_step",
]

#: The output layer's loss: softmax on the linear output, categorical cross-entropy.
_CCE = CategoricalCrossEntropy()
_OUTPUT = "softmax"


# ----------------------------------------------------------------------------------------------
# one unit: forward, derivative in z, derivative in alpha
# ----------------------------------------------------------------------------------------------


def prelu(z: np.ndarray, alpha) -> np.ndarray:
    r"""The parameterized ReLU, the notes' eq. 1.17.

    .. math:: \varphi_\alpha(z) = \begin{cases} z, & z > 0 \\ \alpha z, & z \le 0 \end{cases}
              = \max(0, z) + \alpha \min(0, z)

    (For :math:`\alpha \le 1` this is also :math:`\max(z, \alpha z)`; the max form fails for
    :math:`\alpha > 1`, the two-term form does not.)

    Parameters
    ----------
    z : ndarray, shape (batch, n)
    alpha : float or ndarray of shape () or (n,)
        One slope for every unit, or one per unit (broadcast along the batch).

    Returns
    -------
    ndarray, shape (batch, n)
    """
    return np.where(z > 0, z, alpha * z)


def prelu_derivative(z: np.ndarray, alpha) -> np.ndarray:
    r"""Derivative of :func:`prelu` in its input (at :math:`z = 0`, the :math:`z \le 0` branch's :math:`\alpha`).

    .. math:: \frac{\partial \varphi_\alpha(z)}{\partial z} = \begin{cases} 1, & z > 0 \\ \alpha, & z \le 0 \end{cases}

    Shapes as :func:`prelu`.
    """
    return np.where(z > 0, z.dtype.type(1), np.asarray(alpha, dtype=z.dtype))


def prelu_alpha_derivative(z: np.ndarray) -> np.ndarray:
    r"""Derivative of :func:`prelu` in its slope: the negative part of the input.

    .. math:: \frac{\partial \varphi_\alpha(z)}{\partial \alpha}
              = \begin{cases} 0, & z > 0 \\ z, & z \le 0 \end{cases} = \min(0, z)

    Shape of ``z``; it does not depend on :math:`\alpha`.
    """
    return np.minimum(z, 0)


def prelu_backward(z: np.ndarray, alpha, g: np.ndarray) -> np.ndarray:
    r"""Chain rule through :func:`prelu`: the teaching signal of a PReLU layer.

    .. math:: \delta_l = \frac{\partial E_i}{\partial z_l} = g_l \odot \varphi_{\alpha_l}'(z_l),
              \qquad g_l = \frac{\partial E_i}{\partial h_l} = \delta_{l+1} W_{l+1}

    ``z`` and ``g`` are ``(batch, n_l)``, one row per sample.
    """
    return g * prelu_derivative(z, alpha)


def alpha_gradient(g: np.ndarray, z: np.ndarray, shared: bool) -> np.ndarray:
    r"""Gradient of the batch-mean loss in a layer's slopes (He et al. 2015, eq. 4).

    .. math::
        \frac{\partial J}{\partial \alpha_{l,j}} = \frac1B \sum_{i=1}^{B} g_{l,ij} \min(0, z_{l,ij})
        \quad\text{(one per unit)}, \qquad
        \frac{\partial J}{\partial \alpha_l} = \frac1B \sum_{i=1}^{B}\sum_{j=1}^{n_l} g_{l,ij} \min(0, z_{l,ij})
        \quad\text{(one per layer)}

    with :math:`g_l = \partial E_i/\partial h_l` per sample: every position that uses a slope adds
    its share, as for a shared weight.

    Parameters
    ----------
    g, z : ndarray, shape (batch, n_l)
    shared : bool
        One slope for the layer (a 0-d array is returned) or one per unit (shape ``(n_l,)``).
    """
    per_unit = np.sum(g * prelu_alpha_derivative(z), axis=0) * (1.0 / g.shape[0])
    return np.asarray(per_unit.sum()) if shared else per_unit


# ----------------------------------------------------------------------------------------------
# the network: its parameters, the forward pass, and backprop for W, b and alpha
# ----------------------------------------------------------------------------------------------


@dataclass
class PReLUMLP:
    """An MLP with PReLU hidden layers and a linear output (softmax and cross-entropy in the loss).

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l-1] = W_l``, shape ``(n_l, n_{l-1})``, ``l = 1..L``.
    biases : list of (ndarray or None)
        ``biases[l-1] = b_l``, shape ``(n_l,)``, or ``None``.
    alphas : list of ndarray
        ``alphas[l-1] = alpha_l`` for the hidden layers ``l = 1..L-1``: shape ``()`` (one slope
        for the layer) or ``(n_l,)`` (one per unit), finite, in the weights' dtype.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray | None]
    alphas: list[np.ndarray]

    def __post_init__(self) -> None:
        self.weights = list(self.weights)
        self.biases = list(self.biases)
        self.alphas = list(self.alphas)
        self.validate()

    @classmethod
    def create(cls, sizes: Sequence[int], alpha: float = 0.25, shared: bool = True,
               init: str = "he_uniform", rng: np.random.Generator | None = None,
               dtype=np.float64) -> PReLUMLP:
        """Sizes ``(n_0, ..., n_L)``; weights drawn as :meth:`MLP.create` draws them (same
        generator, same draws: the engine's network of the same seed starts from the same
        weights), zero biases, every slope ``alpha`` (one per layer when ``shared``)."""
        alpha = float(alpha)
        if not np.isfinite(alpha):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        mlp = MLP.create(sizes, "identity", init=init, rng=rng, dtype=dtype)
        alphas = [np.full(() if shared else (W.shape[0],), alpha, dtype=mlp.dtype) for W in mlp.weights[:-1]]
        return cls(mlp.weights, mlp.biases, alphas)

    def validate(self) -> None:
        """Shapes chain, dtypes agree, one finite slope array of shape ``()`` or ``(n_l,)`` per
        hidden layer; ``ValueError`` naming the layer otherwise."""
        try:
            MLP(self.weights, self.biases, ["identity"] * len(self.weights))  # W and b: the MLP's checks
        except TypeError as err:
            raise ValueError(f"weights and biases must be lists of arrays: {err}") from None
        L = len(self.weights)
        if len(self.alphas) != L - 1:
            raise ValueError(f"need one slope array per hidden layer ({L - 1}), got {len(self.alphas)}")
        for l, (a, W) in enumerate(zip(self.alphas, self.weights), start=1):
            n = W.shape[0]
            if not isinstance(a, np.ndarray) or a.shape not in ((), (n,)):
                raise ValueError(f"alpha_{l} must be an array of shape () (one per layer) or ({n},) "
                                 f"(one per unit), got {getattr(a, 'shape', a)!r}")
            if a.dtype != W.dtype:
                raise ValueError(f"alpha_{l} has dtype {a.dtype}, but W_{l} has {W.dtype}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"alpha_{l} contains NaN or inf: {a!r}")

    @property
    def sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    def check_input(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """A validated batch: ``X`` of shape ``(batch, n_0)``, finite, in the weights' dtype, and the
        targets one-hot ``(batch, n_L)`` (integer labels or rows, as the ``cce`` loss takes them)."""
        X = np.asarray(X)
        n0, nL = self.sizes[0], self.sizes[-1]
        if X.ndim != 2 or X.shape[1] != n0:
            raise ValueError(f"X must have shape (batch, {n0}), got {X.shape}")
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        X = X.astype(self.weights[0].dtype, copy=False)
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or inf")
        Y = _CCE.encode(y, nL, X.dtype)
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but the targets have {Y.shape[0]}")
        return X, Y

    def copy(self) -> PReLUMLP:
        """A deep copy (arrays copied)."""
        return PReLUMLP([W.copy() for W in self.weights], [None if b is None else b.copy() for b in self.biases],
                        [a.copy() for a in self.alphas])


def prelu_forward(weights, biases, alphas, X: np.ndarray) -> Cache:
    r"""Forward pass with cache: PReLU hidden layers, a linear output and its softmax.

    .. math:: h_0 = X, \quad z_l = h_{l-1} W_l^\top + b_l, \quad
              h_l = \varphi_{\alpha_l}(z_l) \;(l < L), \quad h_L = \operatorname{softmax}(z_L)

    Returns the :class:`~learning_rules.nn.mlp.Cache` (``h[l]``, ``z[l]``; ``z[0]`` is ``None``).
    No validation (see :meth:`PReLUMLP.check_input`).
    """
    h: list[np.ndarray] = [X]
    z: list[np.ndarray | None] = [None]
    L = len(weights)
    for l in range(L):
        zl = layer_forward(h[-1], weights[l], biases[l])
        z.append(zl)
        h.append(prelu(zl, alphas[l]) if l < L - 1 else softmax(zl))
    return Cache(h=h, z=z)


class PReLUGradients(NamedTuple):
    """Gradients of the batch-mean loss (``W[l-1]``, ``b[l-1]`` for layer ``l``, ``alpha[l-1]`` for
    hidden layer ``l``), and the batch's loss and logits ``z_L`` before any update."""

    W: list[np.ndarray]
    b: list[np.ndarray | None]
    alpha: list[np.ndarray]
    loss: float
    z_L: np.ndarray


def prelu_backprop(weights, alphas, cache: Cache, e: np.ndarray):
    r"""Backprop through the PReLU network: every layer's :math:`\nabla W, \nabla b` and every hidden
    layer's :math:`\nabla\alpha`, from the output error :math:`e = \partial E_i/\partial z_L`.

    .. math::
        \delta_L = e, \qquad
        g_l = \delta_{l+1} W_{l+1}, \qquad
        \delta_l = g_l \odot \varphi_{\alpha_l}'(z_l), \\
        \nabla_{W_l} J = \tfrac1B \delta_l^\top h_{l-1}, \qquad
        \nabla_{b_l} J = \tfrac1B \textstyle\sum_i \delta_{l,i}, \qquad
        \nabla_{\alpha_l} J = \tfrac1B \textstyle\sum_i g_{l,i} \odot \min(0, z_{l,i})
        \;(\text{summed over the units sharing } \alpha_l)

    The first two lines are the engine's backprop (:func:`~learning_rules.credit.backprop.backprop_deltas`,
    :func:`~learning_rules.updates.gradient.weight_gradient`) with :math:`f' = \varphi'_\alpha`;
    the slope's gradient uses the same :math:`g_l` the teaching signal does.

    Returns ``(grads_W, grads_b, grads_alpha)``, lists indexed like ``weights``/``alphas``; the
    biases are not needed for the gradients, so every layer's bias gradient is returned (the
    caller drops those of bias-free layers).
    """
    L = len(weights)
    B = e.shape[0]
    gW: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    gb: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    ga: list[np.ndarray] = [None] * (L - 1)  # type: ignore[list-item]
    delta = e                                                  # delta_L = dE_i/dz_L
    for i in range(L - 1, -1, -1):                             # python index i is layer l = i + 1
        gW[i] = delta.T @ cache.h[i] * (1.0 / B)               # grad W_l = delta_l^T h_{l-1} / B
        gb[i] = delta.mean(axis=0)                             # grad b_l = mean_i delta_l
        if i > 0:
            g = delta @ weights[i]                             # g_{l-1} = dE_i/dh_{l-1} = delta_l W_l
            a, z = alphas[i - 1], cache.z[i]
            ga[i - 1] = alpha_gradient(g, z, shared=a.ndim == 0)   # grad alpha_{l-1}
            delta = prelu_backward(z, a, g)                    # delta_{l-1} = g ⊙ phi'(z_{l-1})
    return gW, gb, ga


def _gradients(net: PReLUMLP, X: np.ndarray, Y: np.ndarray) -> PReLUGradients:
    """:func:`prelu_gradients` on a validated batch (``Y`` one-hot): the step's hot path."""
    cache = prelu_forward(net.weights, net.biases, net.alphas, X)
    z_L = cache.z[-1]
    loss = _CCE.value(z_L, Y, _OUTPUT)
    e = _CCE.output_error(z_L, Y, _OUTPUT)                     # e = softmax(z_L) - Y
    gW, gb, ga = prelu_backprop(net.weights, net.alphas, cache, e)
    gb = [None if b is None else g for g, b in zip(gb, net.biases)]
    return PReLUGradients(gW, gb, ga, loss, z_L)


def prelu_gradients(net: PReLUMLP, X, y, check: bool = True) -> PReLUGradients:
    r"""Gradients of :math:`J = \frac1B\sum_i E_i` (softmax cross-entropy) in every ``W_l``, ``b_l``
    and ``alpha_l`` on the batch ``(X, y)``, without updating. Validates the batch and the network
    (``ValueError`` for wrong shapes, NaN inputs or slopes); ``check=False`` skips that for a batch
    already validated (``X`` in the weights' dtype, ``y`` one-hot), as a measurement of a run that
    may have diverged needs."""
    if check:
        net.validate()
        X, y = net.check_input(X, y)
    return _gradients(net, X, y)


def prelu_loss(net: PReLUMLP, X, y) -> float:
    r"""The batch-mean softmax cross-entropy :math:`J = \frac1B\sum_i E_i` of the network on ``(X, y)``."""
    net.validate()
    X, Y = net.check_input(X, y)
    z_L = prelu_forward(net.weights, net.biases, net.alphas, X).z[-1]
    return _CCE.value(z_L, Y, _OUTPUT)


def prelu_sgd_step(net: PReLUMLP, lr: float, learn_alpha: bool = True) -> Callable[[Any], tuple[float, np.ndarray]]:
    r"""``step(batch) -> (loss, z_L)`` for :func:`learning_rules.training.run_epoch`: one plain-SGD
    step on every parameter, in place.

    .. math:: W_l \leftarrow W_l - \eta \nabla_{W_l} J, \qquad b_l \leftarrow b_l - \eta \nabla_{b_l} J,
              \qquad \alpha_l \leftarrow \alpha_l - \eta \nabla_{\alpha_l} J \;(\text{if } \texttt{learn\_alpha})

    with the gradients of :func:`prelu_backprop`, all taken before any update (as the engine's
    step). No weight decay on :math:`\alpha` (He et al. 2015). ``learn_alpha=False`` keeps the
    slopes fixed: ReLU (``alpha = 0``) or a leaky ReLU. The batch is a
    :class:`~learning_rules.training.Batch` with dense ``X`` and one-hot ``Y`` in the network's
    dtype (encode once before the epochs); the network and ``lr`` are validated here, once.
    """
    lr = float(lr)
    if not (np.isfinite(lr) and lr >= 0):
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    net.validate()
    n0, nL = net.sizes[0], net.sizes[-1]

    def step(batch) -> tuple[float, np.ndarray]:
        X, Y = batch.X, batch.Y
        if X is None or X.ndim != 2 or X.shape[1] != n0 or Y.ndim != 2 or Y.shape != (X.shape[0], nL):
            raise ValueError(f"a PReLU step needs X of shape (batch, {n0}) and one-hot Y of shape "
                             f"(batch, {nL}); got {getattr(X, 'shape', None)} and {Y.shape}")
        grads = _gradients(net, X, Y)
        for W, gW in zip(net.weights, grads.W):
            W -= lr * gW
        for b, gb in zip(net.biases, grads.b):
            if b is not None:
                b -= lr * gb
        if learn_alpha:
            for a, ga in zip(net.alphas, grads.alpha):
                a -= lr * ga
        return grads.loss, grads.z_L

    return step
