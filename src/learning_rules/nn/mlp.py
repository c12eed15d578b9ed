r"""The multi-layer perceptron: weights, optional biases, activations, and a forward pass with cache.

Notation (CONTRIBUTING): ``W_l = weights[l-1]`` has shape ``(n_l, n_{l-1})`` -- row ``j`` holds
neuron ``j``'s incoming weights; activations are batch-first.

.. math:: h_0 = X, \qquad z_l = h_{l-1} W_l^\top + b_l, \qquad h_l = f_l(z_l), \quad l = 1..L

A hidden layer may carry an input gate (:mod:`learning_rules.nn.gates`, the NTK baselines):
:math:`h_l = f_l(z_l) \odot g_l(X)`, with :math:`g_l` a frozen function of the network's input.

Explained in: book/conventions.md (notation), book/foundations/backprop.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .activations import Activation, activation_name, get_activation
from .gates import InputGate
from .init import BIAS_INITIALIZERS, get_initializer

__all__ = ["MLP", "Cache", "forward", "layer_forward"]


@dataclass
class Cache:
    """Everything the backward pass needs: ``h[l]`` (l = 0..L) and ``z[l]`` (``z[0]`` is ``None``);
    ``g[l]`` the gate of layer ``l`` of a gated network (``None`` for an ungated layer, and
    ``g`` itself ``None`` when no layer is gated)."""

    h: list[np.ndarray]
    z: list[np.ndarray | None]
    g: list[np.ndarray | None] | None = None

    @property
    def output(self) -> np.ndarray:
        """``h_L``, the network's prediction ``y_hat``."""
        return self.h[-1]


