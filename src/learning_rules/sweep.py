"""Run one experiment function over many configs, in parallel, into one tidy DataFrame.

Locally the configs are spread over processes with joblib's ``loky`` backend; given a dask
scheduler address (``scheduler="tcp://host:8786"``) every config is submitted to that cluster as
one task (``distributed.Client.submit``). Finished results are looked up in, and written to, a
:class:`~learning_rules.store.Store` *in the calling process*, so workers need no shared disk.

Experiments call :func:`run_sweep` deep inside their own code, with their own ``n_jobs``. To point
every such sweep of a run at a cluster, or to change its worker count, without touching that code,
set ``LEARNING_RULES_SCHEDULER`` (a dask scheduler address) and/or ``LEARNING_RULES_JOBS`` (a worker
count); they override the arguments the experiment passes. ``learning-rules run EXP --scheduler
ADDRESS --jobs N`` sets them for the run, and :func:`sweep_settings` does it from Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pandas as pd

from .store import NotStoredError, Store, config_to_dict, is_read_only

__all__ = ["JOBS_ENV", "SCHEDULER_ENV", "quiet_worker_replacement", "run_sweep", "run_tasks", "sweep_settings"]

SCHEDULER_ENV = "LEARNING_RULES_SCHEDULER"
JOBS_ENV = "LEARNING_RULES_JOBS"


@contextlib.contextmanager
def sweep_settings(scheduler: str | None = None, n_jobs: int | None = None) -> Iterator[None]:
    """Within the block, every :func:`run_sweep` (however deeply an experiment calls it) runs on
    the dask scheduler at ``scheduler`` and/or with ``n_jobs`` workers.

    The settings travel as the environment variables ``LEARNING_RULES_SCHEDULER`` and
    ``LEARNING_RULES_JOBS`` (so child processes see them too); the previous values are restored
    on exit. ``None`` leaves a setting as it is.
    """
    if n_jobs is not None:
        _check_jobs(n_jobs, "n_jobs")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be a dask scheduler address such as "
                         f"'tcp://127.0.0.1:8786', got {scheduler!r}")
    with temporary_environment({SCHEDULER_ENV: scheduler,
                                JOBS_ENV: None if n_jobs is None else str(n_jobs)}):
        yield


@contextlib.contextmanager
def temporary_environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set the given environment variables (``None``: leave as is) and restore them afterwards."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is not None:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_jobs(n_jobs: Any, what: str) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"{what} must be a positive int or -1 (all cores), got {n_jobs!r}")
    return n_jobs


def _jobs_from_env() -> int | None:
    raw = os.environ.get(JOBS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{JOBS_ENV}={raw!r} is not an integer; set it to a worker count such "
                         "as 2 (or -1 for all cores), or unset it") from None
    return _check_jobs(value, JOBS_ENV)


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
        ``LEARNING_RULES_JOBS``, when set, overrides it (and turns a ``"sequential"`` backend
        into ``"loky"`` when it asks for more than one worker).
    scheduler : str or distributed.Client, optional
        A dask scheduler address (``"tcp://..."``) or a connected ``Client``; each config becomes
        one task on that cluster instead of a local process. Default:
        ``LEARNING_RULES_SCHEDULER`` when set.
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
    env_jobs = _jobs_from_env()
    if env_jobs is not None:
        n_jobs = env_jobs
        if backend == "sequential" and n_jobs != 1:
            backend = "loky"
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    _check_jobs(n_jobs, "n_jobs")
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV, "").strip() or None
    name = name or _default_name(fn)

    results: list[pd.DataFrame | None] = [None] * len(configs)
    todo: list[int] = []
    for index, config in enumerate(configs):
        found = store.get(name, config) if store is not None else None
        if found is None:
            todo.append(index)
        else:
            results[index] = found

    if todo and is_read_only():
        where = f"the store {store.root}" if store is not None else "a store (none was given)"
        raise NotStoredError(
            f"{len(todo)} of {len(configs)} configs of sweep {name} are not in {where}, e.g. "
            f"{configs[todo[0]]!r} (read-only mode: nothing is computed); build the chapter that "
            "computes them first, with the same profile, code and store"
        )
    if todo:
        calls = (joblib.delayed(_timed)(fn, i, configs[i]) for i in todo)
        # Results are taken in the order they finish and each is stored at once: an interrupted
        # or failing sweep keeps every config that finished before, and a rerun resumes there.
        with contextlib.ExitStack() as stack:
            if scheduler is not None:
                computed = _run_on_dask(calls, scheduler, verbose, stack)
            else:
                stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=n_jobs))
                stack.enter_context(quiet_worker_replacement())
                computed = joblib.Parallel(verbose=verbose, return_as="generator_unordered")(calls)
            for index, frame, seconds in computed:
                _check_frame(name, configs[index], frame)
                if store is not None:
                    store.put(name, configs[index], frame, seconds=seconds)
                results[index] = frame

    frames = [_attach_config(frame, config) for frame, config in zip(results, configs, strict=True)]
    return pd.concat(frames, ignore_index=True)


def run_tasks(tasks: Sequence[tuple], store: Store, n_jobs: int = 1, *, verbose: int = 0,
              progress: Callable[[int, int, str, Any], None] | None = None,
              scheduler: str | Any | None = None) -> int:
    """Compute and store every ``(name, fn, config[, cost])`` task that ``store`` lacks.

    Unlike :func:`run_sweep` the configs may be of different classes and experiments (a build's
    precompute pool serves several pages at once). Duplicates (same name and config) run once.
    Tasks start in order of decreasing ``cost`` (default 1), so with ``n_jobs`` workers the
    longest runs go first and the pool ends on short ones (longest-processing-time-first
    scheduling); ties keep the given order. Each result is stored as soon as it arrives, so an
    interrupted pool keeps what finished. Local processes (joblib ``loky``, one BLAS thread per
    worker when ``n_jobs`` equals the cores), in this process when ``n_jobs == 1``, or, with
    ``scheduler`` (a dask scheduler address or a connected ``distributed.Client``), one task per
    run on that cluster, the costliest with the highest priority; the results come back to this
    process, which stores each once. A worker that dies mid-run loses nothing: dask runs its
    tasks again elsewhere, and what finished is already stored.

    ``progress(done, total, name, config)``, when given, is called after each stored result.

    Returns the number of runs computed.

    Raises
    ------
    NotStoredError
        In read-only mode, when a task is missing from the store.
    ValueError
        A task is malformed, or ``fn`` returned something other than a DataFrame.
    """
    import joblib

    todo: dict[str, tuple[str, Callable, Any, float]] = {}
    for task in tasks:
        if not isinstance(task, tuple) or len(task) not in (3, 4) or not callable(task[1]):
            raise ValueError(f"a task is (name, fn, config) or (name, fn, config, cost), got {task!r}")
        name, fn, config = task[:3]
        cost = float(task[3]) if len(task) == 4 else 1.0
        key = store.key(name, config)
        if key in todo or (name, config) in store:
            continue
        todo[key] = (name, fn, config, cost)
    if not todo:
        return 0
    if is_read_only():
        name, _, config, _ = next(iter(todo.values()))
        raise NotStoredError(f"{len(todo)} run(s) are not in the store {store.root}, e.g. {name} "
                             f"{config!r} (read-only mode: nothing is computed)")
    order = sorted(todo.values(), key=lambda t: -t[3])  # stable: ties keep their order
    _check_jobs(n_jobs, "n_jobs")
    stack = contextlib.ExitStack()
    if scheduler is not None:
        calls = [joblib.delayed(_timed)(fn, i, config) for i, (_, fn, config, _) in enumerate(order)]
        computed = _run_on_dask(calls, scheduler, verbose, stack,
                                priorities=[len(order) - i for i in range(len(order))])
    elif n_jobs == 1:
        computed = (_timed(fn, i, config) for i, (_, fn, config, _) in enumerate(order))
    else:
        calls = (joblib.delayed(_timed)(fn, i, config) for i, (_, fn, config, _) in enumerate(order))
        stack.enter_context(quiet_worker_replacement())
        computed = joblib.Parallel(n_jobs=n_jobs, backend="loky", batch_size=1, verbose=verbose,
                                   return_as="generator_unordered")(calls)
    with stack:
        for done, (index, frame, seconds) in enumerate(computed, start=1):
            name, _, config, _ = order[index]
            _check_frame(name, config, frame)
            store.put(name, config, frame, seconds=seconds)
            if progress is not None:
                progress(done, len(order), name, config)
    return len(order)


#: What loky says when it replaces a worker, which it does on purpose when the worker's memory has
#: grown by more than 300 MB (ours hold their datasets): the worker's jobs go to the new one and
#: nothing is lost, but the message blames "a too short worker timeout or a memory leak" (joblib
#: issue 869; loky pull request 641 words it apart). A worker that dies raises
#: ``TerminatedWorkerError`` instead.
_WORKER_REPLACED = "A worker stopped while some jobs were given to the executor"


@contextlib.contextmanager
def quiet_worker_replacement() -> Iterator[None]:
    """Within the block, loky's warning for a worker it replaced (:data:`_WORKER_REPLACED`) is not
    shown; every other warning is."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_WORKER_REPLACED, category=UserWarning)
        yield


