"""Every chapter index links every page of its part of the table of contents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _parts():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        files = [c["file"] for c in part["chapters"]]
        index = next((f for f in files if f.endswith("/index")), None)
        if index is not None:
            yield part["caption"], index, [f for f in files if f != index]


@pytest.mark.parametrize("caption, index, pages", list(_parts()), ids=lambda v: v if isinstance(v, str) else "")
def test_index_links_every_page_of_its_part(caption, index, pages):
    text = (ROOT / f"{index}.md").read_text()
    linked = set(re.findall(r"\]\(([\w./-]+?)\.(?:ipynb|md)\)", text))
    folder = Path(index).parent
    missing = [p for p in pages if Path(p).relative_to(folder).as_posix() not in linked]
    assert not missing, f"{index}.md ({caption}) does not link {missing}"


def test_the_toc_has_chapter_indexes():
    assert len(list(_parts())) >= 3
