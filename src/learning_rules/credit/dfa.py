r"""Direct feedback alignment (DFA): the output error goes straight to every hidden layer.

.. math:: \delta_L = e, \qquad \delta_l = (e\, B_l) \odot f_l'(z_l), \quad l < L

Shape convention: ``B_l`` is ``(n_L, n_l)`` -- the shape of the forward path
:math:`W_L W_{L-1} \cdots W_{l+1}` it stands in for (batch-first form of Nokland's
:math:`B_l\, e`). For one hidden layer ``B_1`` has the shape of ``W_2`` and ``B_1 = W_2`` gives
backpropagation exactly; the thesis' B is (1, 512), i.e. ``w2.t()`` in its (in, out) layout.

Source: Nokland (2016); Demirbilek (2021) section 1.2 and code spec section 2.3
(``delta_1 = (e B) * 1[a_1 > 0]``).
Explained in: book/dfa/derivation.ipynb.
"""

from __future__ import annotations

import numpy as np

from ..nn.mlp import MLP, Cache
from .backprop import hidden_delta, layer_gate
from .feedback import draw_feedback

__all__ = ["DirectFeedbackAlignment", "dfa_deltas"]


def dfa_deltas(mlp: MLP, cache: Cache, e: np.ndarray, B: list) -> list[np.ndarray]:
    r"""All teaching signals by direct feedback alignment.

    .. math:: \delta_L = e, \qquad \delta_l = (e B_l) \odot f_l'(z_l)

    Parameters
    ----------
    B : list of length L; ``B[l-1]`` is ``B_l``, shape ``(n_L, n_l)``; ``B[L-1]`` is unused
        (may be ``None``).
    e : (batch, n_L)

    Returns
    -------
    deltas : list, ``deltas[l-1]`` is (batch, n_l)
    """
    acts, z = mlp.acts, cache.z
    L = len(mlp.weights)
    deltas: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = e
    for i in range(L - 1):
        deltas[i] = hidden_delta(acts[i], z[i + 1], e @ B[i], layer_gate(cache, i + 1))
    return deltas


class DirectFeedbackAlignment:
    """DFA credit assignment; ``state["B"][l-1]`` is ``B_l`` of shape (n_L, n_l), ``B[L-1] = None``."""

    name = "dfa"

    def init_state(self, mlp: MLP, rng: np.random.Generator, feedback_init: str = "uniform",
                   scale: float | None = None) -> dict:
        """Draw ``B_1..B_{L-1}`` in layer order; default scale ``a = 1/sqrt(n_l)``."""
        n_L = mlp.weights[-1].shape[0]
        B: list = []
        for W in mlp.weights[:-1]:
            B.append(draw_feedback(rng, (n_L, W.shape[0]), feedback_init, scale, W.dtype))
        B.append(None)
        return {"B": B}

    def deltas(self, mlp: MLP, cache: Cache, e: np.ndarray, state: dict) -> list[np.ndarray]:
        """See :func:`dfa_deltas`."""
        return dfa_deltas(mlp, cache, e, state["B"])

    def __repr__(self) -> str:
        return "DirectFeedbackAlignment()"
