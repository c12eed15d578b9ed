"""Penalties: gradients against finite differences, the coded norm's fixed shrink, decoupled decay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from learning_rules.updates import REGULARIZERS, decoupled_decay
from learning_rules.updates.regularizers import (
    l1_gradient,
    l1_value,
    l2_coded_gradient,
    l2_coded_value,
    l2_gradient,
    l2_value,
)
from conftest import central_difference

FAST = settings(max_examples=30, deadline=None)


@pytest.mark.parametrize("name", ["l2", "l2_coded", "l1"])
@pytest.mark.parametrize("n_train", [None, 7])
def test_gradient_matches_finite_differences(name, n_train):
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 3))
    W[np.abs(W) < 0.05] = 0.3  # keep L1 away from its kink
    reg = REGULARIZERS[name](0.37, n_train=n_train)
    np.testing.assert_allclose(reg.gradient(W), central_difference(reg.value, W), rtol=1e-6, atol=1e-9)


def test_values_by_hand():
    W = np.array([[3.0, -4.0], [0.0, 0.0]])  # sum w^2 = 25, ||W||_F = 5, sum |w| = 7
    assert l2_value(W, 0.2, 5) == pytest.approx(0.2 / 10 * 25)
    np.testing.assert_allclose(l2_gradient(W, 0.2, 5), 0.04 * W)
    assert l2_coded_value(W, 0.2) == pytest.approx(1.0)
    np.testing.assert_allclose(l2_coded_gradient(W, 0.2), 0.2 * W / 5)
    assert l1_value(W, 0.2, 4) == pytest.approx(0.05 * 7)
    np.testing.assert_allclose(l1_gradient(W, 0.2, 4), 0.05 * np.array([[1, -1], [0, 0]]))
    # n_train = None means n = 1: the dual-weight paper's eq. 18, lambda/2 ||W||^2
    assert REGULARIZERS["l2"](0.2).value(W) == pytest.approx(0.1 * 25)


def test_coded_gradient_is_zero_at_zero_weights():
    W = np.zeros((3, 2), dtype=np.float32)
    g = l2_coded_gradient(W, 0.1)
    assert g.dtype == np.float32 and np.all(g == 0) and np.all(np.isfinite(g))


@FAST
@given(
    W=hnp.arrays(np.float64, (3, 4), elements=st.floats(-3, 3)).filter(lambda w: np.linalg.norm(w) > 0.5),
    lr=st.floats(1e-3, 0.1),
    lam=st.floats(0.01, 1.0),
)
def test_coded_penalty_step_shrinks_frobenius_norm_by_exactly_lr_lambda(W, lr, lam):
    norm0 = np.linalg.norm(W)
    W_new = W - lr * l2_coded_gradient(W, lam)
    assert np.linalg.norm(W_new) == pytest.approx(norm0 - lr * lam, rel=1e-12)
    # direction unchanged: a pure shrink towards 0
    np.testing.assert_allclose(W_new * norm0, W * (norm0 - lr * lam), rtol=1e-12, atol=1e-12)


@FAST
@given(
    W=hnp.arrays(np.float32, (2, 5), elements=st.floats(-10, 10, width=32)),
    lr=st.floats(0.0, 0.5),
    lam=st.floats(0.0, 1.0),
)
def test_decoupled_decay_multiplies_by_one_minus_lr_lambda_exactly(W, lr, lam):
    expected = W * (1.0 - lr * lam)
    decoupled_decay(W, lr, lam)
    assert W.dtype == np.float32
    assert W.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ["l2", "l2_coded", "l1"])
def test_dtype_preserved(name):
    W = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    assert REGULARIZERS[name](0.1, n_train=10).gradient(W).dtype == np.float32


def test_decoupled_equals_loss_form_for_sgd_with_n_one():
    W = np.random.default_rng(1).normal(size=(3, 2))
    a = W.copy()
    decoupled_decay(a, 0.1, 0.3)
    b = W - 0.1 * l2_gradient(W, 0.3)
    np.testing.assert_allclose(a, b, rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lam": -1.0}, "strength"), ({"lam": float("inf")}, "strength"), ({"lam": 0.1, "n_train": 0}, "n_train"),
     ({"lam": 0.1, "n_train": 2.5}, "n_train")],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        REGULARIZERS["l2"](**kwargs)


def test_unknown_regularizer_lists_valid_names():
    with pytest.raises(ValueError, match="l2_coded"):
        REGULARIZERS["l3"]
