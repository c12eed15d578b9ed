"""The reproduction ledger on synthetic published / reproduced tables: tolerances, rankings, the
not-run rows, the summary, and the regression guard of ``learning-rules report`` (exit codes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules import cli, report
from learning_rules._registry import Registry
from learning_rules.report import (
    LEDGER_COLUMNS,
    build_ledger,
    find_regressions,
    mean_interval,
    rank_preserved,
    record,
    summarize,
    tolerance,
)


def pub(rows):
    """rows: (source, table, row, column, published, unit)"""
    return pd.DataFrame(rows, columns=["source", "table", "row", "column", "published", "unit"])


def rep(cells, profile="quick"):
    """cells: (source, table, row, column, reproduced)"""
    return pd.DataFrame([record(*c, profile=profile, seeds="0,1,2") for c in cells])


PUBLISHED = pub([
    ("paper", "Table 1", "mnist|GD", "normal", 80.0, "accuracy %"),
    ("paper", "Table 1", "mnist|ours", "normal", 85.0, "accuracy %"),
    ("paper", "Table 1", "mnist|L2", "normal", 90.0, "accuracy %"),
    ("paper", "Table 1", "wine|GD", "normal", 100.0, "loss x 1e4"),
    ("paper", "Table 1", "wine|ours", "normal", 70.0, "loss x 1e4"),
    ("thesis", "Fig. 1", "k=1|BP", "test error", 0.10, "test error"),
])


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("unit", "published", "expected"),
    [("accuracy %", 87.5, 2.0), ("%", 3.0, 2.0), ("accuracy", 0.9, 0.02), ("test error", 0.1, 0.02),
     ("loss x 1e4", 200.0, 30.0), ("loss x 1e4", -40.0, 6.0), ("cost", 0.25, 0.0375)],
)
def test_tolerance_by_unit(unit, published, expected):
    assert tolerance(unit, published) == pytest.approx(expected)


def test_tolerance_override_and_unknown_unit():
    assert tolerance("accuracy %", 50.0, 5.0) == 5.0
    assert tolerance("accuracy %", 50.0, float("nan")) == 2.0
    with pytest.raises(ValueError, match="unknown unit 'furlongs'.*accuracy %"):
        tolerance("furlongs", 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        tolerance("loss", 1.0, -1.0)


def test_within_tolerance_edges():
    # accuracy: +-2 points, inclusive; loss: +-15 % of the published value
    cells = [("paper", "Table 1", "mnist|GD", "normal", 82.0),  # exactly +2 -> inside
             ("paper", "Table 1", "mnist|ours", "normal", 82.9),  # -2.1 -> outside
             ("paper", "Table 1", "wine|GD", "normal", 114.9),  # +14.9 % -> inside
             ("paper", "Table 1", "wine|ours", "normal", 59.0),  # -15.7 % -> outside
             ("thesis", "Fig. 1", "k=1|BP", "test error", 0.125)]  # +0.025 -> outside
    led = build_ledger(PUBLISHED, rep(cells), "quick")
    assert list(led.columns[: len(LEDGER_COLUMNS)]) == LEDGER_COLUMNS
    led = led.set_index("row")
    assert bool(led.loc["mnist|GD", "within_tolerance"]) is True
    assert bool(led.loc["mnist|ours", "within_tolerance"]) is False
    assert bool(led.loc["wine|GD", "within_tolerance"]) is True
    assert bool(led.loc["wine|ours", "within_tolerance"]) is False
    assert bool(led.loc["k=1|BP", "within_tolerance"]) is False
    assert led.loc["mnist|ours", "delta"] == pytest.approx(-2.1)
    assert led.loc["wine|ours", "status"] == "outside tolerance"
    # the one cell nobody regenerated stays, honestly marked
    assert led.loc["mnist|L2", "status"] == "not run"
    assert pd.isna(led.loc["mnist|L2", "reproduced"]) and pd.isna(led.loc["mnist|L2", "within_tolerance"])
    assert led.loc["mnist|L2", "note"]


def test_not_run_reasons():
    cells = pd.DataFrame([record("paper", "Table 1", "mnist|GD", "normal", None, profile="quick",
                                 seeds="", note="CIFAR-10 is not on this machine")])
    led = build_ledger(PUBLISHED, cells, "quick", failures={"thesis": "boom: ValueError"},
                       chapters={"paper": "book/paper.ipynb"}).set_index("row")
    assert led.loc["mnist|GD", "note"] == "CIFAR-10 is not on this machine"
    assert led.loc["k=1|BP", "note"] == "boom: ValueError"
    assert "registered no value" in led.loc["mnist|ours", "note"]
    assert led.loc["mnist|ours", "chapter"] == "book/paper.ipynb"
    assert (led["status"] == "not run").all()


def test_profiles_do_not_mix_and_unmatched_cells_are_listed():
    cells = pd.concat([
        rep([("paper", "Table 1", "mnist|GD", "normal", 80.5)], profile="smoke"),
        rep([("paper", "Table 1", "mnist|GDD", "normal", 80.5)], profile="quick"),  # a typo
    ])
    led = build_ledger(PUBLISHED, cells, "quick")
    assert (led["status"] == "not run").all() and (led["profile"] == "quick").all()
    assert led.attrs["unmatched"] == [("paper", "Table 1", "mnist|GDD", "normal")]


def test_duplicate_reproduced_cell_is_an_error():
    cells = rep([("paper", "Table 1", "mnist|GD", "normal", 80.0)] * 2)
    with pytest.raises(ValueError, match="given twice"):
        build_ledger(PUBLISHED, cells, "quick")


def test_record_checks_interval_and_joins_seeds():
    row = record("a", "b", "c", "d", 1.0, 0.5, 1.5, profile="quick", seeds=range(3))
    assert row["seeds"] == "0,1,2"
    with pytest.raises(ValueError, match="low"):
        record("a", "b", "c", "d", 1.0, 2.0, 1.5, profile="quick", seeds=1)


# --------------------------------------------------------------------------- ranking


def test_rank_preserved_hand_examples():
    assert rank_preserved([80, 85, 90], [70, 75, 99]) is True  # offsets do not matter, order does
    assert rank_preserved([80, 85, 90], [70, 95, 90]) is False  # the top two swapped
    assert rank_preserved([80, 80, 90], [81, 79, 95]) is True  # published ties impose no order
    assert rank_preserved([80, 85], [80, 80]) is False  # a strict published gap needs a strict one
    assert rank_preserved([80, np.nan, 90], [1, 2, 0]) is False  # NaNs are dropped, 80<90 but 1>0
    assert rank_preserved([80], [81]) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=2, max_size=8, unique=True),
       st.floats(0.1, 10), st.floats(-5, 5))
def test_rank_preserved_invariant_under_increasing_maps(values, scale, shift):
    p = np.array(values, dtype=float)  # integers: an affine map keeps every gap representable
    assert rank_preserved(p, scale * p + shift) is True
    assert rank_preserved(p, -p) is False


def test_rank_groups_in_the_ledger():
    # mnist group: published order GD < ours < L2; reproduced swaps ours and L2 -> not preserved
    # wine group: order kept. The thesis group has one cell: no verdict.
    cells = [("paper", "Table 1", "mnist|GD", "normal", 81.0),
             ("paper", "Table 1", "mnist|ours", "normal", 91.0),
             ("paper", "Table 1", "mnist|L2", "normal", 89.0),
             ("paper", "Table 1", "wine|GD", "normal", 140.0),
             ("paper", "Table 1", "wine|ours", "normal", 60.0),
             ("thesis", "Fig. 1", "k=1|BP", "test error", 0.1)]
    led = build_ledger(PUBLISHED, rep(cells), "quick").set_index("row")
    assert not led.loc[["mnist|GD", "mnist|ours", "mnist|L2"], "rank_preserved"].any()
    assert led.loc[["wine|GD", "wine|ours"], "rank_preserved"].all()
    assert pd.isna(led.loc["k=1|BP", "rank_preserved"])
    summary = summarize(led.reset_index()).set_index("source")
    assert summary.loc["paper", "rank_groups"] == 2 and summary.loc["paper", "rank_preserved"] == 1
    assert summary.loc["paper", "cells"] == 5 and summary.loc["paper", "run"] == 5
    assert summary.loc["paper", "reproduced"] == 3  # mnist GD (+1), mnist L2 (-1), wine ours (-14.3 %)
    assert summary.loc["thesis", "reproduced"] == 1 and summary.loc["thesis", "rank_groups"] == 0


def test_explicit_rank_group_overrides_default():
    cells = pd.DataFrame([
        record("paper", "Table 1", "mnist|GD", "normal", 95.0, profile="quick", seeds=0, rank_group="g"),
        record("paper", "Table 1", "wine|ours", "normal", 10.0, profile="quick", seeds=0, rank_group="g"),
    ])
    led = build_ledger(PUBLISHED, cells, "quick").set_index("row")
    # published 80 (GD) < 70? no: 70 < 80, reproduced 10 < 95 -> preserved in the explicit group
    assert bool(led.loc["mnist|GD", "rank_preserved"]) is True


def test_mean_interval():
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    # t_{0.975, 2} = 4.302652729..., s = 1, n = 3
    assert mean == 2.0 and high - mean == pytest.approx(4.302652729749464 / np.sqrt(3))
    assert low == pytest.approx(2 * mean - high)
    m, lo, hi = mean_interval([5.0])
    assert m == 5.0 and np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError):
        mean_interval([])


# --------------------------------------------------------------------------- regression guard


def ledger_for(values, profile="quick"):
    cells = [("paper", "Table 1", row, "normal", v) for row, v in values.items()]
    return build_ledger(PUBLISHED, rep(cells, profile), profile)


def test_find_regressions():
    before = ledger_for({"mnist|GD": 80.5, "mnist|ours": 85.0, "wine|GD": 200.0})
    after = ledger_for({"mnist|GD": 70.0, "wine|GD": 100.0})  # GD broke, ours vanished, wine fixed
    found = find_regressions(before, after).set_index("row")
    assert sorted(found.index) == ["mnist|GD", "mnist|ours"]
    assert "outside tolerance" in found.loc["mnist|GD", "now"]
    assert "not run" in found.loc["mnist|ours", "now"]
    assert find_regressions(after, before).set_index("row").index.tolist() == ["wine|GD"]
    # another profile's ledger is not compared
    assert find_regressions(before, ledger_for({"mnist|GD": 0.0}, "smoke")).empty


@pytest.fixture
def synthetic_registry(tmp_path, monkeypatch):
    """A reference folder with one source and one registered reproduction whose value the test sets."""
    ref = tmp_path / "reference"
    ref.mkdir()
    PUBLISHED[PUBLISHED["source"] == "paper"].to_csv(ref / "paper.csv", index=False)
    registry = Registry("reproduction")
    monkeypatch.setattr(report, "REPRODUCTIONS", registry)
    monkeypatch.setattr(report, "discover_reproductions", lambda: registry)
    state = {"mnist|GD": 80.5}

    @report.register_reproduction("toy", sources=("paper",), chapter="book/toy.ipynb")
    def cells(profile):
        return rep([("paper", "Table 1", k, "normal", v) for k, v in state.items()], profile)

    return ref, state


def test_report_cli_regression_guard(synthetic_registry, tmp_path, capsys):
    ref, state = synthetic_registry
    out = tmp_path / "out"
    args = ["report", "--reference", str(ref), "--output", str(out)]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "1/5" in text and "book/toy.ipynb" in text
    ledger = pd.read_csv(out / "_build" / "reproduction.csv")
    assert list(ledger.columns[: len(LEDGER_COLUMNS)]) == LEDGER_COLUMNS
    assert len(ledger) == 5 and (out / "_build" / "reproduction.prev.csv").is_file()

    state["mnist|GD"] = 60.0  # the cell stops reproducing
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "mnist|GD" in err and "--accept" in err
    assert cli.main(args) == 1  # the accepted ledger did not move: still a regression

    assert cli.main([*args, "--accept"]) == 0  # accepted: the new values are the reference
    capsys.readouterr()
    assert cli.main(args) == 0
    state["mnist|GD"] = 81.0
    assert cli.main(args) == 0


def test_report_cli_failing_chapter_is_reported_not_raised(synthetic_registry, tmp_path, capsys):
    ref, _ = synthetic_registry

    @report.register_reproduction("broken", sources=("paper",))
    def broken(profile):
        raise FileNotFoundError("CIFAR-10 is not on this machine")

    assert cli.main(["report", "--reference", str(ref), "--output", str(tmp_path), "--only", "broken"]) == 0
    ledger = pd.read_csv(tmp_path / "_build" / "reproduction.csv")
    assert (ledger["status"] == "not run").all()
    assert ledger["note"].str.contains("CIFAR-10 is not on this machine").all()
    assert cli.main(["report", "--reference", str(ref), "--output", str(tmp_path), "--only", "nope"]) == 2
    assert "unknown reproduction 'nope'" in capsys.readouterr().err


def test_discover_registers_chapter_modules():
    """Every experiment module with a ``reproduced_cells`` is registered (nothing is run)."""
    import importlib
    import pkgutil

    from learning_rules import experiments

    registry = report.discover_reproductions()
    report.discover_reproductions()  # idempotent
    registered = {id(r.cells) for r in registry.values()}
    for info in pkgutil.iter_modules(experiments.__path__):
        module = importlib.import_module(f"{experiments.__name__}.{info.name}")
        if callable(getattr(module, "reproduced_cells", None)):
            assert id(module.reproduced_cells) in registered, info.name
    published_sources = set(report.load_published()["source"])
    for rep_ in registry.values():
        assert set(rep_.sources) <= published_sources, f"{rep_.name} names an unknown source"


def test_chapter_warnings_are_collected_not_printed(synthetic_registry, capsys):
    import sys
    import warnings

    @report.register_reproduction("noisy", sources=("paper",))
    def noisy(profile):
        warnings.warn("overflow in exp", RuntimeWarning)
        print("progress 50%", file=sys.stderr)
        return rep([("paper", "Table 1", "mnist|GD", "normal", 80.0)], profile)

    cells, failures, _ = report.collect_reproduced("quick", ["noisy"])
    assert capsys.readouterr().err == "" and failures == {}
    assert cells.attrs["diagnostics"]["noisy"] == ["RuntimeWarning: overflow in exp", "progress 50%"]
    assert len(cells) == 1


def test_a_chapter_with_no_cell_for_this_profile_is_valid_but_wrong_columns_are_not():
    from learning_rules.report import REPRODUCED_COLUMNS, validate_reproduced

    empty = validate_reproduced(pd.DataFrame())
    assert empty.empty and set(REPRODUCED_COLUMNS) <= set(empty.columns)
    with pytest.raises(ValueError, match="missing columns"):
        validate_reproduced(pd.DataFrame({"source": ["x"]}))


# --------------------------------------------------------------------------- [fidelity] ledger rules


def test_a_reprinted_comparison_counts_once():
    published = pub([
        ("paper", "Table 1", "mnist|GD", "normal", 80.0, "accuracy %"),
        ("paper", "Appendix A", "mnist|GD", "normal", 80.0, "accuracy %"),  # the same number, reprinted
        ("paper", "Table 1", "mnist|ours", "normal", 80.0, "accuracy %"),  # same printed value, other run
    ])
    cells = rep([("paper", "Table 1", "mnist|GD", "normal", 81.0),
                 ("paper", "Appendix A", "mnist|GD", "normal", 81.0),
                 ("paper", "Table 1", "mnist|ours", "normal", 79.5)])
    ledger = build_ledger(published, cells, "quick")
    assert list(ledger["repeats"]) == ["", "Table 1 / mnist|GD / normal", ""]
    row = summarize(ledger).iloc[0]
    assert (row["run"], row["reproduced"], row["distinct_run"], row["distinct_reproduced"]) == (3, 3, 2, 2)
    assert "distinct comparisons 2/2" in report.format_summary(summarize(ledger))


def test_cells_under_a_cut_protocol_are_not_comparable_never_reproduced(synthetic_registry):
    cells, failures, _ = report.collect_reproduced(
        "quick", ["toy"], comparability=lambda profile, pages: "num_epochs = 2 (paper: 20)")
    assert not cells["comparable"].any() and failures == {}
    ledger = build_ledger(PUBLISHED, cells, "quick")
    cell = ledger.set_index("row").loc["mnist|GD"]
    assert cell["status"] == report.STATUS_NOT_COMPARABLE and pd.isna(cell["within_tolerance"])
    assert "num_epochs = 2 (paper: 20)" in cell["note"] and cell["reproduced"] == 80.5
    assert summarize(ledger).set_index("source").loc["paper", "not_comparable"] == 1
    same, _, _ = report.collect_reproduced("quick", ["toy"], comparability=lambda profile, pages: None)
    assert build_ledger(PUBLISHED, same, "quick").set_index("row").loc["mnist|GD", "status"] == "reproduced"


def test_protocol_cuts_read_the_profiles():
    assert report.protocol_cuts("paper", ["book/foundations/ablation.ipynb"]) is None
    cuts = report.protocol_cuts("quick", ["book/foundations/ablation.ipynb"])
    assert "num_epochs = 3 (paper: 20)" in cuts
    assert report.protocol_cuts("quick", ["book/no-such-page.ipynb"]) is None
    dfa = report.discover_reproductions()["dfa_pages"]
    assert len(dfa.pages) > 1 and dfa.chapter in dfa.pages


def test_a_crashing_chapter_fails_the_report(synthetic_registry, tmp_path, capsys):
    ref, _ = synthetic_registry

    @report.register_reproduction("buggy", sources=("paper",), chapter="book/toy.ipynb")
    def buggy(profile):
        return {}["no such key"]

    with pytest.raises(report.ReproductionError, match="'buggy'.*KeyError"):
        report.collect_reproduced("quick", ["buggy"])
    assert cli.main(["report", "--reference", str(ref), "--output", str(tmp_path), "--only", "buggy"]) == 2
    assert "reproduction 'buggy' (book/toy.ipynb) raised KeyError" in capsys.readouterr().err


def test_single_run_range_is_a_second_criterion_never_merged():
    from scipy import stats

    from learning_rules.analysis.stats import prediction_interval

    x = np.arange(10, dtype=float)  # mean 4.5, sd sqrt(55/6)
    half = stats.t.ppf(0.975, 9) * np.std(x, ddof=1) * np.sqrt(1 + 1 / 10)
    assert prediction_interval(x) == pytest.approx((4.5 - half, 4.5 + half))
    assert all(np.isnan(prediction_interval(np.array([1.0]))))
    published = pub([("paper", "Table 1", "wine|GD", "normal", 100.0, "loss x 1e4"),
                     ("paper", "Table 1", "wine|ours", "normal", 70.0, "loss x 1e4"),
                     ("paper", "Table 1", "mnist|GD", "normal", 80.0, "accuracy %")])
    ten = list(range(10))
    cells = pd.DataFrame([
        record("paper", "Table 1", "wine|GD", "normal", 150.0, profile="paper", seeds=ten,
               single_run=(60.0, 240.0)),  # far off by +-15 %, but one run could give 100
        record("paper", "Table 1", "wine|ours", "normal", 71.0, profile="paper", seeds=ten,
               single_run=(72.0, 90.0)),  # within 15 %, outside the single-run range
        record("paper", "Table 1", "mnist|GD", "normal", 80.5, profile="paper", seeds=[0, 1, 2],
               single_run=(70.0, 90.0)),  # too few seeds for a range
    ])
    ledger = build_ledger(published, cells, "paper").set_index("row")
    assert ledger.loc["wine|GD", "status"] == "outside tolerance" and ledger.loc["wine|GD", "within_seed_range"]
    assert ledger.loc["wine|ours", "status"] == "reproduced" and not ledger.loc["wine|ours", "within_seed_range"]
    assert pd.isna(ledger.loc["mnist|GD", "within_seed_range"])
    row = summarize(ledger.reset_index()).iloc[0]
    assert (row["reproduced"], row["range_cells"], row["within_seed_range"]) == (2, 2, 1)
    assert "single-run range holds 1/2" in report.format_summary(summarize(ledger.reset_index()))


def test_ledger_round_trip_keeps_the_new_columns(tmp_path):
    cells = pd.DataFrame([record("paper", "Table 1", "wine|GD", "normal", 150.0, profile="paper",
                                 seeds=list(range(10)), single_run=(60.0, 240.0))])
    ledger = build_ledger(PUBLISHED, cells, "paper")
    back = report.read_ledger(report.write_ledger(ledger, tmp_path / "l.csv"))
    assert back.set_index("row").loc["wine|GD", "within_seed_range"]
    assert list(back["repeats"].fillna("")) == [""] * len(back)


def test_a_cell_that_becomes_not_comparable_is_not_a_regression():
    before = build_ledger(PUBLISHED, rep([("paper", "Table 1", "mnist|GD", "normal", 80.5)]), "quick")
    cells = rep([("paper", "Table 1", "mnist|GD", "normal", 80.5)])
    cells["comparable"] = False
    now = build_ledger(PUBLISHED, cells, "quick")
    assert find_regressions(before, now).empty
    worse = build_ledger(PUBLISHED, rep([("paper", "Table 1", "mnist|GD", "normal", 60.0)]), "quick")
    assert list(find_regressions(before, worse)["row"]) == ["mnist|GD"]


# --------------------------------------------------------------------------- causes of the misses


def test_the_sources_other_run_is_a_cause_only_when_ours_is_near_it():
    """A flag "another run of the same setting gives q" (an output of the authors' that the printed
    number does not come from) explains a miss when ours is within tolerance of q, and is never
    read as a typo's notebook value."""
    from learning_rules.cells import miss_cause

    cell = {"published": 0.2197, "reproduced": 0.2598, "tolerance": 0.02, "low": 0.25, "high": 0.27,
            "source_flag": "another run of the same setting gives 0.255 (an older figure)"}
    cause, detail = miss_cause(cell)
    assert cause == "source's other run" and "within 0.02" in detail
    assert miss_cause({**cell, "source_flag": "another run of the same setting gives 0.30"})[0] == \
        "no tested cause"  # ours is 0.04 from it: no cause, and no typo either
    assert miss_cause({**cell, "source_flag": "source typo: the notebook gives 0.255"})[0] == "source typo"




