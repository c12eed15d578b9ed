"""The dual-weight paper's cost claim: training and inference time of the four single-sample methods.

Wang (2025), sec. 3: dual weight costs "a slight increase in computational cost during training",
the same "Big-O", and an inference "identical" to GD's once ``W = W1 - W2`` is stored. Peers, all
measured in the same run on the same network, data and step sequence:

* ``GD``            -- plain SGD (the chapter's corrected protocol, ``dual_weight.build_network``);
* ``GD + L2``       -- SGD with decoupled L2, lambda 0.01 (paper eq. 19);
* ``dual weight``   -- the rule (eqs. 15-17);
* ``dual weight stabilized`` -- the rule with the appendix-B stabilizer;

on the paper's networks with the chapter's data (784-20-10 and 784-64-32-10 on MNIST, 8-20-1 and
8-64-32-1 on California housing, 11-20-1 and 11-64-32-1 on white wine) and on a width scan
784-h-10 (MNIST). Training: µs per single-sample step, averaged over a run of the paper's length
(60,000 steps: the dual rules' time per step changes over a run, GD's hardly), through the
engine's compiled path (``Network.fit_steps(backend="fast")``), each call on a copy of the same
fresh network, the methods alternating, best of ``--repeats``. Inference: µs per test sample of
the forward pass over the test set with the weights each method infers with (``W1 - W2`` computed
from the halves inside the timed region for the dual rules). CPU time of this process, one BLAS
thread.

Prints each net's times, the ratios method / GD and the verdicts against the bounds stated before
measuring (``dual_weight_cost.TRAINING_RATIO_BOUNDS``, ``INFERENCE_TOLERANCE``). The page
``book/dual-weight/beyond.ipynb`` (section 5) runs the same function
(``learning_rules.experiments.dual_weight_cost.measure_cost``) with fewer steps. Numbers are
printed, never asserted (CONTRIBUTING: speed is measured in benchmarks/, not in tests).

Usage: ``python benchmarks/bench_dual_weight_cost.py [--quick] [--steps N] [--widths 64 256 1024]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LEARNING_RULES_DATA") and (ROOT.parent / "shared" / "datasets").is_dir():
    os.environ["LEARNING_RULES_DATA"] = str(ROOT.parent / "shared" / "datasets")

from learning_rules.experiments import dual_weight_cost as C  # noqa: E402


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run)")
    ap.add_argument("--steps", type=int, default=None, help="steps per method on the paper's nets (60,000)")
    ap.add_argument("--width-steps", type=int, default=None, help="steps per method on the width scan")
    ap.add_argument("--widths", type=int, nargs="*", default=list(C.COST_WIDTHS), help="hidden widths h of 784-h-10")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    steps = args.steps or (2_000 if args.quick else 60_000)
    width_steps = args.width_steps or (200 if args.quick else 2_000)
    repeats = args.repeats or (2 if args.quick else 5)
    lo, hi = C.TRAINING_RATIO_BOUNDS
    print("dual-weight cost: single-sample training (CPU us/step) and test-set inference (CPU us/sample), "
          "float64, lr 1e-3, one BLAS thread; (Nx) = method time / GD time (same run)")
    print(f"bounds stated before measuring: training dual/GD in [{lo:g}, {hi:g}]; inference dual/GD within "
          f"1 +- {C.INFERENCE_TOLERANCE:g}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}, "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"steps: {steps:,} per method on the paper's nets, {width_steps:,} on the width scan; best of {repeats}")
    t0 = time.perf_counter()
    frame = C.measure_cost(widths=args.widths, steps=steps, width_steps=width_steps, repeats=repeats)
    ratios = C.cost_ratios(frame)
    for (group, ds, net), g in ratios.groupby(["group", "dataset", "net"], sort=False):
        g = g.set_index("method")
        gd = g.loc["GD"]
        print(f"\n== {net} ({ds}, {group}): GD {gd['train_us']:.2f} us/step, {gd['infer_us']:.3f} us/test sample")
        for m, r in g.iterrows():
            if m == "GD":
                continue
            print(f"  {C.COST_LABELS.get(m, m):24s} train {r['train_us']:8.2f} us/step ({r['train_ratio']:4.2f}x)"
                  f" | inference {r['infer_us']:7.3f} us/sample ({r['infer_ratio']:4.2f}x)")
    print("\nverdicts (on the paper's nets):")
    for r in C.cost_verdicts(frame).itertuples(index=False):
        print(f"  {r.claim:28s} {C.COST_LABELS.get(r.method, r.method):24s} {r.measured:34s} "
              f"[{r.bound}] margin {r.margin:+.2f} -> {r.verdict}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s; times are this machine's and vary from run to run)")
    return frame.to_dict("records")


if __name__ == "__main__":
    main()
