"""The student edition (``learning-rules export --student DIR``): answer blocks instead of solutions,
nothing of a solution left in the student pages, everything else unchanged, the instructor's key,
the numeric-answer checker and the command's errors."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from learning_rules import cli, student
from learning_rules.book import GENERATED_PAGES, toc_files

ROOT = Path(__file__).resolve().parents[1]
ANSWER_TITLE = re.compile(r"^[ \t]*(?::{3,}|`{3,})\{admonition\}[ \t]*Your answers? to exercises? ", re.M)

# Registered answer -> (how its solution writes the number, that number, the exact value).
STATED = {
    "dual-weight/derivation:3": ("63{,}000", 63000, 6.3 / 1e-4),
    "dual-weight/derivation:4": ("5{,}240", 5240, 5244.4),
    "foundations/regularization:1": (r"\approx 500", 500, 499.5),
    "foundations/regularization:2": (r"x \le 0.08", 0.08, 0.0763),
    "dfa/optimizers:1": (r"\approx 0.52", 0.52, 0.51673),
    "dfa/feedback:1": ("about 39", 39, 39.19),
}


# --------------------------------------------------------------------------- helpers (independent of
# the module's parser: the book's solutions are three-colon fences, which a regex finds)


def _markdown_texts(path: Path) -> list[tuple[str | None, str]]:
    """(cell id, source) of every Markdown cell of a notebook, or (None, text) of a Markdown page."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [(c.get("id"), c.source) for c in nb.cells if c.cell_type == "markdown"]
    return [(None, path.read_text(encoding="utf-8"))]


