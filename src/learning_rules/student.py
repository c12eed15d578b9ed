"""The book's student edition: every page with the exercise solutions removed, and the instructor's key.

``learning-rules export --student DIR`` (:func:`export_student`) writes

* ``DIR/book/...``: every page of ``_toc.yml`` at its own path (the generated equation index
  included). Each solution admonition (MyST, e.g. ``:::{admonition} Solution 1`` with
  ``:class: dropdown``) becomes an empty answer block with the same fence, directive and options,
  titled "Your answer to exercise 1", whose body is the single line ``_Write your answer here._``;
  every other line of the page is kept byte for byte. Notebooks are written with nbformat, without
  outputs, with their metadata (kernel included). Under the answer block of an exercise whose
  numeric answer is registered here (:data:`NUMERIC_ANSWERS`) comes a code cell
  ``check("<id>", ...)`` (a ``python`` code block on a Markdown page).
* ``DIR/instructor/<chapter>.md``: per chapter with exercises, each exercise's question and its
  solution text verbatim, and ``DIR/instructor/README.md`` indexing them.
* ``DIR/README.md``: what the export is and the commit it was made from.

:func:`check` lets a student test a number without seeing the answer: the registry stores, per
exercise, salted SHA-256 digests of the accepted values rounded to a quantum (the tolerance
interval as a set of multiples of the quantum), never the values themselves.

Text transformation (:func:`rewrite_markdown`, :func:`student_notebook`, :func:`student_markdown_page`)
is pure; :func:`plan_export` reads the book and :func:`write_export` writes the files.

Explained in: ``README.md`` (command line).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import re
import subprocess
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWER_PLACEHOLDER",
    "NUMERIC_ANSWERS",
    "NumericAnswer",
    "Solution",
    "StudentExport",
    "UnclosedAdmonitionError",
    "answer_digests",
    "check",
    "export_student",
    "instructor_key",
    "page_key",
    "plan_export",
    "rewrite_markdown",
    "student_markdown_page",
    "student_notebook",
    "write_export",
]

ANSWER_PLACEHOLDER = "_Write your answer here._"
SOLUTION_DIRECTIVES = ("admonition", "dropdown")
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode", "literalinclude", "raw", "math"}
ADMONITIONS = {"admonition", "dropdown", "note", "tip", "hint", "important", "seealso", "warning",
               "caution", "attention", "danger", "error"}  # never closing is an error for these
MANIFEST_NAME = "README.md"


# --------------------------------------------------------------------------- numeric answers


@dataclasses.dataclass(frozen=True)
class NumericAnswer:
    """A registered numeric answer, stored so that reading it does not reveal the number.

    Attributes
    ----------
    exercise_id : str
        ``<page>:<exercise>``, the page being its toc path without ``book/`` and the suffix
        (``"dfa/optimizers:1"``).
    prompt : str
        What the student enters (quantity and unit), shown in the messages of :func:`check`.
    quantum : float
        A value is rounded to a multiple ``k * quantum`` before it is compared.
    digests : frozenset of str
        :func:`_digest` of every accepted ``k`` (the tolerance interval, see :func:`answer_digests`).
    """

    exercise_id: str
    prompt: str
    quantum: float
    digests: frozenset[str]


def _digest(exercise_id: str, k: int) -> str:
    """The salted digest of multiple ``k`` of an exercise's quantum (16 hex digits of SHA-256)."""
    return hashlib.sha256(f"learning-rules|{exercise_id}|{k}".encode()).hexdigest()[:16]


def _multiple(value: float, quantum: float) -> int:
    """``value`` rounded to the nearest multiple of ``quantum``, as the multiple's index."""
    return int(round(value / quantum))


def answer_digests(exercise_id: str, low: float, high: float, quantum: float) -> list[str]:
    """The digests :class:`NumericAnswer` stores to accept every value in ``[low, high]``.

    The instructor's tool for registering an answer: the interval is covered by the multiples of
    ``quantum`` it contains, so choose ``quantum`` well below the interval's width.
    """
    first, last = math.ceil(low / quantum - 1e-9), math.floor(high / quantum + 1e-9)
    if last < first:
        raise ValueError(f"[{low}, {high}] holds no multiple of {quantum}; use a smaller quantum")
    return [_digest(exercise_id, k) for k in range(first, last + 1)]


