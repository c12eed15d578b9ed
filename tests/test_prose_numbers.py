"""Measured numbers are computed on build, never typed into prose.

A page that says "the build took 88.3 min" is wrong on the next host, the next day and the next
commit. Timings and paper-profile results are written by the build (the rebuild page's generated
section) or computed by a page's code from the store. This test reads every chapter's prose
(Markdown files and the Markdown cells of notebooks, without code, inline code and math) and fails
on what looks measured: a duration, a share of the cores, or a date (a measurement log). A
sentence that attributes its number to the sources (the spec, the thesis, the published tables)
quotes them and is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DURATION = re.compile(r"\b\d[\d,]*(?:\.\d+)?\s?(?:min|minutes|hours|h|s|seconds|ms|µs)\b(?!-)")
CORE_SHARE = re.compile(r"\b\d+(?:\.\d+)?\s?%\s+of\s+(?:the\s+|two\s+|\d+\s+)?cores?\b")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")  # "measured on 2026-12-02": a measurement log
#: A sentence that attributes its number to the sources quotes them (allowed: facts carry over).
QUOTED = re.compile(r"\b(spec|specs|thesis|paper reports|published|the authors)\b", re.IGNORECASE)
CODE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|:::\{.*?:::", re.DOTALL)


def _prose(text: str) -> str:
    return CODE.sub(" ", text)


def _pages():
    for path in sorted((ROOT / "book").rglob("*.md")):
        if "_build" not in path.parts:
            yield path.relative_to(ROOT).as_posix(), path.read_text()
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        nb = json.loads(path.read_text())
        text = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        yield path.relative_to(ROOT).as_posix(), text


def find_measured(text: str) -> list[str]:
    """Snippets of ``text``'s prose that look like measured numbers."""
    prose = _prose(text)
    found = []
    for pattern in (DURATION, CORE_SHARE, DATE):
        for m in pattern.finditer(prose):
            start = max(prose.rfind(". ", 0, m.start()), prose.rfind("\n\n", 0, m.start()), 0)
            end = prose.find(". ", m.end())
            sentence = prose[start: end if end >= 0 else len(prose)]
            if pattern is not DATE and QUOTED.search(sentence):
                continue
            found.append(prose[max(0, m.start() - 30): m.end() + 10].replace("\n", " "))
    return found


def test_the_check_can_tell():
    assert find_measured("The parity set took **88.3 min** wall on 2 cores.")
    assert find_measured("10,411 s of user CPU (197 % of two cores)")
    assert find_measured("Measured on 2026-12-03: DFA reaches 0.544 against 0.505.")
    assert not find_measured("The spec measured 2-3 hours for one seed of the original code.")
    assert not find_measured("Run for 20 epochs with batches of 128 on 3 seeds (thesis Table 3.1).")
    assert not find_measured("The timing is `88 s` in code and $t = 3 s$ in math.")


@pytest.mark.parametrize("page, text", list(_pages()), ids=lambda v: v if isinstance(v, str) and "/" in v else "")
def test_no_measured_number_typed_into_prose(page, text):
    found = find_measured(text)
    assert not found, (f"{page} types measured-looking numbers into its prose; compute them on "
                       f"build (the rebuild page's generated section, or the page's code): {found}")
