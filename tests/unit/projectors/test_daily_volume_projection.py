"""Daily volume: one account's part of a currency's day, guarded by the account version."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from domain.envelope import EventEnvelope
from projectors.projections.daily_volume import PROJECTION, apply, day_of, document_id
from projectors.projections.projection import Document
from tests.unit.factories import envelope

ACCOUNT = uuid4()
TRANSFER = str(uuid4())


def deposit(version: int, amount: int = 100) -> EventEnvelope:
    return envelope(
        "FundsDeposited",
        ACCOUNT,
        version,
        amount=amount,
        currency="EUR",
        reference="r",
        channel="api",
        balance_after=amount,
    )


def fold(*events: EventEnvelope) -> Document:
    document: Document | None = None
    for event in events:
        document = apply(document, event) or document
    assert document is not None
    return document


def test_a_deposit_starts_its_accounts_part_of_the_day() -> None:
    document = fold(deposit(2, 300))

    assert document["_id"] == f"EUR:2026-11-01:{ACCOUNT}"
    assert (document["currency"], document["day"], document["account_id"]) == (
        "EUR",
        "2026-11-01",
        str(ACCOUNT),
    )
    assert document["deposits"] == {"count": 1, "amount": 300}
    assert document["withdrawals"] == document["transfers"] == document["reversals"]
    assert document["reversals"] == {"count": 0, "amount": 0}
    assert document["version"] == 2


def test_each_kind_of_movement_counts_in_its_own_column() -> None:
    document = fold(
        deposit(2, 300),
        envelope(
            "FundsWithdrawn",
            ACCOUNT,
            3,
            amount=50,
            currency="EUR",
            reference="r",
            balance_after=250,
        ),
        envelope(
            "TransferDebited",
            ACCOUNT,
            4,
            transfer_id=TRANSFER,
            amount=70,
            currency="EUR",
            balance_after=180,
        ),
        envelope(
            "TransferDebitReversed",
            ACCOUNT,
            5,
            transfer_id=TRANSFER,
            amount=70,
            currency="EUR",
            balance_after=250,
            reason="x",
        ),
    )

    assert document["deposits"] == {"count": 1, "amount": 300}
    assert document["withdrawals"] == {"count": 1, "amount": 50}
    assert document["transfers"] == {"count": 1, "amount": 70}
    assert document["reversals"] == {"count": 1, "amount": 70}
    assert document["version"] == 5


def test_a_transfer_counts_on_its_debit_only() -> None:
    credit = envelope(
        "TransferCredited",
        ACCOUNT,
        2,
        transfer_id=TRANSFER,
        amount=70,
        currency="EUR",
        balance_after=70,
    )

    assert document_id(credit) is None


def test_an_event_already_counted_changes_nothing() -> None:
    document = fold(deposit(2), deposit(3))

    assert apply(document, deposit(3)) is None
    assert apply(document, deposit(2)) is None


def test_a_later_version_after_a_gap_still_counts() -> None:
    # The account's other movements may sit on other days' documents.
    document = fold(deposit(2))

    later = apply(document, deposit(9, 5))

    assert later is not None
    assert later["deposits"] == {"count": 2, "amount": 105}
    assert later["version"] == 9


def test_the_day_is_the_utc_day() -> None:
    late_evening_in_new_york = datetime(2026, 11, 1, 21, 30, tzinfo=timezone(timedelta(hours=-5)))
    event = replace(deposit(2), occurred_at=late_evening_in_new_york)

    assert day_of(event) == "2026-11-02"
    assert document_id(event) == f"EUR:2026-11-02:{ACCOUNT}"


@pytest.mark.parametrize("event_type", ["AccountOpened", "AccountFrozen", "TransferRequested"])
def test_events_that_move_no_money_have_no_document(event_type: str) -> None:
    assert PROJECTION.document_id(envelope(event_type, ACCOUNT, 1)) is None
