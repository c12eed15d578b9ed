r"""Feedback alignment (FA): a fixed random ``B_{l+1}`` replaces ``W_{l+1}`` on the way back.

.. math:: \delta_L = e, \qquad \delta_l = (\delta_{l+1} B_{l+1}) \odot f_l'(z_l)

``B_{l+1}`` has the shape of ``W_{l+1}``, ``(n_{l+1}, n_l)`` (batch-first form of Lillicrap et
al.'s :math:`B\,\delta`), so ``B_{l+1} = W_{l+1}`` gives backpropagation exactly.

Source: Lillicrap et al. (2016); Demirbilek (2021) section 1.2.
Explained in: book/dfa/derivation.ipynb.
"""

from __future__ import annotations

import numpy as np

from ..nn.mlp import MLP, Cache
from .backprop import hidden_delta, layer_gate
from .feedback import draw_feedback

__all__ = ["FeedbackAlignment", "fa_deltas"]


def fa_deltas(mlp: MLP, cache: Cache, e: np.ndarray, B: list) -> list[np.ndarray]:
    r"""All teaching signals by feedback alignment.

    .. math:: \delta_L = e, \qquad \delta_l = (\delta_{l+1} B_{l+1}) \odot f_l'(z_l)

    Parameters
    ----------
    B : list of length L; ``B[l-1]`` stands in for ``W_l`` and has its shape ``(n_l, n_{l-1})``.
        ``B[0]`` is never used (nothing is sent below layer 1) and may be ``None``.
    e : (batch, n_L)

    Returns
    -------
    deltas : list, ``deltas[l-1]`` is (batch, n_l)
    """
    acts, z = mlp.acts, cache.z
    L = len(mlp.weights)
    deltas: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = e
    for i in range(L - 2, -1, -1):
        deltas[i] = hidden_delta(acts[i], z[i + 1], deltas[i + 1] @ B[i + 1], layer_gate(cache, i + 1))
    return deltas


class FeedbackAlignment:
    """FA credit assignment; ``state["B"][l-1]`` is the fixed matrix standing in for ``W_l``."""

    name = "fa"

    def init_state(self, mlp: MLP, rng: np.random.Generator, feedback_init: str = "uniform",
                   scale: float | None = None) -> dict:
        """Draw ``B_2..B_L`` (``B[0] = None``), each shaped like its ``W_l``, in layer order."""
        B: list = [None]
        for W in mlp.weights[1:]:
            B.append(draw_feedback(rng, W.shape, feedback_init, scale, W.dtype))
        return {"B": B}

    def deltas(self, mlp: MLP, cache: Cache, e: np.ndarray, state: dict) -> list[np.ndarray]:
        """See :func:`fa_deltas`."""
        return fa_deltas(mlp, cache, e, state["B"])

    def __repr__(self) -> str:
        return "FeedbackAlignment()"
