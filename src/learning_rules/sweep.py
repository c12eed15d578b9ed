"""Run one experiment function over many configs, in parallel, into one tidy DataFrame.

Locally the configs are spread over processes with joblib's ``loky`` backend; given a dask
scheduler address (``scheduler="tcp://host:8786"``) the same joblib call is sent to that cluster
through joblib's ``dask`` backend. Finished results are looked up in, and written to, a
:class:`~learning_rules.store.Store` *in the calling process*, so workers need no shared disk.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from .store import Store, config_to_dict

__all__ = ["run_sweep"]


def _default_name(fn: Callable) -> str:
    module = getattr(fn, "__module__", None) or "fn"
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{module}.{qual}".replace("<", "").replace(">", "")


def _config_columns(config: Any) -> dict[str, Any]:
    """Top-level config fields as column values (lists become tuples so they stay hashable)."""
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return values


def _attach_config(frame: pd.DataFrame, config: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"a sweep function must return a pandas DataFrame, got {type(frame).__name__}"
        )
    frame = frame.copy()
    columns = _config_columns(config)
    for position, (name, value) in enumerate(columns.items()):
        if name in frame.columns:
            if not (frame[name] == value).all():
                raise ValueError(
                    f"result column {name!r} clashes with the config field of the same name "
                    f"(config value {value!r}); rename the column in the experiment's output"
                )
            continue
        frame.insert(min(position, frame.shape[1]), name, [value] * len(frame))
    return frame


def run_sweep(
    fn: Callable[[Any], pd.DataFrame],
    configs: Iterable[Any],
    n_jobs: int | None = None,
    scheduler: str | Any | None = None,
    store: Store | None = None,
    *,
    name: str | None = None,
    backend: str = "loky",
    verbose: int = 0,
) -> pd.DataFrame:
    """Evaluate ``fn(config)`` for every config and concatenate the results with config columns.

    Parameters
    ----------
    fn : callable
        ``fn(config) -> pandas.DataFrame``; must be picklable (a module-level function).
    configs : iterable of frozen dataclass instances
        One run per config, all of the same class.
    n_jobs : int, optional
        Worker processes (joblib convention: ``-1`` = all cores). Default: ``os.cpu_count()``.
    scheduler : str or distributed.Client, optional
        A dask scheduler address (``"tcp://..."``) or a connected ``Client``; runs through
        joblib's ``dask`` backend instead of local processes.
    store : Store, optional
        Look up finished configs here first and save new results (under ``name``).
    name : str, optional
        Experiment name used as the store key; default ``module.qualname`` of ``fn``.
    backend : str
        joblib backend for local runs (``"loky"``, ``"threading"``, ``"sequential"``).

    Returns
    -------
    pandas.DataFrame
        The results in config order, each row carrying its config's fields as columns.
    """
    import joblib

    configs = list(configs)
    if not configs:
        raise ValueError("run_sweep needs at least one config")
    for config in configs:
        config_to_dict(config)  # validates: frozen dataclass with JSON-able values
    if len({type(c) for c in configs}) > 1:
        raise ValueError(
            "all configs of a sweep must share one dataclass; got "
            + ", ".join(sorted({type(c).__name__ for c in configs}))
        )
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive int or -1 (all cores), got {n_jobs!r}")
    name = name or _default_name(fn)

    results: list[pd.DataFrame | None] = [None] * len(configs)
    todo: list[int] = []
    for index, config in enumerate(configs):
        found = store.get(name, config) if store is not None else None
        if found is None:
            todo.append(index)
        else:
            results[index] = found

    if todo:
        calls = (joblib.delayed(fn)(configs[i]) for i in todo)
        if scheduler is not None:
            computed = _run_on_dask(calls, scheduler, verbose)
        else:
            with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
                computed = joblib.Parallel(verbose=verbose)(calls)
        for index, frame in zip(todo, computed, strict=True):
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(
                    f"{name} returned {type(frame).__name__} for config {configs[index]!r}; "
                    "sweep functions must return a pandas DataFrame"
                )
            if store is not None:
                store.put(name, configs[index], frame)
            results[index] = frame

    frames = [_attach_config(frame, config) for frame, config in zip(results, configs, strict=True)]
    return pd.concat(frames, ignore_index=True)


def _run_on_dask(calls: Iterable, scheduler: str | Any, verbose: int) -> Sequence[Any]:
    try:
        import joblib
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            "scheduler= needs dask.distributed; install it with pip install 'dask[distributed]'"
        ) from exc
    owns_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if owns_client else scheduler
    try:
        with joblib.parallel_config(backend="dask", client=client):
            return joblib.Parallel(verbose=verbose)(calls)
    finally:
        if owns_client:
            client.close()
