r"""The dual-weight rule's derivation as small pure functions (Wang 2025, eqs. 9-19, appendices B-D).

Each function computes one equation of the paper on small arrays, so that the book can evaluate it
and compare it with what the engine (:mod:`learning_rules.updates.dual_weight`,
:class:`learning_rules.engine.Network`) actually does. Notation (CONTRIBUTING): a layer's teaching
signals over ``n`` single-sample steps are ``deltas`` of shape ``(n, n_out)`` (the paper's
``grad_i``, one column per neuron) and its inputs are ``H`` of shape ``(n, n_in)`` (the paper's
``X_i``, one row per step); weights are ``(n_out, n_in)`` with row ``j`` = neuron ``j``.

Four groups:

* the cumulative SGD sum and its split by the sign of the signal (eqs. 9-14):
  :func:`sgd_cumulative_weights`, :func:`sign_split_sums`, :func:`signal_masses`,
  :func:`weighted_input_averages`;
* moving averages (eqs. 15-17, appendices C and D): :func:`moving_average_path`,
  :func:`unrolled_coefficients`, :func:`averaging_rates`, :func:`remaining_deviation`,
  :func:`moving_average_variance`, :func:`expected_squared_error`,
  :func:`monte_carlo_squared_error`, and the step-size schedules
  :data:`STEP_SCHEDULES` / :func:`step_schedule`;
* the stabilizer of appendix B for one neuron: :func:`stabilizer_trace`, :func:`relaxed_average`;
* one neuron under four updates (eqs. 18-19 and the code's "L2"): :data:`NEURON_RULES`,
  :func:`neuron_trajectories`, :func:`make_neuron_task`, :func:`ridge_weights`,
  :func:`half_mse_surface`.

Source: Wang (2025), "Revisiting gradient descent: a dual-weight method"; the authors' code as read
in ``../shared/specs/dual-weight-paper.md`` (sections 2, 3, 4 and 8).

Explained in: book/dual-weight/derivation.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .._registry import Registry

__all__ = [
    "sgd_cumulative_weights",
    "sign_split_sums",
    "signal_masses",
    "weighted_input_averages",
    "moving_average_path",
    "unrolled_coefficients",
    "averaging_rates",
    "remaining_deviation",
    "moving_average_variance",
    "expected_squared_error",
    "monte_carlo_squared_error",
    "STEP_SCHEDULES",
    "step_schedule",
    "stabilizer_trace",
    "relaxed_average",
    "NEURON_RULES",
    "sgd_neuron_step",
    "l2_decoupled_neuron_step",
    "l2_coded_neuron_step",
    "dual_weight_neuron_step",
    "neuron_trajectories",
    "make_neuron_task",
    "ridge_weights",
    "half_mse_surface",
]


def _signals_inputs(deltas, H) -> tuple[np.ndarray, np.ndarray]:
    deltas = np.asarray(deltas, dtype=float)
    H = np.asarray(H, dtype=float)
    if deltas.ndim == 1:
        deltas = deltas[:, None]
    if deltas.ndim != 2 or H.ndim != 2:
        raise ValueError(
            f"deltas must be (n, n_out) (or (n,) for one neuron) and H (n, n_in); got shapes "
            f"{deltas.shape} and {H.shape}"
        )
    if deltas.shape[0] != H.shape[0]:
        raise ValueError(f"deltas has {deltas.shape[0]} steps but H has {H.shape[0]}; give one row per step")
    return deltas, H


# --- eqs. 9-14: the SGD sum and its split ------------------------------------------------------


def sgd_cumulative_weights(W_init, lr: float, deltas, H) -> np.ndarray:
    r"""Weights after ``n`` single-sample SGD steps, as one sum (paper eq. 9).

    .. math:: W = W_{\text{init}} - \eta \sum_{i=1}^{n} \delta_i^\top h_i
              \quad\Longleftrightarrow\quad
              W_j = W_{\text{init},j} - \eta \sum_i \delta_{ij}\, h_i

    Exact for plain SGD when every ``delta_i`` is the signal of step ``i`` (computed at that step's
    weights): the steps add up, whatever the signals depended on.

    Parameters
    ----------
    W_init : ndarray, shape (n_out, n_in)
    lr : float
        ``eta``.
    deltas : ndarray, shape (n, n_out)
        Teaching signal of every step (the paper's ``grad_i``, eq. 10).
    H : ndarray, shape (n, n_in)
        The layer's input at every step.

    Returns
    -------
    ndarray, shape (n_out, n_in)
    """
    deltas, H = _signals_inputs(deltas, H)
    return np.asarray(W_init, dtype=float) - lr * (deltas.T @ H)


def signal_masses(deltas) -> tuple[np.ndarray, np.ndarray]:
    r"""Total signal of each sign per neuron: the denominators of eqs. 13 and 14.

    .. math:: S_{1,j} = \sum_{i:\,\delta_{ij} < 0} (-\delta_{ij}), \qquad
              S_{2,j} = \sum_{i:\,\delta_{ij} > 0} \delta_{ij}

    Parameters
    ----------
    deltas : ndarray, shape (n, n_out)

    Returns
    -------
    S1, S2 : ndarray, shape (n_out,), both >= 0
    """
    deltas = np.asarray(deltas, dtype=float)
    if deltas.ndim == 1:
        deltas = deltas[:, None]
    return np.maximum(-deltas, 0.0).sum(axis=0), np.maximum(deltas, 0.0).sum(axis=0)


def sign_split_sums(lr: float, deltas, H) -> tuple[np.ndarray, np.ndarray]:
    r"""The SGD sum split by the sign of the signal (paper eq. 11, with ``W_init`` kept apart).

    .. math:: W - W_{\text{init}} = P - N,\qquad
              P_j = \eta \sum_{i:\,\delta_{ij}<0} (-\delta_{ij})\, h_i,\qquad
              N_j = \eta \sum_{i:\,\delta_{ij}>0} \delta_{ij}\, h_i

    Parameters
    ----------
    lr : float
    deltas : ndarray, shape (n, n_out)
    H : ndarray, shape (n, n_in)

    Returns
    -------
    P, N : ndarray, shape (n_out, n_in)
    """
    deltas, H = _signals_inputs(deltas, H)
    return lr * (np.maximum(-deltas, 0.0).T @ H), lr * (np.maximum(deltas, 0.0).T @ H)


def weighted_input_averages(deltas, H, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Signal-weighted averages of the inputs of each sign (paper eqs. 13-14).

    .. math:: W_{1,j} = \frac{c}{S_{1,j}} \sum_{i:\,\delta_{ij}<0} (-\delta_{ij})\, h_i,\qquad
              W_{2,j} = \frac{c}{S_{2,j}} \sum_{i:\,\delta_{ij}>0} \delta_{ij}\, h_i

    with ``c = scale``. The paper writes ``c = eta``; the moving average of eqs. 15-16 (and the code)
    converges to ``c = 1`` (spec sec. 8 item 11). Hence ``P = eta S1 W1`` and ``N = eta S2 W2`` for
    ``c = 1``: SGD weighs each average by its total signal, the dual-weight rule does not.

    Parameters
    ----------
    deltas : ndarray, shape (n, n_out)
    H : ndarray, shape (n, n_in)
    scale : float
        ``c`` above.

    Returns
    -------
    W1, W2 : ndarray, shape (n_out, n_in)
        A neuron with no signal of that sign (``S = 0``) gets a row of NaN: the average is undefined.
    """
    deltas, H = _signals_inputs(deltas, H)
    S1, S2 = signal_masses(deltas)
    with np.errstate(invalid="ignore", divide="ignore"):
        W1 = (np.maximum(-deltas, 0.0).T @ H) / S1[:, None]
        W2 = (np.maximum(deltas, 0.0).T @ H) / S2[:, None]
    W1[S1 == 0] = np.nan
    W2[S2 == 0] = np.nan
    return scale * W1, scale * W2


# --- eqs. 15-17, appendices C and D: moving averages -----------------------------------------


def _rates(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"step sizes a must be a 1-D array (one per step), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0.0):
        raise ValueError("step sizes a must be finite and >= 0 (a <= 1 keeps w between w_0 and the inputs)")
    return a


def moving_average_path(w0, a, X, record=None) -> np.ndarray:
    r"""Iterates of the moving average (paper eq. 20; eqs. 15-16 for one half and one neuron).

    .. math:: w_{t} = (1 - a_t)\, w_{t-1} + a_t\, x_t, \qquad t = 1, \dots, n

    Parameters
    ----------
    w0 : ndarray, shape (d,) or (r, d)
        Starting point (``r`` independent copies run side by side, e.g. Monte-Carlo replicates).
    a : ndarray, shape (n,)
        Step sizes ``>= 0``; within ``[0, 1]`` every iterate is a convex combination of ``w_0`` and
        the inputs (the code does not clip, so ``a > 1``, an overshoot, is allowed here too).
    X : ndarray, shape (n,) + w0.shape
        The inputs ``x_1 .. x_n`` (for replicates, ``X[t, k]`` feeds copy ``k``).
    record : sequence of int or None
        Steps ``t`` (in ``0..n``) whose iterate is kept; ``None`` keeps all ``n + 1``.

    Returns
    -------
    ndarray, shape (len(record),) + w0.shape
        ``w_t`` for every recorded ``t`` (``w_0, w_1, ..., w_n`` by default).
    """
    a = _rates(a)
    w = np.array(w0, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.shape != (a.shape[0],) + w.shape:
        raise ValueError(f"X must have shape (n,) + w0.shape = {(a.shape[0],) + w.shape}, got {X.shape}")
    steps = np.arange(a.shape[0] + 1) if record is None else np.asarray(record)
    if steps.ndim != 1 or (steps.size and (steps.min() < 0 or steps.max() > a.shape[0])):
        raise ValueError(f"record must list steps in 0..{a.shape[0]}")
    slot: dict[int, list[int]] = {}
    for k, t in enumerate(steps):
        slot.setdefault(int(t), []).append(k)
    out = np.empty((steps.shape[0],) + w.shape)
    for k in slot.get(0, ()):
        out[k] = w
    for t in range(a.shape[0]):
        w = (1.0 - a[t]) * w + a[t] * X[t]
        for k in slot.get(t + 1, ()):
            out[k] = w
    return out


def unrolled_coefficients(a) -> tuple[float, np.ndarray]:
    r"""The moving average written out as one weighted sum of its start and its inputs.

    .. math:: w_n = c_0\, w_0 + \sum_{k=1}^{n} c_k\, x_k,\qquad
              c_0 = \prod_{m=1}^{n} (1 - a_m),\quad c_k = a_k \prod_{m=k+1}^{n} (1 - a_m),
              \qquad c_0 + \sum_k c_k = 1

    Parameters
    ----------
    a : ndarray, shape (n,), >= 0 (in [0, 1] for the convergence statements)

    Returns
    -------
    c0 : float
    c : ndarray, shape (n,)
    """
    a = _rates(a)
    # tail[k] = prod_{m > k} (1 - a_m), computed from the end
    keep = 1.0 - a
    tail = np.ones(a.shape[0] + 1)
    tail[:-1] = np.cumprod(keep[::-1])[::-1]
    return float(tail[0]), a * tail[1:]


def averaging_rates(weights) -> np.ndarray:
    r"""Step sizes that make the moving average *equal* the weighted average (eqs. 13-14 from 15-16).

    .. math:: a_t = \frac{u_t}{\sum_{s \le t} u_s}
              \quad\Longrightarrow\quad
              w_n = \frac{\sum_{t \le n} u_t\, x_t}{\sum_{t \le n} u_t}
              \text{ for any } w_0 \text{ (once some } u_t > 0)

    Steps before the first positive weight get ``a = 0`` (the average is still undefined there).

    Parameters
    ----------
    weights : ndarray, shape (n,), >= 0
        ``u_t`` (for ``W1``: ``max(-delta_t, 0)``).

    Returns
    -------
    ndarray, shape (n,), in [0, 1]
    """
    u = np.asarray(weights, dtype=float)
    if u.ndim != 1 or np.any(u < 0) or not np.all(np.isfinite(u)):
        raise ValueError("weights must be a 1-D array of finite numbers >= 0")
    total = np.cumsum(u)
    out = np.zeros_like(u)
    np.divide(u, total, out=out, where=total > 0)
    return out


def remaining_deviation(a) -> np.ndarray:
    r"""Fraction of the starting deviation left in the expected iterate (appendix C, eq. 24).

    .. math:: \frac{E[w_n] - \mu}{w_0 - \mu} = \prod_{k=1}^{n} (1 - a_k)

    valid when the step sizes do not depend on the inputs. It tends to 0 exactly when
    :math:`\sum_k a_k = \infty` (for ``a_k < 1``), eqs. 25-26.

    Parameters
    ----------
    a : ndarray, shape (n,), >= 0 (in [0, 1] for the convergence statements)

    Returns
    -------
    ndarray, shape (n + 1,)
        The product after 0, 1, ..., n steps (starts at 1).
    """
    a = _rates(a)
    return np.concatenate(([1.0], np.cumprod(1.0 - a)))


def moving_average_variance(a, var: float) -> np.ndarray:
    r"""Variance of the moving average of independent inputs with variance ``var`` (per coordinate).

    .. math:: V_0 = 0, \qquad V_t = (1 - a_t)^2\, V_{t-1} + a_t^2\, \sigma^2

    For ``a_t = 1/t`` this is :math:`\sigma^2 / n` (the sample mean); for a constant ``a`` it tends
    to :math:`a\sigma^2/(2 - a)`, a floor that only shrinking steps (:math:`\sum a_t^2 < \infty`
    together with :math:`\sum a_t = \infty`) remove.

    Parameters
    ----------
    a : ndarray, shape (n,), >= 0 (in [0, 1] for the convergence statements)
    var : float, >= 0

    Returns
    -------
    ndarray, shape (n + 1,)
    """
    a = _rates(a)
    if not (var >= 0.0 and math.isfinite(var)):
        raise ValueError(f"var must be a finite number >= 0, got {var}")
    out = np.zeros(a.shape[0] + 1)
    v = 0.0
    for t in range(a.shape[0]):
        v = (1.0 - a[t]) ** 2 * v + a[t] ** 2 * var
        out[t + 1] = v
    return out


def expected_squared_error(a, w0, mean, var_total: float) -> np.ndarray:
    r"""Mean squared distance of the moving average from the mean, after every step.

    .. math:: E\,\lVert w_t - \mu \rVert^2
              = \Bigl(\prod_{k \le t} (1 - a_k)\Bigr)^2 \lVert w_0 - \mu \rVert^2 + V_t

    with :math:`V_t` from :func:`moving_average_variance` at ``var = var_total`` (the trace of the
    input covariance): squared bias plus variance, for inputs drawn independently of the steps.

    Parameters
    ----------
    a : ndarray, shape (n,)
    w0, mean : ndarray, shape (d,)
    var_total : float
        Sum of the coordinates' variances.

    Returns
    -------
    ndarray, shape (n + 1,)
    """
    bias0 = float(np.sum((np.asarray(w0, dtype=float) - np.asarray(mean, dtype=float)) ** 2))
    return remaining_deviation(a) ** 2 * bias0 + moving_average_variance(a, var_total)


def monte_carlo_squared_error(
    a, w0, mean, draw: Callable[[int], np.ndarray], record, chunk: int = 2000,
) -> np.ndarray:
    r"""Average over replicates of :math:`\lVert w_t - \mu \rVert^2` for the moving average (eq. 20).

    Runs ``r`` independent moving averages side by side, drawing their inputs ``chunk`` steps at a
    time (so long runs need little memory), and keeps the error at the recorded steps.

    Parameters
    ----------
    a : ndarray, shape (n,)
    w0 : ndarray, shape (r, d)
        Starting point of every replicate.
    mean : ndarray, shape (d,)
        The mean :math:`\mu` the average should find.
    draw : callable
        ``draw(k)`` returns the next ``k`` inputs of every replicate, shape ``(k, r, d)`` (it should
        draw from a seeded ``numpy.random.Generator``).
    record : sequence of int
        Increasing steps in ``0..n``.

    Returns
    -------
    ndarray, shape (len(record),)
    """
    a = _rates(a)
    w = np.array(w0, dtype=float)
    mean = np.asarray(mean, dtype=float)
    steps = np.asarray(record)
    if steps.ndim != 1 or np.any(np.diff(steps) <= 0) or steps[0] < 0 or steps[-1] > a.shape[0]:
        raise ValueError(f"record must be increasing steps in 0..{a.shape[0]}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    out = np.empty(steps.shape[0])
    if steps[0] == 0:
        out[0] = np.mean(np.sum((w - mean) ** 2, axis=-1))
    for start in range(0, a.shape[0], chunk):
        stop = min(start + chunk, a.shape[0])
        X = np.asarray(draw(stop - start), dtype=float)
        if X.shape != (stop - start,) + w.shape:
            raise ValueError(f"draw({stop - start}) must return shape {(stop - start,) + w.shape}, got {X.shape}")
        mine = np.flatnonzero((steps > start) & (steps <= stop))
        path = moving_average_path(w, a[start:stop], X, record=list(steps[mine] - start) + [stop - start])
        out[mine] = np.mean(np.sum((path[:-1] - mean) ** 2, axis=-1), axis=-1)
        w = path[-1]
    return out


STEP_SCHEDULES: Registry[Callable[..., np.ndarray]] = Registry("step-size schedule")


def _steps(n: int) -> np.ndarray:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (number of steps), got {n!r}")
    return np.arange(1, int(n) + 1, dtype=float)


@STEP_SCHEDULES.register("harmonic")
def _harmonic(n: int) -> np.ndarray:
    """``a_t = 1/t``: sum diverges, sum of squares converges (the running mean)."""
    return 1.0 / _steps(n)


@STEP_SCHEDULES.register("power")
def _power(n: int, scale: float = 1.0, power: float = 0.6) -> np.ndarray:
    """``a_t = min(1, scale t^-power)``: sum diverges iff power <= 1; squares converge iff power > 1/2."""
    return np.minimum(1.0, scale * _steps(n) ** (-float(power)))


@STEP_SCHEDULES.register("constant")
def _constant(n: int, scale: float = 0.01) -> np.ndarray:
    """``a_t = scale``: the plain rule with constant ``eta |delta|``; both sums diverge."""
    return np.full(_steps(n).shape, float(scale))


@STEP_SCHEDULES.register("geometric")
def _geometric(n: int, scale: float = 0.05, ratio: float = 0.999) -> np.ndarray:
    """``a_t = scale ratio^(t-1)``: a signal that dies out fast; the sum stays below scale/(1-ratio)."""
    return float(scale) * float(ratio) ** (_steps(n) - 1.0)


def step_schedule(name: str, n: int, **params: float) -> np.ndarray:
    r"""Step sizes ``a_1..a_n`` of a named schedule in :data:`STEP_SCHEDULES`.

    .. math:: \text{harmonic: } \tfrac1t;\quad \text{power: } \min(1, s\,t^{-p});\quad
              \text{constant: } s;\quad \text{geometric: } s\,r^{t-1}

    Returns
    -------
    ndarray, shape (n,), checked to lie in [0, 1]
    """
    fn = STEP_SCHEDULES.lookup(name)
    try:
        a = _rates(fn(n, **params))
    except TypeError as exc:
        raise ValueError(f"bad parameters {params} for schedule {name!r}: {exc}") from None
    if np.any(a > 1.0):
        raise ValueError(f"schedule {name!r} with {params} gives steps above 1; lower its scale")
    return a


# --- appendix B: the stabilizer, one neuron ---------------------------------------------------


def stabilizer_trace(
    deltas, lr: float, gain: float = 0.1, cap: float = 1.0, G_init: float = 1.0,
    G_lr: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Running mean ``G`` of ``|delta|`` and the stabilized step of one neuron (appendix B).

    .. math:: a_t = \eta \min\Bigl(\text{cap}, \frac{\text{gain}\,\lvert\delta_t\rvert}{G_{t-1}}\Bigr),
              \qquad
              G_t = \begin{cases} (1 - \eta_G)\, G_{t-1} + \eta_G \lvert\delta_t\rvert & \delta_t \ne 0 \\
                                  G_{t-1} & \delta_t = 0 \end{cases}

    The step uses the *old* ``G`` (the code updates ``G`` after the weights; spec sec. 3).

    Parameters
    ----------
    deltas : ndarray, shape (n,)
        The neuron's signals (their sign does not matter here).
    lr : float
        ``eta``.
    gain, cap, G_init : float
        0.1, 1 and 1 in the paper and code.
    G_lr : float or None
        ``eta_G``; ``None`` means ``lr`` (the paper).

    Returns
    -------
    G : ndarray, shape (n + 1,)
        ``G_0 = G_init, G_1, ..., G_n``.
    a : ndarray, shape (n,)
        Step size of the half that moves at each step (0 where ``delta = 0``).
    """
    g = np.abs(np.asarray(deltas, dtype=float))
    if g.ndim != 1:
        raise ValueError(f"deltas must be 1-D (one neuron's signal per step), got shape {g.shape}")
    if not G_init > 0:
        raise ValueError(f"G_init must be > 0 (it divides |delta|), got {G_init}")
    rate = lr if G_lr is None else G_lr
    G = np.empty(g.shape[0] + 1)
    a = np.empty(g.shape[0])
    G[0] = G_init
    for t in range(g.shape[0]):
        a[t] = lr * min(cap, gain * g[t] / G[t])
        G[t + 1] = (1.0 - rate) * G[t] + rate * g[t] if g[t] != 0 else G[t]
    return G, a


def relaxed_average(k, target: float, start: float, rate: float) -> np.ndarray:
    r"""A moving average fed a constant value, after ``k`` updates.

    .. math:: G_k = m + (G_0 - m)(1 - \eta_G)^k

    The stabilizer's ``G`` follows this exactly for a constant ``|delta| = m`` and, in expectation
    over the steps, approximately for a random one with mean ``m`` (``k`` counts the nonzero steps).
    """
    k = np.asarray(k, dtype=float)
    return target + (start - target) * (1.0 - rate) ** k


# --- eqs. 18-19: one neuron under four updates --------------------------------------------------


def sgd_neuron_step(w, delta: float, x, lr: float) -> np.ndarray:
    r"""Plain SGD for one neuron (eq. 9, one step).

    .. math:: w \leftarrow w - \eta\, \delta\, x

    Parameters
    ----------
    w, x : ndarray, shape (d,)
    delta : float
    lr : float
    """
    return w - lr * delta * x


def l2_decoupled_neuron_step(w, delta: float, x, lr: float, lam: float) -> np.ndarray:
    r"""SGD on loss + ``lambda/2 |w|^2`` (paper eqs. 18-19).

    .. math:: w \leftarrow w (1 - \eta\lambda) - \eta\, \delta\, x
    """
    return w * (1.0 - lr * lam) - lr * delta * x


def l2_coded_neuron_step(w, delta: float, x, lr: float, lam: float) -> np.ndarray:
    r"""SGD on loss + ``lambda |w|`` (unsquared norm): the authors' "L2" (spec sec. 4).

    .. math:: w \leftarrow w - \eta\lambda \frac{w}{\lVert w \rVert} - \eta\, \delta\, x

    (no shrink at ``w = 0``). Each step takes a fixed length ``eta lambda`` off the norm.
    """
    norm = float(np.sqrt(np.sum(w * w)))
    shrink = 0.0 if norm == 0.0 else lr * lam / norm
    return w - shrink * w - lr * delta * x


def dual_weight_neuron_step(w1, w2, delta: float, x, lr: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The dual-weight step of one neuron (paper eqs. 15-17).

    .. math:: \delta < 0:\ w_1 \leftarrow (1 - \eta|\delta|)\, w_1 + \eta|\delta|\, x;\qquad
              \delta > 0:\ w_2 \leftarrow (1 - \eta|\delta|)\, w_2 + \eta|\delta|\, x;\qquad
              \delta = 0:\ \text{no change}

    Returns
    -------
    w1, w2 : ndarray, shape (d,); the neuron's weight is ``w1 - w2`` (eq. 12)
    """
    a = lr * abs(delta)
    if delta < 0:
        return (1.0 - a) * w1 + a * x, w2
    if delta > 0:
        return w1, (1.0 - a) * w2 + a * x
    return w1, w2


#: Names of the one-neuron updates compared in the book (values: short labels for plots).
NEURON_RULES: Registry[str] = Registry("one-neuron update")
NEURON_RULES.register("sgd", "SGD (eq. 9)")
NEURON_RULES.register("l2_decoupled", "L2 as W(1 - ηλ) (eq. 19)")
NEURON_RULES.register("l2_coded", "code's 'L2': λ‖W‖ unsquared")
NEURON_RULES.register("dual_weight", "dual weight (eqs. 15-17)")


def neuron_trajectories(
    X, y, indices, w_init, lr: float, lam: float, rules: Sequence[str] = tuple(NEURON_RULES),
) -> dict[str, np.ndarray]:
    r"""Weights of one linear neuron (no bias) after every step, under each named update.

    The neuron predicts :math:`\hat y = w \cdot x` with loss :math:`\tfrac12(\hat y - y)^2`, so its
    signal is :math:`\delta = w \cdot x - y` (computed at the current weights, before the step).
    The dual-weight neuron starts as the code does, ``w1 = w_init``, ``w2 = 0``.

    Parameters
    ----------
    X : ndarray, shape (n_samples, d)
    y : ndarray, shape (n_samples,)
    indices : sequence of int, length n
        Sample of each step (the same order for every rule).
    w_init : ndarray, shape (d,)
    lr, lam : float
        ``eta`` and ``lambda`` (``lam`` is used by the two L2 rules).
    rules : sequence of names in :data:`NEURON_RULES`

    Returns
    -------
    dict name -> ndarray, shape (n + 1, d)
        For ``"dual_weight"`` also ``"dual_weight:w1"`` and ``"dual_weight:w2"``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    idx = np.asarray(indices)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n_samples, d) and y (n_samples,); got {X.shape} and {y.shape}")
    if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= len(y))):
        raise ValueError(f"indices must be a 1-D array of sample indices in 0..{len(y) - 1}")
    w0 = np.asarray(w_init, dtype=float)
    if w0.shape != (X.shape[1],):
        raise ValueError(f"w_init must have shape ({X.shape[1]},), got {w0.shape}")
    out: dict[str, np.ndarray] = {}
    for name in rules:
        NEURON_RULES.lookup(name)
        path = np.empty((idx.shape[0] + 1, X.shape[1]))
        path[0] = w0
        if name == "dual_weight":
            w1, w2 = w0.copy(), np.zeros_like(w0)
            p1, p2 = path.copy(), np.zeros_like(path)
            for t, i in enumerate(idx):
                delta = float((w1 - w2) @ X[i] - y[i])
                w1, w2 = dual_weight_neuron_step(w1, w2, delta, X[i], lr)
                p1[t + 1], p2[t + 1] = w1, w2
                path[t + 1] = w1 - w2
            out["dual_weight:w1"], out["dual_weight:w2"] = p1, p2
        else:
            w = w0.copy()
            for t, i in enumerate(idx):
                delta = float(w @ X[i] - y[i])
                if name == "sgd":
                    w = sgd_neuron_step(w, delta, X[i], lr)
                elif name == "l2_decoupled":
                    w = l2_decoupled_neuron_step(w, delta, X[i], lr, lam)
                else:
                    w = l2_coded_neuron_step(w, delta, X[i], lr, lam)
                path[t + 1] = w
        out[name] = path
    return out


def make_neuron_task(
    rng: np.random.Generator, n: int, mean=(1.0, 0.5), std=(0.5, 0.5), w_true=(1.5, -1.0),
    noise: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    r"""A small 2-D regression task for one linear neuron.

    .. math:: x \sim \mathcal N(\mu, \operatorname{diag}(s^2)),\qquad y = w^\star \cdot x + \varepsilon,
              \quad \varepsilon \sim \mathcal N(0, \sigma^2)

    Returns
    -------
    X : ndarray, shape (n, 2)
    y : ndarray, shape (n,)
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    X = np.asarray(mean, dtype=float) + rng.standard_normal((int(n), 2)) * np.asarray(std, dtype=float)
    y = X @ np.asarray(w_true, dtype=float) + noise * rng.standard_normal(int(n))
    return X, y


def ridge_weights(X, y, lam: float = 0.0) -> np.ndarray:
    r"""Minimiser of the mean half squared error plus ``lambda/2 |w|^2`` (the fixed point of eq. 19).

    .. math:: w^\ast = \Bigl(\tfrac1n X^\top X + \lambda I\Bigr)^{-1} \tfrac1n X^\top y
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n = X.shape[0]
    return np.linalg.solve(X.T @ X / n + lam * np.eye(X.shape[1]), X.T @ y / n)


def half_mse_surface(X, y, w_a, w_b) -> np.ndarray:
    r"""Mean half squared error of a 2-D linear neuron on a grid of weights (for contour plots).

    .. math:: L(w) = \frac{1}{2n} \sum_i (w \cdot x_i - y_i)^2

    Parameters
    ----------
    X : ndarray, shape (n, 2)
    y : ndarray, shape (n,)
    w_a, w_b : ndarray, shape (k,) and (m,)
        Grid values of the two weights.

    Returns
    -------
    ndarray, shape (m, k)  (rows follow ``w_b``, as matplotlib's ``contour`` expects)
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    A, B = np.meshgrid(np.asarray(w_a, dtype=float), np.asarray(w_b, dtype=float))
    pred = A[..., None] * X[:, 0] + B[..., None] * X[:, 1]
    return 0.5 * np.mean((pred - y) ** 2, axis=-1)
