r"""Backpropagation derived twice (book/foundations/backprop.ipynb): with scalar sums for
element-wise activations and with one Jacobian per layer for any activation (softmax included),
both checked against the engine's backprop (:func:`.foundations.engine_gradients`) and central
differences, and the ablation paper's printed loss derivatives checked against finite differences.

Sources: [ablation] Okoma (2025), "Derivation and analysis of backpropagation" (sec. 2.2 loss
derivatives, sec. 2.3 univariate and multivariate backprop); [notes] Alrabeiah (2022), Lecture 5
(eqs. 1.1-1.14 worked two-layer example).

Pure math, one function per equation; no registered runs.

Explained in: book/foundations/backprop.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..nn.activations import get_activation, softmax
from ..nn.losses import get_loss
from ..nn.mlp import MLP, forward
from .foundations import engine_gradients


__all__ = [
    "activation_jacobian",
    "backprop_elementwise",
    "backprop_jacobian",
    "gradient_check",
    "loss_derivative_check",
    "numerical_gradients",
]


def activation_jacobian(activation: Any, z: np.ndarray) -> np.ndarray:
    r"""Jacobian :math:`J_f(z)_{kj} = \partial f_k / \partial z_j` of one layer's activation, one sample.

    .. math::
        \text{element-wise } f:\ J_f(z) = \operatorname{diag}\big(f'(z)\big), \qquad
        \text{softmax } s:\ J_s(z) = \operatorname{diag}(s) - s s^\top

    [ablation Definition 2.1 and eq. (4); the softmax Jacobian is derived in book/foundations/backprop.ipynb]

    Parameters
    ----------
    activation : str or Activation
    z : ndarray, shape (n,)
        One sample's pre-activation.

    Returns
    -------
    ndarray, shape (n, n)
    """
    act = get_activation(activation)
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"z must be one sample, shape (n,), got {z.shape}")
    if act.name == "softmax":
        s = softmax(z[None, :])[0]
        return np.diag(s) - np.outer(s, s)
    if not getattr(act, "elementwise", True):
        raise ValueError(f"no Jacobian rule for the non-element-wise activation {act.name!r}")
    return np.diag(act.derivative(z[None, :])[0])


def _single_sample_forward(weights, biases, acts, x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be one sample, shape (n_0,), got {x.shape}")
    cache = forward(weights, biases, [get_activation(a) for a in acts], x[None, :])
    h = [v[0] for v in cache.h]
    z = [None] + [v[0] for v in cache.z[1:]]
    return h, z


def backprop_elementwise(weights, biases, acts, x, dE_dhL):
    r"""Backprop with scalar sums only, for element-wise activations [ablation eqs. (1)-(3)].

    In the book's notation (``W_l`` row ``j`` = neuron ``j``), for one sample:

    .. math::
        \frac{\partial E}{\partial h_{l-1,k}} = \sum_j \frac{\partial E}{\partial h_{l,j}}
            f_l'(z_{l,j})\, W_{l,jk}, \qquad
        \frac{\partial E}{\partial W_{l,jk}} = \frac{\partial E}{\partial h_{l,j}} f_l'(z_{l,j})\,
            h_{l-1,k}, \qquad
        \frac{\partial E}{\partial b_{l,j}} = \frac{\partial E}{\partial h_{l,j}} f_l'(z_{l,j})

    Parameters
    ----------
    weights : list of ndarray, ``W_l`` shape (n_l, n_{l-1})
    biases : list of (ndarray (n_l,) or None)
    acts : list of str, element-wise activations only
    x : ndarray, shape (n_0,)
    dE_dhL : ndarray, shape (n_L,)
        Derivative of the sample's loss with respect to the output ``h_L``.

    Returns
    -------
    grads_W : list of ndarray, shapes of ``weights``
    grads_b : list of ndarray, shapes (n_l,)
    """
    for a in acts:
        if not getattr(get_activation(a), "elementwise", True):
            raise ValueError(f"backprop_elementwise needs element-wise activations; {a!r} is not "
                             "(use backprop_jacobian for softmax)")
    h, z = _single_sample_forward(weights, biases, acts, x)
    L = len(weights)
    g_h = [float(v) for v in np.asarray(dE_dhL, dtype=np.float64)]
    grads_W: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grads_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        W = weights[l - 1]
        fprime = get_activation(acts[l - 1]).derivative(z[l][None, :])[0]
        n_out, n_in = W.shape
        gW = np.zeros((n_out, n_in))
        gb = np.zeros(n_out)
        g_prev = [0.0] * n_in
        for j in range(n_out):
            dz = g_h[j] * float(fprime[j])  # dE/dz_{l,j}
            gb[j] = dz
            for k in range(n_in):
                gW[j, k] = dz * float(h[l - 1][k])
                g_prev[k] += dz * float(W[j, k])
        grads_W[l - 1], grads_b[l - 1] = gW, gb
        g_h = g_prev
    return grads_W, grads_b


def backprop_jacobian(weights, biases, acts, x, dE_dhL):
    r"""Backprop with one Jacobian per layer, any activation incl. softmax [ablation eqs. (4)-(7)].

    .. math::
        \frac{\partial E}{\partial z_l} = J_{f_l}(z_l)^\top \frac{\partial E}{\partial h_l}, \qquad
        \frac{\partial E}{\partial h_{l-1}} = W_l^\top \frac{\partial E}{\partial z_l}, \qquad
        \frac{\partial E}{\partial W_l} = \frac{\partial E}{\partial z_l}\, h_{l-1}^\top, \qquad
        \frac{\partial E}{\partial b_l} = \frac{\partial E}{\partial z_l}

    Shapes as in :func:`backprop_elementwise`.
    """
    h, z = _single_sample_forward(weights, biases, acts, x)
    g_h = np.asarray(dE_dhL, dtype=np.float64)
    L = len(weights)
    grads_W: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grads_b: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        g_z = activation_jacobian(acts[l - 1], z[l]).T @ g_h
        grads_W[l - 1] = np.outer(g_z, h[l - 1])
        grads_b[l - 1] = g_z
        g_h = weights[l - 1].T @ g_z
    return grads_W, grads_b


def numerical_gradients(mlp: MLP, loss: str, X: np.ndarray, y: np.ndarray, eps: float = 1e-6):
    r"""Central finite differences of the batch-mean loss for every weight and bias.

    .. math:: \frac{\partial J}{\partial \theta} \approx \frac{J(\theta + \epsilon) - J(\theta - \epsilon)}{2\epsilon}

    The truncation error is :math:`O(\epsilon^2)`; rounding adds about :math:`10^{-16}/\epsilon`.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    lossf = get_loss(loss)
    work = mlp.copy()

    def J() -> float:
        cache = work.forward(np.asarray(X, dtype=np.float64), check=False)  # gates included
        return lossf.value(cache.z[-1], y, work.acts[-1])

    def diff(arr: np.ndarray) -> np.ndarray:
        out = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), out.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = J()
            flat[i] = old - eps
            down = J()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        return out

    grads_W = [diff(W) for W in work.weights]
    grads_b = [None if b is None else diff(b) for b in work.biases]
    return grads_W, grads_b


