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

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)

from domain.envelope import EVENT_TOPICS, EVENT_VERSIONS, EventEnvelope

StoredRow = tuple[int, str, int, str, bytes]
"""One row of the log as the history selects it: position, aggregate id (as text), aggregate
version, topic and the stored state."""

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
        "traceparent",
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
        traceparent=state.get("traceparent"),
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


def notification_of(row: StoredRow) -> Notification:
    """The library's view of a selected row, for its mapper."""
    position, aggregate_id, version, topic, state = row
    return Notification(
        id=position,
        originator_id=UUID(aggregate_id),
        originator_version=version,
        topic=topic,
        state=bytes(state),
    )


class _NotLean(Exception):
    """The row needs the library's mapper (an old shape to upcast, or a value it encodes)."""


class LeanDecoder:
    """Stored rows straight to the envelope's JSON shape (`EventEnvelope.to_json`).

    Written by hand because the library's mapper is the cost of reading the history in
    bulk: it resolves the class, builds an event object and converts every value twice, and
    with our envelope and `json` it took about 32 µs an event (`make bench`, export). This
    reads the state with orjson and unwraps the transcoder's two tagged types the Ledger
    records (`uuid_hex`, `datetime_iso`), about 6 µs an event. Anything else goes through
    the mapper, so the result is always the mapper's: a state recorded at an older
    `class_version` (it must be upcast), an unknown topic or tag, a nested value, or a
    missing event id. A unit test holds both paths equal for every event type.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self.mapped = 0  # rows that needed the mapper
        self._types = {topic: (name, EVENT_VERSIONS[name]) for name, topic in EVENT_TOPICS.items()}

    def to_json(self, row: StoredRow) -> dict[str, Any]:
        """The row as the envelope's JSON-ready dict."""
        known = self._types.get(row[3])
        if known is not None:
            try:
                return _lean(row, *known)
            except _NotLean:
                pass
        self.mapped += 1
        return envelope_from(notification_of(row), self._mapper).to_json()


def _lean(row: StoredRow, event_type: str, version: int) -> dict[str, Any]:
    position, aggregate_id, aggregate_version, _, stored = row
    state: dict[str, Any] = orjson.loads(stored)
    if state.pop("class_version", 1) != version:
        raise _NotLean
    recorded = state.pop("timestamp", None)
    event_id = state.pop("event_id", None)
    correlation_id = state.pop("correlation_id", None)
    causation_id = state.pop("causation_id", None)
    traceparent = state.pop("traceparent", None)
    state.pop("originator_topic", None)
    if type(recorded) is not dict or recorded.get("_type_") != "datetime_iso":
        raise _NotLean
    for name, value in state.items():
        if type(value) is dict:
            state[name] = _untagged(value)
        elif type(value) is list or name[0] == "_":
            raise _NotLean  # nested values, and private attributes the mapper leaves out
    return {
        "event_id": _uuid_text(event_id),
        "event_type": event_type,
        "aggregate_id": aggregate_id,
        "aggregate_version": aggregate_version,
        "position": position,
        "occurred_at": recorded["_data_"],
        "schema_version": version,
        "correlation_id": None if correlation_id is None else _uuid_text(correlation_id),
        "causation_id": None if causation_id is None else _uuid_text(causation_id),
        "traceparent": traceparent if type(traceparent) is str else None,
        "data": state,
    }


def _uuid_text(tagged: Any) -> str:
    """A UUID recorded as `uuid_hex`, as its canonical text."""
    if type(tagged) is dict and tagged.get("_type_") == "uuid_hex":
        data = tagged["_data_"]
        if type(data) is str and len(data) == 32:
            return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
    raise _NotLean


def _untagged(tagged: dict[str, Any]) -> str:
    """A UUID as its canonical text, a time as the ISO text it was recorded with."""
    if tagged.get("_type_") == "datetime_iso" and type(tagged.get("_data_")) is str:
        return str(tagged["_data_"])
    return _uuid_text(tagged)
