"""Accounts, account lists and statements."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

AccountStatus = Literal["open", "frozen", "closed"]
MovementKind = Literal[
    "deposit", "withdrawal", "transfer_debit", "transfer_credit", "transfer_reversal"
]

ACCOUNT_EXAMPLE: dict[str, Any] = {
    "account_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
    "owner_id": "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
    "currency": "EUR",
    "balance": 12500,
    "overdraft_limit": 0,
    "status": "open",
    "version": 3,
    "position": 42,
    "opened_at": "2026-11-20T08:00:00+00:00",
    "updated_at": "2026-11-28T09:30:00+00:00",
}
LINE_EXAMPLE: dict[str, Any] = {
    "version": 3,
    "position": 42,
    "event_id": "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
    "kind": "deposit",
    "amount": 12500,
    "currency": "EUR",
    "balance_after": 12500,
    "reference": "salary november",
    "transfer_id": None,
    "occurred_at": "2026-11-28T09:30:00+00:00",
}
NEXT_CURSOR_EXAMPLE = "eyJ2IjoxLCJzIjoiOGQ5YzBiMWEyZjNlNGQ1YyIsImsiOlsiM2YxYy4uLiJdfQ"


class AccountOut(BaseModel):
    """An account summary, as of `version`."""

    model_config = ConfigDict(json_schema_extra={"examples": [ACCOUNT_EXAMPLE]})

    account_id: UUID
    owner_id: UUID
    currency: str = Field(description="ISO 4217 code")
    balance: int = Field(description="Balance in minor units of the currency")
    overdraft_limit: int = Field(description="How far below zero the balance may go, minor units")
    status: AccountStatus
    version: int = Field(description="The account's aggregate version this view reflects")
    position: int = Field(description="Global log position of the last event applied")
    opened_at: datetime | None = None
    updated_at: datetime

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AccountOut:
        """Build from an `accounts` read-model document."""
        return cls(
            account_id=document["_id"],
            owner_id=document["owner_id"],
            currency=document["currency"],
            balance=document["balance"],
            overdraft_limit=document.get("overdraft_limit", 0),
            status=document["status"],
            version=document["version"],
            position=document["position"],
            opened_at=document.get("opened_at"),
            updated_at=document["updated_at"],
        )


class AccountPage(BaseModel):
    """One page of accounts, ordered by account id."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [ACCOUNT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[AccountOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class StatementLineOut(BaseModel):
    """One money movement on an account, with the balance after it."""

    model_config = ConfigDict(json_schema_extra={"examples": [LINE_EXAMPLE]})

    version: int = Field(description="The account version of the movement")
    position: int = Field(description="Global log position of the movement")
    event_id: UUID
    kind: MovementKind
    amount: int = Field(description="Signed minor units: + money in, - money out")
    currency: str
    balance_after: int
    reference: str
    transfer_id: UUID | None = None
    occurred_at: datetime

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> StatementLineOut:
        """Build from an `account_statements` line."""
        return cls(
            version=document["version"],
            position=document["position"],
            event_id=document["event_id"],
            kind=document["kind"],
            amount=document["amount"],
            currency=document["currency"],
            balance_after=document["balance_after"],
            reference=document.get("reference", ""),
            transfer_id=document.get("transfer_id"),
            occurred_at=document["occurred_at"],
        )


class StatementPage(BaseModel):
    """One page of an account's statement, newest movement first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": ACCOUNT_EXAMPLE["account_id"],
                    "items": [LINE_EXAMPLE],
                    "next_cursor": NEXT_CURSOR_EXAMPLE,
                }
            ]
        }
    )

    account_id: UUID
    items: list[StatementLineOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for older lines; null: last")