def _answer(exercise_id: str, prompt: str, quantum: float, digests: str) -> NumericAnswer:
    return NumericAnswer(exercise_id, prompt, quantum, frozenset(digests.split()))


# Each answer is the number its solution states, with an interval that accepts the rounding the
# solution itself uses (and, for regularization:2, the exact root next to the first-order one).
# Regenerate a line with answer_digests(id, low, high, quantum).
NUMERIC_ANSWERS: dict[str, NumericAnswer] = {a.exercise_id: a for a in (
    _answer("dual-weight/derivation:3", "the number of SGD steps", 100,
            "08fb91e18edaf1d4 48488c6d52edec92 4f529dca9c5b8b05 59bfc1aaae40546e 5c0cc24fb8ce6d2b "
            "6da990fb68b85261 762f866e6f59a380 818483e277a8fe22 88a5aebda3433176 97de88de14eb8c37 "
            "de1f3f5559736802"),
    _answer("dual-weight/derivation:4", "the number of nonzero steps", 10,
            "0f0ea08a4af97139 34dba1daced7ab30 362ad725a866ad72 73e612464f8debe8 77d0fab5a74706b0 "
            "87eef476b29461d3 a26d0856d040b6d9 b5641925227b7983 d8441d5dc5383d5e f15bdcbc9319a4b8 "
            "fa364b5c85d7c65f"),
    _answer("foundations/regularization:1", "the number of steps", 1,
            "1662331c31f22390 1b4f23be23a1c5d9 2451f2cd435b29b3 4aeba6101c3a3a47 7c86961861ea5270 "
            "7dbef609275ca911 92e71b113492de32 98496b1def2e6c3f aa9b7d1b2c19c15a c78fb724354d246d "
            "e61946e505ea9600"),
    _answer("foundations/regularization:2", "the largest value of eta*lambda/n", 0.001,
            "07a29709a685c61b 423c934b3ba6ae8e 45887d6a526dd8ab 59ee93c8a17ddf77 9c22d31e9be390f2 "
            "cb8c506776c04068 deac6b43ddb5f9e2"),
    _answer("dfa/optimizers:1", "the ratio of the epoch-indexed to the correct Adam step", 0.001,
            "04fcf9c3039cb4a1 17eb6a6d13d60f30 2a6ad1daf5972560 41aedbbb0a300cd2 45013f6b82086abf "
            "45b988e3b03c3a09 78dd8057a1085d7d 78e50bd3002f30af 8eabfbc3ac937e22 aa5c43714dd8faf3 "
            "af8cf53c06dab69f b56a8438191279ca c2068cc4d602a593 e470a182964cd9ae e9b967da62df8154 "
            "f692f5e25a312a67"),
    _answer("dfa/feedback:1", "the ratio of the gaussian to the uniform norm of B", 0.1,
            "0ab2979e150d5179 244d2a9ba539a11f 362614ab1eeb7419 476e3283a3a8aa25 65a3ec85626a9e12 "
            "71ca2826f75db437 73ce965e9737fcc8 745741636c497250 8a4488b741e2e9ca 8f4cac9e995c47b1 "
            "9099f88834580e55 b8c2fa386bceafc0 cf59b1355ae1e850 db61a46318431f5d df80b56f196b601f "
            "f1be79191f24f192"),
)}
"""Exercise id -> its registered numeric answer (hashed); see :func:`check`."""


def check(exercise_id: str, value: Any) -> str:
    """Say whether ``value`` answers exercise ``exercise_id``, without ever showing the answer.

    Returns ``"correct"``, or a ``"not yet: ..."`` message that contains neither the answer nor
    ``value``; ``value=...`` (the placeholder of the student edition's cells) returns how to use it.
    An unknown ``exercise_id`` raises ``ValueError`` listing the valid ones.
    """
    answer = NUMERIC_ANSWERS.get(exercise_id)
    if answer is None:
        raise ValueError(f"no numeric answer is registered for exercise {exercise_id!r}; "
                         f"valid ids: {', '.join(sorted(NUMERIC_ANSWERS))}")
    if value is Ellipsis:
        return f"replace ... by your answer ({answer.prompt}) and run the cell again"
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"check({exercise_id!r}, value): the value must be a number "
                         f"({answer.prompt}), got {type(value).__name__}")
    number = float(value)
    if math.isfinite(number) and _digest(exercise_id, _multiple(number, answer.quantum)) in answer.digests:
        return "correct"
    return f"not yet: off by more than the tolerance ({answer.prompt}); check your working"


