"""Operator views and commands on projections (`/v1/admin/projections…`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from projectors.operations.operations import ProjectionReport, RetryReport

INT64_MAX = 2**63 - 1
MAX_GRACE_SECONDS = 7 * 24 * 3600.0
MAX_LETTER_IDS = 1_000

LetterStatus = Literal["pending", "retried", "discarded"]
RebuildTaskStatus = Literal["running", "succeeded", "failed", "interrupted", "cancelled"]


class RebuildStateOut(BaseModel):
    """A rebuild in progress, as the catalog records it (whoever runs it)."""

    collection: str = Field(description="The new build's main collection")
    stage: str = Field(description="`building` (from the event store) or `switching`")
    position: int = Field(description="Every event up to this global position is in the build")
    head: int | None = Field(description="The event store's last position when last looked")
    started_at: datetime
    updated_at: datetime


class RetiredBuildOut(BaseModel):
    """A build switched away from, kept until `drop_after`."""

    collection: str
    drop_after: datetime


class RebuildTaskOut(BaseModel):
    """The rebuild this query API replica runs or last ran for the projection."""

    status: RebuildTaskStatus
    started_at: datetime
    finished_at: datetime | None
    stage: str | None = Field(description="Of the last progress report: building, switching")
    position: int | None
    head: int | None
    applied: int = Field(description="Events applied by this run")
    events_per_second: float
    eta_seconds: float | None = Field(description="To reach the head at the current rate")
    error: str | None
    build: str | None = Field(description="The collection made live, once it succeeded")


PROJECTION_EXAMPLE: dict[str, Any] = {
    "name": "accounts",
    "version": 1,
    "code_version": 1,
    "generation": 2,
    "collection": "accounts_v1_g2",
    "state": "rebuilding",
    "message": None,
    "position": 4242,
    "lag_events": 0,
    "lag_seconds": 0.0,
    "events_per_second": 12.5,
    "workers": 1,
    "dead_letters": 0,
    "rebuild": {
        "collection": "accounts_v1_g3",
        "stage": "building",
        "position": 2000,
        "head": 4242,
        "started_at": "2026-11-28T09:30:00+00:00",
        "updated_at": "2026-11-28T09:30:04+00:00",
    },
    "retired": [{"collection": "accounts_v1", "drop_after": "2026-11-28T09:31:00+00:00"}],
    "rebuild_task": {
        "status": "running",
        "started_at": "2026-11-28T09:30:00+00:00",
        "finished_at": None,
        "stage": "building",
        "position": 2000,
        "head": 4242,
        "applied": 2000,
        "events_per_second": 500.0,
        "eta_seconds": 4.5,
        "error": None,
        "build": None,
    },
}


class ProjectionOut(BaseModel):
    """One projection as operators see it: build, state, position, lag, rate, dead letters."""

    model_config = ConfigDict(json_schema_extra={"examples": [PROJECTION_EXAMPLE]})

    name: str
    version: int = Field(description="Code version of the live build")
    code_version: int = Field(description="Version of the projection's code in this release")
    generation: int = Field(description="Generation of the live build's collections")
    collection: str = Field(description="The live build's main collection")
    state: str = Field(description="running, paused, held, rebuilding, or failed")
    message: str | None = Field(description="Why a worker cannot run it (state `failed`)")
    position: int | None = Field(description="The newest event applied (null: none yet)")
    lag_events: int | None = Field(description="Published, not yet applied (null: Kafka down)")
    lag_seconds: float | None = Field(description="Age of the last applied event while behind")
    events_per_second: float = Field(description="Over every running worker")
    workers: int = Field(description="Workers consuming it now")
    dead_letters: int = Field(description="Letters pending an operator")
    rebuild: RebuildStateOut | None = Field(description="A rebuild in progress, if any")
    retired: list[RetiredBuildOut]
    rebuild_task: RebuildTaskOut | None = Field(
        default=None,
        description="The rebuild this replica started, with rate and ETA (other replicas' "
        "rebuilds show under `rebuild` only)",
    )

    @classmethod
    def from_report(
        cls, report: ProjectionReport, task: RebuildTaskOut | None = None
    ) -> ProjectionOut:
        """The API shape of an operations report."""
        return cls.model_validate({**report.to_json(), "rebuild_task": task})


class ProjectionList(BaseModel):
    """Every projection, by name."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [PROJECTION_EXAMPLE]}]})

    items: list[ProjectionOut]


JSON_SAFE_MAX = 2**53 - 1


class ResetIn(BaseModel):
    """Where to replay from: the workers apply again every event after `to_position`."""

    # strict: JSON's `false` or `"5"` is no position; the document says integer.
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"to_position": 0}]}
    )

    # I-JSON (RFC 7493) integers: every client's JSON number type holds them exactly, so a
    # generated client (or schemathesis, which compares as floats) agrees on the maximum.
    to_position: int = Field(ge=0, le=JSON_SAFE_MAX, description="0 replays the whole log")

    @field_validator("to_position", mode="before")
    @classmethod
    def whole_number(cls, value: object) -> object:
        """`5.0` as `5`: JSON Schema's `integer` admits both spellings of one number."""
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value


