"""Every published-number file in ``learning_rules/reference/`` follows the layout the ledger reads,
and the checks that enforce the layout reject what they should."""

from __future__ import annotations

import pandas as pd
import pytest

from learning_rules import report
from learning_rules.report import PUBLISHED_COLUMNS, REFERENCE_DIR, load_published, validate_published

FILES = sorted(REFERENCE_DIR.glob("*.csv"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_reference_csv_schema(path):
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    assert list(raw.columns[: len(PUBLISHED_COLUMNS)]) == PUBLISHED_COLUMNS, path.name
    clean = validate_published(raw, path.name)  # numbers, units, unique keys
    assert len(clean) > 0, f"{path.name} has no rows"
    assert set(clean["source"]) == {path.stem}, "the source column must equal the file name"
    for unit in set(clean["unit"]):
        assert report.unit_kind(unit) in report.TOLERANCES
    fractions = clean[clean["unit"].map(report.unit_kind) == "fraction"]["published"]
    assert fractions.between(0, 1).all(), f"{path.name}: a fraction unit holds values outside [0, 1]"
    percents = clean[clean["unit"].map(report.unit_kind) == "percent"]["published"]
    assert percents.between(-1000, 1000).all(), f"{path.name}: implausible percentages"


def test_all_reference_files_load_together():
    frame = load_published()
    assert not frame.duplicated(report.KEY).any()
    assert len(frame) == sum(len(pd.read_csv(p)) for p in FILES)


def test_validation_rejects_bad_tables(tmp_path):
    good = pd.DataFrame([["s", "T", "r|m", "c", "1.5", "accuracy %"]], columns=PUBLISHED_COLUMNS)
    validate_published(good)
    with pytest.raises(ValueError, match="columns must start with"):
        validate_published(good[["table", "source", "row", "column", "published", "unit"]])
    with pytest.raises(ValueError, match="plain number"):
        validate_published(good.assign(published="87.5%"))
    with pytest.raises(ValueError, match="unknown unit"):
        validate_published(good.assign(unit="parsecs"))
    with pytest.raises(ValueError, match="empty 'row'"):
        validate_published(good.assign(row=" "))
    with pytest.raises(ValueError, match="repeats"):
        validate_published(pd.concat([good, good]))
    (tmp_path / "other.csv").write_text(good.to_csv(index=False))
    with pytest.raises(ValueError, match="must be 'other'"):
        load_published(tmp_path)