def test_every_miss_gets_the_first_cause_its_runs_support():
    published = pd.concat([PUBLISHED.iloc[:5], pub([
        ("paper", "Table 2", "fashion|L2", "noise", 73.9, "accuracy %"),
        ("paper", "Table 2", "fashion|GD", "noise", 60.0, "accuracy %"),
    ])], ignore_index=True)
    published["source_flag"] = ""
    published.loc[published["row"] == "fashion|L2", "source_flag"] = \
        "source typo: the authors' notebook gives 72.22 (printed 73.9)"
    published.loc[published["row"] == "fashion|GD", "source_flag"] = \
        "source typo: the authors' notebook gives 65.0 (printed 60.0)"
    ten = list(range(10))
    cells = pd.DataFrame([
        record("paper", "Table 1", "mnist|GD", "normal", 70.0, 69.0, 71.0, profile="paper", seeds=[0, 1, 2],
               alternative=("fixed lr 0.1", 79.0)),  # the alternative protocol is within 2 points
        record("paper", "Table 1", "mnist|ours", "normal", 80.0, 74.0, 86.0, profile="paper",
               seeds=[0, 1, 2], alternative=("fixed lr 0.1", 70.0)),  # our mean's interval holds 85
        record("paper", "Table 1", "mnist|L2", "normal", 80.0, 79.0, 81.0, profile="paper",
               seeds=[0, 1, 2], alternative=("fixed lr 0.1", 75.0)),  # nothing explains it
        record("paper", "Table 1", "wine|GD", "normal", 150.0, profile="paper", seeds=ten,
               single_run=(60.0, 240.0), alternative=("fixed lr 0.1", 100.0)),  # range comes first
        record("paper", "Table 1", "wine|ours", "normal", 70.0, profile="paper", seeds=ten),
        record("paper", "Table 2", "fashion|L2", "noise", 71.0, profile="paper", seeds=ten),
        record("paper", "Table 2", "fashion|GD", "noise", 70.0, profile="paper", seeds=ten),
    ])
    ledger = build_ledger(published, cells, "paper").set_index("row")
    causes = ledger["cause"].to_dict()
    assert causes == {"mnist|GD": "protocol", "mnist|ours": "seed spread", "mnist|L2": "no tested cause",
                      "wine|GD": "single-run spread", "wine|ours": "", "fashion|L2": "source typo",
                      "fashion|GD": "no tested cause"}  # a typo whose notebook value is off too
    assert "fixed lr 0.1: 79" in ledger.loc["mnist|GD", "cause_detail"]
    assert "fixed lr 0.1: 75" in ledger.loc["mnist|L2", "cause_detail"]
    assert ledger.loc["mnist|GD", "alternative_protocol"] == "fixed lr 0.1"
    row = summarize(ledger.reset_index()).iloc[0]
    assert (row["outside"], row["explained"], row["no_cause"]) == (6, 4, 2)
    text = report.format_summary(summarize(ledger.reset_index()))
    assert "6 outside tolerance (4 with a tested cause)" in text
    assert "misses with a tested cause: 4 of 6" in text


