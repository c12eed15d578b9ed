"""The transcribed ablation numbers (reference/ablation.csv) against the paper's own text."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "src" / "learning_rules" / "reference" / "ablation.csv"
PAPER = ROOT.parent / "shared" / "papers" / "backprop-ablation_okoma-2025.txt"
COLUMNS = ["train_cost", "cv_cost", "train_accuracy", "cv_accuracy"]
# the paper prints "RMSPProp" in Table 3 and "[n]" citations after the optimizer names
ALIASES = {"SGD": r"SGD", "Momentum": r"Momentum", "RMSProp": r"RMSP+rop", "Adam": r"Adam"}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(CSV)


def paper_rows(table: str) -> dict[str, list[float]]:
    """The four optimizer rows printed just above the caption ``Table N:`` in the paper text."""
    lines = PAPER.read_text().splitlines()
    caption = next(i for i, line in enumerate(lines) if line.startswith(f"{table}:"))
    rows = {}
    for line in lines[max(0, caption - 8):caption]:
        for name, pattern in ALIASES.items():
            if re.match(pattern + r"\b", line):
                rows[name] = [float(v) for v in re.findall(r"\d+\.\d+", line)]
    return rows


def test_layout(reference):
    assert list(reference.columns[:6]) == ["source", "table", "row", "column", "published", "unit"]
    assert set(reference["source"]) == {"ablation"}
    assert not reference.duplicated(["source", "table", "row", "column"]).any()
    assert set(reference["unit"]) <= {"cost", "accuracy"}
    assert set(reference["column"]) == set(COLUMNS)
    assert len(reference) == 3 * 4 * 4  # three tables, four optimizers, four columns


@pytest.mark.skipif(not PAPER.is_file(), reason="paper text not beside the checkout")
@pytest.mark.parametrize("table", ["Table 1", "Table 2", "Table 3"])
def test_cells_match_paper_text(reference, table):
    printed = paper_rows(table)
    assert set(printed) == set(ALIASES), f"{table}: found rows {sorted(printed)}"
    cells = reference[reference["table"] == table]
    for rec in cells.itertuples():
        method = rec.row.split("|")[-1]
        assert rec.published == pytest.approx(printed[method][COLUMNS.index(rec.column)], abs=1e-12), \
            (table, rec.row, rec.column)


@pytest.mark.skipif(not PAPER.is_file(), reason="paper text not beside the checkout")
def test_dataset_and_lambda_keys_follow_the_captions(reference):
    text = PAPER.read_text()
    for table, dataset, word in [("Table 1", "cifar10", "CIFAR-10"), ("Table 2", "mnist", "MNIST"),
                                 ("Table 3", "fashion-mnist", "Fashion-MNIST")]:
        caption = text[text.index(f"{table}:"):].split("\n", 1)[0]
        assert word in caption and "lambda = 0" in caption.replace("\\lambda", "lambda").replace("$", "")
        rows = reference.loc[reference["table"] == table, "row"]
        assert rows.str.startswith(f"{dataset}|he_uniform|").all()
    # Table 2: the caption says lambda = 0, the text before it says lambda = 1; the key keeps both
    assert "MNIST digits dataset [1] for  $\\lambda = 1$  are summarized in Table 2" in text
    assert reference.loc[reference["table"] == "Table 2", "row"].str.contains("lambda=0or1").all()
