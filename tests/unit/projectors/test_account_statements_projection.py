"""Statement lines: one per money movement, keyed so that a replay is a duplicate."""

from __future__ import annotations

from uuid import uuid4

import pytest

from projectors.projections.account_statements import PROJECTION, line_id, lines
from projectors.projections.projection import MalformedEventError
from tests.unit.factories import EPOCH, envelope

ACCOUNT = uuid4()
TRANSFER = uuid4()


def only_line(event_type: str, version: int = 2, **data: object) -> dict[str, object]:
    [line] = lines(envelope(event_type, ACCOUNT, version, **data))
    return line


def test_a_deposit_is_money_in_with_its_reference() -> None:
    line = only_line(
        "FundsDeposited",
        amount=300,
        currency="EUR",
        reference="salary",
        channel="api",
        balance_after=300,
    )

    assert line["kind"] == "deposit"
    assert (line["amount"], line["balance_after"], line["reference"]) == (300, 300, "salary")
    assert line["transfer_id"] is None


def test_a_withdrawal_is_money_out() -> None:
    line = only_line(
        "FundsWithdrawn", amount=120, currency="EUR", reference="rent", balance_after=-20
    )

    assert (line["kind"], line["amount"], line["balance_after"]) == ("withdrawal", -120, -20)


@pytest.mark.parametrize(
    ("event_type", "kind", "sign"),
    [("TransferDebited", "transfer_debit", -1), ("TransferCredited", "transfer_credit", 1)],
)
def test_transfer_legs_carry_their_transfer(event_type: str, kind: str, sign: int) -> None:
    line = only_line(
        event_type, transfer_id=str(TRANSFER), amount=40, currency="EUR", balance_after=60
    )

    assert (line["kind"], line["amount"]) == (kind, sign * 40)
    assert line["transfer_id"] == str(TRANSFER)
    assert line["reference"] == ""


def test_a_reversal_gives_money_back_with_the_reason_as_reference() -> None:
    line = only_line(
        "TransferDebitReversed",
        transfer_id=str(TRANSFER),
        amount=40,
        currency="EUR",
        balance_after=100,
        reason="target frozen",
    )

    assert (line["kind"], line["amount"], line["reference"]) == (
        "transfer_reversal",
        40,
        "target frozen",
    )


def test_a_line_is_keyed_by_account_and_zero_padded_version() -> None:
    line = only_line(
        "FundsDeposited",
        version=7,
        amount=1,
        currency="EUR",
        reference="r",
        channel="api",
        balance_after=1,
    )

    assert line["_id"] == f"{ACCOUNT}:0000000007" == line_id(str(ACCOUNT), 7)
    assert (line["account_id"], line["version"]) == (str(ACCOUNT), 7)
    assert line["occurred_at"] == EPOCH.replace(second=7)


def test_replaying_a_movement_makes_the_same_line() -> None:
    deposit = envelope(
        "FundsDeposited", ACCOUNT, 2, amount=5, currency="EUR", reference="r", balance_after=5
    )

    assert lines(deposit) == lines(deposit)


@pytest.mark.parametrize(
    "event_type", ["AccountOpened", "AccountFrozen", "AccountClosed", "TransferRequested", "Nope"]
)
def test_events_that_move_no_money_add_no_line(event_type: str) -> None:
    assert lines(envelope(event_type, ACCOUNT, 1)) == []


def test_an_amount_that_is_not_a_whole_number_is_refused() -> None:
    with pytest.raises(MalformedEventError):
        lines(
            envelope(
                "FundsDeposited",
                ACCOUNT,
                2,
                amount=1.5,
                currency="EUR",
                reference="r",
                balance_after=1,
            )
        )


def test_the_writer_relies_on_a_unique_account_and_version() -> None:
    assert [(index.keys, index.unique) for index in PROJECTION.indexes] == [
        (("account_id", "version"), True)
    ]
