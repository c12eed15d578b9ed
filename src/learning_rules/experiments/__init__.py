"""Experiments and artifacts: the named computations the book, the CLI and the tests share.

* :data:`EXPERIMENTS` -- name -> :class:`Experiment`: a frozen config dataclass and
  ``run(config) -> pandas.DataFrame`` (tidy: one row per measurement). ``learning-rules run NAME
  --set key=value`` builds the config from the dataclass field types and runs it (through the
  result store unless the experiment opts out).
* :data:`ARTIFACTS` -- name -> :class:`Artifact`: ``make(params, out_path)`` writes one table or
  figure file. ``learning-rules make NAME --profile P`` takes ``params`` from the parameters a
  profile gives the artifact's notebook, so the file is the one the book shows.
* :data:`PLANNERS` -- notebook path -> ``plan(params, store) -> list[Task]``: every run the page
  will ask the store for, as far as the store's contents decide it (runs chosen from
  learning-rate trials appear once the trials are stored). ``learning-rules build`` computes the
  union over the pages it executes in one pool before their kernels start (:func:`plan_runs`), so
  a run two pages share is computed once and long runs start first.

Every module of this package is imported when the package is, so a chapter adds its experiments by
adding a module that calls :func:`register_experiment` / :func:`register_artifact`; no list to edit.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import catalog
from .._registry import Registry

__all__ = [
    "ARTIFACTS",
    "EXPERIMENTS",
    "PLANNERS",
    "Artifact",
    "Experiment",
    "Task",
    "config_from_strings",
    "make_artifact",
    "one_blas_thread",
    "parse_field_value",
    "plan_runs",
    "RunProgress",
    "cost_eta",
    "register_artifact",
    "register_experiment",
    "register_planner",
    "run_experiment",
]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment.

    Attributes
    ----------
    name : str
    config_cls : type
        A frozen dataclass; every field has a default.
    run : callable
        ``run(config) -> pandas.DataFrame`` (tidy).
    description : str
    cache : bool
        Whether results go through the :class:`~learning_rules.store.Store` (``False`` for
        experiments whose result depends on something outside config and code, like which
        dataset files exist).
    timing_columns : tuple of str
        Result columns that measure time (CPU seconds of a run): they differ from one run to the
        next, so ``learning-rules store verify`` leaves them out of its bit-for-bit comparison.
    """

    name: str
    config_cls: type
    run: Callable[[Any], pd.DataFrame]
    description: str
    cache: bool = True
    timing_columns: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A named file the book shows (a table or a figure).

    Attributes
    ----------
    name : str
    make : callable
        ``make(params, out_path) -> pathlib.Path``: writes the file and returns its path. ``params``
        is the parameter mapping of the notebook that shows the artifact (with ``profile``).
    description : str
    notebook : str or None
        The notebook (path relative to the project root) whose profile parameters ``make`` takes.
    suffix : str
        Default file extension (``".png"``, ``".csv"``).
    """

    name: str
    make: Callable[[Mapping[str, Any], Path], Path]
    description: str
    notebook: str | None = None
    suffix: str = ".png"


@dataclasses.dataclass(frozen=True)
class Task:
    """One run a page will need: experiment ``name`` with ``config``.

    Attributes
    ----------
    name : str
        Experiment name in :data:`EXPERIMENTS` (the store key's name).
    config : frozen dataclass
    cost : float
        Relative cost estimate (any unit, the same for all tasks of a build): the longest runs
        start first, so the last ones to finish are short.
    stage : int
        ``0`` for runs whose results decide later runs (learning-rate trials), ``1`` otherwise:
        :func:`plan_runs` computes every stage-0 run of every page before the rest.
    """

    name: str
    config: Any
    cost: float = 1.0
    stage: int = 1


# The catalogues live below this package (the store's keys look experiments up by name there);
# this package's modules fill them as they are imported.
EXPERIMENTS: Registry[Experiment] = catalog.EXPERIMENTS
ARTIFACTS: Registry[Artifact] = catalog.ARTIFACTS
PLANNERS: Registry[Callable[[Mapping[str, Any], Any], list[Task]]] = catalog.PLANNERS


def register_planner(notebook: str):
    """Decorator: register ``plan(params, store) -> list[Task]`` for ``notebook`` (its path
    relative to the project root). ``params`` are the notebook's parameters: its own defaults
    updated with the profile's."""

    def decorator(plan: Callable[[Mapping[str, Any], Any], list[Task]]):
        PLANNERS.register(notebook, plan)
        return plan

    return decorator


def plan_runs(pages: Mapping[str, Mapping[str, Any]], store: Any, n_jobs: int = 1,
              log: Callable[[str], None] = print, max_rounds: int = 8,
              scheduler: str | Any | None = None) -> dict[str, Any]:
    """Compute every run the ``pages`` (notebook path -> parameters) will ask for, before they run.

    Rounds: ask every page's planner what it needs, drop what ``store`` holds and duplicates
    (the same experiment and config asked by two pages), and run the lowest stage of what is
    left in one pool of ``n_jobs`` processes (:func:`learning_rules.sweep.run_tasks`, longest
    first; or one task each on the dask cluster at ``scheduler``), storing each result as it
    finishes; repeat until nothing is missing. With the
    learning-rate trials in stage 0, round 1 runs every page's trials and round 2 everything
    else, reruns at the chosen rates included; a chosen rate whose full runs diverge in training
    is set aside (:func:`learning_rules.experiments.lr_selection.settle_lrs`), and a further
    round runs the next pick. Pages without a planner are skipped (they compute their own runs
    when they execute).

    Returns ``{"rounds": [(stage, runs computed, seconds), ...], "tasks": total computed,
    "seconds": wall time}``.

    Raises
    ------
    RuntimeError
        When the planners still report missing runs after ``max_rounds`` rounds (a planner asking
        for something the store never receives).
    """
    import time

    from ..sweep import run_tasks

    start = time.perf_counter()
    rounds: list[tuple[int, int, float]] = []
    for _ in range(max_rounds):
        wanted: dict[tuple[str, str], Task] = {}
        for notebook, params in pages.items():
            if notebook not in PLANNERS:
                continue
            for task in PLANNERS[notebook](params, store):
                EXPERIMENTS.lookup(task.name)
                key = (task.name, store.key(task.name, task.config))
                if key not in wanted or task.stage < wanted[key].stage:
                    wanted[key] = task
        missing = [t for t in wanted.values() if (t.name, t.config) not in store]
        if not missing:
            break
        stage = min(t.stage for t in missing)
        batch = [t for t in missing if t.stage == stage]
        t0 = time.perf_counter()
        where = f"dask scheduler {scheduler}" if scheduler is not None else f"{n_jobs} worker(s)"
        log(f"precompute: {len(batch)} run(s) of stage {stage} ({len(wanted)} wanted by "
            f"{sum(nb in PLANNERS for nb in pages)} page(s), {len(missing)} missing), {where}")
        with RunProgress(batch, stage, log) as progress:
            run_tasks([(t.name, EXPERIMENTS[t.name].run, t.config, t.cost) for t in batch], store,
                      n_jobs=n_jobs, progress=progress, scheduler=scheduler)
        rounds.append((stage, len(batch), time.perf_counter() - t0))
    else:
        raise RuntimeError(f"the page planners still report missing runs after {max_rounds} "
                           "rounds; a planner asks for runs the store never receives")
    return {"rounds": rounds, "tasks": sum(r[1] for r in rounds),
            "seconds": time.perf_counter() - start}


def cost_eta(done_cost: float, total_cost: float, elapsed: float) -> float | None:
    """Seconds left, from the measured rate of the work done so far in units of the planners'
    cost estimates: ``elapsed * (total - done) / done`` (``None`` before anything finished)."""
    if done_cost <= 0:
        return None
    return elapsed * max(total_cost - done_cost, 0.0) / done_cost


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """Progress of one precompute round: runs done / total, the stage, and an ETA from the
    measured cost of the finished runs (:func:`cost_eta`; long runs start first, so a count-based
    ETA would be far too pessimistic early on).

    In a terminal it is one ``tqdm`` line that updates in place; otherwise (a log file, CI) a line
    is logged every tenth of the round. Called as ``progress(done, total, name, config)`` by
    :func:`learning_rules.sweep.run_tasks`.
    """

    def __init__(self, tasks: list[Task], stage: int, log: Callable[[str], None] = print,
                 stream: Any = None):
        import sys
        import time

        self.by_config = {}
        for t in tasks:
            self.by_config.setdefault((t.name, repr(t.config)), t.cost)
        self.total_cost = float(sum(t.cost for t in tasks)) or 1.0
        self.done_cost = 0.0
        self.total, self.stage, self.log = len(tasks), stage, log
        self.start = time.perf_counter()
        self.every = max(1, self.total // 10)
        stream = sys.stderr if stream is None else stream
        from .._progress import quiet

        self.bar = None
        if not quiet() and getattr(stream, "isatty", lambda: False)():
            from tqdm.std import tqdm

            self.bar = tqdm(total=self.total, file=stream, unit="run", dynamic_ncols=True,
                            desc=f"precompute stage {stage}",
                            bar_format="{desc}: {n_fmt}/{total_fmt} runs {bar} {elapsed} elapsed, "
                                       "ETA {postfix}")
            self.bar.set_postfix_str("?", refresh=True)

    def eta(self) -> float | None:
        import time

        return cost_eta(self.done_cost, self.total_cost, time.perf_counter() - self.start)

    def __call__(self, done: int, total: int, name: str, config: Any) -> None:
        import time

        self.done_cost += self.by_config.get((name, repr(config)), 1.0)
        eta = _clock(self.eta())
        if self.bar is not None:
            self.bar.set_postfix_str(eta, refresh=False)
            self.bar.update(1)
        elif done % self.every == 0 or done == total:
            self.log(f"precompute stage {self.stage}: {done}/{total} runs done "
                     f"({time.perf_counter() - self.start:.0f} s, ETA {eta})")

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def one_blas_thread(fn):
    """Run ``fn`` with one BLAS thread (``threadpoolctl``); every registered run is wrapped in it.

    A matrix product's last bits depend on how many threads share it, so a run must use the same
    count wherever it runs: in the book build (each loky worker and kernel already has one), in a
    plain process (the CLI, the tests, ``store verify``, ``run_sweep(n_jobs=1)``). Otherwise a
    result recomputed outside the build differs from the stored one in its last bits (the parity
    runs' alignment cosines did, by 6e-8). It is also faster on a shared 2-core machine: at load
    2-3 (2026-11-23) one ablation run of 2 epochs took 9-15 s with OpenBLAS' default threads and
    0.9 s with one; a 2-epoch weight-decay run 5-12 s against 0.4-0.5 s.
    ``tests/test_layers.py`` checks that every registered run carries it.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    wrapper.one_blas_thread = True
    return wrapper


def register_experiment(name: str, config_cls: type, description: str, *, cache: bool = True,
                        timing_columns: tuple[str, ...] = ()):
    """Decorator: register ``run(config) -> DataFrame`` as experiment ``name`` (``run`` itself is
    returned unchanged, so this decorator is no part of any result's key)."""
    if not dataclasses.is_dataclass(config_cls) or not config_cls.__dataclass_params__.frozen:
        raise ValueError(f"experiment {name!r}: config_cls must be a frozen dataclass")

    def decorator(run: Callable[[Any], pd.DataFrame]):
        EXPERIMENTS.register(name, Experiment(name, config_cls, run, description, cache,
                                              tuple(timing_columns)))
        return run

    return decorator


def register_artifact(name: str, description: str, *, notebook: str | None = None, suffix: str = ".png"):
    """Decorator: register ``make(params, out_path) -> Path`` as artifact ``name``."""

    def decorator(make: Callable[[Mapping[str, Any], Path], Path]):
        ARTIFACTS.register(name, Artifact(name, make, description, notebook, suffix))
        return make

    return decorator


#: Resolution of every PNG artifact, the book kernels' retina figures' (book/_kernel), so a figure
#: made by ``learning-rules make`` matches the one on the page.
ARTIFACT_DPI = 200


def save_figure(fig, out_path: str | Path, dpi: int = ARTIFACT_DPI, **savefig_kwargs: Any) -> Path:
    """Write ``fig`` as a PNG to ``out_path`` atomically (a reader never sees half a file; a failed
    write leaves the old file) and close it."""
    import io

    import matplotlib.pyplot as plt

    from ..store import atomic_write_bytes

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, **savefig_kwargs)
    finally:
        plt.close(fig)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, buffer.getvalue())
    return out_path


#: The seaborn theme every notebook of the book sets in its first code cell.
BOOK_THEME: dict[str, str] = {"style": "whitegrid", "palette": "colorblind", "context": "notebook"}


def save_book_figure(draw: Callable[[], Any], out_path: str | Path) -> Path:
    """Draw a figure as a page of the book draws it and write it as a PNG (:func:`save_figure`).

    ``draw()`` returns the figure; it runs under the book's seaborn theme (:data:`BOOK_THEME`,
    matplotlib's settings restored afterwards), and the file is cropped to its contents as the
    notebooks' inline backend crops it (``bbox_inches="tight"``), so a legend placed beside the
    axes is kept.
    """
    import matplotlib
    import seaborn as sns

    with matplotlib.rc_context():
        sns.set_theme(**BOOK_THEME)
        return save_figure(draw(), out_path, bbox_inches="tight")


# --------------------------------------------------------------------------- configs from text

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def parse_field_value(text: str, tp: Any) -> Any:
    """Convert command-line text to a value of type ``tp``.

    Understands ``int``, ``float``, ``str``, ``bool`` (true/false/yes/no/1/0), ``X | None`` and
    ``Optional[X]`` (``none``/``null``), ``tuple[X, ...]`` / ``list[X]`` (comma-separated) and
    ``Literal[...]``.

    Raises
    ------
    ValueError
        When ``text`` cannot be read as ``tp``.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return text
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return parse_field_value(text, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(f"cannot read {text!r} as {_describe(tp)}")
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"{text!r} is not one of {', '.join(map(str, args))}")
    if origin in (tuple, list) or tp in (tuple, list):
        items = [t.strip() for t in text.split(",")] if text.strip() else []
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            values = [parse_field_value(t, args[0]) for t in items]
        elif origin is tuple and args:
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} comma-separated values, got {len(items)}")
            values = [parse_field_value(t, a) for t, a in zip(items, args, strict=True)]
        elif origin is list and args:
            values = [parse_field_value(t, args[0]) for t in items]
        else:
            values = items
        return tuple(values) if (origin or tp) is tuple else values
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"cannot read {text!r} as bool (use true/false)")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as int") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as float") from None
    if tp is str:
        return text
    raise ValueError(f"fields of type {_describe(tp)} cannot be set from the command line")


def config_from_strings(config_cls: type, assignments: Iterable[str] | Mapping[str, str]) -> Any:
    """Build ``config_cls`` from ``key=value`` strings, each value parsed by the field's type.

    Raises
    ------
    ValueError
        Unknown key (the message lists the fields and their types), malformed assignment, or a
        value that does not parse as its field's type.
    """
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: hints.get(f.name, str) for f in dataclasses.fields(config_cls) if f.init}
    listing = ", ".join(f"{n}: {_describe(t)}" for n, t in fields.items())
    if isinstance(assignments, Mapping):
        pairs = list(assignments.items())
    else:
        pairs = []
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"--set expects key=value, got {item!r}; fields: {listing}")
            key, value = item.split("=", 1)
            pairs.append((key.strip(), value))
    values = {}
    for key, value in pairs:
        if key not in fields:
            raise ValueError(f"unknown field {key!r} for {config_cls.__name__}; fields: {listing}")
        try:
            values[key] = parse_field_value(value, fields[key])
        except ValueError as exc:
            raise ValueError(f"field {key!r} ({_describe(fields[key])}): {exc}") from None
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid {config_cls.__name__}: {exc}") from None


# --------------------------------------------------------------------------- running


def run_experiment(name: str, config: Any = None, *, store: Any = None) -> pd.DataFrame:
    """Run experiment ``name`` (default config when ``config`` is None), through ``store`` if given
    and the experiment allows caching."""
    exp = EXPERIMENTS.lookup(name)
    config = exp.config_cls() if config is None else config
    if not isinstance(config, exp.config_cls):
        raise ValueError(
            f"experiment {name!r} takes a {exp.config_cls.__name__}, got {type(config).__name__}"
        )
    if store is not None and exp.cache:
        return store.get_or_compute(name, config, exp.run)
    frame = exp.run(config)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"experiment {name!r} returned {type(frame).__name__}, not a DataFrame")
    return frame


def make_artifact(name: str, params: Mapping[str, Any], out_path: str | Path) -> Path:
    """Write artifact ``name`` to ``out_path`` with the given notebook parameters; return the path."""
    art = ARTIFACTS.lookup(name)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return Path(art.make(dict(params), out_path))


def _import_submodules() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_submodules()
