r"""Statistics shared by every chapter: the Student-t interval of a mean over seeds.

.. math:: \bar x \pm t_{(1+\text{level})/2,\ m-1}\ \frac{s}{\sqrt m}, \qquad
          s^2 = \frac{1}{m-1}\sum_i (x_i - \bar x)^2

Chapters keep their own policy for edge cases (NaN runs, a single seed) in thin wrappers; the
arithmetic lives here once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["t_half_width"]


def t_half_width(x: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the two-sided Student-t interval of the mean of ``x`` (1-D, >= 2 finite values)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    return float(stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def two_run_set_tolerance(x: np.ndarray, level: float = 0.95, floor: float = 0.0) -> float:
    r"""How far the mean of another set of ``n`` runs of the same protocol may lie from the mean of
    ``x`` (``n`` runs) by seed noise alone: the half-width of the two-sided Student-t interval of a
    difference of two means of ``n`` runs with the spread of ``x``,

    .. math:: \tau = \max\Big(\text{floor},\; t_{(1+\text{level})/2,\,2n-2}\; s_x \sqrt{2/n}\Big).

    Used for quantities whose scale says nothing about their noise (a cosine is not an accuracy):
    the published mean of the source's ``n`` runs is compared with ours within ``\tau``. ``NaN``
    with fewer than two finite values.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan")
    half = stats.t.ppf((1 + level) / 2, 2 * x.size - 2) * x.std(ddof=1) * np.sqrt(2.0 / x.size)
    return float(max(floor, half))


def prediction_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    r"""Where a *single* new run of the same protocol falls with probability ``level``, from the
    runs ``x`` (normal model, Student-t):

    .. math:: \bar x \pm t_{(1+\text{level})/2,\,n-1}\; s \sqrt{1 + 1/n}

    The criterion for a published number that is one unseeded run: it is consistent with our
    protocol when it lies inside. ``(NaN, NaN)`` with fewer than two finite values.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) * np.sqrt(1.0 + 1.0 / x.size)
    return float(x.mean() - half), float(x.mean() + half)


def excess_kurtosis(x: np.ndarray) -> float:
    r"""Sample excess kurtosis :math:`\frac{\overline{(x-\bar x)^4}}{\big(\overline{(x-\bar x)^2}\big)^2} - 3`
    (0 for a normal)."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean()
    return float(np.mean(d ** 4) / np.mean(d ** 2) ** 2 - 3.0)


def normal_product_sums(n_terms: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    r"""``n_samples`` draws of :math:`z = \frac{1}{\sqrt n}\sum_{i=1}^{n} x_i w_i` with every
    :math:`x_i, w_i \sim \mathcal N(0, 1)` independent: a unit's pre-activation when both its inputs
    and its weights are normal (the L2 Q&A's note). Each product :math:`x_i w_i` has variance 1 and
    :math:`E[(xw)^4] = E[x^4]E[w^4] = 9`, so excess kurtosis 6: it is *not* normal; the sum of
    :math:`n` such independent terms has excess kurtosis :math:`6/n` (cumulants add), so the
    pre-activation becomes normal again as the fan-in grows."""
    z = np.zeros(n_samples)
    for _ in range(n_terms):  # one term at a time: memory O(n_samples) at any fan-in
        z += rng.standard_normal(n_samples) * rng.standard_normal(n_samples)
    return z / np.sqrt(n_terms)
