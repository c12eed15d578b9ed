"""The build's precompute pool on a dask cluster (``learning-rules build --scheduler``): tested on a
``distributed.LocalCluster`` of worker processes on this machine."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time

import pandas as pd
import pytest

from learning_rules import experiments as E
from learning_rules.store import Store
from learning_rules.sweep import run_tasks

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Job:
    seed: int = 0
    seconds: float = 0.2


def work(cfg: Job) -> pd.DataFrame:
    time.sleep(cfg.seconds)
    return pd.DataFrame({"seed": [cfg.seed], "pid": [os.getpid()], "square": [cfg.seed ** 2]})


class CountingStore(Store):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.puts: list[int] = []

    def put(self, name, config, frame, seconds=None):
        self.puts.append(config.seed)
        return super().put(name, config, frame, seconds=seconds)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cl:
        yield cl


def test_every_run_executes_on_a_worker_and_is_stored_once(cluster, tmp_path):
    store = CountingStore(tmp_path, code_hash="t")
    tasks = [("job", work, Job(seed=i), float(i)) for i in range(8)]
    assert run_tasks(tasks, store, scheduler=cluster.scheduler_address) == 8
    assert sorted(store.puts) == list(range(8))
    pids = {int(store.get("job", Job(seed=i))["pid"].item()) for i in range(8)}
    assert os.getpid() not in pids  # computed on the workers, stored here
    assert run_tasks(tasks, store, scheduler=cluster.scheduler_address) == 0  # all stored: nothing runs


def test_killing_a_worker_loses_nothing(cluster, tmp_path):
    store = CountingStore(tmp_path, code_hash="t")
    tasks = [("job", work, Job(seed=i, seconds=0.6), 1.0) for i in range(10)]
    killed = []

    def progress(done, total, name, config):
        if done == 2 and not killed:  # kill one worker process while the others still run
            with distributed.Client(cluster.scheduler_address) as client:
                victim = sorted(client.scheduler_info()["workers"])[0]
                pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)  # the worker process dies mid-task; its nanny restarts it
            killed.append(pid)

    assert run_tasks(tasks, store, scheduler=cluster.scheduler_address, progress=progress) == 10
    assert killed
    assert sorted(store.puts) == list(range(10))  # every run stored exactly once
    for i in range(10):
        assert store.get("job", Job(seed=i, seconds=0.6))["square"].item() == i * i


def test_plan_runs_sends_the_precompute_pool_to_the_cluster(cluster, tmp_path, monkeypatch):
    monkeypatch.setitem(E.EXPERIMENTS._entries, "job", E.Experiment("job", Job, work, "test"))
    monkeypatch.setitem(E.PLANNERS._entries, "book/x.ipynb",
                        lambda params, store: [E.Task("job", Job(seed=i, seconds=0.0)) for i in range(4)])
    store = CountingStore(tmp_path, code_hash="t")
    logs: list[str] = []
    out = E.plan_runs({"book/x.ipynb": {}}, store, log=logs.append,
                      scheduler=cluster.scheduler_address)
    assert out["tasks"] == 4 and sorted(store.puts) == [0, 1, 2, 3]
    assert any("dask scheduler" in line for line in logs)


def test_cluster_speedup_is_measured_through_the_precompute_pool():
    """The number the rebuild page states next to the cluster instructions (calibration of paper
    builds): two real tiny parity runs on a LocalCluster of 1, then 2 workers."""
    pytest.importorskip("distributed")
    from learning_rules.calibration import cluster_speedup

    result = cluster_speedup(n_runs=2, n_train=256, epochs=1)
    assert result["runs"] == 2 and result["one_worker_seconds"] > 0 and result["two_workers_seconds"] > 0
    assert result["speedup"] == pytest.approx(result["one_worker_seconds"] / result["two_workers_seconds"],
                                              abs=6e-4)