class ResetOut(BaseModel):
    """The consumer offsets the projection's workers start from."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "accounts",
                    "to_position": 4000,
                    "offsets": {"ledger.events:0": 1310, "ledger.events:1": 1297},
                }
            ]
        }
    )

    name: str
    to_position: int
    offsets: dict[str, int] = Field(description="Per `topic:partition`, the next offset read")


class RebuildIn(BaseModel):
    """How long the old build stays after the switch (readers of a cached build finish)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"grace_seconds": 60.0}]}
    )

    grace_seconds: float = Field(default=60.0, ge=0, le=MAX_GRACE_SECONDS)


class RebuildAcceptedOut(BaseModel):
    """The rebuild runs in the background; follow it at `location`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "accounts",
                    "status": "accepted",
                    "grace_seconds": 60.0,
                    "location": "/v1/admin/projections/accounts",
                }
            ]
        }
    )

    name: str
    status: Literal["accepted"] = "accepted"
    grace_seconds: float
    location: str = Field(description="The projection's report: state, progress, rate, ETA")


GAP_ERROR = "ProjectionGapError: accounts: document 3f1c… is at version 0, cannot apply version 2"
LETTER_EXAMPLE: dict[str, Any] = {
    "id": "accounts:7d0f3c1e-8a52-4b8e-9a2f-0c6e8d1b2a44",
    "projection": "accounts",
    "status": "pending",
    "error": GAP_ERROR,
    "attempts": 6,
    "first_failed_at": "2026-11-28T09:30:00+00:00",
    "last_failed_at": "2026-11-28T09:30:02+00:00",
    "retried_at": None,
    "discarded_at": None,
    "event": {
        "event_id": "7d0f3c1e-8a52-4b8e-9a2f-0c6e8d1b2a44",
        "event_type": "FundsDeposited",
        "aggregate_id": "3f1c2b9e-1d4a-4c55-8e0b-6a1f2d3c4b5a",
        "aggregate_version": 2,
        "position": 4242,
        "occurred_at": "2026-11-28T09:29:59+00:00",
        "schema_version": 1,
        "correlation_id": None,
        "causation_id": None,
        "data": {
            "amount": 100,
            "currency": "EUR",
            "reference": "r",
            "channel": "api",
            "balance_after": 100,
        },
    },
}


class DeadLetterOut(BaseModel):
    """An event a projection could not apply (projection `*`: a record that was no event)."""

    model_config = ConfigDict(json_schema_extra={"examples": [LETTER_EXAMPLE]})

    id: str
    projection: str
    status: LetterStatus
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    retried_at: datetime | None = None
    discarded_at: datetime | None = None
    event: dict[str, Any] = Field(
        description="The event as the projections take it; for `*`, the raw Kafka record"
    )

    @classmethod
    def from_document(cls, letter: dict[str, Any]) -> DeadLetterOut:
        """The API shape of a stored letter."""
        event = dict(letter["event"])
        if "event_id" in event and isinstance(event.get("data"), str):
            # Stored as JSON text because MongoDB refuses its keys; JSON has no such limit.
            event["data"] = json.loads(event["data"])
        fields = {key: value for key, value in letter.items() if key not in ("_id", "event")}
        return cls.model_validate({**fields, "id": str(letter["_id"]), "event": event})


class DeadLetterList(BaseModel):
    """Letters, oldest failure first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [LETTER_EXAMPLE]}]})

    items: list[DeadLetterOut]


class LetterIdsIn(BaseModel):
    """Which pending letters to act on; without `ids`, every pending letter of the projection."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ids": [LETTER_EXAMPLE["id"]]}, {}]},
    )

    ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_LETTER_IDS)


class RetryFailureOut(BaseModel):
    """A letter that still fails; it stays pending with the new error."""

    id: str
    error: str


class RetryOut(BaseModel):
    """What retrying did: letters now applied, and those that still fail."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "retried": 3,
                    "failed": [{"id": LETTER_EXAMPLE["id"], "error": GAP_ERROR}],
                }
            ]
        }
    )

    retried: int
    failed: list[RetryFailureOut]

    @classmethod
    def from_report(cls, report: RetryReport) -> RetryOut:
        """The API shape of a retry's report."""
        return cls(
            retried=report.retried,
            failed=[RetryFailureOut(id=letter, error=error) for letter, error in report.failed],
        )


class DiscardOut(BaseModel):
    """How many pending letters were marked discarded (kept for the record, never applied)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"discarded": 2}]})

    discarded: int