def test_causes_survive_the_round_trip_and_an_old_ledger_counts_misses_unexplained(tmp_path):
    cells = pd.DataFrame([record("paper", "Table 1", "mnist|GD", "normal", 70.0, profile="paper",
                                 seeds=[0, 1, 2], alternative=("fixed lr 0.1", 80.0))])
    ledger = build_ledger(PUBLISHED, cells, "paper")
    back = report.read_ledger(report.write_ledger(ledger, tmp_path / "l.csv")).set_index("row")
    assert back.loc["mnist|GD", "cause"] == "protocol" and back.loc["mnist|L2", "cause"] == ""
    assert back.loc["mnist|GD", "alternative"] == 80.0
    old = ledger.drop(columns=["cause", "cause_detail", "alternative", "alternative_protocol"])
    row = summarize(old).iloc[0]
    assert (row["explained"], row["no_cause"]) == (0, 1)


def test_an_alternative_needs_a_protocol_name():
    with pytest.raises(ValueError, match="protocol name"):
        record("paper", "Table 1", "mnist|GD", "normal", 70.0, profile="paper", seeds=[0],
               alternative=("", 80.0))


def test_a_page_lists_its_own_misses_with_the_reports_causes(synthetic_registry):
    ref, state = synthetic_registry
    state.update({"mnist|GD": 70.0, "mnist|ours": 85.5})
    misses = report.chapter_misses("toy", "quick", reference=ref)
    assert list(misses["row"]) == ["mnist|GD"] and list(misses["cause"]) == ["no tested cause"]
    assert misses.attrs["status"] == {"reproduced": 1, "outside tolerance": 1, "not run": 3}
    text = report.misses_markdown(misses, "the toy cells")
    assert text.startswith("Of the toy cells, 2 were compared under the published protocol and 1 reproduce; "
                           "1 falls outside it: 1 no tested cause")
    assert "| Table 1 | mnist / GD | normal | 80 | 70 |" in text
    state.clear()
    state["mnist|ours"] = 85.0
    assert report.misses_markdown(report.chapter_misses("toy", "quick", reference=ref)).endswith(
        "none falls outside its tolerance.")
    with pytest.raises(ValueError, match="no published table"):
        report.chapter_misses("toy", "quick", ["Table 9"], reference=ref)
    with pytest.raises(ValueError, match="unknown reproduction"):
        report.chapter_misses("nope", "quick", reference=ref)

    @report.register_reproduction("unstored", sources=("paper",))
    def unstored(profile):
        from learning_rules.store import NotStoredError
        raise NotStoredError("3 of 3 configs are not in the store")

    text = report.misses_markdown(report.chapter_misses("unstored", "quick", reference=ref))
    assert text.startswith("None of this page's published cells was compared in this build (profile "
                           "`quick`): unstored: "
                           "results not stored yet: 3 of 3 configs")


