"""Hand-written gradient optimizers: compute the step (pure), then apply it (in place).

Each optimizer is two layers:

* a module-level **pure function per equation** (``*_direction``) that takes the gradient, the old
  accumulators and the hyper-parameters and returns ``(step, new_accumulators)``; ``step`` is the
  amount to *subtract* from the parameter, ``theta_t = theta_{t-1} - step``. Nothing is mutated.
* a class with ``init_state(param)``, ``direction(grad, state, t)`` (calls the pure function) and
  ``step(param, grad, state)`` (increments ``state["t"]``, writes the new accumulators into the
  state's arrays and subtracts the step from ``param`` in place).

State is an explicit dict so a reader can inspect Adam's moments: ``state["t"]`` is the number of
steps taken (``t = 1`` during the first step), the other entries are arrays shaped and typed like the
parameter (float32 in -> float32 state and float32 arithmetic).

Sources:
  [ablation] Okoma (2025), "Backpropagation ablation", sec. 3.1 (SGD, EMA momentum with bias
  correction, RMSProp with bias correction and beta = 0.999, Adam).
  [thesis] Demirbilek (2021) code, ``scripts/optimizer.py`` (spec ``dfa-thesis.md`` sec. 4.1):
  classic velocity momentum, Adagrad ``sqrt(G + eps)``, Adadelta with lr inside the accumulated
  delta, Adam whose bias correction counts epochs.
  [zeiler] Zeiler (2012), ADADELTA; PyTorch ``torch.optim.Adadelta`` (rho = 0.9, eps = 1e-6).
  [sutskever] Sutskever et al. (2013), Nesterov momentum; PyTorch ``SGD(nesterov=True)``.
  [kingma] Kingma & Ba (2014), Adam.
  [duchi] Duchi et al. (2011), Adagrad.

Explained in: book chapter "Optimizers" (the updates part of the book).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .._registry import Registry

__all__ = [
    "OPTIMIZERS",
    "Optimizer",
    "SGD",
    "MomentumEMA",
    "MomentumClassic",
    "Nesterov",
    "Adagrad",
    "Adadelta",
    "RMSProp",
    "Adam",
    "sgd_direction",
    "momentum_ema_direction",
    "momentum_classic_direction",
    "nesterov_direction",
    "adagrad_direction",
    "adadelta_zeiler_direction",
    "adadelta_thesis_direction",
    "rmsprop_direction",
    "adam_direction",
]

OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")


# ---------------------------------------------------------------------------------------------
# Pure equations: (grad, old accumulators, hyper-parameters) -> (step to subtract, new accumulators)
# All scalars are Python floats so that float32 arrays stay float32 (NumPy 2 promotion rules).
# ---------------------------------------------------------------------------------------------


def sgd_direction(grad: np.ndarray, lr: float) -> np.ndarray:
    r"""Plain (stochastic) gradient descent step [ablation eq. 3.1.2].

    .. math:: \theta_t = \theta_{t-1} - \eta\, g_t

    Parameters
    ----------
    grad : ndarray, any shape
        ``g_t = dJ/dtheta``.
    lr : float
        ``eta``.

    Returns
    -------
    step : ndarray, shape of ``grad``
        ``eta * g_t``.
    """
    return lr * grad


def momentum_ema_direction(
    grad: np.ndarray, v: np.ndarray, t: int, lr: float, beta: float, bias_correction: bool
) -> tuple[np.ndarray, np.ndarray]:
    r"""Momentum as an exponential moving average of gradients, with bias correction [ablation 3.1.3].

    .. math::
        v_t = \beta v_{t-1} + (1-\beta) g_t, \qquad
        \hat v_t = \frac{v_t}{1-\beta^t}, \qquad
        \theta_t = \theta_{t-1} - \eta \hat v_t

    With a constant gradient ``g`` this gives ``v_t = (1 - beta^t) g`` and hence ``hat v_t = g``:
    the bias-corrected EMA is exactly plain SGD on constant gradients.

    Parameters
    ----------
    grad, v : ndarray, same shape
        Gradient ``g_t`` and previous average ``v_{t-1}`` (``v_0 = 0``).
    t : int
        Step number, ``t = 1`` for the first step.
    lr, beta : float
    bias_correction : bool
        Divide by ``1 - beta^t`` (True, the paper) or not.

    Returns
    -------
    step, v_new : ndarray
    """
    v_new = beta * v + (1.0 - beta) * grad
    scale = 1.0 / (1.0 - beta**t) if bias_correction else 1.0
    return (lr * scale) * v_new, v_new


def momentum_classic_direction(
    grad: np.ndarray, velocity: np.ndarray, lr: float, mu: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""Heavy-ball momentum with a velocity in parameter units [thesis ``optimizer.py`` L45-48].

    .. math:: v_t = \mu v_{t-1} + \eta g_t, \qquad \theta_t = \theta_{t-1} - v_t

    Returns
    -------
    step, velocity_new : ndarray
        Both equal ``v_t``.
    """
    v_new = mu * velocity + lr * grad
    return v_new, v_new


