"""Mini-batch SGD step throughput: NumPy (reference engine, preallocated fast step) vs PyTorch CPU.

Nets: the DFA thesis' parity net (2352-512-1, no biases, ReLU, sigmoid + BCE, batch 128) and the
ablation net (784-128x4-10, leaky ReLU 0.1, softmax + CCE, batch 100), in float32 and float64.
Peers, same run: ``reference`` = ``Network._step`` on validated arrays, ``fast`` =
``learning_rules.fast.minibatch.MinibatchSGD``, ``torch-1t`` / ``torch-Nt`` = ``nn.Sequential`` +
``optim.SGD`` with one thread and the default count. Prints microseconds per step and ratios.

Usage: ``python benchmarks/bench_minibatch.py [--quick]``
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from learning_rules.engine import Network
from learning_rules.fast.minibatch import MinibatchSGD
from learning_rules.nn.mlp import MLP

try:
    import torch
except ImportError:
    torch = None

NETS = {
    "parity 2352-512-1 (bce, batch 128)": ([2352, 512, 1], ["relu", "sigmoid"], "bce", False, 128),
    "ablation 784-128x4-10 (cce, batch 100)": ([784, 128, 128, 128, 128, 10],
                                               ["leaky_relu:0.1"] * 4 + ["softmax"], "cce", True, 100),
}


def timed(fn, n, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def torch_step(sizes, acts, loss, bias, X, y, dtype):
    layers = []
    for l in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[l], sizes[l + 1], bias=bias))
        if l < len(sizes) - 2:
            layers.append(torch.nn.ReLU() if acts[l] == "relu" else torch.nn.LeakyReLU(0.1))
    if loss == "bce":
        layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    lf = torch.nn.BCELoss() if loss == "bce" else torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X).to(dtype)
    yt = torch.from_numpy(y).to(dtype).reshape(-1, 1) if loss == "bce" else torch.from_numpy(y)

    def step():
        opt.zero_grad()
        lf(model(Xt), yt).backward()
        opt.step()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    n = 3 if args.quick else 10
    print("mini-batch SGD step, us/step (best of %d x %d steps); ratios are peer / fast" % (args.repeats, n))
    if torch is None:
        print("PyTorch not installed, peer skipped")
    else:
        n_default = torch.get_num_threads()
    rows = []
    for name, (sizes, acts, loss, bias, B) in NETS.items():
        for dt in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            mlp = MLP.create(sizes, acts, init="pytorch", bias=bias, rng=rng, dtype=dt)
            net = Network(mlp, loss=loss, lr=0.01, rng=rng)
            X = rng.random((B, sizes[0])).astype(dt)
            y = (rng.random(B) < 0.5).astype(dt) if loss == "bce" else rng.integers(0, sizes[-1], B)
            Xv, Yv = net._check_xy(X, y)
            fast_net = copy.deepcopy(net)
            tr = MinibatchSGD(fast_net.mlp.weights, fast_net.mlp.biases, fast_net.mlp.activations,
                              loss, 0.01, B)
            res = {"net": name, "dtype": np.dtype(dt).name,
                   "fast": timed(lambda: tr.step(Xv, Yv), n, args.repeats),
                   "reference": timed(lambda: net._step(Xv, Yv), n, args.repeats)}
            if torch is not None:
                tdt = torch.float32 if dt == np.float32 else torch.float64
                for th in sorted({1, n_default}):
                    torch.set_num_threads(th)
                    res[f"torch-{th}t"] = timed(torch_step(sizes, acts, loss, bias, X, y, tdt), n, args.repeats)
                torch.set_num_threads(n_default)
            line = f"{name:40s} {res['dtype']:8s} fast {res['fast']:8.0f}"
            for k, v in res.items():
                if k not in ("net", "dtype", "fast"):
                    line += f" | {k} {v:8.0f} ({v / res['fast']:4.2f}x)"
            print(line)
            rows.append(res)
    return rows


if __name__ == "__main__":
    main()
