"""Response models of the query API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class AccountOut(BaseModel):
    """An account summary, as of `version`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
                    "owner_id": "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
                    "currency": "EUR",
                    "balance": 12500,
                    "overdraft_limit": 0,
                    "status": "open",
                    "version": 3,
                    "position": 42,
                    "updated_at": "2026-11-28T09:30:00+00:00",
                }
            ]
        }
    )

    account_id: UUID
    owner_id: UUID
    currency: str = Field(description="ISO 4217 code")
    balance: int = Field(description="Balance in minor units of the currency")
    overdraft_limit: int = Field(description="How far below zero the balance may go, minor units")
    status: Literal["open", "frozen", "closed"]
    version: int = Field(description="The account's aggregate version this view reflects")
    position: int = Field(description="Global log position of the last event applied")
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> AccountOut:
        """Build from an `accounts` read-model document."""
        return cls(account_id=document["_id"], **{k: v for k, v in document.items() if k != "_id"})
