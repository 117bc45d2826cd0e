"""Liveness with projection progress, and readiness."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PartitionOut(BaseModel):
    """One partition's progress of one projection."""

    partition: int
    position: int = Field(description="Global position of the last event applied")
    lag_events: int
    updated_at: datetime | None


class ProjectionHealthOut(BaseModel):
    """How far one projection has got, and how far behind it is."""

    projection: str
    version: int
    position: int = Field(description="The newest event applied, over all partitions")
    lag_events: int = Field(description="Records published but not applied, all partitions")
    lag_seconds: float = Field(description="Age of the oldest partition's last applied event")
    partitions: list[PartitionOut]


class HealthOut(BaseModel):
    """The process is alive; what it knows of the projections it serves."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "projections": [
                        {
                            "projection": "accounts",
                            "version": 1,
                            "position": 4242,
                            "lag_events": 0,
                            "lag_seconds": 0.0,
                            "partitions": [
                                {
                                    "partition": 0,
                                    "position": 4242,
                                    "lag_events": 0,
                                    "updated_at": "2026-11-28T09:30:00+00:00",
                                }
                            ],
                        }
                    ],
                    "consistency_waiters": 0,
                    "read_store": "ok",
                }
            ]
        }
    )

    status: str
    projections: list[ProjectionHealthOut] | None = Field(
        description=(
            "From the projections' progress; null when the read store or the event store"
            " does not answer"
        )
    )
    consistency_waiters: int = Field(description="Requests waiting for a view to catch up")
    read_store: str


class ReadyOut(BaseModel):
    """Readiness of each store the API reads."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "mongodb": "ok", "postgres": "ok"}]}
    )

    status: str
    mongodb: str
    postgres: str
