"""``learning-rules run EXP --store DIR --scheduler ADDRESS --jobs N``: the settings reach the
sweeps an experiment runs inside itself (its own ``Store()`` and ``run_sweep`` calls), and the
read-only store mode that the reproduction report uses."""

from __future__ import annotations

import dataclasses
import os

import pandas as pd
import pytest

from learning_rules import cli, sweep
from learning_rules.experiments import EXPERIMENTS, Experiment
from learning_rules.store import READONLY_ENV, STORE_ENV, NotStoredError, Store, read_only

NAME = "test_nested_sweep"


@dataclasses.dataclass(frozen=True)
class OuterConfig:
    cells: int = 3
    n_jobs: int = 1  # what the experiment itself asks for


@dataclasses.dataclass(frozen=True)
class CellConfig:
    index: int = 0


def cell(cfg: CellConfig) -> pd.DataFrame:
    """Where did this cell run? (process id, and whether inside a dask worker)."""
    try:
        from distributed import get_worker

        get_worker()
        on_dask = True
    except (ImportError, ValueError):
        on_dask = False
    return pd.DataFrame({"value": [cfg.index * 2.0], "pid": [os.getpid()], "on_dask": [on_dask]})


def nested(cfg: OuterConfig) -> pd.DataFrame:
    """Like the dual-weight grid: its own default Store() and its own n_jobs, deep inside."""
    configs = [CellConfig(i) for i in range(cfg.cells)]
    return sweep.run_sweep(cell, configs, n_jobs=cfg.n_jobs, store=Store(), name="test_nested_cell",
                           backend="sequential")


@pytest.fixture
def registered(monkeypatch, tmp_path):
    monkeypatch.setitem(EXPERIMENTS._entries, NAME,
                        Experiment(NAME, OuterConfig, nested, "test: a sweep inside", cache=False))
    default = tmp_path / "default-store"
    monkeypatch.setenv(STORE_ENV, str(default))  # where results would go without --store
    for var in (sweep.JOBS_ENV, sweep.SCHEDULER_ENV, READONLY_ENV):
        monkeypatch.delenv(var, raising=False)
    return default


def run_cli(tmp_path, *args) -> pd.DataFrame:
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}.pkl"
    assert cli.main(["run", NAME, *args, "--out", str(out)]) == 0
    return pd.read_pickle(out)


def test_store_option_reaches_nested_stores(registered, tmp_path):
    chosen = tmp_path / "chosen"
    frame = run_cli(tmp_path, "--store", str(chosen))
    assert frame["value"].tolist() == [0.0, 2.0, 4.0]
    assert len(Store(chosen).list()) == 3, "per-cell results must go to --store"
    assert not registered.exists() or Store(registered).list().empty
    assert os.environ[STORE_ENV] == str(registered)  # restored after the run
    # Without --store the same run uses LEARNING_RULES_STORE, as before.
    run_cli(tmp_path)
    assert len(Store(registered).list()) == 3


def test_no_store_reaches_nested_stores_too(registered, tmp_path):
    frame = run_cli(tmp_path, "--no-store")
    assert frame["value"].tolist() == [0.0, 2.0, 4.0]
    assert not registered.exists() or Store(registered).list().empty


def test_jobs_option_overrides_the_experiments_n_jobs(registered, tmp_path):
    serial = run_cli(tmp_path, "--store", str(tmp_path / "a"), "--set", "cells=4")
    assert set(serial["pid"]) == {os.getpid()}  # the experiment's own choice: sequential
    parallel = run_cli(tmp_path, "--store", str(tmp_path / "b"), "--set", "cells=4", "--jobs", "2")
    assert os.getpid() not in set(parallel["pid"]), "--jobs 2 should run the cells in worker processes"
    pd.testing.assert_series_equal(parallel["value"], serial["value"])
    assert sweep.JOBS_ENV not in os.environ


def test_scheduler_option_sends_sweeps_to_a_dask_cluster(registered, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        frame = run_cli(tmp_path, "--store", str(tmp_path / "s"), "--scheduler", cluster.scheduler_address)
    assert frame["on_dask"].all() and frame["value"].tolist() == [0.0, 2.0, 4.0]
    assert len(Store(tmp_path / "s").list()) == 3  # the store is filled by the calling process
    assert sweep.SCHEDULER_ENV not in os.environ


def test_bad_run_options_are_user_errors(registered, capsys):
    assert cli.main(["run", NAME, "--jobs", "0"]) == 2
    assert "--jobs must be a positive" in capsys.readouterr().err
    assert cli.main(["run", NAME, "--no-store", "--store", "x"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_sweep_settings_and_bad_env(registered, monkeypatch):
    with sweep.sweep_settings(n_jobs=2):
        assert os.environ[sweep.JOBS_ENV] == "2"
        out = nested(OuterConfig(cells=2))
        assert os.getpid() not in set(out["pid"])
    assert sweep.JOBS_ENV not in os.environ
    with pytest.raises(ValueError, match="n_jobs"):
        with sweep.sweep_settings(n_jobs=0):
            pass
    monkeypatch.setenv(sweep.JOBS_ENV, "two")
    with pytest.raises(ValueError, match="LEARNING_RULES_JOBS='two' is not an integer"):
        nested(OuterConfig(cells=1))


def test_read_only_store_never_computes(registered, tmp_path):
    st = Store(tmp_path / "ro", code_hash="v")
    calls = []

    def compute(cfg):
        calls.append(cfg)
        return cell(cfg)

    with read_only():
        with pytest.raises(NotStoredError, match="not in the store"):
            st.get_or_compute("x", CellConfig(1), compute)
        with pytest.raises(NotStoredError, match="1 of 2 configs of sweep y"):
            st.put("y", CellConfig(0), cell(CellConfig(0)))
            sweep.run_sweep(compute, [CellConfig(0), CellConfig(1)], n_jobs=1, store=st, name="y",
                            backend="sequential")
        assert calls == []
        st.put("x", CellConfig(1), cell(CellConfig(1)))
        assert st.get_or_compute("x", CellConfig(1), compute)["value"].item() == 2.0
    assert READONLY_ENV not in os.environ
    assert st.get_or_compute("x", CellConfig(2), compute)["value"].item() == 4.0  # computes again