def layer_forward(h_prev: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    r"""Pre-activation of one layer.

    .. math:: z_l = h_{l-1} W_l^\top + b_l

    Parameters
    ----------
    h_prev : (batch, n_{l-1});  W : (n_l, n_{l-1});  b : (n_l,) or None

    Returns
    -------
    z : (batch, n_l)
    """
    z = h_prev @ W.T
    if b is not None:
        z = z + b
    return z


def forward(weights, biases, acts: Sequence[Activation], X: np.ndarray,
            gates: Sequence[InputGate | None] | None = None) -> Cache:
    r"""Forward pass through all layers, keeping every ``h_l`` and ``z_l`` (no validation).

    ``gates`` (one entry per layer, ``None`` where ungated; default none): a gated layer's output
    is :math:`h_l = f_l(z_l) \odot g_l(X)` and its gate is kept in ``cache.g``."""
    h: list[np.ndarray] = [X]
    z: list[np.ndarray | None] = [None]
    if gates is None or all(gate is None for gate in gates):
        for W, b, f in zip(weights, biases, acts):
            zl = layer_forward(h[-1], W, b)
            z.append(zl)
            h.append(f.forward(zl))
        return Cache(h=h, z=z)
    g: list[np.ndarray | None] = [None]
    for W, b, f, gate in zip(weights, biases, acts, gates):
        zl = layer_forward(h[-1], W, b)
        z.append(zl)
        gl = None if gate is None else gate(X)
        g.append(gl)
        h.append(f.forward(zl) if gl is None else f.forward(zl) * gl)
    return Cache(h=h, z=z, g=g)


@dataclass
class MLP:
    """A fully connected network.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l-1] = W_l``, shape ``(n_l, n_{l-1})``.
    biases : list of (ndarray or None)
        ``biases[l-1] = b_l``, shape ``(n_l,)``, or ``None`` for a layer without bias.
    activations : list of str
        ``activations[l-1]`` names ``f_l`` (``"relu"``, ``"leaky_relu:0.1"``, ...).
    gates : list of (InputGate or None), optional
        ``gates[l-1]`` gates hidden layer ``l`` by the network's input
        (:mod:`learning_rules.nn.gates`); default: no gates (``[None] * L``).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray | None]
    activations: list[str]
    gates: list[InputGate | None] | None = None
    _acts: list[Activation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.weights = list(self.weights)
        self.biases = list(self.biases)
        self.gates = [None] * len(self.weights) if self.gates is None else list(self.gates)
        self.activations = [a if isinstance(a, str) else activation_name(get_activation(a))
                            for a in self.activations]
        self._acts = [get_activation(a) for a in self.activations]
        self.validate()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        sizes: Sequence[int],
        activations: Sequence[str] | str,
        init="he_uniform",
        bias: bool | Sequence[bool] = True,
        bias_init: str | float = "zeros",
        rng: np.random.Generator | None = None,
        dtype=np.float64,
    ) -> MLP:
        """Build a network with layer sizes ``sizes = (n_0, n_1, ..., n_L)``.

        Parameters
        ----------
        sizes : sequence of int
            Input size first, output size last; at least two entries, all positive.
        activations : str or sequence of str
            One name per layer (``len(sizes) - 1`` of them); a single string is used for every layer.
        init : str, callable, or sequence of them
            Initializer name in :data:`~learning_rules.nn.init.INITIALIZERS` (per layer if a sequence).
        bias : bool or sequence of bool
            Whether each layer has a bias.
        bias_init : ``"zeros"``, ``"pytorch"`` or a number (constant)
        rng : numpy.random.Generator
            Required unless every initializer is deterministic; weights are drawn layer by layer.
        dtype : numpy dtype
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list at least an input and an output size, all >= 1; got {sizes}")
        L = len(sizes) - 1
        acts = [activations] * L if isinstance(activations, str) else list(activations)
        if len(acts) != L:
            raise ValueError(f"need one activation per layer ({L}), got {len(acts)}: {acts}")
        inits = list(init) if isinstance(init, (list, tuple)) else [init] * L
        if len(inits) != L:
            raise ValueError(f"need one initializer per layer ({L}), got {len(inits)}")
        biases_on = list(bias) if isinstance(bias, (list, tuple)) else [bool(bias)] * L
        if len(biases_on) != L:
            raise ValueError(f"need one bias flag per layer ({L}), got {len(biases_on)}")
        if rng is None:
            rng = np.random.default_rng()
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        dtype = np.dtype(dtype)
        weights, biases = [], []
        for l in range(L):
            fan_in, fan_out = sizes[l], sizes[l + 1]
            weights.append(np.ascontiguousarray(get_initializer(inits[l])(rng, fan_in, fan_out, dtype),
                                                dtype=dtype))
            if not biases_on[l]:
                biases.append(None)
            elif isinstance(bias_init, (int, float)) and not isinstance(bias_init, bool):
                biases.append(np.full(fan_out, float(bias_init), dtype=dtype))
            else:
                biases.append(BIAS_INITIALIZERS.lookup(bias_init)(rng, fan_in, fan_out, dtype))
        return cls(weights=weights, biases=biases, activations=acts)

    # -- shape facts --------------------------------------------------------------------------
    @property
    def sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def n_layers(self) -> int:
        """``L``, the number of weight layers."""
        return len(self.weights)

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    @property
    def gated(self) -> bool:
        """Whether any layer carries an input gate."""
        return any(gate is not None for gate in self.gates)

    @property
    def acts(self) -> list[Activation]:
        """The resolved activation objects ``f_1..f_L``."""
        return self._acts

    def validate(self) -> None:
        """Check that shapes chain and dtypes agree; ``ValueError`` naming the layer otherwise."""
        if not self.weights:
            raise ValueError("an MLP needs at least one weight layer")
        L = len(self.weights)
        if len(self.biases) != L or len(self.activations) != L:
            raise ValueError(
                f"weights ({L}), biases ({len(self.biases)}) and activations ({len(self.activations)}) "
                "must have one entry per layer (use None for a layer without bias)"
            )
        for l, (W, b) in enumerate(zip(self.weights, self.biases), start=1):
            if not isinstance(W, np.ndarray) or W.ndim != 2:
                raise ValueError(f"W_{l} must be a 2-D array (n_out, n_in), got {getattr(W, 'shape', W)}")
            if W.dtype != self.weights[0].dtype:
                raise ValueError(f"W_{l} has dtype {W.dtype}, but W_1 has {self.weights[0].dtype}")
            if l > 1 and W.shape[1] != self.weights[l - 2].shape[0]:
                raise ValueError(
                    f"W_{l} has shape {W.shape} (n_out, n_in) but layer {l - 1} has "
                    f"{self.weights[l - 2].shape[0]} units; expected n_in = {self.weights[l - 2].shape[0]}"
                )
            if b is not None and (not isinstance(b, np.ndarray) or b.shape != (W.shape[0],)):
                raise ValueError(f"b_{l} must have shape ({W.shape[0]},), got {getattr(b, 'shape', b)}")
        if len(self.gates) != L:
            raise ValueError(f"gates must have one entry per layer ({L}, None where ungated), "
                             f"got {len(self.gates)}")
        n0 = self.weights[0].shape[1]
        for l, (W, gate) in enumerate(zip(self.weights, self.gates), start=1):
            if gate is None:
                continue
            if not isinstance(gate, InputGate):
                raise ValueError(f"gates[{l - 1}] must be a learning_rules.nn.gates.InputGate or None, "
                                 f"got {type(gate).__name__}")
            if l == L:
                raise ValueError("only hidden layers can be gated: the output layer's h_L = f_L(z_L) "
                                 "is what the loss reads (put the gate on a hidden layer)")
            if gate.W.shape != (W.shape[0], n0) or gate.W.dtype != W.dtype:
                raise ValueError(f"the gate of layer {l} must have {W.dtype} weights of shape "
                                 f"({W.shape[0]}, {n0}) (n_l, n_0), got {gate.W.dtype} {gate.W.shape}")

    # -- forward ------------------------------------------------------------------------------
    def check_input(self, X) -> np.ndarray:
        """Validate and cast an input batch: 2-D, ``n_0`` columns, finite; returns it in ``self.dtype``."""
        X = np.asarray(X)
        if X.ndim == 1 and self.sizes[0] == X.shape[0]:
            raise ValueError(f"X must be 2-D (batch, {self.sizes[0]}); for one sample use X[None, :]")
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (batch, {self.sizes[0]}), got {X.shape}")
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        X = X.astype(self.dtype, copy=False)
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or inf; clean or impute the input first")
        return X

    def forward(self, X: np.ndarray, check: bool = True) -> Cache:
        """Forward pass with cache (see :func:`forward`); ``check=False`` skips input validation."""
        if check:
            X = self.check_input(X)
        return forward(self.weights, self.biases, self._acts, X, self.gates)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``z_L`` for a batch."""
        return self.forward(X).z[-1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``h_L = f_L(z_L)`` for a batch."""
        return self.forward(X).h[-1]

    def copy(self) -> MLP:
        """A deep copy (arrays copied)."""
        return MLP(weights=[W.copy() for W in self.weights],
                   biases=[None if b is None else b.copy() for b in self.biases],
                   activations=list(self.activations),
                   gates=[None if g is None else g.copy() for g in self.gates])
