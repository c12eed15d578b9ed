r"""Alignment between a learning rule's signals and backpropagation's.

Two kinds of measurement (thesis section 3, code spec section 5):

* **feedback alignment** -- the cosine between a feedback matrix and the forward weights it stands
  in for (thesis: :math:`\cos(B, W_2)` for the one-hidden-layer net);
* **update (gradient) alignment** -- the cosine between the weight update a rule proposes and the
  backprop gradient from the same forward pass, either of the flattened matrices or, as in the
  thesis code, one cosine per input unit averaged over inputs.

Cosines of a zero vector are defined as 0 (the denominator is floored at ``eps``).

Explained in: book/dfa/alignment.ipynb.
"""

from __future__ import annotations

import numpy as np

from ..nn.mlp import MLP, Cache
from .backprop import backprop_deltas, weight_gradient

__all__ = [
    "angle_degrees",
    "cosine_similarity",
    "feedback_alignment",
    "forward_path",
    "mean_cosine",
    "thesis_gradient_alignment",
    "update_alignment",
]


def cosine_similarity(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> float:
    r"""Cosine of two arrays, flattened.

    .. math:: \cos(a, b) = \frac{\langle a, b\rangle}{\max(\lVert a\rVert\,\lVert b\rVert, \varepsilon)}
    """
    a = np.ravel(a)
    b = np.ravel(b)
    if a.shape != b.shape:
        raise ValueError(f"cosine needs arrays of equal size, got {a.size} and {b.size}")
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), eps))


def mean_cosine(A: np.ndarray, B: np.ndarray, axis: int = 1, eps: float = 1e-12) -> float:
    r"""Average of the cosines between matching vectors of ``A`` and ``B`` taken along ``axis``.

    .. math:: \frac{1}{K}\sum_{k=1}^{K} \cos(A_{k,:}, B_{k,:}) \quad (\text{axis} = 1)
    """
    A = np.asarray(A)
    B = np.asarray(B)
    if A.shape != B.shape:
        raise ValueError(f"mean_cosine needs equal shapes, got {A.shape} and {B.shape}")
    num = np.sum(A * B, axis=axis)
    den = np.maximum(np.linalg.norm(A, axis=axis) * np.linalg.norm(B, axis=axis), eps)
    return float(np.mean(num / den))


def thesis_gradient_alignment(G_rule: np.ndarray, G_bp: np.ndarray) -> float:
    r"""The thesis' "Alignment_w1": one cosine per *input unit* across the hidden units, averaged.

    The thesis code stores ``dW1`` as (n_in, n_hidden) and applies
    ``CosineSimilarity(dim=1)``; in our (n_out, n_in) layout that is the cosine of each *column*:

    .. math:: \frac{1}{n_\text{in}} \sum_{k=1}^{n_\text{in}} \cos\big(G^\text{rule}_{:,k}, G^\text{BP}_{:,k}\big)

    Source: thesis code spec section 5 (``measureSimilarity``).
    """
    return mean_cosine(G_rule, G_bp, axis=0)


def angle_degrees(cos: float | np.ndarray) -> float | np.ndarray:
    r"""Angle in degrees from a cosine: :math:`\theta = \arccos(\cos) \cdot 180/\pi` (clipped to [-1, 1])."""
    out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(out) if np.ndim(out) == 0 else out


def forward_path(mlp: MLP, l: int) -> np.ndarray:
    r"""Linear forward path from layer ``l`` to the output, shape (n_L, n_l).

    .. math:: P_l = W_L W_{L-1} \cdots W_{l+1}

    The matrix a DFA feedback ``B_l`` stands in for (ignoring the activation derivatives);
    ``P_{L-1} = W_L``. ``l`` counts from 1 (text convention), ``1 <= l <= L-1``.
    """
    L = mlp.n_layers
    if not 1 <= l <= L - 1:
        raise ValueError(f"forward_path needs a hidden layer 1..{L - 1}, got l = {l}")
    P = mlp.weights[L - 1]
    for i in range(L - 2, l - 1, -1):
        P = P @ mlp.weights[i]
    return P


def feedback_alignment(mlp: MLP, state: dict, method: str) -> list[float]:
    r"""Cosine between each feedback matrix and the forward matrix it stands in for.

    * ``"fa"``: :math:`\cos(B_l, W_l)` for ``l = 2..L``;
    * ``"dfa"``: :math:`\cos(B_l, W_L \cdots W_{l+1})` for ``l = 1..L-1`` (for one hidden
      layer this is the thesis' :math:`\cos(B, W_2)`).
    """
    B = state["B"]
    if method == "fa":
        return [cosine_similarity(B[i], mlp.weights[i]) for i in range(1, mlp.n_layers)]
    if method == "dfa":
        return [cosine_similarity(B[i], forward_path(mlp, i + 1)) for i in range(mlp.n_layers - 1)]
    raise ValueError(f"feedback alignment is defined for 'fa' and 'dfa', got {method!r}")


def update_alignment(mlp: MLP, cache: Cache, e: np.ndarray, deltas: list[np.ndarray]) -> list[dict]:
    """Compare a rule's hidden-layer gradients with backprop's from the same forward pass.

    ``deltas`` are the rule's teaching signals; backprop's are recomputed from ``mlp``'s current
    weights (pass the pre-update network for an exact comparison; the thesis code used the
    post-update ``W_2``, spec section 5). Returns one dict per hidden layer ``l = 1..L-1`` with
    ``flat`` (cosine of the flattened gradients), ``per_input`` (:func:`thesis_gradient_alignment`)
    and ``delta`` (mean over samples of the cosine between the two teaching signals).
    """
    bp = backprop_deltas(mlp, cache, e)
    out = []
    for i in range(mlp.n_layers - 1):
        G_rule = weight_gradient(deltas[i], cache.h[i])
        G_bp = weight_gradient(bp[i], cache.h[i])
        out.append({
            "layer": i + 1,
            "flat": cosine_similarity(G_rule, G_bp),
            "per_input": thesis_gradient_alignment(G_rule, G_bp),
            "delta": mean_cosine(deltas[i], bp[i], axis=1),
        })
    return out
