"""The L2 Q&A's note on normal products, measured: sample moments against the exact values."""

from __future__ import annotations

import numpy as np
import pytest


def test_a_product_of_normals_is_not_normal_but_a_sum_of_many_is():
    from learning_rules.analysis.stats import excess_kurtosis, normal_product_sums

    rng = np.random.default_rng(0)
    assert abs(excess_kurtosis(rng.standard_normal(200_000))) < 0.05  # a normal: 0
    one = normal_product_sums(1, 400_000, rng)
    assert np.var(one) == pytest.approx(1.0, abs=0.02)
    assert excess_kurtosis(one) == pytest.approx(6.0, abs=0.5)  # E[x^4] E[w^4] / 1 - 3 = 9 - 3
    many = normal_product_sums(100, 100_000, rng)
    assert excess_kurtosis(many) == pytest.approx(6 / 100, abs=0.05)
