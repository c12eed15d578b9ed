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

A figure a reader reads values off passes the frame it is drawn from, so that its numbers can be
downloaded next to it::

    page = Page(profile, setting, name="dfa-parity")
    page.figure(2, "Test accuracy per epoch.", data=curves)

shows, after the caption, a small HTML output (``IPython.display.HTML``)
``<a download="dfa-parity-figure-2.csv" href="data:text/csv;base64,...">data (CSV)</a>``: the CSV
is ``frame.to_csv(index=False)`` inside a ``data:`` URI, so the built page stays self-contained (no
file to copy into the site). A figure of several panels passes a dict ``{name: frame}`` and gets one
link per frame (``dfa-beyond-figure-1-accuracy.csv``). A frame whose CSV is larger than
:data:`DATA_LIMIT_BYTES`, and an empty frame, are refused (:func:`data_link`,
:meth:`Page.data_html`, pure like the captions).

This module imports only the standard library (pandas comes with the frames it is given, IPython
only when it displays) and nothing of the package: no run function reaches it, so editing it
re-executes the pages (their cache keys follow the code they call) but recomputes no stored result
(``fingerprint.py``).

Explained in: ``CONTRIBUTING.md`` (book style: how a page writes its captions and tables).
"""

from __future__ import annotations

import base64
import html
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DATA_LIMIT_BYTES", "OPTIMIZER_LABELS", "Page", "data_link", "optimizer_label", "pipe_table"]

#: How the book names an optimizer of the engine's registry (``learning_rules.updates.OPTIMIZERS``)
#: in figures, tables and the thesis' row keys.
OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
                    "adadelta": "Adadelta", "rmsprop": "RMSProp", "adam": "Adam"}


def optimizer_label(name: str) -> str:
    """``"rmsprop"`` -> ``"RMSProp"`` (:data:`OPTIMIZER_LABELS`; other names unchanged)."""
    return OPTIMIZER_LABELS.get(name, name)

#: The largest CSV, in bytes (UTF-8), that a figure's data link carries. The ``data:`` URI is part
#: of the page (a third larger, base64-encoded), so a frame of every run of a long protocol would
#: make the page heavy: such a figure passes the summary it draws (means and intervals) instead.
DATA_LIMIT_BYTES = 2_000_000

#: A page's name as it starts the file names of its data links (``dfa-parity``).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


def _show_html(text: str) -> None:
    """Display ``text`` as HTML in the running notebook (a figure's data links)."""
    from IPython.display import HTML, display

    display(HTML(text))


def _slug(value: str) -> str:
    """``value`` as a piece of a file name: runs of other characters than ASCII letters and digits
    become one ``-``, lower case (``"1 (MNIST)"`` -> ``"1-mnist"``); empty when nothing is left."""
    return re.sub(r"[^A-Za-z0-9]+", "-", value).strip("-").lower()


def data_link(frame: Any, filename: str, text: str = "data (CSV)", *, limit: int | None = None) -> str:
    """An HTML link that downloads ``frame`` as the CSV file ``filename``, from a ``data:`` URI.

    The file is ``frame.to_csv(index=False)`` (floats as pandas writes them, full precision),
    UTF-8, base64-encoded into ``href="data:text/csv;base64,..."``; the page needs no file beside it.

    Parameters
    ----------
    frame : pandas.DataFrame
        The numbers of the figure, as it is drawn from them.
    filename : str
        The name the browser saves the file under (its ``download`` attribute), ending in ``.csv``.
    text : str, default "data (CSV)"
        The link's text (HTML-escaped).
    limit : int, optional
        The largest CSV in bytes; default :data:`DATA_LIMIT_BYTES`.

    Returns
    -------
    str
        ``<a download="<filename>" href="data:text/csv;base64,...">text</a>``.

    Raises
    ------
    ValueError
        When ``frame`` is not a data frame, has no rows or no columns, or its CSV is larger than
        ``limit``; when ``filename`` or ``text`` is empty or ``filename`` does not end in ``.csv``.
    """
    filename = _text(filename, "data file name")
    if not filename.endswith(".csv") or any(c in filename for c in '/\\"<>'):
        raise ValueError(f"data file name must be a plain file name ending in .csv, got {filename!r}")
    text = _text(text, "data link text")
    if not (callable(getattr(frame, "to_csv", None)) and hasattr(frame, "columns")):
        raise ValueError(f"{filename}: figure data must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"{filename}: the frame is empty (no rows or no columns), so there is nothing "
                         "to download; leave data out for a figure that draws nothing")
    limit = DATA_LIMIT_BYTES if limit is None else int(limit)
    payload = frame.to_csv(index=False).encode("utf-8")
    if len(payload) > limit:
        raise ValueError(f"{filename}: its CSV is {len(payload):,} bytes, over the {limit:,}-byte limit of a "
                         "figure's data link (the file is embedded in the page); pass the summary the "
                         "figure draws (means and intervals per point) instead of every run, or leave "
                         "data out")
    href = "data:text/csv;base64," + base64.b64encode(payload).decode("ascii")
    return f'<a download="{html.escape(filename)}" href="{href}">{html.escape(text)}</a>'


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
    name : str, optional
        What the file names of the page's data links start with: the notebook's profile-independent
        stem (``"dfa-parity"`` gives ``dfa-parity-figure-2.csv``); ASCII letters, digits, ``.``,
        ``_`` and ``-``. Without it the files are ``figure-<n>.csv``.

    Raises
    ------
    ValueError
        When ``profile`` is not a non-empty string, ``context`` or ``note`` is neither ``None`` nor
        a non-empty string, ``sep`` is not a string, ``formatter`` is not callable, or ``name`` is
        neither ``None`` nor a plain file-name stem.
    """

    def __init__(self, profile: str, context: str | None = None, *, sep: str = ": ",
                 note: str | None = None, formatter: Callable[..., str] | None = None,
                 name: str | None = None) -> None:
        self.profile = _text(profile, "profile")
        self.context = _text(context, "context", optional=True)
        if not isinstance(sep, str):
            raise ValueError(f"sep must be a string, got {sep!r}")
        self.sep = sep
        self.note = _text(note, "note", optional=True)
        if formatter is not None and not callable(formatter):
            raise ValueError(f"formatter must be callable (frame -> Markdown), got {formatter!r}")
        self.formatter = formatter if formatter is not None else pipe_table
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise ValueError("name must be None or a file-name stem of ASCII letters, digits, '.', '_' "
                             f"and '-' (the notebook's, e.g. 'dfa-parity'), got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return (f"Page({self.profile!r}, context={self.context!r}, sep={self.sep!r}, note={self.note!r}"
                + (f", name={self.name!r})" if self.name is not None else ")"))

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

    def data_filename(self, number: int | str, part: str | None = None) -> str:
        """The file name of figure ``number``'s data: ``[<name>-]figure-<number>[-<part>].csv``.

        The number (a label such as ``"1 (MNIST)"`` too) and ``part`` are reduced to lower-case
        ASCII letters and digits joined by ``-`` (:func:`_slug`).

        Raises
        ------
        ValueError
            On a bad number, or a number or part that leaves nothing for a file name.
        """
        label = _slug(_number(number))
        if not label:
            raise ValueError(f"figure number {number!r} gives no file name (no ASCII letter or digit)")
        piece = ""
        if part is not None:
            piece = _slug(_text(part, "data part name"))
            if not piece:
                raise ValueError(f"data part name {part!r} gives no file name (no ASCII letter or digit)")
            piece = "-" + piece
        return (f"{self.name}-" if self.name is not None else "") + f"figure-{label}{piece}.csv"

    def data_html(self, number: int | str, data: Any) -> str:
        """The HTML of figure ``number``'s data links (what :meth:`figure` shows after the caption).

        Parameters
        ----------
        number : int or str
            The figure's number or label; it names the files (:meth:`data_filename`).
        data : pandas.DataFrame or dict of str to pandas.DataFrame
            The frame the figure is drawn from, or one frame per panel (in the dict's order).

        Returns
        -------
        str
            ``<p class="figure-data"><a download=... href="data:text/csv;base64,...">data (CSV)</a></p>``;
            for a dict, ``data (CSV):`` followed by one link per frame, named by its key.

        Raises
        ------
        ValueError
            On an empty dict, a key that is not a non-empty string, two keys that give the same file
            name, or a frame :func:`data_link` refuses (empty, or over :data:`DATA_LIMIT_BYTES`).
        """
        if isinstance(data, Mapping):
            if not data:
                raise ValueError(f"figure {number!r}: data is an empty dict; pass at least one frame or "
                                 "leave data out")
            links, names = [], {}
            for key, frame in data.items():
                filename = self.data_filename(number, key)
                if filename in names:
                    raise ValueError(f"figure {number!r}: data parts {names[filename]!r} and {key!r} give "
                                     f"the same file name {filename}")
                names[filename] = key
                links.append(data_link(frame, filename, key))
            return '<p class="figure-data">data (CSV): ' + ", ".join(links) + "</p>"
        return f'<p class="figure-data">{data_link(data, self.data_filename(number))}</p>'

    def figure(self, number: int | str, text: str, *, extra: str | None = None, data: Any = None) -> None:
        """Display the caption of figure ``number`` (shown under the figure it follows), and with
        ``data`` a link to download the figure's numbers as CSV right after it.

        Parameters
        ----------
        number : int or str
            A positive integer, or a label (``"1 (MNIST)"``).
        text : str
            What to see in the figure.
        extra : str, optional
            Added to the page's context for this figure only (e.g. its seeds).
        data : pandas.DataFrame or dict of str to pandas.DataFrame, optional
            The frame the figure is drawn from (one per panel as a dict); shown as a separate HTML
            output (:meth:`data_html`), so the caption's Markdown is the same with or without it.
        """
        caption = self.caption_text("Figure", number, text, extra=extra)  # everything checked first
        links = None if data is None else self.data_html(number, data)
        _show(caption)
        if links is not None:
            _show_html(links)

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
