"""The transfer process: each path, redelivery, crashes, and causation."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification

from domain.accounts import Account
from domain.context import CommandContext, command_scope
from domain.ledger import Ledger
from domain.money import Money
from domain.transfer_process import TransferProcess
from domain.transfers import Transfer, TransferStatus
from tests.unit.domain.process_runner import ProcessRunner


def open_account(
    ledger: Ledger, context: CommandContext, balance: int = 0, currency: str = "EUR"
) -> UUID:
    account_id = ledger.open_account(uuid4(), currency, context=context).aggregate_id
    if balance:
        ledger.deposit(account_id, balance, "initial", context=context)
    return account_id


def balance(ledger: Ledger, account_id: UUID) -> int:
    return ledger.get_account(account_id).balance.amount


def event_types(ledger: Ledger, aggregate_id: UUID) -> list[str]:
    return [type(event).__name__ for event in ledger.events.get(aggregate_id)]


def all_events(ledger: Ledger) -> list[object]:
    return list(ledger.events.mapper.to_domain_event(n) for n in _notifications(ledger))


def _notifications(ledger: Ledger) -> list[Notification]:
    notifications: list[Notification] = []
    start = 1
    while page := ledger.notification_log.select(start, 10):
        notifications.extend(page)
        start = page[-1].id + 1
    return notifications


def transfer_event_counts(ledger: Ledger, transfer_id: UUID) -> Counter[str]:
    counts: Counter[str] = Counter()
    for event in all_events(ledger):
        if getattr(event, "transfer_id", None) == transfer_id or (
            isinstance(event, Transfer.Event) and event.originator_id == transfer_id
        ):
            counts[type(event).__name__] += 1
    return counts


@pytest.fixture
def source_id(ledger: Ledger, context: CommandContext) -> UUID:
    return open_account(ledger, context, balance=100)


@pytest.fixture
def target_id(ledger: Ledger, context: CommandContext) -> UUID:
    return open_account(ledger, context)


def request(
    ledger: Ledger, context: CommandContext, source_id: UUID, target_id: UUID, amount: int = 40
) -> UUID:
    return ledger.request_transfer(
        source_id, target_id, amount, "ref", context=context
    ).aggregate_id


# Paths.


def test_a_transfer_moves_the_money_and_completes(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    transfer_id = request(ledger, context, source_id, target_id)
    process.run()
    transfer = ledger.get_transfer(transfer_id)
    assert transfer.status is TransferStatus.COMPLETED
    assert (transfer.debited, transfer.credited) == (True, True)
    assert (balance(ledger, source_id), balance(ledger, target_id)) == (60, 40)
    assert event_types(ledger, transfer_id) == ["TransferRequested", "TransferCompleted"]


def test_a_transfer_without_funds_fails_without_a_debit(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    transfer_id = request(ledger, context, source_id, target_id, amount=101)
    process.run()
    transfer = ledger.get_transfer(transfer_id)
    assert transfer.status is TransferStatus.FAILED
    assert "Insufficient funds" in (transfer.failure_reason or "")
    assert (transfer.debited, transfer.debit_reversed) == (False, False)
    assert event_types(ledger, source_id) == ["AccountOpened", "FundsDeposited"]
    assert balance(ledger, source_id) == 100


def test_a_transfer_from_a_frozen_account_fails_without_a_debit(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    ledger.freeze(source_id, "check", context=context)
    transfer_id = request(ledger, context, source_id, target_id)
    process.run()
    transfer = ledger.get_transfer(transfer_id)
    assert transfer.status is TransferStatus.FAILED
    assert "frozen" in (transfer.failure_reason or "")
    assert balance(ledger, source_id) == 100


def request_unchecked(
    ledger: Ledger, context: CommandContext, source_id: UUID, target_id: UUID
) -> UUID:
    """A transfer recorded without the Ledger's up-front checks (e.g. before they existed, or
    while the target changed currency between check and credit): the process must still
    settle it."""
    with command_scope(context):
        transfer = Transfer.request(source_id, target_id, Money(40, "EUR"), "unchecked")
    ledger.save(transfer)
    return transfer.id


def _refuse_credit(how: str, ledger: Ledger, context: CommandContext, target_id: UUID) -> UUID:
    if how == "closed":
        ledger.close_account(target_id, context=context)
    elif how == "frozen":
        ledger.freeze(target_id, "check", context=context)
    else:
        return open_account(ledger, context, currency="USD")
    return target_id


@pytest.mark.parametrize(
    ("how", "reason_mentions"),
    [("closed", "closed"), ("frozen", "frozen"), ("currency", "Currency mismatch")],
)
def test_a_transfer_the_target_refuses_is_reversed_and_fails_with_the_reason(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
    how: str,
    reason_mentions: str,
) -> None:
    target_id = _refuse_credit(how, ledger, context, target_id)
    transfer_id = request_unchecked(ledger, context, source_id, target_id)
    process.run()
    transfer = ledger.get_transfer(transfer_id)
    assert transfer.status is TransferStatus.FAILED
    assert reason_mentions in (transfer.failure_reason or "")
    assert (transfer.debited, transfer.credited, transfer.debit_reversed) == (True, False, True)
    assert event_types(ledger, source_id)[-2:] == ["TransferDebited", "TransferDebitReversed"]
    assert balance(ledger, source_id) == 100
    assert balance(ledger, target_id) == 0


def test_the_reversal_reason_reaches_the_failed_transfer(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    ledger.close_account(target_id, context=context)
    transfer_id = request(ledger, context, source_id, target_id)
    process.run()
    reversed_event = list(ledger.events.get(source_id))[-1]
    failed_event = list(ledger.events.get(transfer_id))[-1]
    assert isinstance(reversed_event, Account.TransferDebitReversed)
    assert isinstance(failed_event, Transfer.TransferFailed)
    assert failed_event.reason == reversed_event.reason
    assert str(target_id) in failed_event.reason


def test_events_unrelated_to_transfers_are_ignored(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
) -> None:
    process.run()
    assert ledger.recorder.max_notification_id() == 2


# Causation.


def test_process_commands_are_caused_by_the_event_they_react_to(
    ledger: Ledger,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    request_context = CommandContext(correlation_id=uuid4())
    transfer_id = request(ledger, request_context, source_id, target_id)
    process.run()
    requested, completed = ledger.events.get(transfer_id)
    debited = list(ledger.events.get(source_id))[-1]
    credited = list(ledger.events.get(target_id))[-1]
    assert isinstance(requested, Transfer.TransferRequested)
    assert isinstance(debited, Account.TransferDebited)
    assert isinstance(credited, Account.TransferCredited)
    assert isinstance(completed, Transfer.TransferCompleted)
    chain = [requested, debited, credited, completed]
    for cause, effect in pairwise(chain):
        assert effect.causation_id == cause.event_id
    assert {event.correlation_id for event in chain} == {request_context.correlation_id}


# Redelivery and crashes.


SCENARIOS = ["completes", "insufficient funds", "target frozen", "target closed"]


def _stage(
    scenario: str, ledger: Ledger, context: CommandContext, source_id: UUID, target_id: UUID
) -> UUID:
    amount = 101 if scenario == "insufficient funds" else 40
    if scenario == "target frozen":
        ledger.freeze(target_id, "check", context=context)
    if scenario == "target closed":
        ledger.close_account(target_id, context=context)
    return request(ledger, context, source_id, target_id, amount)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_handler_is_idempotent_under_immediate_redelivery(
    ledger: Ledger, context: CommandContext, source_id: UUID, target_id: UUID, scenario: str
) -> None:
    transfer_id = _stage(scenario, ledger, context, source_id, target_id)
    redelivering = ProcessRunner(ledger, TransferProcess(ledger))
    while redelivering.step(duplicate=True):
        pass
    reference = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    reference_context = CommandContext(uuid4())
    ref_source = open_account(reference, reference_context, balance=100)
    ref_target = open_account(reference, reference_context)
    ref_transfer = _stage(scenario, reference, reference_context, ref_source, ref_target)
    ProcessRunner(reference, TransferProcess(reference)).run()
    assert transfer_event_counts(ledger, transfer_id) == transfer_event_counts(
        reference, ref_transfer
    )
    assert balance(ledger, source_id) == balance(reference, ref_source)
    assert ledger.get_transfer(transfer_id).status is reference.get_transfer(ref_transfer).status


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replaying_the_whole_log_through_the_process_changes_nothing(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
    scenario: str,
) -> None:
    _stage(scenario, ledger, context, source_id, target_id)
    process.run()
    settled_at = ledger.recorder.max_notification_id()
    process.rewind_to(0)
    process.run()
    assert ledger.recorder.max_notification_id() == settled_at


def test_a_refused_debit_is_not_retried_on_redelivery_after_the_funds_arrive(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    transfer_id = request(ledger, context, source_id, target_id, amount=150)
    process.run()
    ledger.deposit(source_id, 100, "top up", context=context)
    process.rewind_to(0)
    process.run()
    assert ledger.get_transfer(transfer_id).status is TransferStatus.FAILED
    assert balance(ledger, source_id) == 200
    assert transfer_event_counts(ledger, transfer_id)["TransferDebited"] == 0


def test_a_refused_credit_is_not_retried_on_redelivery_after_the_target_unfreezes(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    ledger.freeze(target_id, "check", context=context)
    transfer_id = request(ledger, context, source_id, target_id)
    process.run()
    ledger.unfreeze(target_id, context=context)
    process.rewind_to(0)
    process.run()
    assert ledger.get_transfer(transfer_id).status is TransferStatus.FAILED
    assert (balance(ledger, source_id), balance(ledger, target_id)) == (100, 0)
    assert transfer_event_counts(ledger, transfer_id)["TransferCredited"] == 0


def test_a_credit_redelivered_before_the_reversal_is_handled_is_not_applied(
    ledger: Ledger,
    context: CommandContext,
    process: ProcessRunner,
    source_id: UUID,
    target_id: UUID,
) -> None:
    ledger.freeze(target_id, "check", context=context)
    transfer_id = request(ledger, context, source_id, target_id)
    while not ledger.get_account(source_id).has_reversed_transfer_debit(transfer_id):
        assert process.step()
    ledger.unfreeze(target_id, context=context)
    debited_at = next(
        n.id for n in _notifications(ledger) if n.topic.endswith("Account.TransferDebited")
    )
    process.rewind_to(debited_at - 1)
    process.run()
    assert ledger.get_transfer(transfer_id).status is TransferStatus.FAILED
    assert balance(ledger, target_id) == 0


def test_a_process_that_crashed_between_debit_and_credit_completes_exactly_once(
    ledger: Ledger,
    context: CommandContext,
    source_id: UUID,
    target_id: UUID,
) -> None:
    transfer_id = request(ledger, context, source_id, target_id)
    crashed = ProcessRunner(ledger, TransferProcess(ledger))
    while not ledger.get_account(source_id).has_transfer_debit(transfer_id):
        assert crashed.step()
    checkpoint_before_request = crashed.position - 1  # the debit was never checkpointed
    restarted = ProcessRunner(ledger, TransferProcess(ledger))
    restarted.rewind_to(checkpoint_before_request)
    restarted.run()
    assert ledger.get_transfer(transfer_id).status is TransferStatus.COMPLETED
    assert transfer_event_counts(ledger, transfer_id) == Counter(
        TransferRequested=1, TransferDebited=1, TransferCredited=1, TransferCompleted=1
    )
    assert (balance(ledger, source_id), balance(ledger, target_id)) == (60, 40)
    assert ledger.get_account(target_id).balance == Money(40, "EUR")
