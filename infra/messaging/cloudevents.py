"""Kafka records in CloudEvents 1.0 binary content mode: `ce_*` headers, JSON body.

Hand-written because the CloudEvents SDK has no Kafka binding for aiokafka's
(key, value, headers) triple; the mapping is a dozen fixed headers. Tests parse
every record we produce with the official SDK to keep us honest.

The trace context travels as the CloudEvents distributed-tracing extension: attribute
`traceparent`, hence the header `ce_traceparent`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.envelope import EventEnvelope

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "ledger."

Headers = list[tuple[str, bytes]]


class MalformedRecordError(ValueError):
    """A Kafka record is not a Ledger CloudEvent."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What the relay hands to the producer."""

    key: bytes
    value: bytes
    headers: Headers


def to_record(envelope: EventEnvelope, source: str) -> KafkaRecord:
    """Encode an envelope as a binary-mode CloudEvent keyed by its aggregate id."""
    headers: dict[str, str] = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(envelope.event_id),
        "ce_source": source,
        "ce_type": TYPE_PREFIX + envelope.event_type,
        "ce_time": envelope.occurred_at.isoformat(),
        "ce_subject": str(envelope.aggregate_id),
        "ce_aggregateversion": str(envelope.aggregate_version),
        "ce_position": str(envelope.position),
        "ce_schemaversion": str(envelope.schema_version),
        "content-type": CONTENT_TYPE,
    }
    if envelope.correlation_id is not None:
        headers["ce_correlationid"] = str(envelope.correlation_id)
    if envelope.causation_id is not None:
        headers["ce_causationid"] = str(envelope.causation_id)
    if envelope.traceparent is not None:
        headers["ce_traceparent"] = envelope.traceparent
    body = json.dumps(envelope.data, separators=(",", ":"), sort_keys=True)
    return KafkaRecord(
        key=str(envelope.aggregate_id).encode(),
        value=body.encode(),
        headers=[(name, value.encode()) for name, value in headers.items()],
    )


def from_record(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> EventEnvelope:
    """Decode a record produced by `to_record`; raise MalformedRecordError otherwise."""
    fields = {name: raw.decode("utf-8", "replace") for name, raw in headers}
    try:
        event_type = fields["ce_type"]
        if fields["ce_specversion"] != SPEC_VERSION or not event_type.startswith(TYPE_PREFIX):
            raise MalformedRecordError(f"not a Ledger CloudEvent: {event_type!r}")
        data = json.loads(value or b"null")
        if not isinstance(data, dict):
            raise MalformedRecordError("event body is not a JSON object")
        return EventEnvelope(
            event_id=UUID(fields["ce_id"]),
            event_type=event_type.removeprefix(TYPE_PREFIX),
            aggregate_id=UUID(fields["ce_subject"]),
            aggregate_version=int(fields["ce_aggregateversion"]),
            position=int(fields["ce_position"]),
            occurred_at=datetime.fromisoformat(fields["ce_time"]),
            schema_version=int(fields["ce_schemaversion"]),
            correlation_id=_optional_uuid(fields.get("ce_correlationid")),
            causation_id=_optional_uuid(fields.get("ce_causationid")),
            data=data,
            traceparent=fields.get("ce_traceparent") or None,
        )
    except (KeyError, ValueError) as error:
        if isinstance(error, MalformedRecordError):
            raise
        raise MalformedRecordError(f"malformed Ledger CloudEvent: {error!r}") from None


def _optional_uuid(text: str | None) -> UUID | None:
    return UUID(text) if text else None
