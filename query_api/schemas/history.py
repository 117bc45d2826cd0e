"""The event history: events as recorded, and pages of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

EVENT_EXAMPLE: dict[str, Any] = {
    "event_id": "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
    "event_type": "FundsDeposited",
    "aggregate_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
    "aggregate_version": 2,
    "position": 41,
    "occurred_at": "2026-11-28T09:30:00.123456+00:00",
    "schema_version": 2,
    "correlation_id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
    "causation_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "data": {
        "amount": 12500,
        "currency": "EUR",
        "reference": "salary",
        "channel": "api",
        "balance_after": 12500,
    },
}


class EventOut(BaseModel):
    """One recorded event with its metadata; `data` holds the event's own fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})

    event_id: UUID
    event_type: str
    aggregate_id: UUID
    aggregate_version: int
    position: int = Field(description="Global position in the log")
    occurred_at: datetime
    schema_version: int
    correlation_id: UUID | None
    causation_id: UUID | None
    traceparent: str | None = Field(
        None,
        description="W3C trace context of the command that recorded it (its trace id is the "
        "second part); null when it ran outside any trace",
    )
    data: dict[str, Any]


class EventPage(BaseModel):
    """Events in log order; continue with `after=next_after`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE], "next_after": 41}]}
    )

    events: list[EventOut]
    next_after: int = Field(description="Pass as `after` for the next page")


class AccountHistory(BaseModel):
    """One account's events, in version order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": EVENT_EXAMPLE["aggregate_id"], "events": [EVENT_EXAMPLE]}]
        }
    )

    account_id: UUID
    events: list[EventOut]
