"""Snapshots: an aggregate loaded from a snapshot equals one replayed from all events."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import project_aggregate

from domain.accounts import Account
from domain.context import CommandContext
from domain.ledger import Ledger
from domain.transfer_process import TransferProcess
from domain.transfers import Transfer
from tests.unit.domain.conftest import in_memory_ledger
from tests.unit.domain.process_runner import ProcessRunner

INTERVAL = 5


def replayed_from_all_events(ledger: Ledger, aggregate_id: UUID) -> Any:
    return project_aggregate(None, ledger.events.get(aggregate_id))


def test_snapshots_are_taken_every_interval() -> None:
    ledger = in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL=str(INTERVAL))
    context = CommandContext(uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    for _ in range(2 * INTERVAL):
        ledger.deposit(account_id, 1, "ref", context=context)
    assert ledger.snapshots is not None
    versions = [s.originator_version for s in ledger.snapshots.get(account_id)]
    assert versions == [INTERVAL, 2 * INTERVAL]


def test_an_account_loaded_from_a_snapshot_equals_one_replayed_from_all_events() -> None:
    ledger = in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL=str(INTERVAL))
    context = CommandContext(uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", overdraft_limit=30, context=context)
    other_id = ledger.open_account(uuid4(), "EUR", context=context)
    source = account_id.aggregate_id
    process = ProcessRunner(ledger, TransferProcess(ledger))
    ledger.deposit(source, 100, "salary", channel="batch", context=context)
    ledger.request_transfer(source, other_id.aggregate_id, 40, "rent", context=context)
    ledger.freeze(other_id.aggregate_id, "check", context=context)
    ledger.request_transfer(source, other_id.aggregate_id, 10, "refused", context=context)
    process.run()
    ledger.withdraw(source, 20, "atm", context=context)
    ledger.freeze(source, "check", context=context)
    ledger.unfreeze(source, context=context)
    ledger.withdraw(source, 1, "atm", context=context)

    from_snapshot = ledger.get_account(source)
    assert from_snapshot.version > INTERVAL
    assert ledger.snapshots is not None
    assert list(ledger.snapshots.get(source))
    replayed = replayed_from_all_events(ledger, source)
    assert isinstance(replayed, Account)
    assert vars(from_snapshot) == vars(replayed)
    assert from_snapshot.status == replayed.status
    assert from_snapshot.balance == replayed.balance


def test_a_transfer_loaded_from_a_snapshot_equals_one_replayed_from_all_events() -> None:
    ledger = in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL="2")
    context = CommandContext(uuid4())
    source = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    target = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(source, 10, "funds", context=context)
    transfer_id = ledger.request_transfer(source, target, 10, "all", context=context)
    ProcessRunner(ledger, TransferProcess(ledger)).run()
    assert ledger.snapshots is not None
    assert list(ledger.snapshots.get(transfer_id.aggregate_id))
    from_snapshot = ledger.get_transfer(transfer_id.aggregate_id)
    replayed = replayed_from_all_events(ledger, transfer_id.aggregate_id)
    assert isinstance(replayed, Transfer)
    assert vars(from_snapshot) == vars(replayed)
