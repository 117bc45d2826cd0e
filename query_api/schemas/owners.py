"""An owner's portfolio."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from query_api.schemas.accounts import AccountStatus


class PortfolioAccountOut(BaseModel):
    """One of the owner's accounts, as the portfolio has it."""

    account_id: UUID
    currency: str
    balance: int
    status: AccountStatus
    version: int = Field(description="The account version this entry reflects")


class CurrencyTotalOut(BaseModel):
    """What the owner holds in one currency, over accounts that are not closed."""

    currency: str
    balance: int = Field(description="Sum of balances, minor units")
    accounts: int = Field(description="How many accounts")


class PortfolioOut(BaseModel):
    """An owner's accounts and totals per currency."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "owner_id": "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
                    "accounts": [
                        {
                            "account_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
                            "currency": "EUR",
                            "balance": 12500,
                            "status": "open",
                            "version": 3,
                        }
                    ],
                    "totals": [{"currency": "EUR", "balance": 12500, "accounts": 1}],
                    "version": 4,
                    "updated_at": "2026-11-28T09:30:00+00:00",
                }
            ]
        }
    )

    owner_id: UUID
    accounts: list[PortfolioAccountOut] = Field(description="Ordered by account id")
    totals: list[CurrencyTotalOut] = Field(description="Ordered by currency")
    version: int = Field(description="Counts the changes of this portfolio")
    updated_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PortfolioOut:
        """Build from an `owner_portfolios` document (maps become sorted lists)."""
        accounts: Mapping[str, Mapping[str, Any]] = document.get("accounts") or {}
        totals: Mapping[str, Mapping[str, Any]] = document.get("totals") or {}
        return cls(
            owner_id=document["_id"],
            accounts=[
                PortfolioAccountOut(
                    account_id=UUID(account_id),
                    currency=entry["currency"],
                    balance=entry["balance"],
                    status=entry["status"],
                    version=entry["version"],
                )
                for account_id, entry in sorted(accounts.items())
            ],
            totals=[
                CurrencyTotalOut(
                    currency=currency, balance=total["balance"], accounts=total["accounts"]
                )
                for currency, total in sorted(totals.items())
            ],
            version=document.get("version", 0),
            updated_at=document.get("updated_at"),
        )
