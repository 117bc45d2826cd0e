"""Builders of envelopes for tests of pure read-side code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.envelope import EventEnvelope

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def envelope(
    event_type: str,
    aggregate_id: UUID,
    version: int,
    position: int | None = None,
    **data: Any,
) -> EventEnvelope:
    """An envelope whose time and position follow from its version unless given."""
    return EventEnvelope(
        event_id=uuid4(),
        event_type=event_type,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        position=position if position is not None else version,
        occurred_at=EPOCH + timedelta(seconds=position or version),
        schema_version=1,
        correlation_id=uuid4(),
        causation_id=uuid4(),
        data=data,
    )
