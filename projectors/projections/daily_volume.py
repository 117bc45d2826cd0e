"""The `daily_volume` read model: money moved per currency, UTC day and account.

Each document holds one account's part of a day's volume and the account version it
last applied, so every write is an idempotent single-document write; the query side
sums the parts per (currency, day). A transfer counts once, on its debit; a debit given
back counts in `reversals`.
"""

from __future__ import annotations

from datetime import UTC

from domain.envelope import EventEnvelope
from projectors.projections.projection import (
    Document,
    DocumentProjection,
    integer_field,
    text_field,
)

NAME = "daily_volume"
VERSION = 1

# which counter each money movement adds to
_COUNTER = {
    "FundsDeposited": "deposits",
    "FundsWithdrawn": "withdrawals",
    "TransferDebited": "transfers",
    "TransferDebitReversed": "reversals",
}
COUNTERS = ("deposits", "withdrawals", "transfers", "reversals")


def day_of(event: EventEnvelope) -> str:
    """The UTC day the event happened on, as `YYYY-MM-DD`."""
    return event.occurred_at.astimezone(UTC).date().isoformat()


def document_id(event: EventEnvelope) -> str | None:
    """`<currency>:<day>:<account id>` for money movements that count; None otherwise."""
    if event.event_type not in _COUNTER:
        return None
    return f"{text_field(event, 'currency')}:{day_of(event)}:{event.aggregate_id}"


def apply(document: Document | None, event: EventEnvelope) -> Document | None:
    """Add one movement to its account's part of the day; None when already counted."""
    if document is not None and event.aggregate_version <= int(document["version"]):
        return None
    counter = _COUNTER[event.event_type]
    updated = dict(document) if document is not None else _empty(event)
    before = updated[counter]
    updated[counter] = {
        "count": int(before["count"]) + 1,
        "amount": int(before["amount"]) + integer_field(event, "amount"),
    }
    updated["version"] = event.aggregate_version
    return updated


def _empty(event: EventEnvelope) -> Document:
    document: Document = {
        "_id": document_id(event),
        "currency": text_field(event, "currency"),
        "day": day_of(event),
        "account_id": str(event.aggregate_id),
    }
    for counter in COUNTERS:
        document[counter] = {"count": 0, "amount": 0}
    document["version"] = 0
    return document


PROJECTION = DocumentProjection(name=NAME, version=VERSION, document_id=document_id, apply=apply)
