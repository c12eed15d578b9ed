"""The sweep runner: joblib processes, a local dask cluster, the store in front."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from learning_rules.store import Store
from learning_rules.sweep import run_sweep


@dataclasses.dataclass(frozen=True)
class Cfg:
    seed: int = 0
    scale: float = 1.0


def experiment(cfg: Cfg) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    draws = rng.normal(size=3) * cfg.scale
    return pd.DataFrame({"step": np.arange(3), "value": draws})


def expected(configs):
    frames = []
    for c in configs:
        f = experiment(c)
        f.insert(0, "seed", c.seed)
        f.insert(1, "scale", c.scale)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


CONFIGS = [Cfg(seed=s, scale=k) for s in range(3) for k in (1.0, 2.0)]


def test_loky_matches_serial():
    out = run_sweep(experiment, CONFIGS, n_jobs=2)
    pd.testing.assert_frame_equal(out, expected(CONFIGS))
    assert list(out.columns[:2]) == ["seed", "scale"]


def test_store_is_used_and_filled(tmp_path):
    st = Store(tmp_path, code_hash="v")
    first = run_sweep(experiment, CONFIGS[:2], n_jobs=1, backend="sequential", store=st, name="exp")
    assert len(st.list()) == 2
    # A stored entry is returned instead of recomputed: poison it and look for the poison.
    poisoned = pd.DataFrame({"step": [0], "value": [42.0]})
    st.put("exp", CONFIGS[0], poisoned)
    again = run_sweep(experiment, CONFIGS[:3], n_jobs=1, backend="sequential", store=st, name="exp")
    assert again["value"].iloc[0] == 42.0
    assert len(again) == 1 + 3 + 3
    assert len(st.list()) == 3
    pd.testing.assert_frame_equal(again.iloc[1:4].reset_index(drop=True), first.iloc[3:6].reset_index(drop=True))


def test_local_dask_cluster_matches_serial():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = run_sweep(experiment, CONFIGS[:3], scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(out, expected(CONFIGS[:3]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one"):
        run_sweep(experiment, [])
    with pytest.raises(ValueError, match="frozen dataclass"):
        run_sweep(experiment, [{"seed": 1}])
    with pytest.raises(ValueError, match="n_jobs"):
        run_sweep(experiment, CONFIGS, n_jobs=0)


def _not_a_frame(cfg):
    return [cfg.seed]


def _clashing(cfg):
    return pd.DataFrame({"seed": [cfg.seed + 1]})


def test_bad_results():
    with pytest.raises(ValueError, match="DataFrame"):
        run_sweep(_not_a_frame, CONFIGS[:1], n_jobs=1, backend="sequential")
    with pytest.raises(ValueError, match="clashes"):
        run_sweep(_clashing, CONFIGS[:1], n_jobs=1, backend="sequential")


def failing_on_seed_2(cfg: Cfg) -> pd.DataFrame:
    if cfg.seed == 2:
        time.sleep(0.5)  # long enough for the configs before it to finish on the other worker
        raise RuntimeError("config 2 breaks")
    return experiment(cfg)


@pytest.mark.parametrize("backend,n_jobs", [("sequential", 1), ("loky", 2)])
def test_an_interrupted_sweep_keeps_what_finished(tmp_path, backend, n_jobs):
    st = Store(tmp_path, code_hash="v")
    configs = [Cfg(seed=s) for s in range(4)]
    with pytest.raises(RuntimeError, match="config 2 breaks"):
        run_sweep(failing_on_seed_2, configs, n_jobs=n_jobs, backend=backend, store=st, name="exp")
    stored = [st.get("exp", c) is not None for c in configs[:2]]
    assert all(stored)  # what finished before the failure was saved
    assert st.get("exp", configs[2]) is None
    # the rerun computes only what is missing
    out = run_sweep(experiment, configs, n_jobs=1, backend="sequential", store=st, name="exp")
    pd.testing.assert_frame_equal(out, expected(configs))


def test_a_replaced_worker_is_not_reported_as_a_leak_but_other_warnings_are():
    """loky's message for a worker it replaced on purpose (memory grown past its limit) is hidden
    inside the pools; any other warning, and that one outside them, still shows."""
    import warnings

    from learning_rules.sweep import _WORKER_REPLACED, quiet_worker_replacement

    message = _WORKER_REPLACED + ". This can be caused by a too short worker timeout or by a memory leak."
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_worker_replacement():
            warnings.warn(message, UserWarning)
            warnings.warn("something else", UserWarning)
        warnings.warn(message, UserWarning)
    assert [str(w.message) for w in seen] == ["something else", message]
