"""The build's precompute pool on a Dask cluster: speed-up of 2 local workers over 1.

``learning-rules build --scheduler ADDRESS`` sends every planned run to a cluster. This measures,
in one run, the same set of real MNIST-parity runs (DFA + SGD, k = 3, two epochs on 10,000 images,
different seeds) through :func:`learning_rules.sweep.run_tasks` on a ``distributed.LocalCluster``
of one worker process, then of two, each single-threaded, each with an empty store, and prints the
wall times and their ratio. On a machine with two free cores the ideal is 2.0; the overhead of
shipping results back and of one BLAS thread per worker shows as less.

    python benchmarks/bench_cluster.py            # 8 runs per cluster
    python benchmarks/bench_cluster.py --quick    # 4 shorter runs

Numbers are printed, never asserted (CONTRIBUTING: speed is measured here, not in tests).
"""

from __future__ import annotations

import sys


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    from learning_rules.calibration import cluster_speedup  # the build's own measurement

    n_runs, n_train = (4, 4000) if quick else (8, 10_000)
    result = cluster_speedup(n_runs=n_runs, n_train=n_train)
    if result is None:
        print("dask.distributed or MNIST is not installed here: nothing measured")
        return
    print(f"precompute pool on a LocalCluster, {n_runs} parity runs (k = 3, 2 epochs, "
          f"{n_train} images)")
    print(f"  1 worker : {result['one_worker_seconds']:7.1f} s")
    print(f"  2 workers: {result['two_workers_seconds']:7.1f} s")
    print(f"  speed-up of 2 workers over 1: {result['speedup']:.2f}x")


if __name__ == "__main__":
    main()
