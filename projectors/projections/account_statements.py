"""The `account_statements` read model: one line per money movement on an account.

Lines are insert-only and keyed by (account, version), so a replayed movement is a
duplicate key and changes nothing; each line carries the balance its event left.
"""

from __future__ import annotations

from domain.envelope import EventEnvelope
from projectors.projections.projection import (
    Document,
    Index,
    LineProjection,
    integer_field,
    text_field,
)

NAME = "account_statements"
VERSION = 1

# kind of line, and the sign of the movement for the account
_MOVEMENTS = {
    "FundsDeposited": ("deposit", 1),
    "FundsWithdrawn": ("withdrawal", -1),
    "TransferDebited": ("transfer_debit", -1),
    "TransferCredited": ("transfer_credit", 1),
    "TransferDebitReversed": ("transfer_reversal", 1),
}


def line_id(account_id: str, version: int) -> str:
    """`<account id>:<version, 10 digits>`: the same movement always gets the same id."""
    return f"{account_id}:{version:010d}"


def lines(event: EventEnvelope) -> list[Document]:
    """The statement line a money movement adds to its account; none for other events."""
    movement = _MOVEMENTS.get(event.event_type)
    if movement is None:
        return []
    kind, sign = movement
    account_id = str(event.aggregate_id)
    is_transfer_leg = event.event_type.startswith("Transfer")
    return [
        {
            "_id": line_id(account_id, event.aggregate_version),
            "account_id": account_id,
            "version": event.aggregate_version,
            "position": event.position,
            "event_id": str(event.event_id),
            "kind": kind,
            "amount": sign * integer_field(event, "amount"),
            "currency": text_field(event, "currency"),
            "balance_after": integer_field(event, "balance_after"),
            "reference": _reference(event),
            "transfer_id": text_field(event, "transfer_id") if is_transfer_leg else None,
            "occurred_at": event.occurred_at,
        }
    ]


def _reference(event: EventEnvelope) -> str:
    if event.event_type == "TransferDebitReversed":
        return text_field(event, "reason")
    if event.event_type in {"FundsDeposited", "FundsWithdrawn"}:
        return text_field(event, "reference")
    return ""


PROJECTION = LineProjection(
    name=NAME,
    version=VERSION,
    lines=lines,
    indexes=(Index(("account_id", "version"), unique=True),),
)