# --------------------------------------------------------------------------- parsing solutions


@dataclasses.dataclass(frozen=True)
class Solution:
    """One solution admonition of a page.

    Attributes
    ----------
    title : str
        The admonition's title as written (``"Solution 1"``).
    exercises : tuple of int
        The exercises it answers: the title's numbers, else the numbered list items of the
        exercises section since the previous solution, else its rank on the page.
    body : str
        The solution text (dedented, without surrounding blank lines).
    questions : dict
        Exercise number -> its question text, where the page's numbered list gives it.
    line : int
        1-based line of the opening fence in its Markdown text.
    cell : int or None
        Index of the notebook cell holding it (``None`` on a Markdown page).
    """

    title: str
    exercises: tuple[int, ...]
    body: str
    questions: Mapping[int, str]
    line: int
    cell: int | None = None


class UnclosedAdmonitionError(ValueError):
    """An admonition (or solution block) opens and never closes; the message names file and line."""


_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>(?P<ch>[:`~])(?P=ch){2,})"
                   r"\{(?P<name>[\w:.-]+)\}[ \t]*(?P<arg>.*?)[ \t]*$")
_CODE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>(?P<ch>[`~])(?P=ch){2,})(?P<info>[^`]*)$")
_OPTION = re.compile(r"^[ \t]*:[\w.-]+:")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<text>.*)$")
_ITEM = re.compile(r"^ {0,3}(?P<n>\d{1,3})[.)][ \t]+")
_SOLUTION_TITLE = re.compile(r"^solutions?\b(?P<rest>.*)$", re.IGNORECASE)


def _line(raw: str) -> str:
    """A line without its end-of-line characters."""
    return raw.rstrip("\r\n")


def _closing_line(lines: Sequence[str], start: int, end: int, ch: str, width: int) -> int | None:
    """Index of the first line in ``[start, end)`` that closes a fence of ``width`` ``ch``s."""
    close = re.compile(rf"^[ \t]*{re.escape(ch)}{{{width},}}[ \t]*$")
    return next((j for j in range(start, end) if close.match(_line(lines[j]))), None)


def _is_solution(name: str, title: str) -> bool:
    """Whether a directive ``{name} title`` is an exercise solution."""
    return name in SOLUTION_DIRECTIVES and _SOLUTION_TITLE.match(title.strip()) is not None


def _title_numbers(title: str) -> tuple[int, ...]:
    """The exercise numbers a solution's title names (``"Solution 2"`` -> ``(2,)``)."""
    match = _SOLUTION_TITLE.match(title.strip())
    return tuple(int(n) for n in re.findall(r"\d+", match.group("rest"))) if match else ()


@dataclasses.dataclass
class _Context:
    """What the scan has seen so far on a page: the exercise list items, for naming solutions."""

    in_exercises: bool = False
    pending: list[int] = dataclasses.field(default_factory=list)
    questions: dict[int, str] = dataclasses.field(default_factory=dict)
    current: int | None = None
    solutions: int = 0

    def see(self, line: str) -> None:
        """Update the context with one line of prose (outside solutions and code)."""
        heading = _HEADING.match(line)
        if heading:
            self.in_exercises = "exercise" in heading.group("text").lower()
            self.pending, self.current = [], None
            return
        if not self.in_exercises:
            return
        item = _ITEM.match(line)
        if item:
            self.current = int(item.group("n"))
            self.pending.append(self.current)
            self.questions[self.current] = line[item.end():].strip()
        elif self.current is not None and line.strip() and line[:1] in (" ", "\t"):
            self.questions[self.current] += " " + line.strip()
        elif self.current is not None and line.strip():
            self.current = None

    def name(self, title: str) -> tuple[int, ...]:
        """The exercises the next solution (titled ``title``) answers; resets the pending items."""
        self.solutions += 1
        numbers = _title_numbers(title) or tuple(self.pending) or (self.solutions,)
        self.pending, self.current = [], None
        return numbers


def _answer_title(numbers: Sequence[int]) -> str:
    """The answer block's title: ``"Your answer to exercise 2"``, ``"Your answers to exercises 1-3"``."""
    if len(numbers) == 1:
        return f"Your answer to exercise {numbers[0]}"
    if list(numbers) == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"Your answers to exercises {numbers[0]}-{numbers[-1]}"
    return "Your answers to exercises " + ", ".join(map(str, numbers))


def _options_end(lines: Sequence[str], start: int, end: int) -> int:
    """Index of the first body line of a directive whose options start at ``start``."""
    i = start
    if i < end and _line(lines[i]).strip() == "---":  # YAML options block
        close = next((j for j in range(i + 1, end) if _line(lines[j]).strip() == "---"), None)
        return start if close is None else close + 1
    while i < end and _OPTION.match(_line(lines[i])):
        i += 1
    return i


def _answer_block(lines: Sequence[str], i: int, body_start: int, close: int, numbers: Sequence[int],
                  opening: re.Match) -> list[str]:
    """The lines that replace solution ``lines[i:close + 1]``: same fence, options and closing line."""
    eol = lines[i][len(_line(lines[i])):] or "\n"
    indent, fence, name = opening.group("indent"), opening.group("fence"), opening.group("name")
    head = f"{indent}{fence}{{{name}}} {_answer_title(numbers)}{eol}"
    options = [ln if ln.endswith(("\n", "\r")) else ln + eol for ln in lines[i + 1:body_start]]
    return [head, *options, f"{indent}{ANSWER_PLACEHOLDER}{eol}", lines[close]]


def _body_text(lines: Sequence[str]) -> str:
    """A solution body as text: dedented, without leading or trailing blank lines."""
    return textwrap.dedent("".join(_line(ln) + "\n" for ln in lines)).strip("\n")


def rewrite_markdown(text: str, page: str, context: _Context | None = None,
                     checks: Mapping[str, NumericAnswer] | None = None,
                     cell: int | None = None) -> tuple[list[str | tuple[str, ...]], list[Solution]]:
    """Replace the solution admonitions of one Markdown text by answer blocks.

    Parameters
    ----------
    text : str
        A Markdown page or one notebook cell's source.
    page : str
        The page's key (toc path without ``book/`` and suffix): ``"dfa/optimizers"``.
    context : optional
        The scan state of the page's earlier cells (exercise list items); updated in place.
    checks : mapping, optional
        Registered numeric answers (default :data:`NUMERIC_ANSWERS`).
    cell : int, optional
        The notebook cell, for error messages and :attr:`Solution.cell`.

    Returns
    -------
    segments : list
        Text pieces (``str``) in order, with a tuple of exercise ids between two pieces where a
        check cell for those registered answers goes (right under an answer block).
    solutions : list of Solution

    Raises
    ------
    UnclosedAdmonitionError
        An admonition never closes (message: ``line N``; callers add the file).
    """
    context = _Context() if context is None else context
    checks = NUMERIC_ANSWERS if checks is None else checks
    lines = text.splitlines(keepends=True)
    segments: list[str | tuple[str, ...]] = []
    out: list[str] = []
    solutions: list[Solution] = []

    def scan(start: int, end: int) -> None:
        i = start
        while i < end:
            raw, line = lines[i], _line(lines[i])
            opening = _OPEN.match(line)
            code = None if opening else _CODE_OPEN.match(line)
            if opening is None and code is None:
                context.see(line)
                out.append(raw)
                i += 1
                continue
            match = opening or code
            ch, width = match.group("ch"), len(match.group("fence"))
            close = _closing_line(lines, i + 1, end, ch, width)
            name = opening.group("name") if opening else ""
            if opening and _is_solution(name, opening.group("arg")):
                if close is None:
                    raise UnclosedAdmonitionError(
                        f"line {i + 1}: the solution block {line.strip()!r} opened here never closes "
                        f"(expected a line of at least {width} {ch!r} characters)")
                body_start = _options_end(lines, i + 1, close)
                numbers = context.name(opening.group("arg"))
                solutions.append(Solution(
                    title=opening.group("arg"), exercises=numbers,
                    body=_body_text(lines[body_start:close]),
                    questions={n: context.questions[n] for n in numbers if n in context.questions},
                    line=i + 1, cell=cell))
                out.extend(_answer_block(lines, i, body_start, close, numbers, opening))
                ids = tuple(f"{page}:{n}" for n in numbers if f"{page}:{n}" in checks)
                if ids:
                    segments.append("".join(out))
                    segments.append(ids)
                    out.clear()
                i = close + 1
                continue
            if close is None and name in ADMONITIONS:
                raise UnclosedAdmonitionError(
                    f"line {i + 1}: the admonition {line.strip()!r} opened here never closes "
                    f"(expected a line of at least {width} {ch!r} characters)")
            last = end if close is None else close
            out.append(raw)
            if code is not None or name in CODE_DIRECTIVES:
                out.extend(lines[i + 1:last])  # code: verbatim, never scanned
            else:
                scan(i + 1, last)  # a directive's content is Markdown: solutions may nest in it
            if close is not None:
                out.append(lines[close])
            i = last + 1

    scan(0, len(lines))
    segments.append("".join(out))
    return segments, solutions


# --------------------------------------------------------------------------- pages


def _check_code(exercise_id: str) -> str:
    """The source of the code cell that lets a student check a registered numeric answer."""
    number = exercise_id.rsplit(":", 1)[-1]
    return (f"# Exercise {number}: put your number in place of ... and run the cell.\n"
            f"from learning_rules.student import check\n"
            f'check("{exercise_id}", ...)')


def _file_error(exc: UnclosedAdmonitionError, source: str, cell: int | None) -> UnclosedAdmonitionError:
    """``exc`` with the file (and notebook cell) in front of its message."""
    where = source if cell is None else f"{source}, cell {cell}"
    return UnclosedAdmonitionError(f"{where}, {exc}")


def student_markdown_page(text: str, page: str, source: str = "<page>",
                          checks: Mapping[str, NumericAnswer] | None = None) -> tuple[str, list[Solution]]:
    """The student version of a Markdown page and the solutions taken out of it.

    A check for a registered numeric answer becomes a ``python`` code block under the answer block.
    ``source`` names the file in error messages.
    """
    try:
        segments, solutions = rewrite_markdown(text, page, checks=checks)
    except UnclosedAdmonitionError as exc:
        raise _file_error(exc, source, None) from None
    parts = []
    for seg in segments:
        if isinstance(seg, str):
            parts.append(seg)
        else:
            for exercise_id in seg:
                parts.append(f"\n```python\n{_check_code(exercise_id)}\n```\n")
    return "".join(parts), solutions


def _cell_id(base: str | None, suffix: str, taken: set[str]) -> str | None:
    """A new cell id derived from ``base`` (nbformat: 1-64 of ``[A-Za-z0-9_-]``), unique in ``taken``."""
    if base is None:
        return None
    n, candidate = 1, f"{base}-{suffix}"[:64]
    while candidate in taken:
        n += 1
        candidate = f"{base}-{suffix}{n}"[:64]
    taken.add(candidate)
    return candidate


def _strip_outputs(cell: dict) -> dict:
    """A copy of ``cell`` without outputs and execution count (code cells)."""
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell


def student_notebook(nb: Any, page: str, source: str = "<notebook>",
                     checks: Mapping[str, NumericAnswer] | None = None) -> tuple[Any, list[Solution]]:
    """The student version of a notebook (an ``nbformat`` node) and the solutions taken out of it.

    Cells without a solution are copied (code cells without outputs); a Markdown cell with
    solutions gets answer blocks instead, and is split where a check cell follows an answer block
    (the first piece keeps the cell's id, the others get ids derived from it).
    """
    import nbformat

    new = copy.deepcopy(nb)
    context = _Context()
    taken = {c.get("id") for c in nb.cells if c.get("id")}
    cells, found = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            cells.append(_strip_outputs(cell))
            continue
        try:
            segments, solutions = rewrite_markdown(cell.source, page, context, checks, cell=index)
        except UnclosedAdmonitionError as exc:
            raise _file_error(exc, source, index) from None
        if not solutions:
            cells.append(copy.deepcopy(cell))
            continue
        found.extend(solutions)
        for k, seg in enumerate(segments):
            if isinstance(seg, str):
                text = seg if k == 0 else seg.lstrip("\r\n")  # a piece after a check cell
                if k < len(segments) - 1:  # a piece before a check cell
                    text = text.rstrip("\r\n")
                if k > 0 and not text.strip():
                    continue
                piece = copy.deepcopy(cell)
                piece.source = text
                if k > 0:
                    piece["id"] = _cell_id(cell.get("id"), "part", taken)
                cells.append(piece)
            else:
                for exercise_id in seg:
                    check_cell = nbformat.v4.new_code_cell(_check_code(exercise_id))
                    check_cell.metadata["tags"] = ["student-check"]
                    check_cell["id"] = _cell_id(cell.get("id"), "check", taken) or check_cell["id"]
                    cells.append(check_cell)
    new.cells = cells
    return new, found


# --------------------------------------------------------------------------- the instructor's key


def _exercise_label(numbers: Sequence[int]) -> str:
    """``"Exercise 2"`` or ``"Exercises 1-3"``."""
    return _answer_title(numbers).replace("Your answers to exercises", "Exercises").replace(
        "Your answer to exercise", "Exercise")


def _split_items(body: str, numbers: Sequence[int]) -> dict[int, str] | None:
    """A solution body that is a numbered list with one item per exercise, split by exercise."""
    items = list(re.finditer(r"(?m)^(\d+)[.)][ \t]+", body))
    if [int(m.group(1)) for m in items] != list(numbers) or body[:items[0].start()].strip():
        return None
    bounds = [m.start() for m in items[1:]] + [len(body)]
    return {int(m.group(1)): textwrap.dedent(" " * len(m.group(0)) + body[m.end():stop]).strip("\n")
            for m, stop in zip(items, bounds)}


def _quote(text: str) -> str:
    """``text`` as a Markdown block quote."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def instructor_key(title: str, source: str, solutions: Sequence[Solution]) -> str:
    """The instructor's key of one chapter: per exercise its question (quoted) and solution."""
    lines = [f"# Key: {title}", "", f"The solutions of `{source}`, removed from the student edition.", ""]
    for sol in solutions:
        split = _split_items(sol.body, sol.exercises) if len(sol.exercises) > 1 else None
        parts = split.items() if split else [(sol.exercises, sol.body)]
        for numbers, text in parts:
            numbers = (numbers,) if isinstance(numbers, int) else numbers
            lines += [f"## {_exercise_label(numbers)}", ""]
            for n in numbers:
                if n in sol.questions:
                    lines += [_quote(f"{n}. {sol.questions[n]}"), ""]
            lines += [text, ""]
            page = source.removeprefix("book/").rsplit(".", 1)[0]
            ids = [f"{page}:{n}" for n in numbers if f"{page}:{n}" in NUMERIC_ANSWERS]
            for exercise_id in ids:
                lines += [f"Students can check their number with `check(\"{exercise_id}\", value)`.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- the export


@dataclasses.dataclass
class StudentExport:
    """An export planned in memory: ``files`` (path relative to DIR -> text) and per-page counts."""

    files: dict[str, str]
    solutions: dict[str, int]  # page source path -> solutions removed
    checks: list[str]          # exercise ids that got a check cell


def page_key(source: str | Path) -> str:
    """A page's key: its toc path without ``book/`` and suffix (``"dfa/optimizers"``)."""
    path = Path(source).with_suffix("").as_posix()
    return path.removeprefix("book/")


def _page_title(text: str, fallback: str) -> str:
    """The first ``#`` heading of a page's Markdown, else ``fallback``."""
    match = re.search(r"(?m)^#[ \t]+(.+)$", text)
    return match.group(1).strip() if match else fallback


def _commit(root: Path) -> str:
    """The checkout's commit (``git rev-parse HEAD``), with a note when the pages have local edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "book", "_toc.yml"], cwd=root,
                               capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return f"{head} (with uncommitted changes to the pages)" if dirty else head


def _readme(book_title: str, commit: str, rows: Sequence[tuple[str, int]], checks: Sequence[str]) -> str:
    """``DIR/README.md``: what the export is, how it was produced, and what it holds."""
    lines = [
        f"# {book_title}: student edition",
        "",
        "Every page of the book's table of contents (`_toc.yml`), at its own path under `book/`, with",
        "the solutions of the exercises replaced by empty answer blocks (\"Your answer to exercise N\",",
        "a dropdown to write in). Questions, prose, code cells and their parameters are unchanged;",
        "notebooks carry no outputs. The solutions are in `instructor/`, one Markdown file per chapter:",
        "remove that folder before handing the pages out.",
        "",
        f"Produced by `learning-rules export --student DIR` from commit {commit}.",
        "",
    ]
    if checks:
        lines += ["Exercises with a numeric answer have a cell that checks a number without showing the",
                  "answer: `from learning_rules.student import check; check(\"<id>\", value)` returns",
                  "\"correct\" or \"not yet\". Ids: " + ", ".join(f"`{c}`" for c in checks) + ".", ""]
    lines += ["| page | answer blocks |", "| --- | ---: |"]
    lines += [f"| `{page}` | {count} |" for page, count in rows]
    return "\n".join(lines) + "\n"


def _key_index(rows: Sequence[tuple[str, str, int]]) -> str:
    """``DIR/instructor/README.md``: the chapters' keys."""
    lines = ["# Instructor's key", "",
             "The solutions removed from the student edition, one file per chapter with exercises.", ""]
    lines += [f"* [{title}]({key}) ({count} solution block{'s' if count != 1 else ''})"
              for title, key, count in rows]
    return "\n".join(lines) + "\n"


def plan_export(root: str | os.PathLike | None = None) -> StudentExport:
    """Read every toc page of the book at ``root`` and compute the export's files, writing nothing.

    Raises ``UnclosedAdmonitionError`` (a ``ValueError``) naming the file and line of an
    admonition that never closes, before any file is written.
    """
    import nbformat
    import yaml

    from .book import GENERATED_PAGES, find_root, toc_files

    root = find_root(root, packaged=False)
    files: dict[str, str] = {}
    counts: dict[str, int] = {}
    placed: list[str] = []
    keys: list[tuple[str, str, int]] = []
    for rel in toc_files(root):
        source = rel.as_posix()
        key = page_key(rel)
        if source in GENERATED_PAGES and not (root / rel).is_file():
            text = GENERATED_PAGES[source](root)
        else:
            text = (root / rel).read_text(encoding="utf-8")
        if rel.suffix == ".ipynb":
            nb = nbformat.reads(text, as_version=4)
            student, solutions = student_notebook(nb, key, source)
            files[source] = nbformat.writes(student)
            markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            files[source], solutions = student_markdown_page(text, key, source)
            markdown = text
        counts[source] = len(solutions)
        placed += [f"{key}:{n}" for s in solutions for n in s.exercises if f"{key}:{n}" in NUMERIC_ANSWERS]
        if solutions:
            title = _page_title(markdown, key)
            files[f"instructor/{key}.md"] = instructor_key(title, source, solutions)
            keys.append((title, f"{key}.md", len(solutions)))
    config = yaml.safe_load((root / "_config.yml").read_text()) if (root / "_config.yml").is_file() else {}
    title = (config or {}).get("title", "The book")
    files["instructor/README.md"] = _key_index(keys)
    files[MANIFEST_NAME] = _readme(title, _commit(root), list(counts.items()), placed)
    return StudentExport(files, counts, placed)


def _check_destination(dest: Path, force: bool) -> None:
    """Refuse a destination that is a file, or a non-empty folder unless ``force``."""
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest} exists and is not a folder; choose another --student folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise ValueError(f"{dest} exists and is not empty; choose another folder, or pass --force "
                         "to write the export into it (its files are replaced, others left alone)")


def write_export(export: StudentExport, dest: str | os.PathLike, force: bool = False) -> Path:
    """Write a planned export into ``dest`` (each file atomically); returns ``dest`` resolved."""
    from .store import atomic_write_text

    dest = Path(dest).expanduser().resolve()
    _check_destination(dest, force)
    for rel, text in export.files.items():
        atomic_write_text(dest / rel, text)
    return dest


def export_student(dest: str | os.PathLike, root: str | os.PathLike | None = None,
                   force: bool = False) -> StudentExport:
    """``learning-rules export --student DEST``: plan the export of the book at ``root``, write it.

    ``dest`` must be absent or empty unless ``force``; nothing is written when a page cannot be
    transformed.
    """
    _check_destination(Path(dest).expanduser().resolve(), force)
    export = plan_export(root)
    write_export(export, dest, force)
    return export

