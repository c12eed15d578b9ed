"""Losses: values against direct formulas, output errors against central differences, stability."""

import numpy as np
import pytest

from learning_rules.nn.activations import get_activation
from learning_rules.nn.losses import (LOSSES, accuracy, check_pairing, get_loss, predict_proba,
                                      predictions)

# every allowed (output activation, loss) pairing
PAIRS = [("identity", "mse"), ("tanh", "mse"), ("sigmoid", "mse"), ("relu", "mse"),
         ("leaky_relu", "mse"), ("softmax", "mse"), ("identity", "squared_error"),
         ("tanh", "squared_error"), ("sigmoid", "bce"), ("identity", "bce"), ("softmax", "bce"),
         ("softmax", "cce"), ("identity", "cce"), ("sigmoid", "cce")]


def make_targets(loss, rng, batch, n):
    if loss == "cce":
        return rng.integers(0, n, size=batch)
    if loss == "bce":
        return rng.integers(0, 2, size=(batch, n)).astype(float)
    return rng.normal(size=(batch, n))


@pytest.mark.parametrize("act,loss", PAIRS)
@pytest.mark.parametrize("batch", [1, 4])
def test_output_error_is_per_sample_gradient(act, loss, batch):
    rng = np.random.default_rng(3)
    n = 3
    z = rng.normal(size=(batch, n))
    z[np.abs(z) < 1e-3] = 0.3
    y = make_targets(loss, rng, batch, n)
    L = get_loss(loss)
    e = L.output_error(z, y, act)
    assert e.shape == (batch, n)
    # d(mean loss)/dz = e / batch, checked entry by entry
    eps = 1e-6
    num = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        num[idx] = (L.value(zp, y, act) - L.value(zm, y, act)) / (2 * eps)
    np.testing.assert_allclose(e / batch, num, rtol=1e-6, atol=1e-9)


def test_values_against_direct_formulas():
    z = np.array([[0.5, -1.0], [2.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    # mse: mean_i 1/2 ||z_i - y_i||^2 = (1/2 (0.25 + 1) + 1/2 (4 + 1)) / 2 = (0.625 + 2.5)/2
    assert get_loss("mse").value(z, y, "identity") == pytest.approx(1.5625)
    # squared_error: twice that
    assert get_loss("squared_error").value(z, y, "identity") == pytest.approx(3.125)
    # bce: mean_i sum_k -[y log p + (1-y) log(1-p)]
    p = 1 / (1 + np.exp(-z))
    direct = np.mean(np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=1))
    assert get_loss("bce").value(z, y, "sigmoid") == pytest.approx(direct, rel=1e-12)
    assert get_loss("bce").value(z, y, "identity") == pytest.approx(direct, rel=1e-12)
    # cce with integer labels = with one-hot rows
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    direct = -np.mean(np.log(s[[0, 1], [0, 1]]))
    assert get_loss("cce").value(z, np.array([0, 1]), "softmax") == pytest.approx(direct, rel=1e-12)
    assert get_loss("cce").value(z, y, "identity") == pytest.approx(direct, rel=1e-12)


def test_fused_and_general_paths_agree():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, 3))
    y = rng.integers(0, 3, size=5)
    onehot = np.eye(3)[y]
    # (softmax, mse) through softmax_jvp equals the hand formula J^T (s - y)
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    hand = s * ((s - onehot) - np.sum(s * (s - onehot), axis=1, keepdims=True))
    np.testing.assert_allclose(get_loss("mse").output_error(z, onehot, "softmax"), hand, rtol=1e-12)
    # bce on one unit: fused e = sigmoid(z) - y
    z1 = rng.normal(size=(6, 1))
    y1 = rng.integers(0, 2, size=6)
    np.testing.assert_allclose(get_loss("bce").output_error(z1, y1, "sigmoid"),
                               1 / (1 + np.exp(-z1)) - y1[:, None], rtol=1e-12)
    # squared error on a scalar output: 2 (y_hat - y), as the dual-weight code's MSELoss
    np.testing.assert_allclose(get_loss("squared_error").output_error(z1, y1, "identity"),
                               2 * (z1 - y1[:, None]))


@pytest.mark.parametrize("big", [1e4, -1e4, 800.0, -800.0])
def test_stable_for_extreme_logits(big):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        z = np.array([[big]])
        for y in (0.0, 1.0):
            v = get_loss("bce").value(z, np.array([y]), "sigmoid")
            e = get_loss("bce").output_error(z, np.array([y]), "sigmoid")
            # exact limits: softplus(z) - y z -> max(z, 0) - y z
            assert v == pytest.approx(max(big, 0) - y * big, rel=1e-12)
            assert np.isfinite(e).all() and e[0, 0] == pytest.approx((big > 0) - y)
        zc = np.array([[big, 0.0, -big]])
        for label in range(3):
            v = get_loss("cce").value(zc, np.array([label]), "softmax")
            expected = max(big, 0.0, -big) - zc[0, label]  # lse ~ max for |big| >> 1
            assert np.isfinite(v) and v == pytest.approx(expected, rel=1e-12, abs=1e-12)
            e = get_loss("cce").output_error(zc, np.array([label]), "identity")
            assert np.isfinite(e).all()
            np.testing.assert_allclose(e.sum(), 0.0, atol=1e-12)


def test_pairing_and_target_errors():
    check_pairing("mse", "relu")
    for bad in ("tanh", "relu", "leaky_relu"):
        with pytest.raises(ValueError, match="probability"):
            check_pairing("bce", bad)
        with pytest.raises(ValueError, match="probability"):
            check_pairing("cce", bad)
    with pytest.raises(ValueError, match="valid names"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="output units"):
        get_loss("mse").value(np.zeros((2, 3)), np.zeros((2, 2)), "identity")
    with pytest.raises(ValueError, match="1-D targets"):
        get_loss("mse").value(np.zeros((2, 3)), np.zeros(2), "identity")
    with pytest.raises(ValueError, match=r"0\.\.2"):
        get_loss("cce").value(np.zeros((2, 3)), np.array([0, 3]), "softmax")
    with pytest.raises(ValueError, match="NaN"):
        get_loss("cce").value(np.zeros((2, 3)), np.array([0, np.nan]), "softmax")
    assert set(LOSSES) == {"mse", "squared_error", "bce", "cce"}


def test_predictions_and_accuracy():
    z = np.array([[2.0, -1.0, 0.0], [0.0, 0.5, 3.0]])
    assert list(predictions(z, "cce", "softmax")) == [0, 2]
    assert accuracy(z, np.array([0, 1]), "cce", "identity") == 0.5
    assert accuracy(z, np.eye(3)[[0, 2]], "cce", "softmax") == 1.0
    zb = np.array([[0.0], [1e-9], [-3.0]])
    # sigmoid(0) = 0.5 maps to class 0, as the thesis' `y_hat > 0.5`
    assert list(predictions(zb, "bce", "sigmoid")) == [0, 1, 0]
    assert accuracy(zb, np.array([0, 1, 1]), "bce", "identity") == pytest.approx(2 / 3)
    np.testing.assert_allclose(predict_proba(zb, "bce", "identity"), 1 / (1 + np.exp(-zb)))
    assert np.isnan(accuracy(zb, np.zeros(3), "mse", "identity"))
    np.testing.assert_array_equal(predictions(zb, "mse", "tanh"), np.tanh(zb))
    assert get_activation("identity").forward(zb) is zb