def test_range_calibration_is_the_binomial_tail_by_hand():
    """P(at least m of n cells outside a 95 % interval) summed term by term, against the report's."""
    from math import comb

    from learning_rules.cells import range_calibration, range_calibration_text

    for n, inside in [(4, 2), (20, 19), (48, 45), (60, 60)]:
        m = n - inside
        by_hand = sum(comb(n, k) * 0.05 ** k * 0.95 ** (n - k) for k in range(m, n + 1))
        c = range_calibration(n, inside)
        assert c["outside"] == m and c["expected_outside"] == pytest.approx(0.05 * n)
        assert c["p_value"] == pytest.approx(by_hand, rel=1e-9)
    assert range_calibration(60, 60)["p_value"] == pytest.approx(1.0)
    assert "as many as chance explains" in range_calibration_text(48, 45)
    assert "more than chance explains" in range_calibration_text(1056, 956)  # the paper's dual weight
    with pytest.raises(ValueError, match="inside"):
        range_calibration(5, 6)
    with pytest.raises(ValueError, match="level"):
        range_calibration(5, 4, level=1.0)


def test_a_published_number_is_read_as_printed_in_the_single_run_range():
    """'100.0' stands for anything in [99.95, 100.05]: a single-run range of [99.979, 99.982] holds
    it (a net that collapsed to the mean predictor has almost no spread), while the same range does
    not hold '100.00' or a float without its printed text."""
    from learning_rules.cells import in_single_run_range, printed_half_unit

    assert printed_half_unit("100.1") == pytest.approx(0.05)
    assert printed_half_unit("102.00") == pytest.approx(0.005)
    assert printed_half_unit("0") == printed_half_unit("7") == 0.0  # stated exactly (train error 0)
    assert printed_half_unit("1e-3") == pytest.approx(0.0005)
    assert printed_half_unit(100.1) == 0.0
    with pytest.raises(ValueError, match="plain number"):
        printed_half_unit("about 3")
    assert in_single_run_range(100.0, 0.05, 99.979, 99.982)
    assert not in_single_run_range(100.0, 0.005, 99.979, 99.982)
    assert not in_single_run_range(100.0, 0.0, 99.979, 99.982)
    assert list(in_single_run_range([1.0, 2.0], [0.0, 0.0], [0.5, 2.5], [1.5, 3.0])) == [True, False]

    def ledger(printed):
        pub = pd.DataFrame({"source": ["s"], "table": ["T"], "row": ["r"], "column": ["c"],
                            "published": [printed], "unit": ["loss"]})
        rep = pd.DataFrame([report.record("s", "T", "r", "c", 99.98, 99.97, 99.99, profile="paper",
                                          seeds=list(range(10)), single_run=(99.979, 99.982))])
        return report.build_ledger(pub, rep, "paper")

    inside = ledger("100.0").iloc[0]
    assert bool(inside["within_seed_range"]) and inside["printed_half_unit"] == pytest.approx(0.05)
    assert not bool(ledger("100.00").iloc[0]["within_seed_range"])


