"""The page helper (``learning_rules.page``): the exact Markdown of figure and table captions, the
tables it displays, its checks on bad input, and that it stays below the chapters and the build.

The expected strings are written out by hand from the captions the notebooks printed before they
used the helper (``**Figure 1.** ... Profile `quick`: <protocol>.``), so a change in wording fails here.
"""

from __future__ import annotations

import ast
import base64
import io
import json
from html.parser import HTMLParser
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


@pytest.fixture
def outputs(monkeypatch):
    """Every output the helper would display, Markdown and HTML, in order, tagged by kind."""
    out: list[tuple[str, str]] = []
    monkeypatch.setattr(page_module, "_show", lambda text: out.append(("markdown", text)))
    monkeypatch.setattr(page_module, "_show_html", lambda text: out.append(("html", text)))
    return out


class _Links(HTMLParser):
    """The ``<a>`` elements of an HTML snippet: (attributes, text), read by the standard library."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[tuple[dict, str]] = []
        self._open: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._open = dict(attrs)
            self.links.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.links[-1]
            self.links[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None


def _csv_of(href: str) -> str:
    prefix = "data:text/csv;base64,"
    assert href.startswith(prefix), href[:40]
    return base64.b64decode(href[len(prefix):], validate=True).decode("utf-8")


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


# -------------------------------------------------------------------------- figure data links


def test_figure_data_is_a_csv_link_after_the_unchanged_caption(outputs):
    frame = pd.DataFrame({"epoch": [0, 1, 2], "test_acc": [0.5, 0.1 + 0.2, 2 / 3],
                          "method": ["BP", "DFA, lazy", 'say "hi"']})
    page = Page("quick", "k = 3", name="dfa-parity")
    assert page.figure(2, "Test accuracy per epoch.", data=frame) is None
    assert [kind for kind, _ in outputs] == ["markdown", "html"]
    assert outputs[0][1] == "**Figure 2.** Test accuracy per epoch. Profile `quick`: k = 3."
    (attrs, text), = _Links(outputs[1][1]).links
    assert attrs["download"] == "dfa-parity-figure-2.csv"
    assert text == "data (CSV)"
    csv = _csv_of(attrs["href"])
    assert csv == frame.to_csv(index=False)
    assert "0.30000000000000004" in csv and "0.6666666666666666" in csv  # full precision
    assert pd.read_csv(io.StringIO(csv)).equals(frame)


def test_a_figure_without_data_shows_only_its_caption(outputs):
    Page("quick", name="ablation").figure(1, "Curves.")
    assert outputs == [("markdown", "**Figure 1.** Curves. Profile `quick`.")]


def test_the_file_name_follows_the_page_name_and_the_label():
    frame = pd.DataFrame({"x": [1]})
    assert Page("paper").data_filename(3) == "figure-3.csv"  # a page without a name
    assert Page("paper", name="ablation").data_filename("1 (fashion-mnist)") == "ablation-figure-1-fashion-mnist.csv"
    assert Page("paper", name="dfa-beyond").data_filename(1, "Alignment per layer") == \
        "dfa-beyond-figure-1-alignment-per-layer.csv"
    (attrs, _), = _Links(Page("smoke", name="a_b.c").data_html(np.int64(4), frame)).links
    assert attrs["download"] == "a_b.c-figure-4.csv"


def test_a_dict_of_frames_gives_one_link_per_panel_in_order(outputs):
    left = pd.DataFrame({"hidden layers": [1, 2], "test_acc": [0.9, 0.85]})
    right = pd.DataFrame({"net": ["FA, 2 hidden"], "cos": [0.25]})
    Page("quick", name="dfa-beyond").figure(1, "Two panels.", data={"accuracy": left, "alignment": right})
    assert outputs[0] == ("markdown", "**Figure 1.** Two panels. Profile `quick`.")
    links = _Links(outputs[1][1]).links
    assert [a["download"] for a, _ in links] == ["dfa-beyond-figure-1-accuracy.csv",
                                                 "dfa-beyond-figure-1-alignment.csv"]
    assert [t for _, t in links] == ["accuracy", "alignment"]
    assert [_csv_of(a["href"]) for a, _ in links] == [left.to_csv(index=False), right.to_csv(index=False)]


def test_link_text_and_names_are_escaped():
    frame = pd.DataFrame({"x": [1]})
    snippet = Page("quick").data_html(1, {"<b>&": frame})
    assert "<b>" not in snippet and "&lt;b&gt;&amp;" in snippet
    (attrs, text), = _Links(snippet).links
    assert text == "<b>&" and attrs["download"] == "figure-1-b.csv"


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame({"x": []}), pd.DataFrame(index=[0, 1])])
def test_an_empty_frame_is_refused_and_nothing_is_shown(outputs, frame):
    with pytest.raises(ValueError, match="empty"):
        Page("quick").figure(1, "Nothing.", data=frame)
    with pytest.raises(ValueError, match="empty"):
        Page("quick").figure(1, "Nothing.", data={"left": pd.DataFrame({"x": [1]}), "right": frame})
    assert outputs == []


def test_a_frame_over_the_size_limit_is_refused_with_the_limit_and_the_fix(outputs):
    big = pd.DataFrame({"x": np.arange(120_000) / 7.0})  # about 2.3 MB of full-precision floats
    assert len(big.to_csv(index=False).encode()) > page_module.DATA_LIMIT_BYTES
    with pytest.raises(ValueError, match=r"over the 2,000,000-byte limit.*summary"):
        Page("paper", name="big").figure(1, "Too many points.", data=big)
    assert outputs == []
    small = pd.DataFrame({"x": [1.5, 2.5]})
    size = len(small.to_csv(index=False).encode())
    assert _csv_of(_Links(page_module.data_link(small, "s.csv", limit=size)).links[0][0]["href"]) == "x\n1.5\n2.5\n"
    with pytest.raises(ValueError, match=f"{size:,} bytes, over the {size - 1:,}-byte limit"):
        page_module.data_link(small, "s.csv", limit=size - 1)


@pytest.mark.parametrize("data, match", [
    ({}, "empty dict"),
    ({"": pd.DataFrame({"x": [1]})}, "data part name"),
    ({"a b": pd.DataFrame({"x": [1]}), "a-b": pd.DataFrame({"x": [2]})}, "same file name"),
    ([1, 2, 3], "pandas DataFrame"),
    (pd.Series([1.0, 2.0]), "pandas DataFrame"),
    ({"left": "x,y"}, "pandas DataFrame"),
])
def test_bad_figure_data_is_refused(outputs, data, match):
    with pytest.raises(ValueError, match=match):
        Page("quick").figure(1, "x.", data=data)
    assert outputs == []


@pytest.mark.parametrize("name", ["", "a/b", "-x", "a b", 3, "ablation.ipynb/"])
def test_a_page_name_must_be_a_file_name_stem(name):
    with pytest.raises(ValueError, match="name must be None or a file-name stem"):
        Page("quick", name=name)


@pytest.mark.parametrize("filename", ["x.txt", "a/b.csv", "", '"x.csv'])
def test_a_data_file_name_must_be_a_plain_csv_name(filename):
    with pytest.raises(ValueError, match="data file name"):
        page_module.data_link(pd.DataFrame({"x": [1]}), filename)


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
    assert names <= {"__future__", "base64", "html", "numbers", "re", "collections.abc", "typing",
                     "IPython.display"}, names


def test_no_notebook_defines_its_own_caption_or_table_helper():
    book = ROOT / "book"
    for path in sorted(book.rglob("*.ipynb")):
        if "_build" in path.parts:
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        defined = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef)}
        assert not defined & {"caption", "show_table"}, f"{path.relative_to(ROOT)} defines {defined}"
