"""Base aggregate whose events carry an event id, a correlation id, a causation id and the
W3C trace context of the command that triggered them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate

from domain.context import current_event_metadata

if TYPE_CHECKING:
    from typing import Self


def _metadata_fields() -> dict[str, UUID | str | None]:
    metadata = current_event_metadata()
    return {
        "event_id": uuid4(),
        "correlation_id": metadata.correlation_id,
        "causation_id": metadata.causation_id,
        "traceparent": metadata.traceparent,
    }


class LedgerAggregate(Aggregate):
    """An event-sourced aggregate of the Ledger: no I/O, events stamped with metadata.

    Events are triggered only inside ``domain.context.command_scope()``, which
    supplies the correlation and causation ids.
    """

    class Event(Aggregate.Event):
        """Base of the Ledger's domain events."""

        event_id: UUID
        correlation_id: UUID
        causation_id: UUID
        traceparent: str | None
        """The W3C trace context of the command (None when it ran outside any trace); events
        recorded before traces existed lack it, so readers use `getattr(event, "traceparent",
        None)`."""

    class Created(Event, Aggregate.Created):
        """Base of the events that create a Ledger aggregate."""

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,
        **kwargs: Any,
    ) -> Self:
        return super()._create(event_class, id=id, **_metadata_fields(), **kwargs)

    def trigger_event(
        self,
        event_class: type[CanMutateAggregate[UUID]],
        **kwargs: Any,
    ) -> None:
        super().trigger_event(event_class, **_metadata_fields(), **kwargs)
