"""Named registries: the one-line answer to "where do I add a rule?".

Every family of interchangeable pieces (activations, losses, initializers, credit assignment,
optimizers, weight updates, datasets) is a :class:`Registry`. Looking up an unknown name raises a
``ValueError`` that lists the valid names, so a typo in a notebook parameter or a CLI flag fails
with its fix in the message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """An ordered, name -> object table with helpful errors.

    Parameters
    ----------
    kind : str
        What the entries are ("activation", "optimizer", ...); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Add ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        if obj is None:
            def decorator(o: T) -> T:
                self.register(name, o)
                return o
            return decorator
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        return obj

    def lookup(self, name: str) -> T:
        """Return the entry for ``name`` or raise ``ValueError`` naming the valid choices."""
        if not isinstance(name, str):
            raise ValueError(
                f"{self.kind} must be given by name (a str), got {type(name).__name__}; "
                f"valid names: {', '.join(self._entries)}"
            )
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self._entries)}"
            ) from None

    def __getitem__(self, name: str) -> T:
        return self.lookup(name)

    def __contains__(self, name: object) -> bool:
        # Membership is a question, not a lookup: never raise for an unknown name.
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
