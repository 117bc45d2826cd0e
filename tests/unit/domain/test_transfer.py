"""The Transfer aggregate, without an application."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import InvalidAmountError, SameAccountTransferError, TransferAlreadyFinishedError
from domain.money import Money
from domain.transfers import Transfer, TransferStatus

pytestmark = pytest.mark.usefixtures("in_command")


def request(amount: int = 100) -> Transfer:
    return Transfer.request(uuid4(), uuid4(), Money(amount, "EUR"), "invoice 42")


def test_a_requested_transfer_records_source_target_amount_and_reference() -> None:
    source_id, target_id = uuid4(), uuid4()
    transfer = Transfer.request(source_id, target_id, Money(100, "EUR"), "invoice 42")
    assert (transfer.source_id, transfer.target_id) == (source_id, target_id)
    assert transfer.amount == Money(100, "EUR")
    assert transfer.reference == "invoice 42"
    assert transfer.status is TransferStatus.REQUESTED
    assert not transfer.is_finished
    (event,) = transfer.collect_events()
    assert type(event).__name__ == "TransferRequested"
    assert isinstance(event, Transfer.TransferRequested)
    assert (event.source_id, event.target_id, event.amount, event.currency, event.reference) == (
        source_id,
        target_id,
        100,
        "EUR",
        "invoice 42",
    )


def test_a_transfer_to_the_same_account_is_refused() -> None:
    account_id = uuid4()
    with pytest.raises(SameAccountTransferError) as raised:
        Transfer.request(account_id, account_id, Money(1, "EUR"), "loop")
    assert raised.value.account_id == account_id


@pytest.mark.parametrize("amount", [0, -1])
def test_a_transfer_of_a_non_positive_amount_is_refused(amount: int) -> None:
    with pytest.raises(InvalidAmountError):
        request(amount)


def test_completing_records_that_the_money_arrived() -> None:
    transfer = request()
    transfer.complete()
    assert transfer.status is TransferStatus.COMPLETED
    assert (transfer.debited, transfer.credited, transfer.debit_reversed) == (True, True, False)
    assert type(transfer.collect_events()[-1]).__name__ == "TransferCompleted"


def test_completing_a_completed_transfer_does_nothing() -> None:
    transfer = request()
    transfer.complete()
    transfer.collect_events()
    transfer.complete()
    assert transfer.collect_events() == []


def test_failing_records_the_reason() -> None:
    transfer = request()
    transfer.fail("target closed", debit_reversed=True)
    assert transfer.status is TransferStatus.FAILED
    assert transfer.failure_reason == "target closed"
    assert (transfer.debited, transfer.credited, transfer.debit_reversed) == (True, False, True)
    event = transfer.collect_events()[-1]
    assert isinstance(event, Transfer.TransferFailed)
    assert (event.reason, event.debit_reversed) == ("target closed", True)


def test_a_transfer_failed_before_its_debit_records_no_debit() -> None:
    transfer = request()
    transfer.fail("insufficient funds", debit_reversed=False)
    assert (transfer.debited, transfer.credited) == (False, False)


def test_failing_a_failed_transfer_does_nothing() -> None:
    transfer = request()
    transfer.fail("first", debit_reversed=False)
    transfer.collect_events()
    transfer.fail("second", debit_reversed=False)
    assert transfer.collect_events() == []
    assert transfer.failure_reason == "first"


def test_completing_a_failed_transfer_is_refused() -> None:
    transfer = request()
    transfer.fail("target closed", debit_reversed=True)
    with pytest.raises(TransferAlreadyFinishedError) as raised:
        transfer.complete()
    assert (raised.value.transfer_id, raised.value.status) == (transfer.id, "failed")


def test_failing_a_completed_transfer_is_refused() -> None:
    transfer = request()
    transfer.complete()
    with pytest.raises(TransferAlreadyFinishedError):
        transfer.fail("too late", debit_reversed=False)
