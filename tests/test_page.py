"""The page helper (``learning_rules.page``): the exact Markdown of figure and table captions, the
tables it displays, its checks on bad input, and that it stays below the chapters and the build.

The expected strings are written out by hand from the captions the notebooks printed before they
used the helper (``**Figure 1.** ... Profile `quick`: <protocol>.``), so a change in wording fails here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learning_rules import page as page_module
from learning_rules.page import Page, pipe_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shown(monkeypatch):
    """Everything the helper would display, in order (no notebook needed)."""
    out: list[str] = []
    monkeypatch.setattr(page_module, "_show", out.append)
    return out


def _cells(frame: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A minimal formatter with a ``floatfmt`` keyword, as the book's table functions have."""
    rows = [" | ".join(floatfmt.format(v) if isinstance(v, float) else str(v) for v in row)
            for row in frame.itertuples(index=False)]
    return "\n".join([" | ".join(frame.columns), *rows])


# ------------------------------------------------------------------------------- caption text


def test_figure_caption_with_a_protocol(shown):
    page = Page("quick", "k = 3, 2 epochs, seeds 0..2")
    assert page.figure(1, "Test accuracy per epoch.") is None  # no Out[] in the notebook
    assert shown == ["**Figure 1.** Test accuracy per epoch. Profile `quick`: k = 3, 2 epochs, seeds 0..2."]


def test_figure_caption_with_a_comma_context_and_no_context(shown):
    Page("smoke", "seed 0", sep=", ").figure(2, "Four images.")
    Page("paper", sep=", ").figure(3, "The activations.")
    assert shown == ["**Figure 2.** Four images. Profile `smoke`, seed 0.",
                     "**Figure 3.** The activations. Profile `paper`."]


def test_extra_joins_the_context_or_replaces_its_absence():
    with_context = Page("quick", "corrected protocol, n = 500, 60,000 samples", sep=", ")
    assert with_context.setting("seeds [0, 1]") == \
        "Profile `quick`, corrected protocol, n = 500, 60,000 samples, seeds [0, 1]."
    assert Page("quick", sep=", ").setting("seed 0") == "Profile `quick`, seed 0."
    assert Page("quick").setting() == "Profile `quick`."


def test_generic_caption_keeps_its_kind_and_label(shown):
    page = Page("quick", "MNIST, seeds [0]")
    page.caption("Table", "S", "Printed cells the notebooks contradict.")
    page.caption("Figure", "1 (MNIST)", "Training cost.", extra="lambda = 0")
    assert shown == ["**Table S.** Printed cells the notebooks contradict. Profile `quick`: MNIST, seeds [0].",
                     "**Figure 1 (MNIST).** Training cost. Profile `quick`: MNIST, seeds [0], lambda = 0."]


def test_numpy_integers_are_numbers():
    assert Page("quick").caption_text("Figure", np.int64(4), "x.") == "**Figure 4.** x. Profile `quick`."


# ------------------------------------------------------------------------------------- tables


def test_table_is_the_markdown_then_the_caption_with_the_note(shown):
    frame = pd.DataFrame({"method": ["BP", "DFA"], "acc": [0.91234, 0.8]})
    page = Page("smoke", "k = 3", note="The protocol differs.", formatter=_cells)
    page.table(1, frame, "Final test accuracy.")
    page.figure(1, "Curves.")  # the note is for tables only
    assert shown == ["method | acc\nBP | 0.9123\nDFA | 0.8",
                     "**Table 1.** Final test accuracy. Profile `smoke`: k = 3. The protocol differs.",
                     "**Figure 1.** Curves. Profile `smoke`: k = 3."]


def test_table_passes_floatfmt_and_a_formatter_of_its_own(shown):
    frame = pd.DataFrame({"x": [1.23456]})
    page = Page("quick", formatter=_cells)
    page.table(2, frame, "One number.", floatfmt="{:.2f}", extra="seed 0")
    page.table(3, frame, "Upper case.", formatter=lambda f: "X")
    assert shown == ["x\n1.23", "**Table 2.** One number. Profile `quick`: seed 0.",
                     "X", "**Table 3.** Upper case. Profile `quick`."]


def test_the_default_formatter_is_pandas_pipe_table():
    pytest.importorskip("tabulate")
    frame = pd.DataFrame({"a": [0.123456], "b": ["x"]})
    assert Page("quick").table_text(frame) == frame.to_markdown(index=False, floatfmt=".3g") == pipe_table(frame)
    assert Page("quick").table_text(frame, floatfmt=".1f") == frame.to_markdown(index=False, floatfmt=".1f")


def test_a_bad_caption_displays_no_table(shown):
    with pytest.raises(ValueError, match="caption number"):
        Page("quick", formatter=_cells).table(0, pd.DataFrame({"x": [1]}), "Nothing.")
    assert shown == []


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("number", [0, -1, True, 1.0, "", "  ", None, [1]])
def test_a_number_must_be_a_positive_integer_or_a_label(number):
    with pytest.raises(ValueError, match="caption number must be a positive integer or a non-empty label"):
        Page("quick").caption_text("Figure", number, "x.")


@pytest.mark.parametrize("kwargs, match", [
    (dict(profile=""), "profile"),
    (dict(profile=None), "profile"),
    (dict(profile="quick", context=""), "context"),
    (dict(profile="quick", context=3), "context"),
    (dict(profile="quick", note=""), "note"),
    (dict(profile="quick", sep=None), "sep"),
    (dict(profile="quick", formatter="markdown"), "formatter"),
])
def test_bad_page_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Page(**kwargs)


@pytest.mark.parametrize("kind, text, extra, match", [
    ("", "x.", None, "caption kind"),
    ("Figure", "", None, "caption text"),
    ("Figure", None, None, "caption text"),
    ("Figure", "x.", "", "extra"),
])
def test_bad_caption_parts_raise(kind, text, extra, match):
    with pytest.raises(ValueError, match=match):
        Page("quick").caption_text(kind, 1, text, extra=extra)


# ------------------------------------------------------------------------------ where it sits


def test_the_helper_imports_nothing_above_it():
    tree = ast.parse((ROOT / "src" / "learning_rules" / "page.py").read_text())
    names = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names <= {"__future__", "numbers", "collections.abc", "typing", "IPython.display"}, names


def test_no_notebook_defines_its_own_caption_or_table_helper():
    book = ROOT / "book"
    for path in sorted(book.rglob("*.ipynb")):
        if "_build" in path.parts:
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        defined = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef)}
        assert not defined & {"caption", "show_table"}, f"{path.relative_to(ROOT)} defines {defined}"
