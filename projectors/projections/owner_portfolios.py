"""The `owner_portfolios` read model: one document per owner, with totals per currency.

Only `AccountOpened` names the owner, so the projection learns account -> owner from it
(kept in `owner_portfolios_v1_owners`) and finds each later account event's document
through that mapping. Each account's entry is guarded by the account version it has
applied; the document's own `version` counts its changes, so concurrent writers of one
owner's document (their accounts sit on different partitions) never overwrite each other.
"""

from __future__ import annotations

from typing import Any

from domain.envelope import EventEnvelope
from projectors.projections.accounts import ACCOUNT_EVENTS, BALANCE_EVENTS, STATUS_AFTER
from projectors.projections.projection import (
    Document,
    LookupProjection,
    ProjectionGapError,
    integer_field,
    text_field,
)

NAME = "owner_portfolios"
VERSION = 1


def learns(event: EventEnvelope) -> tuple[str, str] | None:
    """An opened account teaches its owner: (account id, owner id)."""
    if event.event_type != "AccountOpened":
        return None
    return str(event.aggregate_id), text_field(event, "owner_id")


def account_id(event: EventEnvelope) -> str | None:
    """Account events are looked up by their account; other aggregates' events are not ours."""
    return str(event.aggregate_id) if event.event_type in ACCOUNT_EVENTS else None


def apply(document: Document | None, event: EventEnvelope) -> Document | None:
    """Fold one account event into its owner's portfolio; None when already applied."""
    key = str(event.aggregate_id)
    entries: dict[str, Any] = document["accounts"] if document is not None else {}
    entry = entries.get(key)
    have = int(entry["version"]) if entry is not None else 0
    if event.aggregate_version <= have:
        return None
    opening = event.event_type == "AccountOpened"
    if event.aggregate_version != have + 1 or (entry is None) != opening:
        raise ProjectionGapError(NAME, key, have, event.aggregate_version)
    accounts = {**entries, key: _entry(entry, event)}
    if document is None:
        document = {"_id": text_field(event, "owner_id"), "version": 0, "updated_at": None}
    last = document["updated_at"]
    return {
        **document,
        "accounts": accounts,
        "totals": totals(accounts),
        "version": int(document["version"]) + 1,
        "updated_at": event.occurred_at if last is None else max(last, event.occurred_at),
    }


def _entry(entry: dict[str, Any] | None, event: EventEnvelope) -> dict[str, Any]:
    if entry is None:
        return {
            "currency": text_field(event, "currency"),
            "balance": 0,
            "status": "open",
            "version": event.aggregate_version,
        }
    updated = {**entry, "version": event.aggregate_version}
    if event.event_type in BALANCE_EVENTS:
        updated["balance"] = integer_field(event, "balance_after")
    elif event.event_type in STATUS_AFTER:
        updated["status"] = STATUS_AFTER[event.event_type]
    return updated


def totals(accounts: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per currency, the balance and number of the accounts that are not closed."""
    result: dict[str, dict[str, int]] = {}
    for entry in accounts.values():
        if entry["status"] == "closed":
            continue
        total = result.setdefault(str(entry["currency"]), {"balance": 0, "accounts": 0})
        total["balance"] += int(entry["balance"])
        total["accounts"] += 1
    return dict(sorted(result.items()))


PROJECTION = LookupProjection(
    name=NAME,
    version=VERSION,
    learns=learns,
    lookup_key=account_id,
    apply=apply,
    lookup_name="owners",
    lookup_field="owner_id",
)