def test_range_calibration_table_groups_distinct_cells_by_a_part_of_the_row():
    from learning_rules.cells import range_calibration

    ledger = pd.DataFrame({
        "row": ["a|x|GD", "a|y|GD", "a|z|our", "b|x|GD", "b|y|our", "b|z|our", "c|x|GD"],
        "within_seed_range": pd.array([True, False, False, True, True, pd.NA, False], dtype="boolean"),
        "repeats": ["", "", "", "", "", "", "Table 1 c|x|GD"],  # a reprint counts once: left out
    })
    by_dataset = report.range_calibration_table(ledger).set_index("group")
    assert sorted(by_dataset.index) == ["a", "b"]
    assert by_dataset.loc["a", ["cells", "outside"]].tolist() == [3, 2]
    assert by_dataset.loc["a", "p_value"] == pytest.approx(range_calibration(3, 1)["p_value"])
    assert by_dataset.loc["b", ["cells", "outside"]].tolist() == [2, 0]
    assert report.range_calibration_table(ledger).iloc[0]["group"] == "a"  # most significant first
    by_method = report.range_calibration_table(ledger, -1).set_index("group")
    assert by_method.loc["GD", ["cells", "outside"]].tolist() == [3, 1]
    assert by_method.loc["our", ["cells", "outside"]].tolist() == [2, 1]