def nesterov_direction(
    grad: np.ndarray, buf: np.ndarray, lr: float, mu: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""Nesterov accelerated gradient in the Sutskever/PyTorch form [sutskever; PyTorch SGD].

    .. math::
        b_t = \mu b_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t)

    The stored parameter is the *look-ahead point* ``phi = theta + mu v`` of Sutskever's literal
    definition ``v_t = mu v_{t-1} - eta grad f(theta_{t-1} + mu v_{t-1})``,
    ``theta_t = theta_{t-1} + v_t`` (substitute ``v = -eta b``): the gradient passed in is the
    gradient at the stored parameter, so no second evaluation is needed. (The thesis' NAG,
    ``v = mu v + lr (g - mu v)``, is marked wrong by its author and is not implemented.)

    Returns
    -------
    step, buf_new : ndarray
    """
    buf_new = mu * buf + grad
    return lr * (grad + mu * buf_new), buf_new


def adagrad_direction(
    grad: np.ndarray, G: np.ndarray, lr: float, eps: float, eps_inside: bool
) -> tuple[np.ndarray, np.ndarray]:
    r"""Adagrad: per-coordinate rate shrinking with the summed squared gradients [duchi].

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{G_t} + \epsilon}
        \quad\text{(default)}\quad\text{or}\quad
        \frac{\eta\, g_t}{\sqrt{G_t + \epsilon}} \quad\text{(thesis, ``eps_inside``)}

    The effective per-coordinate rate ``eta / (sqrt(G_t) + eps)`` never grows, because ``G_t``
    never decreases.

    Returns
    -------
    step, G_new : ndarray
    """
    G_new = G + grad * grad
    denom = np.sqrt(G_new + eps) if eps_inside else np.sqrt(G_new) + eps
    return lr * grad / denom, G_new


def adadelta_zeiler_direction(
    grad: np.ndarray, Eg: np.ndarray, Edx: np.ndarray, lr: float, rho: float, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Adadelta, Zeiler's form as in PyTorch: ``lr`` scales the unscaled delta, which is accumulated [zeiler].

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,

        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)\Delta_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta \Delta_t

    Returns
    -------
    step, Eg_new, Edx_new : ndarray
    """
    Eg_new = rho * Eg + (1.0 - rho) * (grad * grad)
    delta = np.sqrt(Edx + eps) / np.sqrt(Eg_new + eps) * grad
    Edx_new = rho * Edx + (1.0 - rho) * (delta * delta)
    return lr * delta, Eg_new, Edx_new


