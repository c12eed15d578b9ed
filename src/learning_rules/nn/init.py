"""Weight initializers: ``fn(rng, fan_in, fan_out, dtype) -> (fan_out, fan_in)`` array.

The result is laid out as ``W_l`` (row ``j`` = neuron ``j``'s incoming weights, see CONTRIBUTING).
Every draw comes from the ``numpy.random.Generator`` passed in.

Explained in: book/foundations/vanishing.ipynb (initialization and variance), book/foundations/ablation.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._registry import Registry

__all__ = [
    "BIAS_INITIALIZERS",
    "INITIALIZERS",
    "constant",
    "get_initializer",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "normal",
    "normal_scaled",
    "pytorch_uniform",
    "uniform",
    "zeros",
]

Initializer = Callable[[np.random.Generator, int, int, object], np.ndarray]


def uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float64) -> np.ndarray:
    r""":math:`W_{jk} \sim U[-1, 1]`."""
    return rng.uniform(-1.0, 1.0, size=(fan_out, fan_in)).astype(dtype, copy=False)


def he_uniform(rng, fan_in, fan_out, dtype=np.float64):
    r"""He (Kaiming) uniform: :math:`W_{jk} \sim U\big(-\sqrt{6/n_\text{in}}, \sqrt{6/n_\text{in}}\big)`,
    variance :math:`2/n_\text{in}`. Source: He et al. (2015)."""
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype, copy=False)


def pytorch_uniform(rng, fan_in, fan_out, dtype=np.float64):
    r"""PyTorch ``nn.Linear`` default: :math:`W_{jk} \sim U\big(-1/\sqrt{n_\text{in}}, 1/\sqrt{n_\text{in}}\big)`.

    Source: thesis code spec section 2.2 (``MLPManual`` init; ``kaiming_uniform(a=sqrt 5)``).
    """
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype, copy=False)


def glorot_uniform(rng, fan_in, fan_out, dtype=np.float64):
    r"""Glorot (Xavier) uniform: :math:`U\big(\pm\sqrt{6/(n_\text{in} + n_\text{out})}\big)`.
    Source: Glorot & Bengio (2010)."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype, copy=False)


def he_normal(rng, fan_in, fan_out, dtype=np.float64):
    r"""He (Kaiming) normal: :math:`W_{jk} \sim \mathcal N(0, 2/n_\text{in})`.

    Source: dual-weight code spec section 2 (``randn * sqrt(2/fan_in)``, output layer included).
    """
    return (rng.standard_normal(size=(fan_out, fan_in)) * np.sqrt(2.0 / fan_in)).astype(dtype, copy=False)


def normal(rng, fan_in, fan_out, dtype=np.float64):
    r""":math:`W_{jk} \sim \mathcal N(0, 1)`."""
    return rng.standard_normal(size=(fan_out, fan_in)).astype(dtype, copy=False)


def normal_scaled(rng, fan_in, fan_out, dtype=np.float64):
    r""":math:`W_{jk} \sim \mathcal N(0, 1/n_\text{in})`."""
    return (rng.standard_normal(size=(fan_out, fan_in)) / np.sqrt(fan_in)).astype(dtype, copy=False)


def zeros(rng, fan_in, fan_out, dtype=np.float64):
    r""":math:`W = 0` (no random draw): every hidden neuron stays identical -- the symmetry demo."""
    return np.zeros((fan_out, fan_in), dtype=dtype)


def constant(value: float = 1.0) -> Initializer:
    r"""Factory: :math:`W_{jk} = c` for all entries (symmetric start, no random draw)."""
    value = float(value)

    def init(rng, fan_in, fan_out, dtype=np.float64):
        return np.full((fan_out, fan_in), value, dtype=dtype)

    init.__name__ = f"constant_{value!r}"
    return init


#: name -> initializer. ``"constant"`` fills with 1; ``get_initializer("constant:0.3")`` with 0.3.
INITIALIZERS: Registry[Initializer] = Registry("initializer")
INITIALIZERS.register("uniform", uniform)
INITIALIZERS.register("he_uniform", he_uniform)
INITIALIZERS.register("pytorch", pytorch_uniform)
INITIALIZERS.register("glorot_uniform", glorot_uniform)
INITIALIZERS.register("he_normal", he_normal)
INITIALIZERS.register("normal", normal)
INITIALIZERS.register("normal_scaled", normal_scaled)
INITIALIZERS.register("zeros", zeros)
INITIALIZERS.register("constant", constant(1.0))


def get_initializer(spec: str | Initializer) -> Initializer:
    """Resolve ``"he_uniform"``, ``"constant:0.3"`` or a callable (passed through)."""
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec.startswith("constant:"):
        try:
            return constant(float(spec.split(":", 1)[1]))
        except ValueError:
            raise ValueError(f"cannot read the value of initializer {spec!r} as a number") from None
    return INITIALIZERS.lookup(spec)


# ---- biases: fn(rng, fan_in, fan_out, dtype) -> (fan_out,) --------------------------------------

def _bias_zeros(rng, fan_in, fan_out, dtype=np.float64):
    r""":math:`b = 0` (both papers' code; no random draw)."""
    return np.zeros(fan_out, dtype=dtype)


def _bias_pytorch(rng, fan_in, fan_out, dtype=np.float64):
    r"""PyTorch ``nn.Linear`` bias default: :math:`b_j \sim U(\pm 1/\sqrt{n_\text{in}})`."""
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, size=fan_out).astype(dtype, copy=False)


BIAS_INITIALIZERS: Registry[Initializer] = Registry("bias initializer")
BIAS_INITIALIZERS.register("zeros", _bias_zeros)
BIAS_INITIALIZERS.register("pytorch", _bias_pytorch)
