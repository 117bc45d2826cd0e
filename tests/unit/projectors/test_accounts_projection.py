"""The accounts summary is a pure, idempotent fold of account events."""

from __future__ import annotations

from uuid import uuid4

import pytest

from projectors.projections.accounts import PROJECTION, apply
from projectors.projections.projection import ProjectionGapError
from tests.unit.factories import envelope

ACCOUNT = uuid4()
OWNER = uuid4()


def opened() -> dict[str, object]:
    document = apply(
        None,
        envelope(
            "AccountOpened", ACCOUNT, 1, owner_id=str(OWNER), currency="EUR", overdraft_limit=0
        ),
    )
    assert document is not None
    return document


def test_an_opened_account_has_a_zero_balance_and_its_owner() -> None:
    document = opened()

    assert document["balance"] == 0
    assert document["owner_id"] == str(OWNER)
    assert document["status"] == "open"
    assert document["version"] == 1


def test_a_deposit_sets_the_balance_and_the_version() -> None:
    document = apply(
        opened(),
        envelope("FundsDeposited", ACCOUNT, 2, amount=300, currency="EUR", balance_after=300),
    )

    assert document is not None
    assert (document["balance"], document["version"]) == (300, 2)


def test_an_event_already_applied_changes_nothing() -> None:
    after_deposit = apply(
        opened(),
        envelope("FundsDeposited", ACCOUNT, 2, amount=300, currency="EUR", balance_after=300),
    )

    replay = apply(
        after_deposit,
        envelope("FundsDeposited", ACCOUNT, 2, amount=300, currency="EUR", balance_after=300),
    )

    assert replay is None


def test_an_older_event_after_a_newer_one_changes_nothing() -> None:
    document = opened()
    for version in (2, 3):
        document = (
            apply(
                document,
                envelope(
                    "FundsDeposited",
                    ACCOUNT,
                    version,
                    amount=1,
                    currency="EUR",
                    balance_after=version - 1,
                ),
            )
            or document
        )

    assert (
        apply(
            document,
            envelope("FundsDeposited", ACCOUNT, 2, amount=1, currency="EUR", balance_after=1),
        )
        is None
    )


def test_a_missing_event_is_reported_not_skipped() -> None:
    with pytest.raises(ProjectionGapError):
        apply(
            opened(),
            envelope("FundsDeposited", ACCOUNT, 3, amount=1, currency="EUR", balance_after=1),
        )


@pytest.mark.parametrize(
    ("event_type", "status"), [("AccountFrozen", "frozen"), ("AccountClosed", "closed")]
)
def test_status_events_change_the_status(event_type: str, status: str) -> None:
    document = apply(opened(), envelope(event_type, ACCOUNT, 2, reason="audit"))

    assert document is not None
    assert document["status"] == status


def test_events_of_other_aggregates_have_no_account_document() -> None:
    assert PROJECTION.document_id(envelope("TransferRequested", uuid4(), 1)) is None
