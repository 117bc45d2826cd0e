"""Who asked for a command: correlation and causation ids that every event records, and the
W3C trace context it ran in (so that every process the events reach joins its trace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID, uuid4


@dataclass(frozen=True)
class CommandContext:
    """Metadata a caller passes with each command.

    ``idempotency`` is opaque to the domain: when it is not None the Ledger hands it
    to ``Application.save(..., idempotency=...)`` so the event store can record it
    in the same transaction as the command's events.
    """

    correlation_id: UUID
    causation_id: UUID | None = None
    idempotency: object | None = None


@dataclass(frozen=True)
class EventMetadata:
    """The correlation and causation ids stamped on the events of one command, and the W3C
    `traceparent` of the work that ran it (None outside any trace)."""

    correlation_id: UUID
    causation_id: UUID
    traceparent: str | None = None


class MissingCommandContextError(RuntimeError):
    """An aggregate triggered an event outside ``command_scope``: a programming error."""

    def __init__(self) -> None:
        super().__init__(
            "Events can only be triggered inside domain.context.command_scope(); "
            "the Ledger application opens one around each command"
        )


_current_metadata: ContextVar[EventMetadata] = ContextVar("ledger_event_metadata")
_current_traceparent: ContextVar[str | None] = ContextVar("ledger_traceparent", default=None)


@contextmanager
def trace_scope(traceparent: str | None) -> Iterator[None]:
    """Stamp the events of commands run inside the block with this W3C `traceparent`.

    The domain only carries the text: whoever runs the command (an HTTP request, a step of
    the transfer process) knows the trace it belongs to and opens this scope around it.
    """
    token = _current_traceparent.set(traceparent)
    try:
        yield
    finally:
        _current_traceparent.reset(token)


@contextmanager
def command_scope(context: CommandContext) -> Iterator[EventMetadata]:
    """Make events triggered inside the block carry this command's ids.

    Without a causation id the command itself is the cause: it gets a fresh id,
    shared by all the events it triggers (including across its retries).
    """
    metadata = EventMetadata(
        correlation_id=context.correlation_id,
        causation_id=context.causation_id if context.causation_id is not None else uuid4(),
        traceparent=_current_traceparent.get(),
    )
    token = _current_metadata.set(metadata)
    try:
        yield metadata
    finally:
        _current_metadata.reset(token)


def current_event_metadata() -> EventMetadata:
    """The metadata of the command being executed; raises outside ``command_scope``."""
    try:
        return _current_metadata.get()
    except LookupError:
        raise MissingCommandContextError from None
