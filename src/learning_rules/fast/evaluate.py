"""Batched evaluation: the forward pass over a whole test set as one matmul chain.

The papers' code evaluates one test sample at a time (spec ``dual-weight-paper.md`` sec. 9, about
50-150 us per sample in PyTorch); the same numbers come from ``z_l = h_{l-1} W_l^T + b_l`` on
the whole set at once. Chunks of ``chunk`` rows bound the memory of the hidden activations.

Explained in: ``benchmarks/`` and the dual-weight chapter (test curves every 10k steps).
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import get_activation
from ..nn.losses import get_loss

__all__ = ["forward_logits", "evaluate_batched"]


def forward_logits(weights, biases, activations, X, chunk: int = 8192) -> np.ndarray:
    r"""Output pre-activations ``z_L`` of every row of ``X``.

    .. math:: z_l = h_{l-1} W_l^\top + b_l, \qquad h_l = f_l(z_l), \qquad h_0 = X

    Parameters
    ----------
    weights : list of ndarray (n_l, n_{l-1});  biases : list of (ndarray (n_l,) or None)
    activations : list of str or Activation, one per layer
    X : ndarray, shape (n, n_0)
    chunk : int
        Rows per matmul chain.

    Returns
    -------
    ndarray, shape (n, n_L), in the weights' dtype
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != weights[0].shape[1]:
        raise ValueError(f"X must have shape (n, {weights[0].shape[1]}), got {X.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    acts = [get_activation(a) for a in activations]
    dtype = weights[0].dtype
    out = np.empty((X.shape[0], weights[-1].shape[0]), dtype=dtype)
    for s in range(0, X.shape[0], chunk):
        h = X[s:s + chunk].astype(dtype, copy=False)
        for l, (W, b, f) in enumerate(zip(weights, biases, acts)):
            z = h @ W.T
            if b is not None:
                z += b
            h = f.forward(z) if l < len(weights) - 1 else z
        out[s:s + chunk] = h
    return out


def evaluate_batched(weights, biases, activations, X, y, loss: str, chunk: int = 8192) -> dict:
    """Test-set metrics from one batched forward pass.

    Returns
    -------
    dict
        ``loss`` (mean per-sample loss), ``accuracy`` (cce/bce; ``nan`` for regression) and
        ``mse`` (mean squared error of ``f_L(z_L)`` per sample summed over outputs; regression only,
        else ``nan``): the paper's regression metric is ``mse * 1e4``.
    """
    L = get_loss(loss)
    zL = forward_logits(weights, biases, activations, X, chunk)
    f_L = get_activation(activations[-1])
    value = L.value(zL, y, f_L)
    if L.classification:
        from ..nn.losses import accuracy

        return {"loss": value, "accuracy": accuracy(zL, y, L, f_L), "mse": float("nan")}
    Y = L.encode(y, zL.shape[1], zL.dtype)
    d = f_L.forward(zL) - Y
    return {"loss": value, "accuracy": float("nan"), "mse": float(np.mean(np.sum(d * d, axis=1)))}
