"""Activation functions, each with its forward formula and its derivative side by side.

Every activation ``f`` is an object with

* ``forward(z)``    -- ``h = f(z)``, shape preserved, ``(batch, n)``;
* ``derivative(z)`` -- the element-wise ``f'(z)`` (for softmax, the diagonal of its Jacobian);
* ``backward(z, g)`` -- the chain rule ``g J_f(z)`` per row: ``g * f'(z)`` for element-wise
  activations, :func:`softmax_jvp` for softmax, whose Jacobian is not diagonal.

Credit assignment only ever calls ``backward``, so a softmax hidden layer is handled exactly.

Names are looked up in :data:`ACTIVATIONS`; :func:`get_activation` also parses the parametrised
form ``"leaky_relu:0.1"`` (slope 0.1) and accepts an :class:`Activation` instance unchanged.

Explained in: book/foundations/vanishing.ipynb (sigmoid, tanh, ReLU), book/foundations/backprop.ipynb (softmax Jacobian).
"""

from __future__ import annotations

import numpy as np

from .._registry import Registry

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "activation_name",
    "get_activation",
    "softmax",
    "softmax_jvp",
]


class Activation:
    """Base class: a named, stateless function ``f`` with ``forward``/``derivative``/``backward``."""

    name: str = "activation"
    #: ``True`` when ``f`` acts on each entry separately (diagonal Jacobian).
    elementwise: bool = True

    def forward(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_into(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``f(z)`` written into ``out`` (a preallocated buffer of ``z``'s shape); subclasses that
        can compute in place skip the temporary."""
        out[...] = self.forward(z)
        return out

    def backward(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        r"""Chain rule through ``f``: :math:`\partial E/\partial z = g \odot f'(z)`.

        ``g`` is ``dE/dh`` with ``h = f(z)``; both arrays are ``(batch, n)``.
        """
        return g * self.derivative(z)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(z)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.__dict__.items()))))


class Identity(Activation):
    r"""Identity (linear output layer).

    .. math:: f(z) = z, \qquad f'(z) = 1
    """

    name = "identity"

    def forward(self, z):
        return z

    def derivative(self, z):
        return np.ones_like(z)

    def backward(self, z, g):
        return g


class ReLU(Activation):
    r"""Rectified linear unit; the derivative at 0 is taken as 0 (as ``1[z > 0]`` in the thesis code).

    .. math:: f(z) = \max(z, 0), \qquad f'(z) = \mathbb{1}[z > 0]

    Source: Demirbilek (2021) Appendix A; Wang (2025) section 4 (hidden layers).
    """

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def forward_into(self, z, out):
        return np.maximum(z, 0, out=out)

    def derivative(self, z):
        return (z > 0).astype(z.dtype)


class LeakyReLU(Activation):
    r"""Leaky ReLU with slope ``slope`` for negative inputs (derivative at 0 taken as ``slope``).

    .. math:: f(z) = \begin{cases} z & z > 0 \\ s z & z \le 0 \end{cases}, \qquad
              f'(z) = \begin{cases} 1 & z > 0 \\ s & z \le 0 \end{cases}
    """

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        slope = float(slope)
        if not np.isfinite(slope):
            raise ValueError(f"leaky_relu slope must be a finite number, got {slope!r}")
        self.slope = slope

    def forward(self, z):
        return np.where(z > 0, z, z * z.dtype.type(self.slope))

    def derivative(self, z):
        one = z.dtype.type(1)
        return np.where(z > 0, one, z.dtype.type(self.slope))

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope!r})"


class Sigmoid(Activation):
    r"""Logistic sigmoid, computed without overflow for large ``|z|``.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \sigma'(z) = \sigma(z)\,(1 - \sigma(z))

    For ``z < 0`` it uses the equal form :math:`e^{z} / (1 + e^{z})`, so ``exp`` never
    receives a large positive argument.
    """

    name = "sigmoid"

    def forward(self, z):
        return sigmoid(z)

    def derivative(self, z):
        s = sigmoid(z)
        return s * (1 - s)


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Numerically stable logistic function :math:`\sigma(z) = 1/(1+e^{-z})`, any shape."""
    z = np.asarray(z)
    ez = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))


class Tanh(Activation):
    r"""Hyperbolic tangent.

    .. math:: f(z) = \tanh z, \qquad f'(z) = 1 - \tanh^2 z
    """

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z):
        t = np.tanh(z)
        return 1 - t * t


