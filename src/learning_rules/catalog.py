"""The package's catalogues of named computations, looked up by name from anywhere in it.

* :data:`EXPERIMENTS` -- experiment name -> :class:`~learning_rules.experiments.Experiment`;
* :data:`ARTIFACTS` -- artifact name -> :class:`~learning_rules.experiments.Artifact`;
* :data:`PLANNERS` -- notebook path -> ``plan(params, store) -> list[Task]``.

The modules of :mod:`learning_rules.experiments` fill them as they are imported (their
``register_*`` decorators); the code below them that needs a name's entry (the store's keys, which
hold an experiment's code fingerprint) calls :func:`load` first, which imports that package by
name, as a plugin is loaded. So no module imports the experiments package back, and a lookup
never sees a half-filled catalogue.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ._registry import Registry

__all__ = ["ARTIFACTS", "EXPERIMENTS", "PLANNERS", "load"]

EXPERIMENTS: Registry[Any] = Registry("experiment")
ARTIFACTS: Registry[Any] = Registry("artifact")
PLANNERS: Registry[Callable[..., list]] = Registry("planner")

#: The package whose modules register into the catalogues.
PLUGINS = "learning_rules.experiments"


def load() -> None:
    """Make sure every experiment, artifact and planner is registered (imports :data:`PLUGINS`,
    which imports each of its modules; a no-op once it is imported)."""
    importlib.import_module(PLUGINS)
