"""Single-sample (batch 1) training throughput: fast path vs. its peers, measured in one run.

Peers, all on the same network, data and step sequence:

* ``fast``       -- ``learning_rules.fast.fit_steps`` (Numba, one compiled call per sequence);
* ``reference``  -- the project's NumPy engine, ``Network.fit_steps`` (validated, readable);
* ``naive``      -- a plain NumPy loop written here (one matrix-vector product per layer and step);
* ``torch-1t`` / ``torch-Nt`` -- PyTorch CPU, autograd + ``optim.SGD`` (dual weight: autograd for
  the signals, the row updates by hand), with ``torch.set_num_threads(1)`` and the default count.

Prints microseconds per step and the ratios peer / fast. It also checks that the fast path and the
reference end with the same weights (max abs difference), so the speed is for the proven-equal path.

Usage: ``python benchmarks/bench_single_sample.py [--quick] [--arch 784-64-32-10 ...]``
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np

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
    T = np.eye(sizes[-1])[y] if loss == "cce" else np.asarray(y, dtype=float).reshape(len(y), -1)
    n_fast = max(int(20000 * scale), 200)
    n_slow = max(int(1000 * scale), 50)
    idx_fast = rng.integers(0, X.shape[0], n_fast)
    idx_slow = idx_fast[:n_slow]
    print(f"\n== {arch}  ({loss}, {desc}; fast: {n_fast} steps, peers: {n_slow} steps, best of {repeats})")
    rows = []
    for method in methods:
        net = make_network(sizes, loss, method)
        W0 = [W.copy() for W in net.mlp.weights]
        b0 = [b.copy() for b in net.mlp.biases]
        # equality on the measured sequence (fast vs reference)
        ref, fast = copy.deepcopy(net), copy.deepcopy(net)
        ref.fit_steps(X, y, idx_slow)
        fit_steps(fast, X, y, idx_slow)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref.mlp.weights, fast.mlp.weights))
        res = {"arch": arch, "method": method, "max_abs_diff_vs_reference": diff}
        res["fast"] = per_step_us(lambda: fit_steps(copy.deepcopy(net), X, y, idx_fast), n_fast, repeats)
        res["reference"] = per_step_us(lambda: copy.deepcopy(net).fit_steps(X, y, idx_slow), n_slow, repeats)
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
        line = f"  {method:24s} fast {res['fast']:8.2f} us/step"
        for k in peers:
            line += f" | {k} {res[k]:8.1f} ({res[k] / res['fast']:5.1f}x)"
        print(line + f" | max|fast-ref| {diff:.1e}")
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="*", default=list(ARCHS), help="architectures like 784-64-32-10")
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 0.5
    print("single-sample training, float64, lr 1e-3; ratios are peer time / fast time (same run)")
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
    if torch is None:
        print("PyTorch not installed, peer skipped")
        torch_threads = []
    else:
        n_default = torch.get_num_threads()
        torch_threads = [("torch-1t", 1)] + ([(f"torch-{n_default}t", n_default)] if n_default != 1 else [])
        print(f"torch {torch.__version__}, default threads {n_default}")
    rows = []
    for arch in args.arch:
        methods = list(METHODS) if arch == "784-64-32-10" else ["sgd", "dual_weight"]
        rows += bench_arch(arch, methods, scale, args.repeats, torch_threads)
    if torch is not None:
        torch.set_num_threads(n_default)
    return rows


if __name__ == "__main__":
    main()
