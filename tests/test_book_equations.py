"""The generated Equations page (book/equations.md): built from the labels of the book's pages."""

from __future__ import annotations

from pathlib import Path

import yaml

from learning_rules import book

ROOT = Path(__file__).resolve().parents[1]


def test_every_labelled_equation_of_the_book_is_indexed_once():
    entries = book.equation_index(ROOT)
    labels = [e["label"] for e in entries]
    assert "credit-assignment" in labels  # book/intro.md, inside a list item
    assert len(labels) == len(set(labels)), "a label is defined twice"
    pages = {p.with_suffix("").as_posix() for p in book.toc_files(ROOT)}
    for e in entries:
        assert e["page"] in pages and e["tex"] and "$$" not in e["tex"], e


def test_names_file_only_names_existing_labels():
    names = yaml.safe_load((ROOT / "book" / "equation-names.yml").read_text())
    labels = {e["label"] for e in book.equation_index(ROOT)}
    stale = sorted(set(names) - labels)
    assert not stale, f"book/equation-names.yml names labels no page defines: {stale}"
    for e in book.equation_index(ROOT):
        if e["label"] in names:
            assert e["name"] == names[e["label"]]


def test_generated_page_links_every_equation():
    text = book.GENERATED_PAGES["book/equations.md"](ROOT)
    assert text.startswith("(equation-index)=\n# Equations")
    for e in book.equation_index(ROOT):
        assert f"{{eq}}`{e['label']}`" in text and f"{{doc}}`/{e['page']}`" in text
        assert f"## {e['name']}" in text
    assert "book/equations.md" in {p.as_posix() for p in book.toc_files(ROOT)}
