"""The captions and tables of a book page: one :class:`Page` per notebook.

Every figure and table of the book ends its caption with the profile that made it and what the
profile ran (``Profile `quick`: k = 3, 2 epochs, seeds 0..2.``). A notebook makes one
:class:`Page` from that ending after its parameters are known, and shows each caption with it::

    page = Page(profile, context=protocol, note=None if comparable else "The protocol differs.",
                formatter=markdown_table)
    page.figure(1, "Test accuracy per epoch.")
    page.table(1, frame, "Final test accuracy.", floatfmt="{:.4f}")
    page.caption("Table", "S", "Printed cells the notebooks contradict.")

renders, as GitHub-flavoured Markdown (``IPython.display.Markdown``),
``**Figure 1.** Test accuracy per epoch. Profile `quick`: <context>.``; a table is its Markdown
table followed by ``**Table 1.** ... Profile `quick`: <context>. <note>``. The text is built by
pure methods (:meth:`Page.caption_text`, :meth:`Page.table_text`) so it can be tested without a
notebook; the display methods return ``None``, so a caption on a cell's last line adds no
``Out[]`` to the page.

This module imports only the standard library (pandas comes with the frames it is given, IPython
only when it displays) and nothing of the package: no run function reaches it, so editing it
re-executes the pages (their cache keys follow the code they call) but recomputes no stored result
(``fingerprint.py``).

Explained in: ``CONTRIBUTING.md`` (book style: how a page writes its captions and tables).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

__all__ = ["Page", "pipe_table"]


def pipe_table(frame: Any, floatfmt: str = ".3g") -> str:
    """``frame`` as a Markdown pipe table without its index (pandas' ``DataFrame.to_markdown``).

    The default formatter of :class:`Page`. It needs the optional ``tabulate`` package, as
    ``to_markdown`` does (the book's environment has it); pages that must not depend on it pass
    their own formatter.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its columns become the header.
    floatfmt : str, default ".3g"
        Format specification of the float cells (``format(value, floatfmt)``).

    Returns
    -------
    str
        The Markdown table.
    """
    return frame.to_markdown(index=False, floatfmt=floatfmt)


def _show(markdown: str) -> None:
    """Display ``markdown`` in the running notebook (IPython imported only here)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    """``value`` checked to be a non-empty string (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        allowed = "a non-empty string or None" if optional else "a non-empty string"
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    return value


def _number(number: Any) -> str:
    """A caption number as printed: a positive integer, or a label such as ``"A"`` or ``"2 (MNIST)"``."""
    if isinstance(number, bool):
        raise ValueError(f"caption number must be a positive integer or a non-empty label, got {number!r}")
    if isinstance(number, numbers.Integral):
        if number < 1:
            raise ValueError(f"caption number must be a positive integer or a non-empty label, got {number!r}")
        return str(int(number))
    if isinstance(number, str) and number.strip():
        return number
    raise ValueError(f"caption number must be a positive integer or a non-empty label, got {number!r}")


class Page:
    """What every caption of one notebook ends with, and the display of its captions and tables.

    A caption reads ``**<kind> <number>.** <text> Profile `<profile>`<sep><context>.``; the
    context (and an ``extra`` a caption adds to it, such as the seeds of one figure) is left out,
    separator included, when there is none: ``... Profile `<profile>`.``. A table's caption ends
    with the page's ``note`` after one space, when the page has one.

    Parameters
    ----------
    profile : str
        The build profile the page ran with (the notebook's ``profile`` parameter).
    context : str, optional
        What the profile ran, as the captions state it (``"seed 0"``, a protocol), without the
        final full stop.
    sep : str, default ": "
        What joins the profile and the context (``": "``, or ``", "`` for ``Profile `quick`, seed 0.``).
    note : str, optional
        A sentence appended to every table caption (not to figure captions), e.g. that the
        profile's protocol is not the publication's.
    formatter : callable, optional
        ``formatter(frame) -> str`` (and ``formatter(frame, floatfmt=...)`` when a table passes
        ``floatfmt``) that turns a table's frame into Markdown; default :func:`pipe_table`.

    Raises
    ------
    ValueError
        When ``profile`` is not a non-empty string, ``context`` or ``note`` is neither ``None`` nor
        a non-empty string, ``sep`` is not a string, or ``formatter`` is not callable.
    """

    def __init__(self, profile: str, context: str | None = None, *, sep: str = ": ",
                 note: str | None = None, formatter: Callable[..., str] | None = None) -> None:
        self.profile = _text(profile, "profile")
        self.context = _text(context, "context", optional=True)
        if not isinstance(sep, str):
            raise ValueError(f"sep must be a string, got {sep!r}")
        self.sep = sep
        self.note = _text(note, "note", optional=True)
        if formatter is not None and not callable(formatter):
            raise ValueError(f"formatter must be callable (frame -> Markdown), got {formatter!r}")
        self.formatter = formatter if formatter is not None else pipe_table

    def __repr__(self) -> str:
        return f"Page({self.profile!r}, context={self.context!r}, sep={self.sep!r}, note={self.note!r})"

    def setting(self, extra: str | None = None) -> str:
        """The sentence that ends every caption: ``Profile `<profile>`<sep><context>[, <extra>].``

        Parameters
        ----------
        extra : str, optional
            Appended to the context after ``", "`` (after ``sep`` when the page has no context).

        Returns
        -------
        str
            The sentence, ending with a full stop.
        """
        parts = [p for p in (self.context, _text(extra, "extra", optional=True)) if p is not None]
        return f"Profile `{self.profile}`" + (self.sep + ", ".join(parts) if parts else "") + "."

    def caption_text(self, kind: str, number: int | str, text: str, *, extra: str | None = None,
                     note: bool = False) -> str:
        """The Markdown of one caption: ``**<kind> <number>.** <text> <setting>[ <note>]``.

        Parameters
        ----------
        kind : str
            ``"Figure"``, ``"Table"`` or another word the page numbers.
        number : int or str
            A positive integer, or a label (``"A"``, ``"2 (MNIST)"``).
        text : str
            What to see, as one or more sentences.
        extra : str, optional
            Added to the page's context for this caption only (see :meth:`setting`).
        note : bool, default False
            Append the page's ``note`` (what :meth:`table` does).

        Returns
        -------
        str
            The caption's Markdown.

        Raises
        ------
        ValueError
            On an empty ``kind``, ``text`` or ``extra``, or a number that is not a positive
            integer or a non-empty string.
        """
        kind = _text(kind, "caption kind")
        label = _number(number)
        text = _text(text, "caption text")
        tail = f" {self.note}" if note and self.note is not None else ""
        return f"**{kind} {label}.** {text} {self.setting(extra)}{tail}"

    def table_text(self, frame: Any, *, floatfmt: str | None = None,
                   formatter: Callable[..., str] | None = None) -> str:
        """A table's Markdown, from ``formatter`` (default: the page's).

        Parameters
        ----------
        frame : pandas.DataFrame
            The table.
        floatfmt : str, optional
            Passed on as ``formatter(frame, floatfmt=floatfmt)``, in the formatter's own convention
            (``".3g"`` for :func:`pipe_table`, ``"{:.4f}"`` for
            ``learning_rules.experiments.datasets.markdown_table``); by default the formatter's.
        formatter : callable, optional
            This table's formatter instead of the page's.

        Returns
        -------
        str
            The Markdown table.
        """
        if formatter is not None and not callable(formatter):
            raise ValueError(f"formatter must be callable (frame -> Markdown), got {formatter!r}")
        fmt = formatter if formatter is not None else self.formatter
        return fmt(frame) if floatfmt is None else fmt(frame, floatfmt=floatfmt)

    def caption(self, kind: str, number: int | str, text: str, *, extra: str | None = None) -> None:
        """Display a caption of any kind, without the note (:meth:`caption_text`).

        For a caption whose figure or table the page shows by other means (a table drawn a few
        statements earlier, a figure numbered by a label).

        Parameters
        ----------
        kind : str
            ``"Figure"``, ``"Table"`` or another word the page numbers.
        number : int or str
            A positive integer, or a label (``"S"``, ``"1 (MNIST)"``).
        text : str
            What to see.
        extra : str, optional
            Added to the page's context for this caption only.
        """
        _show(self.caption_text(kind, number, text, extra=extra))

    def figure(self, number: int | str, text: str, *, extra: str | None = None) -> None:
        """Display the caption of figure ``number`` (shown under the figure it follows).

        Parameters
        ----------
        number : int or str
            A positive integer, or a label (``"1 (MNIST)"``).
        text : str
            What to see in the figure.
        extra : str, optional
            Added to the page's context for this figure only (e.g. its seeds).
        """
        _show(self.caption_text("Figure", number, text, extra=extra))

    def table(self, number: int | str, frame: Any, text: str, *, floatfmt: str | None = None,
              formatter: Callable[..., str] | None = None, extra: str | None = None) -> None:
        """Display table ``number``: its Markdown (:meth:`table_text`), then its caption with the note.

        Parameters
        ----------
        number : int or str
            A positive integer, or a label (``"A"``).
        frame : pandas.DataFrame
            The table.
        text : str
            What the table shows.
        floatfmt : str, optional
            Float format, passed to the formatter (see :meth:`table_text`).
        formatter : callable, optional
            This table's formatter instead of the page's.
        extra : str, optional
            Added to the page's context for this table only.
        """
        caption = self.caption_text("Table", number, text, extra=extra, note=True)  # checked first
        _show(self.table_text(frame, floatfmt=floatfmt, formatter=formatter))
        _show(caption)
