"""Decoding stored events into envelopes, without importing the write model.

The library's mapper loads each event's class from the topic recorded with it, so any
reader of the log (query API, relay, exports, rebuilds) decodes, and upcasts old shapes,
exactly as the Ledger application does, while depending only on the published envelope.
The transcoder is the one every `eventsourcing` application builds by default; the
Ledger registers no transcodings of its own (a unit test holds both to that).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)

from domain.envelope import EventEnvelope

# What the envelope carries as metadata, or what is the library's own business: a creation
# event records `originator_topic` (the aggregate's class path) so the library can
# rebuild the aggregate; it is no fact about the ledger and never leaves the event store.
_METADATA_FIELDS = frozenset(
    {
        "originator_topic",
        "originator_id",
        "originator_version",
        "timestamp",
        "event_id",
        "correlation_id",
        "causation_id",
    }
)


def event_mapper() -> Mapper[UUID]:
    """The mapper that decodes the Ledger's stored events."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def envelope_from(notification: Notification, mapper: Mapper[UUID]) -> EventEnvelope:
    """Decode a notification (upcasting old shapes) into an envelope."""
    event = mapper.to_domain_event(notification)
    state: dict[str, Any] = dict(vars(event))
    return EventEnvelope(
        event_id=_as_uuid(state.get("event_id")) or UUID(int=notification.id),
        event_type=type(event).__name__,
        aggregate_id=UUID(str(notification.originator_id)),
        aggregate_version=notification.originator_version,
        position=notification.id,
        occurred_at=state["timestamp"],
        schema_version=int(getattr(type(event), "class_version", 1)),
        correlation_id=_as_uuid(state.get("correlation_id")),
        causation_id=_as_uuid(state.get("causation_id")),
        data={
            name: _json_native(value)
            for name, value in state.items()
            if name not in _METADATA_FIELDS and not name.startswith("_")
        },
    )


def _as_uuid(value: object) -> UUID | None:
    if value is None:
        return None
    return value if isinstance(value, UUID) else UUID(str(value))


def _json_native(value: object) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return _json_native(value.value)
    if isinstance(value, Mapping):
        return {str(key): _json_native(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_native(item) for item in value]
    return value
