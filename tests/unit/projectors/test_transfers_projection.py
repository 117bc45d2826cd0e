"""Transfers: one document fed by three aggregates, in whatever order their events arrive."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

import pytest

from domain.envelope import EventEnvelope
from projectors.projections.projection import Document
from projectors.projections.transfers import PROJECTION, applied_guard, apply, transfer_id
from tests.unit.factories import envelope

TRANSFER = uuid4()
SOURCE = uuid4()
TARGET = uuid4()


def requested(position: int = 10) -> EventEnvelope:
    return envelope(
        "TransferRequested",
        TRANSFER,
        1,
        position,
        source_id=str(SOURCE),
        target_id=str(TARGET),
        amount=40,
        currency="EUR",
        reference="rent",
    )


def leg(
    event_type: str, account: UUID, version: int, position: int, **data: object
) -> EventEnvelope:
    return envelope(
        event_type,
        account,
        version,
        position,
        transfer_id=str(TRANSFER),
        amount=40,
        currency="EUR",
        balance_after=0,
        **data,
    )


def debited(position: int = 11) -> EventEnvelope:
    return leg("TransferDebited", SOURCE, 5, position)


def credited(position: int = 12) -> EventEnvelope:
    return leg("TransferCredited", TARGET, 3, position)


def completed(position: int = 13) -> EventEnvelope:
    return envelope("TransferCompleted", TRANSFER, 2, position)


def reversed_debit(position: int = 12) -> EventEnvelope:
    return leg("TransferDebitReversed", SOURCE, 6, position, reason="target frozen")


def failed(position: int = 13, *, debit_reversed: bool = True) -> EventEnvelope:
    return envelope(
        "TransferFailed",
        TRANSFER,
        2,
        position,
        reason="target frozen",
        debit_reversed=debit_reversed,
    )


def fold(*events: EventEnvelope) -> Document:
    document: Document | None = None
    for event in events:
        document = apply(document, event) or document
    assert document is not None
    return document


def test_a_requested_transfer_knows_its_accounts_and_amount() -> None:
    document = fold(requested())

    assert document["_id"] == str(TRANSFER)
    assert (document["source_account_id"], document["target_account_id"]) == (
        str(SOURCE),
        str(TARGET),
    )
    assert (document["amount"], document["currency"], document["reference"]) == (
        40,
        "EUR",
        "rent",
    )
    assert document["status"] == "requested"
    assert document["requested_at"] == requested().occurred_at
    assert document["failure_reason"] is None
    assert document["debit_reversed"] is False


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ((requested(), debited()), "debited"),
        ((requested(), debited(), credited()), "credited"),
        ((requested(), debited(), credited(), completed()), "completed"),
        ((requested(), failed(11, debit_reversed=False)), "failed"),
    ],
)
def test_the_status_follows_what_has_been_applied(
    events: tuple[EventEnvelope, ...], status: str
) -> None:
    assert fold(*events)["status"] == status


def test_a_reversed_transfer_fails_with_its_reason() -> None:
    document = fold(requested(), debited(), reversed_debit(), failed())

    assert document["status"] == "failed"
    assert document["debit_reversed"] is True
    assert document["failure_reason"] == "target frozen"


def test_a_transfer_refused_at_the_debit_fails_without_a_reversal() -> None:
    document = fold(requested(), failed(11, debit_reversed=False))

    assert (document["status"], document["debit_reversed"]) == ("failed", False)


def test_the_timeline_is_sorted_by_position_and_lists_what_was_applied() -> None:
    events = (requested(), debited(), credited(), completed())

    document = fold(*events)

    assert [entry["event_type"] for entry in document["timeline"]] == [
        "TransferRequested",
        "TransferDebited",
        "TransferCredited",
        "TransferCompleted",
    ]
    assert document["applied"] == [str(event.event_id) for event in events]
    assert document["updated_at"] == completed().occurred_at


def test_a_leg_arriving_before_the_request_leaves_the_request_fields_empty() -> None:
    document = fold(debited())

    assert document["_id"] == str(TRANSFER)
    assert document["source_account_id"] is None
    assert document["amount"] is None
    assert document["status"] == "debited"
    assert document["requested_at"] is None


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(5)))[::7], ids=lambda order: "".join(map(str, order))
)
def test_the_same_events_in_any_order_make_the_same_document(order: tuple[int, ...]) -> None:
    events = [requested(), debited(), reversed_debit(), failed(), credited(14)]
    in_log_order = fold(*events)

    assert fold(*(events[index] for index in order)) == in_log_order


def test_a_finished_status_wins_over_a_leg_that_arrives_late() -> None:
    document = fold(requested(), completed(), debited(), credited())

    assert document["status"] == "completed"


def test_an_event_already_applied_changes_nothing() -> None:
    debit = debited()
    document = fold(requested(), debit, credited())

    assert apply(document, debit) is None


def test_the_write_guard_is_the_exact_list_of_applied_events() -> None:
    document = fold(requested(), debited())

    assert applied_guard(document) == {"applied": document["applied"]}


def test_legs_belong_to_their_transfer_and_other_events_to_none() -> None:
    assert transfer_id(debited()) == str(TRANSFER)
    assert transfer_id(requested()) == str(TRANSFER)
    assert transfer_id(envelope("FundsDeposited", SOURCE, 2, amount=1)) is None
    assert PROJECTION.document_id(envelope("AccountOpened", SOURCE, 1)) is None
