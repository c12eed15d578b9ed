r"""Gradient clipping by norm, per layer: a wrapper around any gradient-based weight update.

.. math::

    g_l \leftarrow g_l \cdot \min\Big(1, \frac{c}{\lVert g_l \rVert}\Big), \qquad
    \lVert g_l \rVert = \sqrt{\lVert\nabla_{W_l}\rVert_F^2 + \lVert\nabla_{b_l}\rVert^2}

The step keeps its direction and loses its size when the layer's gradient is longer than ``c``.
Because :math:`\nabla_{W_l} = \frac1B \delta_l^\top h_{l-1}` and :math:`\nabla_{b_l}` are linear in
the teaching signal, scaling :math:`\delta_l` by the factor scales both, so the wrapper passes the
scaled signal to the update it wraps (for a penalty or an adaptive optimizer the scaling applies to
the data gradient only, as in the frameworks' ``clip_grad_norm``).

Not a registered update (``WEIGHT_UPDATES``): a registered name would make every stored result
depend on this file (:mod:`learning_rules.fingerprint`); pass an instance as
``Network(update=ClipLayerNorm(...))`` instead.

Explained in: book/foundations/vanishing.ipynb.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .gradient import bias_gradient, weight_gradient

__all__ = ["ClipLayerNorm", "clip_factor"]


def clip_factor(norm: float, max_norm: float) -> float:
    r"""The factor :math:`\min(1, c / \lVert g \rVert)` (1 for a zero gradient)."""
    if not (max_norm > 0 and math.isfinite(max_norm)):
        raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}")
    if not norm > max_norm:  # also a NaN norm: nothing to rescale
        return 1.0
    return float(max_norm / norm)


class ClipLayerNorm:
    """Wrap a weight update (:mod:`learning_rules.updates.base` contract) so that each layer's
    gradient norm is at most ``max_norm`` before the update sees it.

    ``clipped_steps`` counts, per layer index in order of first use, how many steps were clipped.
    """

    def __init__(self, inner: Any, max_norm: float) -> None:
        if not (hasattr(inner, "init_layer") and hasattr(inner, "apply")):
            raise ValueError(f"inner must be a weight update with init_layer/apply, got {inner!r}")
        clip_factor(0.0, max_norm)  # validates
        self.inner, self.max_norm = inner, float(max_norm)
        self.clipped_steps: list[int] = []

    def init_layer(self, W: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> dict:
        state = self.inner.init_layer(W, b, rng)
        self.clipped_steps.append(0)
        return {"inner": state, "index": len(self.clipped_steps) - 1}

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.inner, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def apply(self, state: dict, W: np.ndarray, b: np.ndarray | None, delta: np.ndarray,
              h_prev: np.ndarray) -> None:
        g = weight_gradient(delta, h_prev)
        norm2 = float(np.sum(g * g))
        if b is not None:
            gb = bias_gradient(delta)
            norm2 += float(np.sum(gb * gb))
        factor = clip_factor(math.sqrt(norm2), self.max_norm)
        if factor < 1.0:
            self.clipped_steps[state["index"]] += 1
            delta = delta * factor
        self.inner.apply(state["inner"], W, b, delta, h_prev)

    def __repr__(self) -> str:
        return f"ClipLayerNorm({self.inner!r}, max_norm={self.max_norm})"
