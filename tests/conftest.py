"""Shared test configuration.

The data layer looks in ``LEARNING_RULES_DATA`` first. CI points it at ``../shared/datasets``; when it
is unset and that folder sits beside the checkout, the tests use it too, so ``make test`` behaves the
same locally and in CI. Nothing is downloaded (``LEARNING_RULES_OFFLINE=1`` unless set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"

if not os.environ.get("LEARNING_RULES_DATA") and SHARED_DATA.is_dir():
    os.environ["LEARNING_RULES_DATA"] = str(SHARED_DATA)

# The tests never download: a dataset missing from LEARNING_RULES_DATA stays missing (pages report
# it "not run"); the tests of the download path unset this and serve files from 127.0.0.1.
os.environ.setdefault("LEARNING_RULES_OFFLINE", "1")

# Matplotlib must never try to open a window in tests.
os.environ.setdefault("MPLBACKEND", "Agg")


def _data_dirs() -> list[Path]:
    raw = os.environ.get("LEARNING_RULES_DATA", "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The directory of verified dataset copies; skips (with the reason) when it is absent."""
    for d in _data_dirs():
        if (d / "mnist").is_dir():
            return d
    pytest.skip(
        "real dataset copies not found: set LEARNING_RULES_DATA to the folder holding mnist/, "
        "fashion-mnist/, california-housing/, wine-quality/ (CI uses ../shared/datasets)"
    )


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """The project's real book built once per test session under the smoke profile.

    Returns the :class:`learning_rules.book.BuildResult`; its output folder (``result.html`` is
    ``<out>/_build/html``) is a temporary directory shared by the build test and the browser tests.
    The build, and the rest of the session, use an empty result store of their own, so the build
    computes its runs (a warm user store from an earlier run of the suite would hand it every
    result and leave the precompute nothing to do) and leaves the user's store alone.
    """
    from learning_rules import book

    out = tmp_path_factory.mktemp("smoke-book")
    with pytest.MonkeyPatch.context() as mp:  # restores the variable after the session
        mp.setenv("LEARNING_RULES_STORE", str(tmp_path_factory.mktemp("smoke-store")))
        yield book.build("smoke", root=ROOT, output=out, n_jobs=2, log=lambda s: None)


def central_difference(f, A, h=1e-6):
    """Central differences of the scalar ``f(A)`` in every entry of ``A`` (``A`` is not changed):
    the independent oracle of the gradient checks."""
    import numpy as np

    G = np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        Ap, Am = A.copy(), A.copy()
        Ap[idx] += h
        Am[idx] -= h
        G[idx] = (f(Ap) - f(Am)) / (2 * h)
    return G


def assert_same_parameters(reference_mlp, fast_mlp, dtype, tol: float) -> None:
    """Every weight and bias of two networks: same dtype, equal within ``tol`` (relative to the
    reference's largest entry, at least absolute ``tol``)."""
    import numpy as np

    for a, b in zip(reference_mlp.weights + reference_mlp.biases, fast_mlp.weights + fast_mlp.biases):
        if a is not None:
            assert a.dtype == b.dtype == dtype
            assert np.max(np.abs(a - b)) <= tol * max(1.0, float(np.max(np.abs(a))))


def executed_and_closure(name: str, config) -> tuple[set, set]:
    """Run experiment ``name`` on ``config`` under a profiler: the package units (module, top-level
    name) it executed, and the static closure its store key covers (``fingerprint.py``). Every
    package module is imported first (import-time code is not the run's); only package source
    counts, not code that dataclasses or numba generate at run time."""
    import importlib
    import pkgutil
    import sys

    import learning_rules
    from learning_rules import fingerprint
    from learning_rules.experiments import EXPERIMENTS

    for info in pkgutil.walk_packages(learning_rules.__path__, "learning_rules."):
        importlib.import_module(info.name)
    pkg = str(Path(learning_rules.__file__).resolve().parent)
    executed: set[tuple[str, str]] = set()

    def profile(frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module.startswith("learning_rules") and frame.f_code.co_filename.startswith(pkg):
                top = frame.f_code.co_qualname.split(".")[0]
                if not top.startswith("<"):
                    executed.add((module[len("learning_rules."):] if "." in module else "", top))

    sys.setprofile(profile)
    try:
        EXPERIMENTS[name].run(config)
    finally:
        sys.setprofile(None)
    return executed, fingerprint.code_index().closure(fingerprint.experiment_units(name))
