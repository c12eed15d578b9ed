r"""Backpropagation: the exact teaching signal ``delta_l = dE/dz_l``, and the layer gradients.

Batch-first form of the chain rule (CONTRIBUTING notation; ``W_{l+1}`` is ``(n_{l+1}, n_l)``):

.. math:: \delta_L = e, \qquad \delta_l = (\delta_{l+1} W_{l+1}) \odot f_l'(z_l)

(for softmax the Hadamard product is replaced by its Jacobian, ``Activation.backward``; a layer
gated by the input, :math:`h_l = f_l(z_l) \odot g_l(X)`, multiplies by its gate too,
:func:`hidden_delta`).

Source: Rumelhart, Hinton & Williams (1986); Demirbilek (2021) Appendix A (one hidden layer, BCE).
Explained in: book/foundations/backprop.ipynb, book/dfa/derivation.ipynb.
"""

from __future__ import annotations

import numpy as np

from ..nn.mlp import MLP, Cache
from ..updates.gradient import bias_gradient, weight_gradient  # one definition, shared

__all__ = ["Backprop", "backprop_deltas", "bias_gradient", "hidden_delta", "layer_gate",
           "weight_gradient", "weight_gradients"]


def hidden_delta(act, z_l: np.ndarray, signal: np.ndarray, gate: np.ndarray | None = None) -> np.ndarray:
    r"""Teaching signal of a hidden layer from the signal arriving at its output.

    .. math:: \delta_l = s \odot f_l'(z_l) \;[\odot\, g_l(X)], \qquad
              s = \partial E/\partial h_l \text{ (or its stand-in)}

    ``z_l``, ``signal`` and ``gate`` are (batch, n_l); ``gate`` is the layer's input gate
    (``cache.g[l]``, :mod:`learning_rules.nn.gates`), ``None`` for an ungated layer. BP, FA and
    DFA differ only in how ``s`` is formed.
    """
    delta = act.backward(z_l, signal)
    return delta if gate is None else delta * gate


def layer_gate(cache: Cache, l: int) -> np.ndarray | None:
    """The gate of layer ``l`` in a forward cache (``None`` when the layer, or the net, is ungated)."""
    return None if cache.g is None else cache.g[l]


def backprop_deltas(mlp: MLP, cache: Cache, e: np.ndarray) -> list[np.ndarray]:
    r"""All teaching signals by backpropagation.

    .. math:: \delta_L = e, \qquad \delta_l = (\delta_{l+1} W_{l+1}) \odot f_l'(z_l)

    Parameters
    ----------
    mlp : MLP
    cache : Cache  -- from ``mlp.forward(X)``
    e : (batch, n_L) -- output error ``dE_i/dz_L``

    Returns
    -------
    deltas : list, ``deltas[l-1]`` = :math:`\delta_l`, shape (batch, n_l)
    """
    W, acts, z = mlp.weights, mlp.acts, cache.z
    L = len(W)
    deltas: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = e
    for i in range(L - 2, -1, -1):  # python index i is layer l = i + 1
        deltas[i] = hidden_delta(acts[i], z[i + 1], deltas[i + 1] @ W[i + 1], layer_gate(cache, i + 1))
    return deltas


def weight_gradients(cache: Cache, deltas: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`weight_gradient` for every layer (``cache.h[l-1]`` is the input of layer ``l``)."""
    return [weight_gradient(d, cache.h[i]) for i, d in enumerate(deltas)]


class Backprop:
    """Credit assignment by backpropagation (no state: the forward weights carry the signal back)."""

    name = "backprop"

    def init_state(self, mlp: MLP, rng: np.random.Generator | None = None,
                   feedback_init: str = "uniform", scale: float | None = None) -> dict:
        """Backprop needs no feedback matrices; returns an empty dict."""
        return {}

    def deltas(self, mlp: MLP, cache: Cache, e: np.ndarray, state: dict) -> list[np.ndarray]:
        """See :func:`backprop_deltas`."""
        return backprop_deltas(mlp, cache, e)

    def __repr__(self) -> str:
        return "Backprop()"
