"""The Ledger's use cases on in-memory storage."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.accounts import Account, AccountStatus
from domain.context import CommandContext
from domain.errors import (
    AccountHasPendingTransfersError,
    AccountNotFoundError,
    CurrencyMismatchError,
    InsufficientFundsError,
    SameAccountTransferError,
    TransferNotFoundError,
    UnknownCurrencyError,
)
from domain.ledger import DEFAULT_SNAPSHOT_INTERVAL, Ledger, Outcome
from domain.money import Money
from domain.transfers import Transfer, TransferStatus
from tests.unit.domain.conftest import in_memory_ledger
from tests.unit.domain.process_runner import ProcessRunner
from tests.unit.domain.shared_store import LedgerOnSharedStore, ObservableRecorder


def open_account(
    ledger: Ledger, context: CommandContext, balance: int = 0, currency: str = "EUR"
) -> UUID:
    account_id = ledger.open_account(uuid4(), currency, context=context).aggregate_id
    if balance:
        ledger.deposit(account_id, balance, "initial", context=context)
    return account_id


def test_opening_an_account_returns_its_id_version_and_position(
    ledger: Ledger, context: CommandContext, owner_id: UUID
) -> None:
    outcome = ledger.open_account(owner_id, "EUR", overdraft_limit=100, context=context)
    assert outcome == Outcome(aggregate_id=outcome.aggregate_id, version=1, position=1)
    account = ledger.get_account(outcome.aggregate_id)
    assert (account.owner_id, account.currency, account.overdraft_limit) == (owner_id, "EUR", 100)


def test_opening_an_account_in_an_unknown_currency_is_refused(
    ledger: Ledger, context: CommandContext
) -> None:
    with pytest.raises(UnknownCurrencyError):
        ledger.open_account(uuid4(), "ZZZ", context=context)


def test_a_deposit_returns_the_new_version_and_log_position(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = open_account(ledger, context)
    open_account(ledger, context)
    outcome = ledger.deposit(account_id, 10, "ref", channel="batch", context=context)
    assert outcome == Outcome(account_id, version=2, position=3)
    assert ledger.get_account(account_id).balance == Money(10, "EUR")


def test_withdraw_freeze_unfreeze_and_close_change_the_account(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = open_account(ledger, context, balance=10)
    ledger.withdraw(account_id, 10, "atm", context=context)
    ledger.freeze(account_id, "check", context=context)
    assert ledger.get_account(account_id).status is AccountStatus.FROZEN
    ledger.unfreeze(account_id, context=context)
    outcome = ledger.close_account(account_id, context=context)
    account = ledger.get_account(account_id)
    assert (account.status, account.version, outcome.version) == (AccountStatus.CLOSED, 6, 6)


def test_a_domain_error_propagates_unchanged_and_nothing_is_recorded(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = open_account(ledger, context, balance=5)
    with pytest.raises(InsufficientFundsError) as raised:
        ledger.withdraw(account_id, 6, "too much", context=context)
    assert raised.value.account_id == account_id
    assert ledger.recorder.max_notification_id() == 2


def test_an_unknown_account_is_not_found(ledger: Ledger, context: CommandContext) -> None:
    unknown = uuid4()
    with pytest.raises(AccountNotFoundError) as raised:
        ledger.get_account(unknown)
    assert raised.value.account_id == unknown
    with pytest.raises(AccountNotFoundError):
        ledger.deposit(unknown, 1, "ref", context=context)


def test_a_transfer_id_is_not_an_account_and_an_account_id_not_a_transfer(
    ledger: Ledger, context: CommandContext
) -> None:
    source_id = open_account(ledger, context)
    target_id = open_account(ledger, context)
    transfer_id = ledger.request_transfer(source_id, target_id, 1, "ref", context=context)
    with pytest.raises(AccountNotFoundError):
        ledger.get_account(transfer_id.aggregate_id)
    with pytest.raises(TransferNotFoundError) as raised:
        ledger.get_transfer(source_id)
    assert raised.value.transfer_id == source_id


def test_requesting_a_transfer_records_it_in_the_source_currency(
    ledger: Ledger, context: CommandContext
) -> None:
    source_id = open_account(ledger, context, currency="CHF")
    target_id = open_account(ledger, context, currency="CHF")
    outcome = ledger.request_transfer(source_id, target_id, 30, "rent", context=context)
    transfer = ledger.get_transfer(outcome.aggregate_id)
    assert (transfer.source_id, transfer.target_id) == (source_id, target_id)
    assert transfer.amount == Money(30, "CHF")
    assert transfer.status is TransferStatus.REQUESTED
    assert outcome.version == 1


def test_a_transfer_between_unknown_accounts_is_refused(
    ledger: Ledger, context: CommandContext
) -> None:
    known = open_account(ledger, context)
    with pytest.raises(AccountNotFoundError):
        ledger.request_transfer(uuid4(), known, 1, "ref", context=context)
    with pytest.raises(AccountNotFoundError):
        ledger.request_transfer(known, uuid4(), 1, "ref", context=context)


def test_a_transfer_to_the_same_account_is_refused(ledger: Ledger, context: CommandContext) -> None:
    account_id = open_account(ledger, context)
    with pytest.raises(SameAccountTransferError):
        ledger.request_transfer(account_id, account_id, 1, "ref", context=context)


def test_a_transfer_to_an_account_in_another_currency_is_refused_up_front(
    ledger: Ledger, context: CommandContext
) -> None:
    euros = open_account(ledger, context)
    dollars = ledger.open_account(uuid4(), "USD", context=context).aggregate_id
    with pytest.raises(CurrencyMismatchError):
        ledger.request_transfer(euros, dollars, 1, "ref", context=context)


def test_closing_is_refused_while_a_transfer_from_the_account_is_in_transit(
    ledger: Ledger, context: CommandContext, process: ProcessRunner
) -> None:
    source_id = open_account(ledger, context, balance=10)
    target_id = open_account(ledger, context)
    transfer_id = ledger.request_transfer(source_id, target_id, 10, "all", context=context)
    while not ledger.get_account(source_id).has_transfer_debit(transfer_id.aggregate_id):
        assert process.step()
    with pytest.raises(AccountHasPendingTransfersError) as raised:
        ledger.close_account(source_id, context=context)
    assert raised.value.transfer_ids == (transfer_id.aggregate_id,)
    process.run()
    ledger.close_account(source_id, context=context)
    assert ledger.get_account(source_id).status is AccountStatus.CLOSED


def test_a_no_op_command_records_nothing_and_reports_position_zero(
    ledger: Ledger, context: CommandContext, process: ProcessRunner
) -> None:
    source_id = open_account(ledger, context, balance=10)
    target_id = open_account(ledger, context)
    transfer_id = ledger.request_transfer(source_id, target_id, 10, "all", context=context)
    process.run()
    outcome = ledger.complete_transfer(transfer_id.aggregate_id, context=context)
    assert outcome.position == 0
    assert outcome.version == ledger.get_transfer(transfer_id.aggregate_id).version


def test_events_carry_the_commands_correlation_and_causation_ids(
    ledger: Ledger,
) -> None:
    context = CommandContext(correlation_id=uuid4(), causation_id=uuid4())
    account_id = open_account(ledger, context, balance=5)
    events = list(ledger.events.get(account_id))
    assert len(events) == 2
    for event in events:
        assert isinstance(event, Account.Event)
        assert (event.correlation_id, event.causation_id) == (
            context.correlation_id,
            context.causation_id,
        )
    assert len({event.event_id for event in events if isinstance(event, Account.Event)}) == 2


def test_without_a_causation_id_each_command_is_its_own_cause(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = open_account(ledger, context, balance=5)
    opened, deposited = ledger.events.get(account_id)
    assert isinstance(opened, Account.Event) and isinstance(deposited, Account.Event)
    assert opened.correlation_id == deposited.correlation_id == context.correlation_id
    assert opened.causation_id != deposited.causation_id


def test_event_timestamps_are_timezone_aware_utc(ledger: Ledger, context: CommandContext) -> None:
    account_id = open_account(ledger, context)
    (opened,) = ledger.events.get(account_id)
    assert isinstance(opened, Account.AccountOpened)
    assert opened.timestamp.utcoffset() is not None
    assert opened.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_the_idempotency_token_is_passed_to_the_event_store(context: CommandContext) -> None:
    recorder = ObservableRecorder()
    ledger = LedgerOnSharedStore(recorder)
    token = object()
    ledger.open_account(uuid4(), "EUR", context=CommandContext(uuid4(), idempotency=token))
    ledger.open_account(uuid4(), "EUR", context=context)
    assert recorder.saved_options[0]["idempotency"] is token
    assert "idempotency" not in recorder.saved_options[1]


def test_the_transfer_status_names_are_stable() -> None:
    assert [status.value for status in TransferStatus] == ["requested", "completed", "failed"]
    assert [status.value for status in AccountStatus] == ["open", "frozen", "closed"]


def test_the_snapshot_interval_defaults_to_fifty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_SNAPSHOT_INTERVAL", raising=False)
    monkeypatch.delenv("SNAPSHOT_INTERVAL", raising=False)
    ledger = in_memory_ledger()
    assert ledger.snapshotting_intervals == {
        Account: DEFAULT_SNAPSHOT_INTERVAL,
        Transfer: DEFAULT_SNAPSHOT_INTERVAL,
    }
    assert DEFAULT_SNAPSHOT_INTERVAL == 50


def test_the_snapshot_interval_is_read_from_ledger_snapshot_interval() -> None:
    ledger = in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL="7")
    assert ledger.snapshotting_intervals == {Account: 7, Transfer: 7}


def test_a_snapshot_interval_of_zero_turns_snapshots_off() -> None:
    assert in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL="0").snapshotting_intervals == {}


def test_a_negative_snapshot_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="LEDGER_SNAPSHOT_INTERVAL"):
        in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL="-1")
