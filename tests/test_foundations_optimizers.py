"""Optimizers chapter (book/foundations/optimizers.ipynb): EMA and paths on 2-D test functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.experiments import foundations_optimizers as O


@settings(max_examples=30, deadline=None)
@given(xs=st.lists(st.floats(-10, 10), min_size=1, max_size=30), beta=st.floats(0.0, 0.99))
def test_ema_equals_its_explicit_sum(xs, beta):
    x = np.array(xs)
    T = len(x)
    weights = (1 - beta) * beta ** (T - np.arange(1, T + 1))
    assert O.ema(x, beta)[-1] == pytest.approx(np.sum(weights * x), abs=1e-9)
    assert weights.sum() == pytest.approx(1 - beta**T, abs=1e-12)


def test_bias_corrected_ema_of_a_constant_is_the_constant():
    np.testing.assert_allclose(O.ema(np.full(50, 2.5), 0.9, bias_correction=True), 2.5, rtol=1e-13)
    with pytest.raises(ValueError, match="beta"):
        O.ema(np.ones(3), 1.0)


@pytest.mark.parametrize("name", list(O.TEST_FUNCTIONS))
def test_test_function_gradients_by_finite_differences(name):
    fn = O.TEST_FUNCTIONS.lookup(name)
    p = np.array([0.7, -0.3])
    e = 1e-6
    fd = [(fn.value(p + e * u) - fn.value(p - e * u)) / (2 * e) for u in np.eye(2)]
    np.testing.assert_allclose(fn.gradient(p), fd, atol=1e-8)
    np.testing.assert_allclose(fn.value(np.stack([p, 2 * p], axis=1)), [fn.value(p), fn.value(2 * p)], rtol=1e-14)


def test_sgd_on_the_ravine_follows_the_closed_form():
    path = O.optimizer_trajectory("sgd", "ravine", lr=0.1, num_steps=25)
    start = np.array(O.TEST_FUNCTIONS.lookup("ravine").start)
    t = np.arange(26)[:, None]
    np.testing.assert_allclose(path, start * np.array([1 - 0.1 * 0.2, 1 - 0.1 * 8.0]) ** t, rtol=1e-12)


def test_adam_first_step_has_size_lr_per_coordinate():
    path = O.optimizer_trajectory("adam", "saddle", lr=0.05, num_steps=1)
    np.testing.assert_allclose(np.abs(path[1] - path[0]), 0.05, rtol=1e-4)


def test_optimizer_paths_frame_and_errors():
    frame = O.optimizer_paths(O.OptimizerPathsConfig(function="saddle", num_steps=5))
    assert set(frame["optimizer"]) == set(O.OptimizerPathsConfig.optimizers)
    assert len(frame) == 6 * len(O.OptimizerPathsConfig.optimizers)
    with pytest.raises(ValueError, match="one lr per optimizer"):
        O.optimizer_paths(O.OptimizerPathsConfig(lrs=(0.1,)))
    with pytest.raises(ValueError, match="test function"):
        O.optimizer_trajectory("sgd", "no-such-function", 0.1, 3)
