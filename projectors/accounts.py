"""The `accounts` read model: one summary document per account."""

from __future__ import annotations

from projectors.envelope import EventEnvelope
from projectors.projection import Document, DocumentProjection, ProjectionGapError, by_aggregate

NAME = "accounts"
VERSION = 1

_BALANCE_EVENTS = frozenset(
    {
        "FundsDeposited",
        "FundsWithdrawn",
        "TransferDebited",
        "TransferCredited",
        "TransferDebitReversed",
    }
)
_STATUS_AFTER = {"AccountFrozen": "frozen", "AccountUnfrozen": "open", "AccountClosed": "closed"}
ACCOUNT_EVENTS = frozenset({"AccountOpened"}) | _BALANCE_EVENTS | frozenset(_STATUS_AFTER)


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
    if event.event_type in _BALANCE_EVENTS:
        updated["balance"] = int(event.data["balance_after"])
    elif event.event_type in _STATUS_AFTER:
        updated["status"] = _STATUS_AFTER[event.event_type]
    updated["version"] = event.aggregate_version
    updated["position"] = event.position
    updated["updated_at"] = event.occurred_at
    return updated


def _opened(event: EventEnvelope) -> Document:
    return {
        "_id": str(event.aggregate_id),
        "owner_id": str(event.data["owner_id"]),
        "currency": str(event.data["currency"]),
        "overdraft_limit": int(event.data.get("overdraft_limit", 0)),
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
