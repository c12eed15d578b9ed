"""Progress bars that stay out of the rendered book.

Long loops (training epochs, sweeps) report progress through :func:`progress`, a thin wrapper
around ``tqdm``. The book build runs every notebook's kernel with ``LEARNING_RULES_QUIET=1``; under
that variable the bars are disabled, so no widget or carriage-return noise reaches a published page,
while the same code shows a bar in a terminal or an interactive notebook.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

QUIET_ENV = "LEARNING_RULES_QUIET"

__all__ = ["QUIET_ENV", "progress", "quiet"]


def quiet() -> bool:
    """Whether progress bars are switched off (``LEARNING_RULES_QUIET`` set to a true value)."""
    value = os.environ.get(QUIET_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def progress(iterable: Iterable[T] | None = None, **kwargs: Any):
    """Wrap ``iterable`` in a ``tqdm`` bar, disabled when :func:`quiet` is true.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (``None`` for a manually updated bar, as in ``tqdm``).
    **kwargs
        Passed to ``tqdm`` (``desc``, ``total``, ``unit``, ...). An explicit ``disable`` wins.

    Returns
    -------
    tqdm.tqdm
        Iterates exactly like ``iterable``.
    """
    if quiet():
        # tqdm.auto would warn (on stderr, so into a page) when ipywidgets is missing; a disabled
        # bar needs none of it.
        from tqdm.std import tqdm

        kwargs.setdefault("disable", True)
    else:
        from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)
