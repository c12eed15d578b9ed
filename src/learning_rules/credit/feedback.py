r"""Initializers of the fixed random feedback matrices used by FA and DFA.

``fn(rng, shape, a, dtype) -> array of shape``. A feedback matrix is laid out like the forward
matrix it stands in for, ``(n_out, n_in)``, and the default scale is

.. math:: a = 1/\sqrt{n_\text{in}},

the fan-in of that forward matrix. For the thesis' one-hidden-layer net (B stands in for ``W_2``,
shape (1, 512)) this gives ``a = 1/sqrt(512)``, the same law as ``W_2``'s PyTorch-style init.

Source: thesis code spec section 2.4 (``initializeB``); Demirbilek (2021) section 3, Fig. 3.3.
Explained in: book/dfa/feedback.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._registry import Registry

__all__ = ["FEEDBACK_INITIALIZERS", "default_scale", "draw_feedback"]

FeedbackInit = Callable[[np.random.Generator, tuple, float, object], np.ndarray]


def default_scale(shape: tuple[int, int]) -> float:
    r""":math:`a = 1/\sqrt{n_\text{in}}` for a feedback matrix of shape ``(n_out, n_in)``."""
    return 1.0 / np.sqrt(shape[1])


def _uniform(rng, shape, a, dtype=np.float64):
    r"""``"uniform"``: :math:`B_{jk} \sim U(-a, a)` (the thesis default)."""
    return rng.uniform(-a, a, size=shape).astype(dtype, copy=False)


def _standard_uniform(rng, shape, a, dtype=np.float64):
    r"""``"standard_uniform"``: :math:`B_{jk} \sim U(0, 1)` (all positive; ``a`` unused)."""
    return rng.uniform(0.0, 1.0, size=shape).astype(dtype, copy=False)


def _gaussian(rng, shape, a, dtype=np.float64):
    r"""``"gaussian"``: :math:`B_{jk} \sim \mathcal N(\mu = a, \sigma = a)` (mostly positive)."""
    return (a + a * rng.standard_normal(size=shape)).astype(dtype, copy=False)


def _standard_gaussian(rng, shape, a, dtype=np.float64):
    r"""``"standard_gaussian"``: :math:`B_{jk} \sim \mathcal N(0, 1)` (``a`` unused)."""
    return rng.standard_normal(size=shape).astype(dtype, copy=False)


FEEDBACK_INITIALIZERS: Registry[FeedbackInit] = Registry("feedback initializer")
FEEDBACK_INITIALIZERS.register("uniform", _uniform)
FEEDBACK_INITIALIZERS.register("standard_uniform", _standard_uniform)
FEEDBACK_INITIALIZERS.register("gaussian", _gaussian)
FEEDBACK_INITIALIZERS.register("standard_gaussian", _standard_gaussian)


def draw_feedback(rng: np.random.Generator, shape: tuple[int, int], feedback_init: str = "uniform",
                  scale: float | None = None, dtype=np.float64) -> np.ndarray:
    """Draw one feedback matrix; ``scale=None`` uses :func:`default_scale` of ``shape``."""
    fn = FEEDBACK_INITIALIZERS.lookup(feedback_init)
    a = default_scale(shape) if scale is None else float(scale)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"feedback scale must be a positive finite number, got {scale!r}")
    return fn(rng, tuple(shape), a, np.dtype(dtype))
