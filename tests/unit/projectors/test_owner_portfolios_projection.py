"""Owner portfolios: every account of an owner, each entry guarded by its own version."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.envelope import EventEnvelope
from projectors.projections.owner_portfolios import PROJECTION, account_id, apply, learns
from projectors.projections.projection import Document, ProjectionGapError
from tests.unit.factories import envelope

OWNER = uuid4()
EUROS = uuid4()
DOLLARS = uuid4()


def opened(account: UUID, currency: str = "EUR") -> EventEnvelope:
    return envelope(
        "AccountOpened", account, 1, owner_id=str(OWNER), currency=currency, overdraft_limit=0
    )


def deposited(
    account: UUID, version: int, balance_after: int, currency: str = "EUR"
) -> EventEnvelope:
    return envelope(
        "FundsDeposited",
        account,
        version,
        amount=1,
        currency=currency,
        reference="r",
        channel="api",
        balance_after=balance_after,
    )


def fold(*events: EventEnvelope) -> Document:
    document: Document | None = None
    for event in events:
        document = apply(document, event) or document
    assert document is not None
    return document


def test_an_opened_account_starts_its_owners_portfolio() -> None:
    document = fold(opened(EUROS))

    assert document["_id"] == str(OWNER)
    assert document["accounts"] == {
        str(EUROS): {"currency": "EUR", "balance": 0, "status": "open", "version": 1}
    }
    assert document["totals"] == {"EUR": {"balance": 0, "accounts": 1}}
    assert document["version"] == 1


def test_totals_add_up_per_currency() -> None:
    second_euros = uuid4()
    document = fold(
        opened(EUROS),
        opened(DOLLARS, "USD"),
        opened(second_euros),
        deposited(EUROS, 2, 100),
        deposited(second_euros, 2, 50),
        deposited(DOLLARS, 2, 7, "USD"),
    )

    assert document["totals"] == {
        "EUR": {"balance": 150, "accounts": 2},
        "USD": {"balance": 7, "accounts": 1},
    }


def test_a_closed_account_leaves_the_totals_but_stays_listed() -> None:
    document = fold(
        opened(EUROS),
        opened(DOLLARS, "USD"),
        envelope("AccountClosed", DOLLARS, 2),
    )

    assert document["accounts"][str(DOLLARS)]["status"] == "closed"
    assert document["totals"] == {"EUR": {"balance": 0, "accounts": 1}}


@pytest.mark.parametrize(
    ("event_type", "status"),
    [("AccountFrozen", "frozen"), ("AccountClosed", "closed")],
)
def test_status_events_change_the_entrys_status(event_type: str, status: str) -> None:
    document = fold(opened(EUROS), envelope(event_type, EUROS, 2, reason="audit"))

    assert document["accounts"][str(EUROS)]["status"] == status


def test_an_unfrozen_account_is_open_again() -> None:
    document = fold(
        opened(EUROS),
        envelope("AccountFrozen", EUROS, 2, reason="audit"),
        envelope("AccountUnfrozen", EUROS, 3),
    )

    assert document["accounts"][str(EUROS)]["status"] == "open"


def test_every_change_counts_in_the_documents_version() -> None:
    document = fold(opened(EUROS), opened(DOLLARS, "USD"), deposited(EUROS, 2, 5))

    assert document["version"] == 3


def test_an_event_already_applied_to_its_entry_changes_nothing() -> None:
    document = fold(opened(EUROS), deposited(EUROS, 2, 5), opened(DOLLARS, "USD"))

    assert apply(document, deposited(EUROS, 2, 5)) is None
    assert apply(document, opened(DOLLARS, "USD")) is None


def test_accounts_of_one_owner_may_arrive_interleaved_in_any_order() -> None:
    events_one_way = [opened(EUROS), deposited(EUROS, 2, 5), opened(DOLLARS, "USD")]
    other_way = [events_one_way[2], events_one_way[0], events_one_way[1]]

    one, other = fold(*events_one_way), fold(*other_way)

    assert (one["accounts"], one["totals"]) == (other["accounts"], other["totals"])


def test_a_missing_event_is_reported_not_skipped() -> None:
    with pytest.raises(ProjectionGapError):
        apply(fold(opened(EUROS)), deposited(EUROS, 3, 5))


def test_an_account_event_before_its_opening_is_a_gap() -> None:
    with pytest.raises(ProjectionGapError):
        apply(fold(opened(EUROS)), deposited(DOLLARS, 2, 5))


def test_only_an_opening_teaches_the_owner() -> None:
    assert learns(opened(EUROS)) == (str(EUROS), str(OWNER))
    assert learns(deposited(EUROS, 2, 5)) is None


def test_account_events_are_looked_up_by_account_and_others_are_not_ours() -> None:
    assert account_id(deposited(EUROS, 2, 5)) == str(EUROS)
    assert account_id(envelope("TransferRequested", uuid4(), 1)) is None


def test_the_mapping_lives_next_to_the_portfolios() -> None:
    assert PROJECTION.collection == "owner_portfolios_v1"
    assert PROJECTION.lookup_collection == "owner_portfolios_v1_owners"
    assert PROJECTION.lookup_field == "owner_id"