def _blocks(text: str, title: str) -> list[tuple[int, int]]:
    """(first, last) line indices of the colon/backtick admonitions of ``text`` whose title matches."""
    lines, found, i = text.splitlines(), [], 0
    opening = re.compile(rf"^[ \t]*(?P<f>:{{3,}}|`{{3,}})\{{admonition\}}[ \t]*{title}")
    while i < len(lines):
        m = opening.match(lines[i])
        if m:
            fence = m.group("f")
            j = next(j for j in range(i + 1, len(lines))
                     if re.fullmatch(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", lines[j]))
            found.append((i, j))
            i = j
        i += 1
    return found


def _solution_bodies(text: str) -> list[str]:
    """The bodies (option lines dropped) of the solution admonitions of ``text``."""
    lines = text.splitlines()
    bodies = []
    for first, last in _blocks(text, "Solution"):
        body = [ln for ln in lines[first + 1:last] if not re.match(r"^[ \t]*:[\w-]+:", ln)]
        bodies.append("\n".join(body))
    return bodies


def _without(text: str, title: str) -> list[str]:
    """The non-blank lines of ``text`` outside its admonitions titled ``title``."""
    lines = text.splitlines()
    drop = {k for first, last in _blocks(text, title) for k in range(first, last + 1)}
    return [ln for k, ln in enumerate(lines) if k not in drop and ln.strip()]


def _norm(text: str) -> str:
    """Whitespace collapsed, a leading list marker removed."""
    return re.sub(r"^\d+[.)] ", "", " ".join(text.split()))


def _pages() -> list[Path]:
    return [p for p in toc_files(ROOT) if (ROOT / p).is_file()]


def _student_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The real book exported once: (destination, StudentExport)."""
    dest = tmp_path_factory.mktemp("student") / "edition"
    return dest, student.export_student(dest, root=ROOT)


# --------------------------------------------------------------------------- the real book


def test_every_toc_page_is_exported(exported):
    dest, export = exported
    pages = toc_files(ROOT)
    assert len(pages) > 20
    for rel in pages:
        assert (dest / rel).is_file(), rel
    assert set(export.solutions) == {p.as_posix() for p in pages}
    for rel in pages:
        if rel.suffix != ".ipynb":
            continue
        nb = nbformat.read(dest / rel, as_version=4)
        nbformat.validate(nb)
        source = nbformat.read(ROOT / rel, as_version=4)
        assert nb.metadata == source.metadata  # kernelspec and the book's own metadata
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
    assert (dest / "README.md").is_file() and (dest / "instructor" / "README.md").is_file()
    readme = (dest / "README.md").read_text()
    assert "learning-rules export --student" in readme and "commit" in readme


def test_answer_blocks_replace_every_solution(exported):
    dest, export = exported
    total = 0
    for rel in _pages():
        found = sum(len(_blocks(text, "Solution")) for _, text in _markdown_texts(ROOT / rel))
        student_text = _student_text(dest / rel)
        assert len(ANSWER_TITLE.findall(student_text)) == found, rel
        assert export.solutions[rel.as_posix()] == found, rel
        assert "{admonition} Solution" not in student_text, rel
        assert student_text.count(student.ANSWER_PLACEHOLDER) == found, rel
        total += found
    assert total >= 30  # the book has some forty exercises with solutions
    assert sum(export.solutions.values()) == total


def test_no_solution_text_leaks(exported):
    dest, _ = exported
    student_corpus = _norm("\n".join(_student_text(dest / rel) for rel in toc_files(ROOT)))
    student_corpus += _norm((dest / "README.md").read_text())
    key_corpus = "\n".join(_norm(ln) for f in sorted((dest / "instructor").rglob("*.md"))
                           for ln in f.read_text().splitlines())
    checked = 0
    for rel in _pages():
        for _, text in _markdown_texts(ROOT / rel):
            for body in _solution_bodies(text):
                for line in body.splitlines():
                    line = _norm(line)
                    if len(line) < 20:
                        continue
                    assert line not in student_corpus, (rel, line)
                    assert line in key_corpus, (rel, line)
                    checked += 1
    assert checked > 100


def test_everything_else_is_unchanged(exported):
    dest, _ = exported
    for rel in _pages():
        if rel.suffix == ".md":
            text = (ROOT / rel).read_text(encoding="utf-8")
            new = (dest / rel).read_text(encoding="utf-8")
            if not _blocks(text, "Solution"):
                assert new == text, rel
            else:
                assert _without(new, "Your answer") == _without(text, "Solution"), rel
            continue
        source = nbformat.read(ROOT / rel, as_version=4)
        new = nbformat.read(dest / rel, as_version=4)
        by_id = {c.id: c for c in new.cells}
        for cell in source.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            if cell.cell_type != "markdown" or not _blocks(cell.source, "Solution"):
                assert by_id[cell.id] == cell, (rel, cell.id)
                continue
            # a cell with solutions: its pieces (split where a check cell goes) hold the same text
            pieces = [c for c in new.cells if c.cell_type == "markdown"
                      and (c.id == cell.id or c.id.startswith(f"{cell.id}-part"))]
            assert all(p.metadata == cell.metadata for p in pieces)
            joined = "\n".join(p.source for p in pieces)
            assert _without(joined, "Your answer") == _without(cell.source, "Solution"), (rel, cell.id)
        ids = [c.id for c in new.cells]
        assert len(ids) == len(set(ids))
        extra = [c for c in new.cells if c.id not in {s.id for s in source.cells}]
        assert all(c.id.split("-")[0] in {s.id for s in source.cells} for c in extra)


def test_instructor_key_lists_exercises(exported):
    dest, export = exported
    keys = {f.relative_to(dest / "instructor").as_posix() for f in (dest / "instructor").rglob("*.md")}
    with_solutions = {student.page_key(p) + ".md" for p, n in export.solutions.items() if n}
    assert keys == with_solutions | {"README.md"}
    derivation = (dest / "instructor" / "dual-weight" / "derivation.md").read_text()
    assert [int(n) for n in re.findall(r"(?m)^## Exercise (\d+)$", derivation)] == [1, 2, 3, 4]
    assert "> 3. **How fast the code's" in derivation  # the question comes with the solution
    # one solution block answering exercises 1-3, split by its numbered list
    optimizers = (dest / "instructor" / "dfa" / "optimizers.md").read_text()
    assert [int(n) for n in re.findall(r"(?m)^## Exercise (\d+)$", optimizers)] == [1, 2, 3]


def test_check_cells_follow_their_answer_blocks(exported):
    dest, export = exported
    assert sorted(export.checks) == sorted(student.NUMERIC_ANSWERS)
    placed = []
    for rel in toc_files(ROOT):
        if rel.suffix != ".ipynb":
            continue
        cells = nbformat.read(dest / rel, as_version=4).cells
        for k, cell in enumerate(cells):
            m = re.search(r'check\("([^"]+)", \.\.\.\)', cell.source)
            if cell.cell_type != "code" or not m:
                continue
            placed.append(m.group(1))
            number = m.group(1).rsplit(":", 1)[1]
            above = next(c for c in reversed(cells[:k]) if c.cell_type == "markdown")
            last_title = ANSWER_TITLE.findall(above.source)[-1]
            block = above.source[above.source.rindex(last_title):]
            assert re.search(rf"\b{number}\b", block.splitlines()[0]), (rel, m.group(1))
            assert above.source.rstrip().endswith(":::")
            assert "from learning_rules.student import check" in cell.source
    assert sorted(placed) == sorted(student.NUMERIC_ANSWERS)


# --------------------------------------------------------------------------- the checker


@pytest.mark.parametrize("exercise_id", sorted(STATED))
def test_registered_answers_are_the_solutions_numbers(exported, exercise_id):
    dest, _ = exported
    written, stated, exact = STATED[exercise_id]
    page, number = exercise_id.rsplit(":", 1)
    key = (dest / "instructor" / f"{page}.md").read_text()
    section = re.search(rf"(?ms)^## Exercises? [^\n]*\b{number}\b.*?(?=^## |\Z)", key).group(0)
    assert written in section
    assert student.check(exercise_id, stated) == "correct"
    assert student.check(exercise_id, exact) == "correct"


@pytest.mark.parametrize("exercise_id", sorted(STATED))
def test_wrong_answers_do_not_reveal_the_value(exercise_id):
    _, stated, exact = STATED[exercise_id]
    for wrong in (stated * 1.5, stated / 3, -stated, 0, float("nan")):
        message = student.check(exercise_id, wrong)
        assert message.startswith("not yet"), (exercise_id, wrong)
        digits = re.sub(r"\D", "", f"{stated}").strip("0") or "0"
        assert digits not in re.sub(r"\D", "", message)
        assert not re.search(r"\d", message.replace(exercise_id, ""))
    assert student.check(exercise_id, ...).startswith("replace ...")
    with pytest.raises(ValueError, match="must be a number"):
        student.check(exercise_id, "63000")


def test_unknown_exercise_lists_valid_ids():
    with pytest.raises(ValueError) as info:
        student.check("dfa/nowhere:9", 1.0)
    for exercise_id in student.NUMERIC_ANSWERS:
        assert exercise_id in str(info.value)


def test_registry_stores_no_values():
    source = Path(student.__file__).read_text()
    registry = source[source.index("NUMERIC_ANSWERS: dict"):source.index("def check(")]
    for _, stated, _ in STATED.values():
        assert str(stated) not in re.sub(r'"[0-9a-f ]+"', "", registry.split("\n", 1)[1])
    for answer in student.NUMERIC_ANSWERS.values():
        assert all(re.fullmatch(r"[0-9a-f]{16}", d) for d in answer.digests)


def test_answer_digests_register_an_interval(monkeypatch):
    digests = student.answer_digests("x/y:1", 1.95, 2.05, 0.01)
    assert len(digests) == 11
    monkeypatch.setitem(student.NUMERIC_ANSWERS, "x/y:1",
                        student.NumericAnswer("x/y:1", "a number", 0.01, frozenset(digests)))
    assert student.check("x/y:1", 2.0) == student.check("x/y:1", 1.951) == "correct"
    assert student.check("x/y:1", 2.06).startswith("not yet")
    with pytest.raises(ValueError, match="no multiple"):
        student.answer_digests("x/y:1", 1.001, 1.002, 0.01)


# --------------------------------------------------------------------------- the command line


def test_cli_export_and_non_empty_destination(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    dest = tmp_path / "student"
    assert cli.main(["export", "--student", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "student edition" in out and str(dest) in out
    assert (dest / "book" / "dfa" / "index.md").is_file()
    assert cli.main(["export", "--student", str(dest)]) == 2
    err = capsys.readouterr().err
    assert str(dest) in err and "not empty" in err and "--force" in err and "Traceback" not in err
    (dest / "mine.txt").write_text("kept")
    assert cli.main(["export", "--student", str(dest), "--force"]) == 0
    assert (dest / "mine.txt").read_text() == "kept"


def test_cli_requires_the_student_folder(capsys):
    assert cli.main(["export"]) == 2
    assert "--student" in capsys.readouterr().err


# --------------------------------------------------------------------------- the transformation


def _synthetic_root(tmp_path: Path, cell_source: str) -> Path:
    root = tmp_path / "project"
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/ex\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Exercises page"),
                                         nbformat.v4.new_markdown_cell(cell_source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "book" / "ex.ipynb")
    return root


def test_unclosed_solution_names_file_and_line(tmp_path):
    text = ("## Exercises\n\n1. Compute it.\n\n:::{admonition} Solution 1\n:class: dropdown\n"
            "It is 4.\n\n2. Next question.\n")
    root = _synthetic_root(tmp_path, text)
    dest = tmp_path / "out"
    with pytest.raises(ValueError) as info:
        student.export_student(dest, root=root)
    message = str(info.value)
    assert "book/ex.ipynb" in message and "cell 1" in message and "line 5" in message
    assert "never closes" in message
    assert not dest.exists()  # nothing written
    assert cli.main(["export", "--student", str(dest), "--root", str(root)]) == 2


def test_unclosed_admonition_on_a_markdown_page():
    with pytest.raises(ValueError, match=r"book/p\.md, line 3: the admonition"):
        student.student_markdown_page("Text\n\n:::{admonition} Note\nnever closed\n", "p", "book/p.md")
    with pytest.raises(ValueError, match="line 2: the admonition"):
        student.student_markdown_page("x\n```{warning}\nnever closed\n", "p", "book/p.md")
    # an unclosed code fence runs to the end of the page, as in MyST: not an error
    assert student.student_markdown_page("```python\nx = 1\n", "p")[0] == "```python\nx = 1\n"


def test_solution_variants():
    text = (
        "## Exercises\n"
        "\n"
        "1. First question\n"
        "   on two lines.\n"
        "\n"
        "::::{admonition} Solution\n"            # more colons, a nested fence inside
        ":class: dropdown\n"
        ":name: sol-first\n"
        "Work it out:\n"
        ":::{math}\n"
        "x = 1\n"
        ":::\n"
        "::::\n"
        "\n"
        "2. Second question.\n"
        "\n"
        "````{admonition} Solution 2\n"          # backtick fence with code inside
        ":class: dropdown\n"
        "```python\n"
        "print('secret code')\n"
        "```\n"
        "````\n"
        "\n"
        "```markdown\n"                          # an example of the syntax, inside code: untouched
        ":::{admonition} Solution\n"
        "not a real one\n"
        ":::\n"
        "```\n"
        "\n"
        "- item\n"
        "  :::{admonition} Solution 3\r\n"      # indented, CRLF
        "  :class: dropdown\r\n"
        "  $$a^2$$ is the answer\r\n"
        "  :::\r\n"
        "tail\n"
    )
    segments, solutions = student.rewrite_markdown(text, "p", checks={})
    assert len(segments) == 1
    new = segments[0]
    assert [s.exercises for s in solutions] == [(1,), (2,), (3,)]
    assert solutions[0].questions == {1: "First question on two lines."}
    assert solutions[0].body == "Work it out:\n:::{math}\nx = 1\n:::"
    assert solutions[1].body == "```python\nprint('secret code')\n```"
    assert solutions[2].body == "$$a^2$$ is the answer" and solutions[2].line == 31
    assert "::::{admonition} Your answer to exercise 1\n:class: dropdown\n:name: sol-first\n" \
           "_Write your answer here._\n::::\n" in new
    assert "````{admonition} Your answer to exercise 2\n:class: dropdown\n" \
           "_Write your answer here._\n````\n" in new
    assert "  :::{admonition} Your answer to exercise 3\r\n  :class: dropdown\r\n" \
           "  _Write your answer here._\r\n  :::\r\ntail\n" in new
    assert "```markdown\n:::{admonition} Solution\nnot a real one\n:::\n```\n" in new
    for secret in ("Work it out", "x = 1", "secret code", "a^2"):
        assert secret not in new
    # everything outside the solution blocks is unchanged
    kept = [ln for ln in text.replace("\r", "").splitlines() if ln.strip()]
    for line in ("1. First question", "   on two lines.", "2. Second question.", "- item", "tail"):
        assert line in kept and line in new.replace("\r", "").splitlines()


def test_unnumbered_solution_for_a_list_of_exercises_and_check_segments():
    answer = student.NumericAnswer("ch/p:2", "a number", 1, frozenset())
    text = ("# Page\n\n## Exercises\n\n1. One?\n2. Two?\n\n:::{admonition} Solution\n:class: dropdown\n"
            "1. yes\n2. no\n:::\nAfter.\n")
    segments, solutions = student.rewrite_markdown(text, "ch/p", checks={"ch/p:2": answer})
    assert solutions[0].exercises == (1, 2)
    assert segments[1] == ("ch/p:2",) and segments[2] == "After.\n"
    assert segments[0].endswith(":::{admonition} Your answers to exercises 1-2\n:class: dropdown\n"
                                "_Write your answer here._\n:::\n")
    page, _ = student.student_markdown_page(text, "ch/p", checks={"ch/p:2": answer})
    assert '```python\n# Exercise 2' in page and 'check("ch/p:2", ...)\n```' in page
    key = student.instructor_key("Page", "book/ch/p.ipynb", solutions)
    assert "## Exercise 1\n\n> 1. One?\n\nyes\n" in key and "## Exercise 2\n\n> 2. Two?\n\nno\n" in key


def test_notebook_split_keeps_ids_and_strips_outputs():
    answer = student.NumericAnswer("ch/p:1", "a number", 1, frozenset())
    md = ("## Exercises\n\n1. One?\n\n:::{admonition} Solution 1\n:class: dropdown\n42\n:::\n\n"
          "2. Two?\n\n:::{admonition} Solution 2\n:class: dropdown\nno\n:::")
    code = nbformat.v4.new_code_cell("x = 1", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="1\n")])
    nb = nbformat.v4.new_notebook(cells=[code, nbformat.v4.new_markdown_cell(md)])
    new, solutions = student.student_notebook(nb, "ch/p", checks={"ch/p:1": answer})
    kinds = [c.cell_type for c in new.cells]
    assert kinds == ["code", "markdown", "code", "markdown"]
    assert new.cells[0].outputs == [] and new.cells[0].execution_count is None
    assert new.cells[1].id == nb.cells[1].id and new.cells[1].source.endswith(":::")
    assert new.cells[2].source.endswith('check("ch/p:1", ...)')
    assert new.cells[3].source.startswith("2. Two?") and new.cells[3].id.startswith(nb.cells[1].id)
    assert nb.cells[0].outputs  # the input is not modified
    assert len(solutions) == 2
    nbformat.validate(new)
