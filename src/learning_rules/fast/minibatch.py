r"""Mini-batch SGD step with preallocated buffers, float32 or float64.

The same equations as the reference engine with ``update="gradient"``, ``optimizer="sgd"`` and
backprop or DFA credit (``learning_rules.engine.Network._step``):

.. math::
    z_l = h_{l-1} W_l^\top + b_l,\quad h_l = f_l(z_l),\quad
    \delta_L = e,\quad \delta_l = (\delta_{l+1} W_{l+1}) \odot f_l'(z_l)\ \ (\text{DFA: } (e B_l) \odot f_l'(z_l)),

.. math::
    W_l \leftarrow W_l - \frac{\eta}{B}\,\delta_l^\top h_{l-1}, \qquad
    b_l \leftarrow b_l - \frac{\eta}{B} \sum_i \delta_{l,i}

with every teaching signal computed before any update. What differs is only the plumbing: all
activations, signals and weight gradients live in buffers allocated once (``out=`` matmuls), so
no weight-sized temporary is created per step. The single scaling by ``-lr/B`` rounds differently
from the reference's ``lr * (grad * (1/B))``, so the two agree to rounding (tests: 1e-12 in
float64).

Used for the parity net of the DFA thesis (2352-512-1, no biases, ReLU, sigmoid + BCE, batch 128)
and the ablation net (784-128x4-10, leaky ReLU 0.1, softmax + CCE, batch 100); measured in
``benchmarks/bench_minibatch.py``.
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import get_activation
from ..nn.losses import get_loss

__all__ = ["MinibatchSGD"]

_FUSED = {("bce", "sigmoid"), ("bce", "identity"), ("cce", "softmax"), ("cce", "identity"),
          ("mse", "identity")}


class MinibatchSGD:
    """Plain-SGD mini-batch trainer on preallocated buffers (weights updated in place).

    Parameters
    ----------
    weights : list of ndarray (n_l, n_{l-1}), all float32 or all float64, C-contiguous
        Trained **in place**.
    biases : list of (ndarray (n_l,) or None)
    activations : list of str
        Hidden: any element-wise activation; output with ``loss``: sigmoid/identity + ``bce``,
        softmax/identity + ``cce``, identity + ``mse``.
    loss : str
    lr : float
    batch_size : int
        The buffers' batch size; a smaller last batch uses views of them.
    feedback : list or None
        DFA matrices ``B[l-1]`` of shape ``(n_L, n_l)`` (as the reference's ``credit_state["B"]``);
        ``None`` = backprop.
    """

    def __init__(self, weights, biases, activations, loss: str, lr: float, batch_size: int,
                 feedback=None) -> None:
        self.weights = list(weights)
        self.biases = list(biases) if biases is not None else [None] * len(self.weights)
        dtype = self.weights[0].dtype
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"MinibatchSGD works in float32 or float64, got {dtype}")
        for l, W in enumerate(self.weights):
            if W.dtype != dtype or not W.flags.c_contiguous:
                raise ValueError(f"weights[{l}] must be C-contiguous {dtype}")
        self.dtype = dtype
        self.acts = [get_activation(a) for a in activations]
        if len(self.acts) != len(self.weights) or any(not a.elementwise for a in self.acts[:-1]):
            raise ValueError("need one activation per layer, element-wise in the hidden layers")
        self.loss = get_loss(loss)
        if (self.loss.name, self.acts[-1].name) not in _FUSED:
            raise ValueError(f"output {self.acts[-1].name!r} with loss {loss!r} has no fused fast step; "
                             f"valid pairs: {sorted(_FUSED)}")
        self.lr = float(lr)
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {lr}")
        self.feedback = feedback
        B = int(batch_size)
        sizes = [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]
        self.sizes = sizes
        self.batch_size = B
        self._z = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._h = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._d = [None] + [np.empty((B, n), dtype) for n in sizes[1:]]
        self._gw = [None] + [np.empty_like(W) for W in self.weights]

    def step(self, X: np.ndarray, Y: np.ndarray) -> None:
        """One SGD step on a batch ``X`` (batch, n_0) with encoded targets ``Y`` (batch, n_L).

        ``X`` and ``Y`` must already be validated and of the trainer's dtype (the engine's
        ``Network._check_xy`` gives that form).
        """
        Bn = X.shape[0]
        L = len(self.weights)
        z = [None] + [a[:Bn] for a in self._z[1:]]
        h = [X] + [a[:Bn] for a in self._h[1:]]
        d = [None] + [a[:Bn] for a in self._d[1:]]
        for l in range(1, L + 1):
            W, b = self.weights[l - 1], self.biases[l - 1]
            np.matmul(h[l - 1], W.T, out=z[l])
            if b is not None:
                z[l] += b
            if l < L:
                h[l][...] = self.acts[l - 1].forward(z[l])
        # output error, fused forms as in nn.losses
        e = d[L]
        if self.loss.name == "bce":
            e[...] = _sigmoid(z[L])
            e -= Y
        elif self.loss.name == "cce":
            np.subtract(z[L], z[L].max(axis=1, keepdims=True), out=e)
            np.exp(e, out=e)
            e /= e.sum(axis=1, keepdims=True)
            e -= Y
        else:
            np.subtract(z[L], Y, out=e)
        for l in range(L - 1, 0, -1):
            if self.feedback is None:
                np.matmul(d[l + 1], self.weights[l], out=d[l])
            else:
                np.matmul(e, self.feedback[l - 1], out=d[l])
            d[l] *= self.acts[l - 1].derivative(z[l])
        scale = -self.lr / Bn
        for l in range(1, L + 1):
            W = self.weights[l - 1]
            gw = self._gw[l]
            np.matmul(d[l].T, h[l - 1], out=gw)  # delta^T h into a preallocated buffer
            gw *= scale
            W += gw
            b = self.biases[l - 1]
            if b is not None:
                b += scale * d[l].sum(axis=0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    ez = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))