def adadelta_thesis_direction(
    grad: np.ndarray, Eg: np.ndarray, Edx: np.ndarray, lr: float, rho: float, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Adadelta as the thesis code writes it: ``lr`` inside the accumulated delta [thesis L72-87].

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \eta\,\frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,

        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)\Delta_t^2, \qquad
        \theta_t = \theta_{t-1} - \Delta_t

    With the thesis' ``eps = 1e-8`` the first step is
    ``eta * 1e-4 * g / sqrt((1-rho) g^2 + 1e-8)``, about ten times smaller than PyTorch's.

    Returns
    -------
    step, Eg_new, Edx_new : ndarray
    """
    Eg_new = rho * Eg + (1.0 - rho) * (grad * grad)
    delta = lr * (np.sqrt(Edx + eps) / np.sqrt(Eg_new + eps)) * grad
    Edx_new = rho * Edx + (1.0 - rho) * (delta * delta)
    return delta, Eg_new, Edx_new


def rmsprop_direction(
    grad: np.ndarray,
    E: np.ndarray,
    t: int,
    lr: float,
    beta: float,
    eps: float,
    bias_correction: bool,
    eps_inside: bool,
) -> tuple[np.ndarray, np.ndarray]:
    r"""RMSProp: divide by a running root-mean-square of the gradients [ablation 3.1.4; thesis L89-99].

    .. math::
        E_t = \beta E_{t-1} + (1-\beta) g_t^2, \qquad
        \hat E_t = E_t / (1-\beta^t) \ \text{(if bias_correction, else } \hat E_t = E_t),

        \theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{\hat E_t + \epsilon}}
        \ \text{(eps_inside, thesis)} \quad\text{or}\quad
        \frac{\eta\, g_t}{\sqrt{\hat E_t} + \epsilon} \ \text{(ablation paper)}

    The ablation paper's form is ``beta=0.999, bias_correction=True, eps_inside=False``; the thesis'
    is ``beta=0.9, bias_correction=False, eps_inside=True, eps=1e-8``.

    Returns
    -------
    step, E_new : ndarray
    """
    E_new = beta * E + (1.0 - beta) * (grad * grad)
    E_hat = E_new * (1.0 / (1.0 - beta**t)) if bias_correction else E_new
    denom = np.sqrt(E_hat + eps) if eps_inside else np.sqrt(E_hat) + eps
    return lr * grad / denom, E_new


def adam_direction(
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    tau: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Adam [kingma; ablation 3.1.5; thesis L101-120].

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

        \hat m_t = \frac{m_t}{1-\beta_1^\tau}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^\tau}, \qquad
        \theta_t = \theta_{t-1} - \frac{\eta\,\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    ``tau`` is the step count ``t = 1, 2, ...`` in correct Adam; the thesis code passes
    ``epoch + 1`` instead (every step of epoch ``e`` uses ``tau = e + 1``).
    On the first correct step ``hat m = g`` and ``hat v = g^2``, so the step is
    ``eta * g / (|g| + eps)``: magnitude ``eta`` per coordinate.

    Returns
    -------
    step, m_new, v_new : ndarray
    """
    m_new = beta1 * m + (1.0 - beta1) * grad
    v_new = beta2 * v + (1.0 - beta2) * (grad * grad)
    m_hat = m_new * (1.0 / (1.0 - beta1**tau))
    v_hat = v_new * (1.0 / (1.0 - beta2**tau))
    return lr * m_hat / (np.sqrt(v_hat) + eps), m_new, v_new


# ---------------------------------------------------------------------------------------------
# Classes: validation and state plumbing around the pure equations
# ---------------------------------------------------------------------------------------------


