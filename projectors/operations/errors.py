"""Why an operator command on a projection was refused."""

from __future__ import annotations

from collections.abc import Sequence


class UnknownProjectionError(LookupError):
    """No projection has that name."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no projection named {name!r} (known: {', '.join(sorted(known))})")
        self.name = name


class OperationInProgressError(RuntimeError):
    """Another operator command holds the projection."""


class NotRetryableError(ValueError):
    """A dead letter that holds no event (a record that was not a Ledger event)."""
