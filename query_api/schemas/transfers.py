"""A transfer's status and timeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

TransferStatus = Literal["requested", "debited", "credited", "completed", "failed"]


class TimelineEntryOut(BaseModel):
    """One event that moved the transfer along."""

    event_type: str
    event_id: UUID
    position: int
    occurred_at: datetime


class TransferOut(BaseModel):
    """A transfer between two accounts, as far as the read model has applied it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transfer_id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
                    "source_account_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
                    "target_account_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
                    "amount": 5000,
                    "currency": "EUR",
                    "reference": "rent december",
                    "status": "completed",
                    "failure_reason": None,
                    "debit_reversed": False,
                    "timeline": [
                        {
                            "event_type": "TransferRequested",
                            "event_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                            "position": 50,
                            "occurred_at": "2026-11-28T10:00:00+00:00",
                        }
                    ],
                    "requested_at": "2026-11-28T10:00:00+00:00",
                    "updated_at": "2026-11-28T10:00:01+00:00",
                }
            ]
        }
    )

    transfer_id: UUID
    source_account_id: UUID | None = Field(description="Null until the request is applied")
    target_account_id: UUID | None
    amount: int | None
    currency: str | None
    reference: str | None
    status: TransferStatus
    failure_reason: str | None = None
    debit_reversed: bool = False
    timeline: list[TimelineEntryOut] = Field(description="Ordered by global position")
    requested_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> TransferOut:
        """Build from a `transfers` document."""
        return cls(
            transfer_id=document["_id"],
            source_account_id=document.get("source_account_id"),
            target_account_id=document.get("target_account_id"),
            amount=document.get("amount"),
            currency=document.get("currency"),
            reference=document.get("reference"),
            status=document["status"],
            failure_reason=document.get("failure_reason"),
            debit_reversed=bool(document.get("debit_reversed", False)),
            timeline=[
                TimelineEntryOut(
                    event_type=entry["event_type"],
                    event_id=entry["event_id"],
                    position=entry["position"],
                    occurred_at=entry["occurred_at"],
                )
                for entry in sorted(document.get("timeline") or [], key=lambda e: e["position"])
            ],
            requested_at=document.get("requested_at"),
            updated_at=document.get("updated_at"),
        )
