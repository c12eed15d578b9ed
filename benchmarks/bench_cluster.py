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

import dataclasses
import sys
import tempfile
import time


def _wall(n_workers: int, tasks: list) -> float:
    from distributed import LocalCluster

    from learning_rules.store import Store
    from learning_rules.sweep import run_tasks

    with tempfile.TemporaryDirectory() as folder, LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=40, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as cluster:
        store = Store(folder, code_hash="bench")
        warm = [(n, fn, dataclasses.replace(cfg, n_train=512, seed=99 + i), c)
                for i, (n, fn, cfg, c) in enumerate(tasks[:n_workers])]
        run_tasks(warm, store, scheduler=cluster.scheduler_address)  # numba and data on each worker
        start = time.perf_counter()
        run_tasks(tasks, store, scheduler=cluster.scheduler_address)
        return time.perf_counter() - start


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    from learning_rules.experiments.dfa import ParityConfig, parity_run

    n_runs, n_train = (4, 4000) if quick else (8, 10_000)
    tasks = [("dfa_parity", parity_run,
              ParityConfig(k=3, credit="dfa", optimizer="sgd", lr=0.018, num_epochs=2,
                           n_train=n_train, n_test=2000, seed=s), 1.0) for s in range(n_runs)]
    one = _wall(1, tasks)
    two = _wall(2, tasks)
    print(f"precompute pool on a LocalCluster, {n_runs} parity runs (k = 3, 2 epochs, "
          f"{n_train} images)")
    print(f"  1 worker : {one:7.1f} s")
    print(f"  2 workers: {two:7.1f} s")
    print(f"  speed-up of 2 workers over 1: {one / two:.2f}x")


if __name__ == "__main__":
    main()