def gradient_check(mlp: MLP, loss: str, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> pd.DataFrame:
    r"""Engine gradients against central differences, one row per layer and parameter.

    Columns: ``layer`` (1-based), ``parameter`` (``"W"``/``"b"``), ``max_abs_diff``,
    ``relative_error`` :math:`= \lVert g - \hat g\rVert / \max(\lVert g\rVert + \lVert\hat g\rVert, 10^{-300})`.
    """
    eW, eb = engine_gradients(mlp, loss, X, y)
    nW, nb = numerical_gradients(mlp, loss, X, y, eps)
    rows = []
    for l, (pairs) in enumerate(zip(zip(eW, nW), zip(eb, nb)), start=1):
        for name, (a, b) in zip(("W", "b"), pairs):
            if a is None:
                continue
            d = float(np.linalg.norm(a - b))
            s = float(np.linalg.norm(a) + np.linalg.norm(b))
            rows.append({"layer": l, "parameter": name, "max_abs_diff": float(np.max(np.abs(a - b))),
                         "relative_error": d / max(s, 1e-300)})
    return pd.DataFrame(rows)


def loss_derivative_check(y: Sequence[float], a: Sequence[float], eps: float = 1e-6) -> pd.DataFrame:
    r"""The ablation paper's printed loss derivatives against finite differences of the losses.

    Losses (per sample, summed over output units ``j``), correct forms:

    .. math::
        \text{MSE: } \tfrac12\sum_j (y_j - a_j)^2 \to \frac{\partial L}{\partial a_j} = a_j - y_j, \quad
        \text{BCE: } -\sum_j [y_j\log a_j + (1-y_j)\log(1-a_j)] \to
            -\frac{y_j}{a_j} + \frac{1-y_j}{1-a_j}, \quad
        \text{CCE: } -\sum_j y_j \log a_j \to -\frac{y_j}{a_j}

    The paper (sec. 2.2) prints :math:`y-a`, :math:`y/a - (1-y)/(1-a)` and :math:`y/a`.

    Returns
    -------
    DataFrame with columns ``loss, unit, printed, corrected, finite_difference``.
    """
    y = np.asarray(y, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if y.shape != a.shape or y.ndim != 1:
        raise ValueError(f"y and a must be 1-D of equal length, got {y.shape} and {a.shape}")
    if np.any((a <= 0) | (a >= 1)):
        raise ValueError("a must lie strictly inside (0, 1) for the cross-entropies")
    losses = {
        "MSE": (lambda v: 0.5 * np.sum((y - v) ** 2), y - a, a - y),
        "BCE": (lambda v: -np.sum(y * np.log(v) + (1 - y) * np.log(1 - v)),
                y / a - (1 - y) / (1 - a), -y / a + (1 - y) / (1 - a)),
        "CCE": (lambda v: -np.sum(y * np.log(v)), y / a, -y / a),
    }
    rows = []
    for name, (f, printed, corrected) in losses.items():
        for j in range(a.size):
            up, down = a.copy(), a.copy()
            up[j] += eps
            down[j] -= eps
            rows.append({"loss": name, "unit": j + 1, "printed": float(printed[j]),
                         "corrected": float(corrected[j]),
                         "finite_difference": float((f(up) - f(down)) / (2 * eps))})
    return pd.DataFrame(rows)
