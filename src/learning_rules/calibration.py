"""A short speed calibration that every build records next to its times.

Hosts of the same size differ, and one host differs from day to day (the DFA parity set measured
88, 98 and 108 min on one machine). A build's wall time means little without the speed of the
machine it ran on *at that moment*, so every build measures, in its own process and before any
run starts:

* ``matmul_seconds``: a fixed loop of float32 matrix products (256 x 256, 300 of them) on one
  thread: the arithmetic the training loops spend most of their time in;
* ``parity_epoch_seconds``: one epoch of the DFA + SGD MNIST-parity run (k = 3) on the first
  10,000 training images, single-threaded: the book's dominant workload, plumbing included
  (``None`` when MNIST is not on this machine);
* ``cluster_speedup`` (paper builds): the same real parity runs through the build's precompute
  pool on a local Dask cluster of one worker process, then of two, and the ratio of the wall
  times: what the machine gains from a second worker, the number the rebuild page states next to
  the cluster instructions (``benchmarks/bench_cluster.py`` prints the same measurement).

The rebuild page states the build's times next to these numbers, so a reader can scale them to
their own machine, and two builds are compared host for host.

Explained in: ``book/rebuild.md`` (how long a build takes).
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

__all__ = ["calibrate", "cluster_speedup", "host_description", "matmul_seconds", "parity_epoch_seconds"]


def matmul_seconds(n: int = 256, reps: int = 300, repeats: int = 3) -> float:
    """Best of ``repeats`` timings of ``reps`` float32 ``n x n`` products on one BLAS thread."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    best = float("inf")
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return best


def parity_epoch_seconds(n_train: int = 10_000) -> float | None:
    """Seconds of one DFA + SGD parity epoch (k = 3, thesis protocol) on ``n_train`` images after a
    small warm-up run (compilation, data loading); ``None`` without MNIST."""
    from threadpoolctl import threadpool_limits

    from .data import DatasetNotFoundError
    from .experiments.dfa import ParityConfig, parity_run

    config = ParityConfig(k=3, credit="dfa", optimizer="sgd", lr=0.018, num_epochs=1,
                          n_train=n_train, n_test=1000, seed=0)
    try:
        with threadpool_limits(limits=1):
            parity_run(ParityConfig(k=3, num_epochs=1, n_train=512, n_test=256))  # warm-up
            start = time.perf_counter()
            parity_run(config)
            return time.perf_counter() - start
    except DatasetNotFoundError:
        return None


def _cluster_wall(n_workers: int, tasks: list) -> float:
    """Wall seconds of ``tasks`` through :func:`learning_rules.sweep.run_tasks` on a fresh
    ``distributed.LocalCluster`` of ``n_workers`` single-threaded processes and an empty store,
    after one small warm-up run per worker (numba compilation, data loading)."""
    import dataclasses
    import tempfile

    from distributed import LocalCluster

    from .store import Store
    from .sweep import run_tasks

    with tempfile.TemporaryDirectory() as folder, LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=40, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as cluster:
        store = Store(folder, code_hash="calibration")
        warm = [(n, fn, dataclasses.replace(cfg, n_train=512, n_test=256, seed=99 + i), c)
                for i, (n, fn, cfg, c) in enumerate(tasks[:n_workers])]
        run_tasks(warm, store, scheduler=cluster.scheduler_address)
        start = time.perf_counter()
        run_tasks(tasks, store, scheduler=cluster.scheduler_address)
        return time.perf_counter() - start


def cluster_speedup(n_runs: int = 8, n_train: int = 10_000, epochs: int = 2) -> dict[str, Any] | None:
    """Wall times of ``n_runs`` DFA + SGD parity runs (k = 3, ``epochs`` epochs on ``n_train``
    images, different seeds) through the precompute pool on a local cluster of 1, then 2 workers,
    and their ratio (ideal 2.0 with two free cores). ``None`` without ``distributed`` or MNIST."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return None
    from .data import DatasetNotFoundError
    from .experiments.dfa import ParityConfig, parity_run

    tasks = [("dfa_parity", parity_run,
              ParityConfig(k=3, credit="dfa", optimizer="sgd", lr=0.018, num_epochs=epochs,
                           n_train=n_train, n_test=2000, seed=s), 1.0) for s in range(n_runs)]
    try:
        one = _cluster_wall(1, tasks)
        two = _cluster_wall(2, tasks)
    except DatasetNotFoundError:
        return None
    one, two = round(one, 3), round(two, 3)  # the ratio of the numbers the page states
    return {"runs": n_runs, "n_train": n_train, "epochs": epochs, "one_worker_seconds": one,
            "two_workers_seconds": two, "speedup": round(one / two, 3)}


def host_description() -> dict[str, Any]:
    """CPU model, logical cores, Python and NumPy versions of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "system": platform.system()}


def calibrate(parity: bool = True, cluster: bool = False) -> dict[str, Any]:
    """The calibration record of a build: host, time of day, the two timings, and with ``cluster``
    the local-cluster speed-up (:func:`cluster_speedup`)."""
    record = {"measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **host_description(),
              "matmul_seconds": round(matmul_seconds(), 4)}
    epoch = parity_epoch_seconds() if parity else None
    record["parity_epoch_seconds"] = None if epoch is None else round(epoch, 3)
    if cluster:
        record["cluster"] = cluster_speedup()
    return record
