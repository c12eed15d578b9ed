"""The transcribed published cells of the dual-weight paper (reference/dual_weight.csv).

Oracles: the paper text and the spec's tables (independent parse), and two facts the spec states:
Table 3 follows exactly from Table 1 by the relative-improvement recipe, and Table 4 from the
notebook values (Appendix A) but not, in three cells, from the printed Table 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learning_rules.analysis import dual_weight as A

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAPER = SHARED / "papers" / "dual-weight-method_wang-2025.txt"
SPEC = SHARED / "specs" / "dual-weight-paper.md"
PAPER_LABEL = {"our": "our", "our+stab": "our+stabilizer", "GD": "gradient descent",
               "L2 0.01": "L2 0.01", "L2 0.1": "L2 0.1"}


def test_layout_and_counts():
    ref = A.published()
    assert list(ref.columns) == ["source", "table", "row", "column", "published", "unit", "note",
                                 "source_flag"]
    assert not ref.duplicated(["source", "table", "row", "column"]).any()
    assert set(ref["source"]) == {"dual_weight"}
    counts = ref["table"].value_counts().to_dict()
    # 20 regression rows x 6, 30 classification rows x 6, 8 x 2, 12 x 2, 50 x 6, 150 x 6
    assert counts == {"Table 1": 120, "Table 2": 180, "Table 3": 16, "Table 4": 24,
                      "Appendix A": 300, "Appendix B": 900}
    assert set(ref["unit"]) == {"loss x 1e4", "accuracy %", "%"}
    assert ref["published"].notna().all()


def _paper_values(dataset: str, layers: str, method: str) -> list[float]:
    text = PAPER.read_text()
    for line in text.splitlines():
        clean = re.sub(r"</?u>", "", line)
        parts = [p.strip() for p in clean.split("\t")]
        if len(parts) == 10 and parts[1:4] == [dataset, layers, PAPER_LABEL[method]]:
            return [float(v) for v in parts[4:]]
    raise AssertionError(f"row {dataset} {layers} {method} not in the paper")


@pytest.mark.skipif(not PAPER.exists(), reason="paper text not found beside the project")
def test_sample_of_tables_1_2_against_paper():
    ref = A.published()
    sample = ref[ref["table"].isin(["Table 1", "Table 2"])].sample(40, random_state=np.random.RandomState(0))
    col = {("n=100", "normal"): 0, ("n=100", "noise"): 1, ("n=500", "normal"): 2,
           ("n=500", "noise"): 3, ("n=1000", "normal"): 4, ("n=1000", "noise"): 5}
    for r in sample.itertuples():
        ds, L, n, method = r.row.split("|")
        values = _paper_values(ds, L[0], method)
        assert values[col[(n, r.column)]] == pytest.approx(r.published, abs=1e-9), r


@pytest.mark.skipif(not SPEC.exists(), reason="spec not found beside the project")
def test_sample_of_appendix_b_against_spec():
    lines = [l for l in SPEC.read_text().split("## Appendix B")[1].splitlines() if l.startswith("| ")]
    ref = A.published("Appendix B")
    for r in ref.sample(30, random_state=np.random.RandomState(1)).itertuples():
        ds, L, n, method = r.row.split("|")
        step = int(r.column.split("=")[1])
        prefix = f"| {ds} | {L[0]} | {n[2:]} | {method} |"
        hit = [l for l in lines if l.startswith(prefix)]
        assert len(hit) == 1, prefix
        cells = [c.strip() for c in hit[0].strip().strip("|").split("|")]
        assert float(cells[4 + step // 10000 - 1]) == pytest.approx(r.published)


def _as_frame(table: str) -> pd.DataFrame:
    p = A.published(table)
    parts = p["row"].str.split("|", expand=True)
    return pd.DataFrame({"protocol": "paper", "dataset": parts[0], "layers": parts[1].str[0].astype(int),
                         "n": parts[2].str[2:].astype(int), "method": parts[3], "seed": 0,
                         "step": 60000, "condition": p["column"], "value": p["published"]})


def test_table3_follows_from_table1_exactly():
    cmp = A.compare(A.relative_table(_as_frame("Table 1")), "Table 3")
    assert cmp["mean"].notna().all()
    assert np.abs(cmp["delta"]).max() <= 0.05 + 1e-9  # rounding of the printed 1-decimal values


def test_table4_follows_from_notebooks_not_from_printed_table2():
    from_nb = A.compare(A.relative_table(_as_frame("Appendix A").query("dataset not in ['wine', 'house']")), "Table 4")
    assert np.abs(from_nb["delta"]).max() <= 0.15
    from_t2 = A.compare(A.relative_table(_as_frame("Table 2")), "Table 4")
    off = set(from_t2.loc[np.abs(from_t2["delta"]) > 0.2, "row"] + " " + from_t2.loc[np.abs(from_t2["delta"]) > 0.2, "column"])
    # the spec, sec. 6: 7.6 and 7.3 (CIFAR stab / L2 0.1 noise) and 4.4 (Fashion L2 0.1 noise)
    assert off == {"cifar10|our+stab noise", "cifar10|L2 0.1 noise", "fashion|L2 0.1 noise"}


def test_table1_is_appendix_a_rounded():
    t1 = A.published("Table 1").set_index(["row", "column"])["published"]
    aa = A.published("Appendix A").set_index(["row", "column"])["published"].reindex(t1.index)
    assert np.abs(t1 - aa).max() <= 0.05 + 1e-9


def test_source_typos_are_the_specs_and_flagged_in_the_csv_and_the_ledger():
    """Spec section "Paper vs notebooks": four Table 2 cells disagree with the notebooks (two swapped
    CIFAR-10 cells, a copied Fashion cell, a Fashion cell off by 0.09), and Table 4's CIFAR-10
    our+stab / L2 0.1 noise and Fashion L2 0.1 noise cells come out only with the notebook values."""
    from learning_rules import report

    typos = A.source_typos()
    assert set(zip(typos["table"], typos["row"], typos["column"])) == {
        ("Table 2", "cifar10|2L|n=100|our+stab", "noise"), ("Table 2", "cifar10|2L|n=100|L2 0.1", "noise"),
        ("Table 2", "fashion|3L|n=500|L2 0.1", "noise"), ("Table 2", "fashion|3L|n=100|L2 0.01", "normal"),
        ("Table 4", "cifar10|our+stab", "noise"), ("Table 4", "cifar10|L2 0.1", "noise"),
        ("Table 4", "fashion|L2 0.1", "noise")}
    swapped = typos.set_index("row").loc[["cifar10|2L|n=100|our+stab", "cifar10|2L|n=100|L2 0.1"]]
    assert list(swapped["published"]) == list(swapped["notebook"].round(1)[::-1])  # swapped
    ref = A.published()
    flagged = ref[ref["source_flag"].fillna("") != ""]
    assert dict(zip(zip(flagged["table"], flagged["row"], flagged["column"]), flagged["source_flag"])) == \
        dict(zip(zip(typos["table"], typos["row"], typos["column"]), typos["flag"]))
    assert "72.22" in flagged.set_index("row").loc["fashion|3L|n=500|L2 0.1", "source_flag"]
    published = report.load_published()
    ledger = report.build_ledger(published, pd.DataFrame(columns=report.REPRODUCED_COLUMNS), "paper")
    carried = ledger[ledger["source_flag"] != ""]
    assert (carried["source"] == "dual_weight").sum() == 7  # the typos; besides them, only the
    others = carried[carried["source"] != "dual_weight"]  # thesis' flag of its other run (Fig. 3.8)
    assert list(zip(others["source"], others["table"])) == [("dfa_thesis", "Fig. 3.8")]
    assert others["source_flag"].str.startswith("another run of the same setting gives").all()
