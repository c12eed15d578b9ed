"""Single-sample (batch 1) training throughput: fast path vs. its peers, measured in one run.

Peers, all on the same network, data and step sequence:

* ``fast``       -- ``learning_rules.fast.fit_steps`` (Numba, one compiled call per sequence);
* ``limit``      -- the speed limit: the simplest allocation-free Numba loop for plain SGD +
  backprop on the same net, written here (:func:`limit_loop`: preallocated buffers, plain loops,
  zero inputs skipped, float64, no ``fastmath``). It does the fast path's SGD arithmetic in the
  same order, so it must end with the same weights bit for bit (checked); the ``fast/limit``
  column is each method's time over this one SGD loop's;
* ``reference``  -- the project's NumPy engine, ``Network.fit_steps(backend="numpy")``;
* ``naive``      -- a plain NumPy loop written here (one matrix-vector product per layer and step);
* ``torch-1t`` / ``torch-Nt`` -- PyTorch CPU, autograd + ``optim.SGD`` (dual weight: autograd for
  the signals, the row updates by hand), with ``torch.set_num_threads(1)`` and the default count.

Prints microseconds per step, ``fast/limit`` and the ratios peer / fast. It also checks that the
fast path and the NumPy reference end with the same weights (max abs difference; they differ only
in summation order), so the speed is for the proven-equal path. ``fast`` and ``limit`` are timed
alternately, best of ``--repeats``, so a busy machine slows both alike; ``fast`` includes its
per-call validation and packing (amortised over the sequence), as ``limit`` includes its copies
of the weights, but not the harness's deep copy of the network it trains in place.

Usage: ``python benchmarks/bench_single_sample.py [--quick] [--arch 784-64-32-10 ...]``
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LEARNING_RULES_DATA") and (ROOT.parent / "shared" / "datasets").is_dir():
    os.environ["LEARNING_RULES_DATA"] = str(ROOT.parent / "shared" / "datasets")

from learning_rules.engine import Network  # noqa: E402
from learning_rules.fast import fit_steps  # noqa: E402
from learning_rules.nn.mlp import MLP  # noqa: E402

try:
    import torch
except ImportError:  # the PyTorch peer is optional
    torch = None

LR = 1e-3
#: architecture -> (loss, data description); the dual-weight paper's nets (spec sec. 1 and 9)
ARCHS = {
    "784-64-32-10": ("cce", "MNIST digits"),
    "8-20-1": ("squared_error", "synthetic z-scored regression"),
    "11-64-32-1": ("squared_error", "synthetic z-scored regression"),
    "784-20-10": ("cce", "MNIST digits"),
    "3072-64-32-10": ("cce", "synthetic dense images in [0, 1] (CIFAR-10 is not available here)"),
}
METHODS = {"sgd": dict(update="gradient"), "dual_weight": dict(update="dual_weight"),
           "dual_weight_stabilized": dict(update="dual_weight_stabilized"),
           "l2_coded": dict(update="gradient", l2=0.01, l2_form="coded")}


def load_data(arch: str, n: int, rng: np.random.Generator):
    sizes = [int(s) for s in arch.split("-")]
    loss = ARCHS.get(arch, ("cce", ""))[0]
    if sizes[0] == 784:
        try:
            from learning_rules.data.loaders import load

            X, y = load("mnist", "test", dtype=np.float64)
            return sizes, loss, X[:n], y[:n], "MNIST digits"
        except Exception as exc:  # noqa: BLE001 - fall back, and say so
            print(f"  (MNIST unavailable: {type(exc).__name__}; using synthetic sparse images)")
            X = rng.random((n, 784))
            X[X < 0.8] = 0.0
            return sizes, loss, X, rng.integers(0, 10, n), "synthetic sparse images"
    if loss == "cce":
        return sizes, loss, rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n), ARCHS[arch][1]
    X = rng.normal(size=(n, sizes[0]))
    y = 0.1 * (X @ rng.normal(size=(sizes[0], sizes[-1])) / np.sqrt(sizes[0]))
    return sizes, loss, X, y, ARCHS[arch][1]


def make_network(sizes, loss, method, seed=0) -> Network:
    rng = np.random.default_rng(seed)
    acts = ["relu"] * (len(sizes) - 2) + ["identity"]
    mlp = MLP.create(sizes, acts, init="he_normal", rng=rng)
    return Network(mlp, loss=loss, lr=LR, rng=rng, **METHODS[method])


# ---------------------------------------------------------------------------------------------
# the limit: the simplest allocation-free Numba loop, plain SGD + backprop
# ---------------------------------------------------------------------------------------------

@njit
def limit_loop(WT, b, X, T, idx, lr, cce, h, z, d):
    """Single-sample SGD + backprop, ReLU hidden layers, identity output, ``cce`` or
    ``squared_error``; updates ``WT`` (each ``W_l^T``, shape (n_in, n_out)) and ``b`` in place.
    ``h, z, d``: preallocated per-layer buffers; nothing is allocated inside the loop."""
    L = len(WT)
    for t in idx:
        x = X[t]
        h0 = h[0]
        for i in range(x.shape[0]):
            h0[i] = x[i]
        for l in range(L):  # z = W h + b, rows of zero inputs skipped
            W, bl, hin, zl, hout = WT[l], b[l], h[l], z[l], h[l + 1]
            for j in range(zl.shape[0]):
                zl[j] = 0.0
            for i in range(W.shape[0]):
                hi = hin[i]
                if hi != 0.0:
                    for j in range(W.shape[1]):
                        zl[j] += hi * W[i, j]
            for j in range(zl.shape[0]):
                zl[j] += bl[j]
                hout[j] = zl[j] if (l == L - 1 or zl[j] > 0.0) else 0.0
        zL, e, tt = z[L - 1], d[L - 1], T[t]
        if cce:  # softmax - one-hot
            m = zL[0]
            for k in range(1, zL.shape[0]):
                if zL[k] > m:
                    m = zL[k]
            s = 0.0
            for k in range(zL.shape[0]):
                e[k] = math.exp(zL[k] - m)
                s += e[k]
            for k in range(zL.shape[0]):
                e[k] = e[k] / s - tt[k]
        else:  # d ||y - t||^2 / dz
            for k in range(zL.shape[0]):
                e[k] = 2.0 * (zL[k] - tt[k])
        for l in range(L - 1, 0, -1):  # delta_{l-1} = (W_l^T delta_l) * relu'(z_{l-1})
            W, dup, dl, zl = WT[l], d[l], d[l - 1], z[l - 1]
            for i in range(W.shape[0]):
                if zl[i] > 0.0:
                    acc = 0.0
                    for j in range(W.shape[1]):
                        acc += W[i, j] * dup[j]
                    dl[i] = acc
                else:
                    dl[i] = 0.0
        for l in range(L):  # W <- W - lr delta h^T, b <- b - lr delta
            W, bl, hin, g = WT[l], b[l], h[l], d[l]
            for i in range(W.shape[0]):
                hi = hin[i]
                if hi != 0.0:
                    for j in range(W.shape[1]):
                        W[i, j] = W[i, j] - lr * (g[j] * hi)
            for j in range(g.shape[0]):
                bl[j] = bl[j] - lr * g[j]


def run_limit(Ws, bs, X, T, idx, loss):
    """:func:`limit_loop` on copies of ``Ws``/``bs``; returns the weights as ``(n_out, n_in)``."""
    sizes = [Ws[0].shape[1]] + [W.shape[0] for W in Ws]
    WT = tuple(np.ascontiguousarray(W.T) for W in Ws)
    b = tuple(np.array(v, dtype=np.float64) for v in bs)
    h = tuple(np.zeros(n) for n in sizes)
    z = tuple(np.zeros(n) for n in sizes[1:])
    d = tuple(np.zeros(n) for n in sizes[1:])
    limit_loop(WT, b, X, T, idx, LR, loss == "cce", h, z, d)
    return [np.ascontiguousarray(W.T) for W in WT]


# ---------------------------------------------------------------------------------------------
# naive NumPy peer: the obvious per-step loop (allocates every step)
# ---------------------------------------------------------------------------------------------

def naive_loop(Ws, bs, X, T, idx, method, loss):
    L = len(Ws)
    dual = method.startswith("dual")
    W1 = [W.copy() for W in Ws]
    W2 = [np.zeros_like(W) for W in Ws]
    Ws = [W.copy() for W in Ws]
    bs = [b.copy() for b in bs]
    for t in idx:
        if dual:
            Ws = [a - b for a, b in zip(W1, W2)]
        hs = [X[t]]
        zs = []
        for l in range(L):
            zs.append(Ws[l] @ hs[-1] + bs[l])
            hs.append(np.maximum(zs[-1], 0.0) if l < L - 1 else zs[-1])
        if loss == "cce":
            p = np.exp(zs[-1] - zs[-1].max())
            g = p / p.sum() - T[t]
        else:
            g = 2.0 * (zs[-1] - T[t])
        for l in range(L - 1, -1, -1):
            g_below = (Ws[l].T @ g) * (zs[l - 1] > 0) if l > 0 else None
            if dual:
                ap, am = LR * np.maximum(-g, 0.0), LR * np.maximum(g, 0.0)
                W1[l] = W1[l] * (1 - ap)[:, None] + np.outer(ap, hs[l])
                W2[l] = W2[l] * (1 - am)[:, None] + np.outer(am, hs[l])
            else:
                Ws[l] -= LR * np.outer(g, hs[l])
            bs[l] -= LR * g
            g = g_below
    return Ws


# ---------------------------------------------------------------------------------------------
# PyTorch peer
# ---------------------------------------------------------------------------------------------

def torch_loop(Ws, X, T, idx, method, loss):
    """PyTorch CPU: per step one forward, one autograd backward and the update (float64)."""
    L = len(Ws)
    dual = method.startswith("dual")
    Xt = torch.from_numpy(X)
    Tt = torch.from_numpy(T)
    yt = torch.from_numpy(np.argmax(T, axis=1)) if loss == "cce" else None
    if not dual:
        layers = []
        for l, W in enumerate(Ws):
            lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.zero_()
            layers.append(lin)
            if l < L - 1:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        lf = torch.nn.CrossEntropyLoss() if loss == "cce" else torch.nn.MSELoss()
        for t in idx:
            opt.zero_grad()
            out = model(Xt[t:t + 1])
            E = lf(out, yt[t:t + 1]) if loss == "cce" else lf(out, Tt[t:t + 1])
            E.backward()
            opt.step()
        return
    W1 = [torch.from_numpy(W.copy()) for W in Ws]
    W2 = [torch.zeros_like(w) for w in W1]
    bs = [torch.zeros(W.shape[0], dtype=torch.float64, requires_grad=True) for W in Ws]
    for t in idx:
        h = Xt[t:t + 1]
        zs, hs = [], [h]
        for l in range(L):
            z = h @ (W1[l] - W2[l]).T + bs[l]
            z.retain_grad()
            zs.append(z)
            h = torch.relu(z) if l < L - 1 else z
            hs.append(h)
        E = (torch.nn.functional.cross_entropy(h, yt[t:t + 1]) if loss == "cce"
             else torch.nn.functional.mse_loss(h, Tt[t:t + 1]))
        E.backward()
        with torch.no_grad():
            for l in range(L):
                g = zs[l].grad[0]
                ap, am = LR * torch.clamp(-g, min=0), LR * torch.clamp(g, min=0)
                x = hs[l][0]
                W1[l].mul_((1 - ap)[:, None]).add_(torch.outer(ap, x))
                W2[l].mul_((1 - am)[:, None]).add_(torch.outer(am, x))
                bs[l] -= LR * bs[l].grad
                bs[l].grad = None


# ---------------------------------------------------------------------------------------------

def per_step_us(fn, n_steps: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / n_steps * 1e6


def bench_arch(arch: str, methods, scale: float, repeats: int, torch_threads) -> list[dict]:
    rng = np.random.default_rng(1)
    sizes, loss, X, y, desc = load_data(arch, 2000, rng)
    X = np.ascontiguousarray(X, dtype=np.float64)
    T = np.eye(sizes[-1])[y] if loss == "cce" else np.asarray(y, dtype=float).reshape(len(y), -1)
    n_fast = max(int(20000 * scale), 200)
    n_slow = max(int(1000 * scale), 50)
    idx_fast = rng.integers(0, X.shape[0], n_fast)
    idx_slow = idx_fast[:n_slow]
    print(f"\n== {arch}  ({loss}, {desc}; fast and limit: {n_fast} steps, peers: {n_slow} steps, "
          f"best of {repeats})")
    warm = make_network(sizes, loss, "sgd").mlp
    run_limit(warm.weights, warm.biases, X, T, idx_fast[:2], loss)  # compile for this depth
    rows = []
    for method in methods:
        net = make_network(sizes, loss, method)
        W0 = [W.copy() for W in net.mlp.weights]
        b0 = [b.copy() for b in net.mlp.biases]
        # equality on the measured sequence (fast vs the NumPy reference)
        ref, fast = copy.deepcopy(net), copy.deepcopy(net)
        ref.fit_steps(X, y, idx_slow, backend="numpy")
        fit_steps(fast, X, y, idx_slow)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref.mlp.weights, fast.mlp.weights))
        res = {"arch": arch, "method": method, "max_abs_diff_vs_reference": diff}
        if method == "sgd":  # the limit runs the fast path's SGD arithmetic: same weights, bit for bit
            lim_W = run_limit(W0, b0, X, T, idx_slow, loss)
            res["limit_equal_bits"] = all(np.array_equal(a, b) for a, b in zip(lim_W, fast.mlp.weights))
        # fast and limit alternate, so a busy machine slows both alike
        t_fast, t_limit = [], []
        for _ in range(repeats):
            fresh = copy.deepcopy(net)  # the harness's copy (fit_steps trains in place): not timed
            t_fast.append(per_step_us(lambda: fit_steps(fresh, X, y, idx_fast), n_fast, 1))
            t_limit.append(per_step_us(lambda: run_limit(W0, b0, X, T, idx_fast, loss), n_fast, 1))
        res["fast"], res["limit"] = min(t_fast), min(t_limit)
        res["fast/limit"] = res["fast"] / res["limit"]
        res["reference"] = per_step_us(lambda: copy.deepcopy(net).fit_steps(X, y, idx_slow, backend="numpy"),
                                       n_slow, repeats)
        if method in ("sgd", "dual_weight"):
            res["naive"] = per_step_us(lambda: naive_loop(W0, b0, X, T, idx_slow, method, loss),
                                       n_slow, repeats)
            if torch is not None:
                for label, th in torch_threads:
                    torch.set_num_threads(th)
                    res[label] = per_step_us(lambda: torch_loop(W0, X, T, idx_slow, method, loss),
                                             n_slow, repeats)
        rows.append(res)
        peers = [k for k in ("reference", "naive", *[lab for lab, _ in torch_threads]) if k in res]
        line = (f"  {method:24s} fast {res['fast']:7.2f} us/step | limit {res['limit']:6.2f} "
                f"| fast/limit {res['fast/limit']:4.2f}")
        for k in peers:
            line += f" | {k} {res[k]:7.1f} ({res[k] / res['fast']:5.1f}x)"
        line += f" | max|fast-ref| {diff:.1e}"
        if "limit_equal_bits" in res:
            line += f" | limit==fast bits: {res['limit_equal_bits']}"
        print(line)
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="*", default=list(ARCHS), help="architectures like 784-64-32-10")
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="*", default=None,
                    help=f"methods to run (default: all of {', '.join(METHODS)} on 784-64-32-10, "
                         "sgd and dual_weight elsewhere)")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 0.5
    print("single-sample training, float64, lr 1e-3; fast/limit = fast time / limit time; "
          "(Nx) = peer time / fast time (same run)")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    from learning_rules.fast import _kernels as K  # noqa: F401 - import, then time the compile/load

    rng = np.random.default_rng(0)
    tiny = ([rng.normal(size=(3, 4)), rng.normal(size=(2, 3))], [np.zeros(3), np.zeros(2)])
    t1 = time.perf_counter()
    for m in ("sgd", "dual_weight"):
        fit_steps(tiny, rng.random((5, 4)), rng.integers(0, 2, 5), [0, 1], method=m, lr=0.1, loss="cce")
    print(f"first call (import + compile or load from numba cache): {time.perf_counter() - t1:.2f} s "
          f"(import {t1 - t0:.2f} s)")
    run_limit(*tiny, rng.random((5, 4)), np.eye(2)[[0, 1, 0, 1, 0]], np.array([0, 1]), "cce")  # compile
    if torch is None:
        print("PyTorch not installed, peer skipped")
        torch_threads = []
    else:
        n_default = torch.get_num_threads()
        torch_threads = [("torch-1t", 1)] + ([(f"torch-{n_default}t", n_default)] if n_default != 1 else [])
        print(f"torch {torch.__version__}, default threads {n_default}")
    rows = []
    for arch in args.arch:
        methods = args.methods or (list(METHODS) if arch == "784-64-32-10" else ["sgd", "dual_weight"])
        rows += bench_arch(arch, methods, scale, args.repeats, torch_threads)
    if torch is not None:
        torch.set_num_threads(n_default)
    return rows


if __name__ == "__main__":
    main()
