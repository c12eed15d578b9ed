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