def _check_unit_interval(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0 (it guards a division), got {value}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value


class Optimizer:
    """Base class: hyper-parameter validation, state creation and the in-place ``step``.

    Parameters
    ----------
    lr : float
        Learning rate ``eta`` (finite, >= 0).
    **hyper
        Optimizer-specific hyper-parameters; the valid names and defaults are in ``defaults``.
        Unknown names raise ``ValueError``.

    Notes
    -----
    Subclasses define ``defaults`` (name -> default value), ``state_keys`` (accumulator arrays,
    each initialised to zeros like the parameter), ``_validate`` and ``direction``.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    state_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, lr: float, **hyper: Any) -> None:
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise ValueError(f"lr must be a number, got {lr!r}") from None
        if not (lr >= 0.0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a finite number >= 0, got {lr}")
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            valid = ", ".join(self.defaults) or "(none)"
            raise ValueError(
                f"unknown hyper-parameter(s) {', '.join(sorted(unknown))} for optimizer "
                f"{self.name!r}; valid names: {valid}"
            )
        self.lr = lr
        self.hyper = {**self.defaults, **hyper}
        self._validate()
        self.epoch = 0

    def _validate(self) -> None:  # pragma: no cover - overridden where there is something to check
        pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(lr={self.lr!r}{', ' if args else ''}{args})"

    def set_epoch(self, epoch: int) -> None:
        """Tell the optimizer the current (0-based) epoch; only epoch-counting variants use it."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray | int]:
        """Fresh state for ``param``: ``{"t": 0}`` plus zero accumulators shaped and typed like it."""
        param = np.asarray(param)
        state: dict[str, np.ndarray | int] = {"t": 0}
        for key in self.state_keys:
            state[key] = np.zeros_like(param)
        return state

    def direction(
        self, grad: np.ndarray, state: dict[str, Any], t: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Pure: the step to subtract at step ``t`` and the new accumulators; mutates nothing."""
        raise NotImplementedError

    def step(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        """Apply one step in place: ``param -= direction``; updates ``state`` (``t`` += 1) in place."""
        grad = np.asarray(grad, dtype=param.dtype)
        t = int(state["t"]) + 1
        step, new = self.direction(grad, state, t)
        for key, value in new.items():
            state[key][...] = value
        state["t"] = t
        param -= step


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """Plain SGD, ``theta -= lr * g`` (:func:`sgd_direction`)."""

    name = "sgd"

    def direction(self, grad, state, t):
        return sgd_direction(grad, self.lr), {}


@OPTIMIZERS.register("momentum")
class MomentumEMA(Optimizer):
    """EMA momentum with bias correction as in the ablation paper (:func:`momentum_ema_direction`).

    Hyper-parameters: ``beta=0.9``, ``bias_correction=True``. State: ``v``.
    """

    name = "momentum"
    defaults = {"beta": 0.9, "bias_correction": True}
    state_keys = ("v",)

    def _validate(self):
        self.beta = _check_unit_interval("beta", self.hyper["beta"])
        self.bias_correction = _check_bool("bias_correction", self.hyper["bias_correction"])

    def direction(self, grad, state, t):
        step, v = momentum_ema_direction(grad, state["v"], t, self.lr, self.beta, self.bias_correction)
        return step, {"v": v}


@OPTIMIZERS.register("momentum_classic")
class MomentumClassic(Optimizer):
    """Velocity momentum ``v = mu v + lr g; theta -= v`` (:func:`momentum_classic_direction`).

    Hyper-parameters: ``mu=0.9``. State: ``velocity``.
    """

    name = "momentum_classic"
    defaults = {"mu": 0.9}
    state_keys = ("velocity",)

    def _validate(self):
        self.mu = _check_unit_interval("mu", self.hyper["mu"])

    def direction(self, grad, state, t):
        step, v = momentum_classic_direction(grad, state["velocity"], self.lr, self.mu)
        return step, {"velocity": v}


@OPTIMIZERS.register("nesterov")
class Nesterov(Optimizer):
    """Nesterov momentum, Sutskever/PyTorch form (:func:`nesterov_direction`).

    Hyper-parameters: ``mu=0.9``. State: ``buf`` (velocity in gradient units).
    """

    name = "nesterov"
    defaults = {"mu": 0.9}
    state_keys = ("buf",)

    def _validate(self):
        self.mu = _check_unit_interval("mu", self.hyper["mu"])

    def direction(self, grad, state, t):
        step, buf = nesterov_direction(grad, state["buf"], self.lr, self.mu)
        return step, {"buf": buf}


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad (:func:`adagrad_direction`).

    Hyper-parameters: ``eps=1e-10`` and ``eps_placement="outside"`` (``sqrt(G) + eps``, PyTorch) or
    ``"inside"`` (``sqrt(G + eps)``, the thesis code, which uses ``eps=1e-8``). State: ``G``.
    """

    name = "adagrad"
    defaults = {"eps": 1e-10, "eps_placement": "outside"}
    state_keys = ("G",)

    def _validate(self):
        self.eps = _check_positive("eps", self.hyper["eps"])
        placement = _check_choice("eps_placement", self.hyper["eps_placement"], ("outside", "inside"))
        self.eps_inside = placement == "inside"

    def direction(self, grad, state, t):
        step, G = adagrad_direction(grad, state["G"], self.lr, self.eps, self.eps_inside)
        return step, {"G": G}


@OPTIMIZERS.register("adadelta")
class Adadelta(Optimizer):
    """Adadelta, two conventions (:func:`adadelta_zeiler_direction`, :func:`adadelta_thesis_direction`).

    Hyper-parameters: ``variant="zeiler"`` (PyTorch: lr multiplies the unscaled, accumulated delta)
    or ``"thesis"`` (lr inside the accumulated delta); ``rho=0.9``; ``eps=None`` meaning 1e-6 for
    "zeiler" and 1e-8 for "thesis". State: ``Eg`` (mean squared gradient), ``Edx`` (mean squared
    delta).
    """

    name = "adadelta"
    defaults = {"variant": "zeiler", "rho": 0.9, "eps": None}
    state_keys = ("Eg", "Edx")
    _default_eps = {"zeiler": 1e-6, "thesis": 1e-8}

    def _validate(self):
        self.variant = _check_choice("variant", self.hyper["variant"], ("zeiler", "thesis"))
        self.rho = _check_unit_interval("rho", self.hyper["rho"])
        eps = self.hyper["eps"]
        self.eps = self._default_eps[self.variant] if eps is None else _check_positive("eps", eps)
        self._fn = adadelta_zeiler_direction if self.variant == "zeiler" else adadelta_thesis_direction

    def direction(self, grad, state, t):
        step, Eg, Edx = self._fn(grad, state["Eg"], state["Edx"], self.lr, self.rho, self.eps)
        return step, {"Eg": Eg, "Edx": Edx}


@OPTIMIZERS.register("rmsprop")
class RMSProp(Optimizer):
    """RMSProp (:func:`rmsprop_direction`).

    Hyper-parameters: ``beta=0.9``, ``eps=1e-8``, ``bias_correction=False``,
    ``eps_placement="inside"`` (``sqrt(E + eps)``, thesis) or ``"outside"`` (``sqrt(E) + eps``).
    The ablation paper's form: ``beta=0.999, bias_correction=True, eps_placement="outside"``.
    State: ``E``.
    """

    name = "rmsprop"
    defaults = {"beta": 0.9, "eps": 1e-8, "bias_correction": False, "eps_placement": "inside"}
    state_keys = ("E",)

    def _validate(self):
        self.beta = _check_unit_interval("beta", self.hyper["beta"])
        self.eps = _check_positive("eps", self.hyper["eps"])
        self.bias_correction = _check_bool("bias_correction", self.hyper["bias_correction"])
        placement = _check_choice("eps_placement", self.hyper["eps_placement"], ("inside", "outside"))
        self.eps_inside = placement == "inside"

    def direction(self, grad, state, t):
        step, E = rmsprop_direction(
            grad, state["E"], t, self.lr, self.beta, self.eps, self.bias_correction, self.eps_inside
        )
        return step, {"E": E}


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam (:func:`adam_direction`).

    Hyper-parameters: ``beta1=0.9``, ``beta2=0.999``, ``eps=1e-8``, ``step_count="step"``
    (correct: bias correction uses ``t = 1, 2, ...``) or ``"epoch"`` (the thesis code's bug: it uses
    ``epoch + 1``, where the epoch is set with :meth:`set_epoch`). State: ``m``, ``v``.
    """

    name = "adam"
    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "step_count": "step"}
    state_keys = ("m", "v")

    def _validate(self):
        self.beta1 = _check_unit_interval("beta1", self.hyper["beta1"])
        self.beta2 = _check_unit_interval("beta2", self.hyper["beta2"])
        self.eps = _check_positive("eps", self.hyper["eps"])
        self.step_count = _check_choice("step_count", self.hyper["step_count"], ("step", "epoch"))

    def direction(self, grad, state, t):
        tau = t if self.step_count == "step" else self.epoch + 1
        step, m, v = adam_direction(
            grad, state["m"], state["v"], tau, self.lr, self.beta1, self.beta2, self.eps
        )
        return step, {"m": m, "v": v}
