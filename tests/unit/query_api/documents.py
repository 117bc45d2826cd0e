"""Read-model documents in the shapes of docs/read-models.md, for the query API's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
Document = dict[str, Any]


def account(
    account_id: UUID | None = None,
    *,
    owner_id: UUID | None = None,
    currency: str = "EUR",
    balance: int = 0,
    status: str = "open",
    version: int = 1,
    position: int = 1,
) -> Document:
    """An `accounts_v1` document."""
    return {
        "_id": str(account_id or uuid4()),
        "owner_id": str(owner_id or uuid4()),
        "currency": currency,
        "overdraft_limit": 0,
        "balance": balance,
        "status": status,
        "version": version,
        "position": position,
        "opened_at": EPOCH,
        "updated_at": EPOCH + timedelta(seconds=version),
    }


def statement_line(
    account_id: UUID,
    version: int,
    *,
    amount: int = 100,
    balance_after: int = 100,
    occurred_at: datetime | None = None,
    kind: str = "deposit",
    position: int | None = None,
) -> Document:
    """An `account_statements_v1` line."""
    return {
        "_id": f"{account_id}:{version:010d}",
        "account_id": str(account_id),
        "version": version,
        "position": position if position is not None else version,
        "event_id": str(uuid4()),
        "kind": kind,
        "amount": amount,
        "currency": "EUR",
        "balance_after": balance_after,
        "reference": f"movement {version}",
        "transfer_id": None,
        "occurred_at": occurred_at or EPOCH + timedelta(minutes=version),
    }


def portfolio(owner_id: UUID, accounts: dict[UUID, Document], version: int = 1) -> Document:
    """An `owner_portfolios_v1` document; totals follow from the accounts."""
    totals: dict[str, Document] = {}
    for entry in accounts.values():
        if entry["status"] != "closed":
            total = totals.setdefault(entry["currency"], {"balance": 0, "accounts": 0})
            total["balance"] += entry["balance"]
            total["accounts"] += 1
    return {
        "_id": str(owner_id),
        "accounts": {str(account_id): entry for account_id, entry in accounts.items()},
        "totals": totals,
        "version": version,
        "updated_at": EPOCH,
    }


def portfolio_entry(
    currency: str, balance: int, status: str = "open", version: int = 2
) -> Document:
    """One account's entry in a portfolio."""
    return {"currency": currency, "balance": balance, "status": status, "version": version}


def transfer(
    transfer_id: UUID,
    source: UUID,
    target: UUID,
    *,
    status: str = "completed",
    positions: tuple[int, ...] = (10, 11, 12, 13),
) -> Document:
    """A `transfers_v1` document."""
    kinds = ("TransferRequested", "TransferDebited", "TransferCredited", "TransferCompleted")
    timeline = [
        {
            "event_type": kind,
            "event_id": str(uuid4()),
            "position": position,
            "occurred_at": EPOCH + timedelta(seconds=position),
        }
        for kind, position in zip(kinds, positions, strict=False)
    ]
    return {
        "_id": str(transfer_id),
        "source_account_id": str(source),
        "target_account_id": str(target),
        "amount": 5000,
        "currency": "EUR",
        "reference": "rent",
        "status": status,
        "failure_reason": None,
        "debit_reversed": False,
        "timeline": timeline,
        "applied": [entry["event_id"] for entry in timeline],
        "requested_at": EPOCH,
        "updated_at": EPOCH + timedelta(seconds=1),
    }


def daily_volume(
    currency: str,
    day: str,
    account_id: UUID | None = None,
    *,
    deposits: tuple[int, int] = (0, 0),
    withdrawals: tuple[int, int] = (0, 0),
    transfers: tuple[int, int] = (0, 0),
    reversals: tuple[int, int] = (0, 0),
) -> Document:
    """A `daily_volume_v1` part: one account's movements in one currency on one day."""
    account_id = account_id or uuid4()

    def movement(figures: tuple[int, int]) -> Document:
        return {"count": figures[0], "amount": figures[1]}

    return {
        "_id": f"{currency}:{day}:{account_id}",
        "currency": currency,
        "day": day,
        "account_id": str(account_id),
        "deposits": movement(deposits),
        "withdrawals": movement(withdrawals),
        "transfers": movement(transfers),
        "reversals": movement(reversals),
        "version": 1,
    }
