"""The scikit-learn estimators per epoch: ``LearningRuleClassifier`` against ``MLPClassifier``.

The issue's set-up: MNIST, 784-64-32-10 (ReLU, softmax + cross-entropy), batch 32, Adam
(lr 1e-3), no penalty, float64. Peers, measured in the same run on the same data:

* ``ours``       -- ``LearningRuleClassifier`` (``Network.fit`` with ``backend="auto"``: the buffer
  trainer of ``learning_rules.fast.minibatch``);
* ``reference``  -- the same network through the NumPy reference step (``backend="reference"``);
* ``sklearn``    -- ``sklearn.neural_network.MLPClassifier`` (``solver="adam"``, ``alpha=0``,
  ``tol=0``, ``n_iter_no_change`` large, so it runs every epoch it is given).
* ``floor``      -- not an estimator: per epoch, only the work no implementation of this step can
  skip -- the first layer's two products (``X_b W_1^T`` and ``delta_1^T X_b``, each 32 x 784 x 64,
  one BLAS call) and Adam's element-wise update of every parameter (:func:`_adam_floor`, the
  fused kernel ours runs), once per batch. ``sklearn/floor`` is then the most any implementation
  of these operations could gain over scikit-learn here; it bounds the ``sklearn/ours`` column.

Each estimator is fitted for one warm-up epoch, then timed over ``--epochs`` more (best of
``--repeats`` rounds, the peers taking turns within each round, so a change of load falls on all
of them), every peer with one BLAS thread (``--threads``; on a shared 2-core machine more threads
only measure the contention). Prints seconds per epoch and the ratios peer / ours, in
float64 and float32 (``dtype=`` of our estimator; scikit-learn keeps float32 inputs in float32).
DFA runs too, against the reference only (scikit-learn has no DFA).

Usage: ``python benchmarks/bench_estimators.py [--quick] [--n 20000] [--epochs 2]``
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LEARNING_RULES_DATA") and (ROOT.parent / "shared" / "datasets").is_dir():
    os.environ["LEARNING_RULES_DATA"] = str(ROOT.parent / "shared" / "datasets")

from learning_rules.engine import Network  # noqa: E402
from learning_rules.estimators import LearningRuleClassifier  # noqa: E402
from learning_rules.nn import MLP  # noqa: E402

HIDDEN = (64, 32)
BATCH = 32
LR = 1e-3


def load(n: int):
    try:
        from learning_rules.data.loaders import load as load_dataset

        X, y = load_dataset("mnist", "train")[:2]
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:n] / 255.0
        return X, np.asarray(y)[:n], "MNIST"
    except Exception as exc:  # no data here: synthetic digits of the same shape
        print(f"(MNIST not available: {str(exc).splitlines()[0]}; synthetic data of the same shape)")
        rng = np.random.default_rng(0)
        return rng.random((n, 784)), rng.integers(0, 10, n), "synthetic"


def per_epoch(peers: dict, epochs: int, repeats: int) -> dict:
    """Best seconds per epoch of each peer (``name -> fit_one_epoch``): one warm-up epoch each
    (compilation, first allocations), then ``repeats`` rounds that time every peer in turn, so a
    change of load on a shared machine falls on all peers alike."""
    for fit_one_epoch in peers.values():
        fit_one_epoch()
    best = dict.fromkeys(peers, float("inf"))
    for _ in range(repeats):
        for name, fit_one_epoch in peers.items():
            t0 = time.perf_counter()
            for _ in range(epochs):
                fit_one_epoch()
            best[name] = min(best[name], (time.perf_counter() - t0) / epochs)
    return best


def ours(X, y, credit: str):
    est = LearningRuleClassifier(hidden_layer_sizes=HIDDEN, activation="relu", credit=credit,
                                 optimizer="adam", learning_rate_init=LR, batch_size=BATCH, alpha=0.0,
                                 random_state=0, dtype=X.dtype.name)
    return lambda: est.partial_fit(X, y, classes=np.arange(10))


def reference(X, y, credit: str):
    rng = np.random.default_rng(0)
    mlp = MLP.create([784, *HIDDEN, 10], ["relu"] * len(HIDDEN) + ["softmax"], init="he_uniform",
                     bias=True, rng=rng, dtype=X.dtype)
    net = Network(mlp, credit=credit, loss="cce", lr=LR, optimizer="adam", rng=rng)
    return lambda: net.fit(X, y, num_epochs=1, batch_size=BATCH, rng=rng, backend="reference")


def _adam_floor(X, y):
    """One epoch of the floor (module docstring): the first layer's two BLAS products and the
    fused Adam kernel over all parameters, per batch, on preallocated buffers."""
    from learning_rules.fast.minibatch import _fused_steps

    dt = X.dtype
    rng = np.random.default_rng(0)
    sizes = [784, *HIDDEN, 10]
    params = [rng.normal(size=(b, a)).astype(dt) for a, b in zip(sizes, sizes[1:])]
    params += [np.zeros(b, dt) for b in sizes[1:]]
    flat = tuple(p.reshape(-1) for p in params)
    grads = tuple(np.full(p.size, 1e-3, dt) for p in params)
    m = tuple(np.zeros(p.size, dt) for p in params)
    v = tuple(np.zeros(p.size, dt) for p in params)
    sc = np.array([LR, 0.9, 0.1, 0.999, 0.001, 10.0, 1000.0, 1e-8], dt)
    inv = dt.type(1 / BATCH)
    W1, z1 = params[0], np.empty((BATCH, HIDDEN[0]), dt)
    g1 = grads[0].reshape(W1.shape)
    batches = [X[s:s + BATCH] for s in range(0, X.shape[0] - BATCH + 1, BATCH)]

    def one():
        for Xb in batches:
            np.matmul(Xb, W1.T, out=z1)
            np.matmul(z1.T, Xb, out=g1)
            _fused_steps(4, flat, grads, m, v, inv, sc, False)
    return one


def sklearn(X, y):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    est = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam",
                        learning_rate_init=LR, batch_size=BATCH, alpha=0.0, max_iter=1, tol=0.0,
                        n_iter_no_change=10**6, shuffle=True, random_state=0, warm_start=True)

    def one():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    return one


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 samples, one timed epoch")
    ap.add_argument("--n", type=int, default=20_000, help="training samples (default 20,000)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for every peer (default 1)")
    args = ap.parse_args(argv)
    n, epochs, repeats = (2_000, 1, 1) if args.quick else (args.n, args.epochs, args.repeats)
    X64, y, source = load(n)
    print(f"estimators per epoch: {source} {X64.shape[0]} x 784, 784-64-32-10, batch {BATCH}, Adam, "
          f"{args.threads} BLAS thread(s)")
    print(f"{'dtype':<9}{'credit':<10}{'ours s':>9}{'reference s':>13}{'sklearn s':>11}{'floor s':>9}"
          f"{'ref/ours':>10}{'sklearn/ours':>14}{'sklearn/floor':>15}")
    with threadpool_limits(args.threads):
        for dtype in ("float64", "float32"):
            X = X64.astype(dtype)
            for credit in ("backprop", "dfa"):
                peers = {"ours": ours(X, y, credit), "reference": reference(X, y, credit)}
                if credit == "backprop":
                    peers["sklearn"] = sklearn(X, y)
                    peers["floor"] = _adam_floor(X, y)
                best = per_epoch(peers, epochs, repeats)
                t_ours, t_ref = best["ours"], best["reference"]
                t_sk = best.get("sklearn", float("nan"))
                t_floor = best.get("floor", float("nan"))
                print(f"{dtype:<9}{credit:<10}{t_ours:>9.3f}{t_ref:>13.3f}{t_sk:>11.3f}{t_floor:>9.3f}"
                      f"{t_ref / t_ours:>10.2f}{t_sk / t_ours:>14.2f}{t_sk / t_floor:>15.2f}")


if __name__ == "__main__":
    main()
