"""The report page reads what the chapters stored and never recomputes them
(``collect_reproduced(..., compute=False)``; it took 150 s in the quick build when it recomputed)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from learning_rules import report
from learning_rules._registry import Registry
from learning_rules.store import READONLY_ENV, STORE_ENV, Store
from learning_rules.sweep import run_sweep


@dataclasses.dataclass(frozen=True)
class Cell:
    seed: int = 0


CALLS: list[int] = []


def accuracy(cfg: Cell) -> pd.DataFrame:
    CALLS.append(cfg.seed)
    return pd.DataFrame({"acc": [80.0 + cfg.seed]})


@pytest.fixture
def chapter(tmp_path, monkeypatch):
    """One registered reproduction that sweeps two seeds through the default store."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store"))
    monkeypatch.delenv(READONLY_ENV, raising=False)
    registry = Registry("reproduction")
    monkeypatch.setattr(report, "REPRODUCTIONS", registry)
    monkeypatch.setattr(report, "discover_reproductions", lambda: registry)
    CALLS.clear()

    @report.register_reproduction("toy", sources=("paper",), chapter="book/toy.ipynb")
    def cells(profile):
        frame = run_sweep(accuracy, [Cell(0), Cell(1)], n_jobs=1, backend="sequential",
                          store=Store(), name="toy_cell")
        mean, low, high = report.mean_interval(frame["acc"].to_numpy())
        return pd.DataFrame([report.record("paper", "Table 1", "mnist|GD", "normal", mean, low, high,
                                           profile=profile, seeds=[0, 1])])

    return tmp_path


def test_read_only_reports_missing_results_without_computing(chapter):
    cells, failures, chapters = report.collect_reproduced("quick", compute=False)
    assert CALLS == [] and cells.empty
    assert "results not stored yet" in failures["paper"] and "toy_cell" in failures["paper"]
    assert chapters == {"paper": "book/toy.ipynb"}


def test_read_only_reads_what_the_chapter_stored(chapter):
    computed, failures, _ = report.collect_reproduced("quick")  # the chapter's own run fills the store
    assert sorted(CALLS) == [0, 1] and failures == {}
    CALLS.clear()
    stored, failures, _ = report.collect_reproduced("quick", compute=False)
    assert CALLS == [] and failures == {}
    pd.testing.assert_frame_equal(stored, computed)
    assert stored["reproduced"].item() == pytest.approx(80.5)
