"""The report page reads what the chapters stored and never recomputes them
(``collect_reproduced(..., compute=False)``; it took 150 s in the quick build when it recomputed)."""

from __future__ import annotations

import dataclasses
import sys

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


def _published(tmp_path):
    ref = tmp_path / "reference"
    ref.mkdir(exist_ok=True)
    pd.DataFrame([["paper", "Table 1", "mnist|GD", "normal", 80.0, "accuracy %"]],
                 columns=report.PUBLISHED_COLUMNS).to_csv(ref / "paper.csv", index=False)
    return ref


def test_report_command_reads_only_unless_asked_to_compute(chapter, capsys):
    from learning_rules import cli

    ref, out = _published(chapter), chapter / "out"
    args = ["report", "--profile", "paper", "--reference", str(ref), "--output", str(out)]
    assert cli.main(args) == 0
    assert CALLS == []  # nothing computed
    err = capsys.readouterr().err
    assert "not run" in err and "learning-rules build --profile paper" in err
    assert cli.main([*args, "--compute"]) == 0
    assert sorted(CALLS) == [0, 1]


def test_paper_ledger_is_committed_only_on_accept_and_guards_regressions(chapter, capsys, monkeypatch):
    from learning_rules import cli

    ref, out = _published(chapter), chapter / "out"
    args = ["report", "--profile", "paper", "--reference", str(ref), "--output", str(out), "--compute"]
    committed = report.committed_ledger(out)
    assert cli.main(args) == 0 and not committed.exists()
    assert cli.main([*args, "--accept"]) == 0 and committed.is_file()
    accepted = pd.read_csv(committed)
    assert set(accepted["profile"]) == {"paper"} and accepted["status"].tolist() == [report.STATUS_OK]
    capsys.readouterr()
    # the cell stops reproducing: the committed ledger is the guard's baseline
    monkeypatch.setattr(sys.modules[__name__], "accuracy", lambda cfg: pd.DataFrame({"acc": [10.0]}))
    Store().clear()
    assert cli.main(args) == 1
    assert "mnist|GD" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(committed), accepted)  # unchanged without --accept