def softmax(z: np.ndarray) -> np.ndarray:
    r"""Row-wise softmax, stabilised by subtracting each row's maximum.

    .. math:: s_k(z) = \frac{e^{z_k - m}}{\sum_j e^{z_j - m}}, \qquad m = \max_j z_j

    ``z`` is ``(batch, n)``; each row of the result sums to 1.
    """
    shifted = z - np.max(z, axis=-1, keepdims=True)
    ez = np.exp(shifted)
    return ez / np.sum(ez, axis=-1, keepdims=True)


def softmax_jvp(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    r"""Multivariate chain rule through softmax: :math:`J_s(z)^\top v` for every row.

    .. math::
        J_s(z)_{kj} = \frac{\partial s_k}{\partial z_j} = s_k(\delta_{kj} - s_j), \qquad
        (J_s^\top v)_j = \sum_k v_k s_k (\delta_{kj} - s_j) = s_j\Big(v_j - \sum_k s_k v_k\Big)

    The Jacobian is symmetric, so this is also :math:`J_s v`.

    Parameters
    ----------
    z, v : ndarray, shape (batch, n)
        Pre-activations and the upstream gradient ``dE/ds`` row by row.

    Returns
    -------
    ndarray, shape (batch, n)
        ``dE/dz``.
    """
    s = softmax(z)
    return s * (v - np.sum(s * v, axis=-1, keepdims=True))


class Softmax(Activation):
    r"""Row-wise softmax; ``backward`` applies the full Jacobian via :func:`softmax_jvp`.

    .. math:: s_k(z) = \frac{e^{z_k}}{\sum_j e^{z_j}}, \qquad
              \frac{\partial s_k}{\partial z_j} = s_k(\delta_{kj} - s_j)

    ``derivative`` returns only the diagonal :math:`s_k(1 - s_k)`; it is *not* enough for the
    chain rule, which is why :meth:`backward` exists.
    """

    name = "softmax"
    elementwise = False

    def forward(self, z):
        return softmax(z)

    def derivative(self, z):
        s = softmax(z)
        return s * (1 - s)

    def backward(self, z, g):
        return softmax_jvp(z, g)


#: name -> Activation instance.  ``"leaky_relu"`` has slope 0.01; ``get_activation("leaky_relu:0.1")``
#: builds other slopes.
ACTIVATIONS: Registry[Activation] = Registry("activation")
ACTIVATIONS.register("identity", Identity())
ACTIVATIONS.register("relu", ReLU())
ACTIVATIONS.register("leaky_relu", LeakyReLU())
ACTIVATIONS.register("sigmoid", Sigmoid())
ACTIVATIONS.register("tanh", Tanh())
ACTIVATIONS.register("softmax", Softmax())

# Activations that accept a parameter after a colon: name -> factory(float).
_PARAMETRISED = {"leaky_relu": LeakyReLU}


def get_activation(spec: str | Activation) -> Activation:
    """Resolve an activation name (``"relu"``, ``"leaky_relu:0.1"``) or pass an instance through.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a bad parameter.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and ":" in spec:
        base, _, param = spec.partition(":")
        if base not in _PARAMETRISED:
            raise ValueError(
                f"activation {base!r} takes no parameter (got {spec!r}); parametrised activations: "
                f"{', '.join(_PARAMETRISED)}, e.g. 'leaky_relu:0.1'"
            )
        try:
            value = float(param)
        except ValueError:
            raise ValueError(f"cannot read the parameter of activation {spec!r} as a number") from None
        return _PARAMETRISED[base](value)
    return ACTIVATIONS.lookup(spec)


def activation_name(act: Activation) -> str:
    """The string that :func:`get_activation` maps back to ``act`` (``"leaky_relu:0.1"`` etc.)."""
    if isinstance(act, LeakyReLU) and act.slope != 0.01:
        return f"leaky_relu:{act.slope!r}"
    return act.name
