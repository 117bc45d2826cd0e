"""The `transfers` read model: one document per transfer, fed by three aggregates.

The transfer's own events and the legs recorded on its source and target accounts sit
on different partitions, so they arrive in any order. The document lists the event ids
it has applied (the idempotency guard, and the write guard: a writer replaces only the
document whose list it folded from), and everything else in it is derived so that the
same set of events gives the same document whatever the order they came in.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.envelope import EventEnvelope
from projectors.projections.projection import (
    Document,
    DocumentProjection,
    integer_field,
    text_field,
)

NAME = "transfers"
VERSION = 1

_OWN_EVENTS = frozenset({"TransferRequested", "TransferCompleted", "TransferFailed"})
_LEG_EVENTS = frozenset({"TransferDebited", "TransferCredited", "TransferDebitReversed"})

# the status each event proves, most advanced first: a finished status wins
_STATUS_BY_PRECEDENCE = (
    ("TransferCompleted", "completed"),
    ("TransferFailed", "failed"),
    ("TransferCredited", "credited"),
    ("TransferDebited", "debited"),
)


def transfer_id(event: EventEnvelope) -> str | None:
    """The transfer an event is part of: its own aggregate, or the leg's `transfer_id`."""
    if event.event_type in _OWN_EVENTS:
        return str(event.aggregate_id)
    if event.event_type in _LEG_EVENTS:
        return text_field(event, "transfer_id")
    return None


def applied_guard(document: Document) -> Document:
    """Match the stored transfer only while it lists exactly the events it was read with."""
    return {"applied": document["applied"]}


def apply(document: Document | None, event: EventEnvelope) -> Document | None:
    """Fold one event into the transfer; None when the event is already applied."""
    event_id = str(event.event_id)
    if document is not None and event_id in document["applied"]:
        return None
    updated = dict(document) if document is not None else _empty(event)
    _FIELDS[event.event_type](updated, event)
    entry = {
        "event_type": event.event_type,
        "event_id": event_id,
        "position": event.position,
        "occurred_at": event.occurred_at,
    }
    timeline = sorted([*updated["timeline"], entry], key=lambda item: int(item["position"]))
    updated["timeline"] = timeline
    updated["applied"] = [str(item["event_id"]) for item in timeline]
    updated["status"] = _status({str(item["event_type"]) for item in timeline})
    last = updated["updated_at"]
    updated["updated_at"] = event.occurred_at if last is None else max(last, event.occurred_at)
    return updated


def _empty(event: EventEnvelope) -> Document:
    return {
        "_id": transfer_id(event),
        "source_account_id": None,
        "target_account_id": None,
        "amount": None,
        "currency": None,
        "reference": None,
        "status": "requested",
        "failure_reason": None,
        "debit_reversed": False,
        "timeline": [],
        "applied": [],
        "requested_at": None,
        "updated_at": None,
    }


def _status(event_types: set[str]) -> str:
    for event_type, status in _STATUS_BY_PRECEDENCE:
        if event_type in event_types:
            return status
    return "requested"


def _requested(document: Document, event: EventEnvelope) -> None:
    document["source_account_id"] = text_field(event, "source_id")
    document["target_account_id"] = text_field(event, "target_id")
    document["amount"] = integer_field(event, "amount")
    document["currency"] = text_field(event, "currency")
    document["reference"] = text_field(event, "reference")
    document["requested_at"] = event.occurred_at


def _failed(document: Document, event: EventEnvelope) -> None:
    # The failure's own reason wins over a reversal's, whichever arrived first.
    document["failure_reason"] = text_field(event, "reason")
    if event.data.get("debit_reversed") is True:
        document["debit_reversed"] = True


def _debit_reversed(document: Document, event: EventEnvelope) -> None:
    document["debit_reversed"] = True
    if document["failure_reason"] is None:
        document["failure_reason"] = text_field(event, "reason")


def _nothing_more(document: Document, event: EventEnvelope) -> None:
    """The event only adds to the timeline and the status."""


_FIELDS: dict[str, Callable[[Document, EventEnvelope], None]] = {
    "TransferRequested": _requested,
    "TransferCompleted": _nothing_more,
    "TransferFailed": _failed,
    "TransferDebited": _nothing_more,
    "TransferCredited": _nothing_more,
    "TransferDebitReversed": _debit_reversed,
}

PROJECTION = DocumentProjection(
    name=NAME,
    version=VERSION,
    document_id=transfer_id,
    apply=apply,
    guard=applied_guard,
    spans_aggregates=True,
)
