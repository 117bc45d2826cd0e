"""The `accounts` read model: one summary document per account."""

from __future__ import annotations

from domain.envelope import EventEnvelope
from projectors.projections.projection import (
    Document,
    DocumentProjection,
    ProjectionGapError,
    by_aggregate,
    integer_field,
    text_field,
)

NAME = "accounts"
VERSION = 1

# Every event that moves money on an account carries the balance it leaves.
BALANCE_EVENTS = frozenset(
    {
        "FundsDeposited",
        "FundsWithdrawn",
        "TransferDebited",
        "TransferCredited",
        "TransferDebitReversed",
    }
)
STATUS_AFTER = {"AccountFrozen": "frozen", "AccountUnfrozen": "open", "AccountClosed": "closed"}
ACCOUNT_EVENTS = frozenset({"AccountOpened"}) | BALANCE_EVENTS | frozenset(STATUS_AFTER)


def account_id(event: EventEnvelope) -> str | None:
    """Account events belong to the account's document; other aggregates' events don't."""
    return by_aggregate(event) if event.event_type in ACCOUNT_EVENTS else None


def apply(document: Document | None, event: EventEnvelope) -> Document | None:
    """Fold one account event into the account's summary; None when already applied."""
    if document is None:
        return _opened(event) if event.event_type == "AccountOpened" else _gap(None, event)
    version = int(document["version"])
    if event.aggregate_version <= version:
        return None
    if event.aggregate_version != version + 1:
        return _gap(document, event)
    updated = dict(document)
    if event.event_type in BALANCE_EVENTS:
        updated["balance"] = integer_field(event, "balance_after")
    elif event.event_type in STATUS_AFTER:
        updated["status"] = STATUS_AFTER[event.event_type]
    updated["version"] = event.aggregate_version
    updated["position"] = event.position
    updated["updated_at"] = event.occurred_at
    return updated


def _opened(event: EventEnvelope) -> Document:
    return {
        "_id": str(event.aggregate_id),
        "owner_id": text_field(event, "owner_id"),
        "currency": text_field(event, "currency"),
        "overdraft_limit": (
            integer_field(event, "overdraft_limit") if "overdraft_limit" in event.data else 0
        ),
        "balance": 0,
        "status": "open",
        "version": event.aggregate_version,
        "position": event.position,
        "opened_at": event.occurred_at,
        "updated_at": event.occurred_at,
    }


def _gap(document: Document | None, event: EventEnvelope) -> Document | None:
    have = int(document["version"]) if document else 0
    raise ProjectionGapError(NAME, str(event.aggregate_id), have, event.aggregate_version)


PROJECTION = DocumentProjection(name=NAME, version=VERSION, document_id=account_id, apply=apply)