def _timed(fn: Callable[[Any], Any], index: int, config: Any) -> tuple[int, Any, float]:
    """``(index, fn(config), seconds)``: results that arrive out of order find their config, and
    the compute time is measured where it ran (kept in the store entry)."""
    import time

    start = time.perf_counter()
    frame = fn(config)
    return index, frame, time.perf_counter() - start


def _check_frame(name: str, config: Any, frame: Any) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} returned {type(frame).__name__} for config {config!r}; "
                         "experiment functions must return a pandas DataFrame")


def _run_on_dask(calls: Iterable, scheduler: str | Any, verbose: int,
                 stack: contextlib.ExitStack, priorities: Sequence[int] | None = None) -> Iterator[Any]:
    """Submit every call to the dask cluster; yield the results as they finish.

    Tasks go to the cluster with ``Client.submit`` rather than through joblib's ``dask`` backend:
    joblib runs everything in the calling process when the cluster has a single worker thread
    (its effective ``n_jobs`` is then 1), so a small cluster would silently never be used. A
    client opened here is closed when ``stack`` closes.
    """
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            "scheduler= needs dask.distributed; install it with pip install 'dask[distributed]'"
        ) from exc
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        client = Client(scheduler)
        stack.callback(client.close)
    calls = list(calls)
    priorities = [0] * len(calls) if priorities is None else list(priorities)
    futures = [client.submit(fn, *args, pure=False, priority=priority, **kwargs)
               for (fn, args, kwargs), priority in zip(calls, priorities, strict=True)]
    if verbose:
        print(f"run_sweep: {len(futures)} tasks submitted to the dask cluster")
    from distributed import as_completed

    return (future.result() for future in as_completed(futures))
