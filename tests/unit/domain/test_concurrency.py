"""Optimistic concurrency: expected versions, and retries against concurrent writers."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.context import CommandContext
from domain.errors import ConcurrencyConflictError, InsufficientFundsError, VersionMismatchError
from domain.ledger import MAX_ATTEMPTS, Ledger
from domain.money import Money
from tests.unit.domain.shared_store import LedgerOnSharedStore, ObservableRecorder


@pytest.fixture
def recorder() -> ObservableRecorder:
    return ObservableRecorder()


@pytest.fixture
def first(recorder: ObservableRecorder) -> Ledger:
    return LedgerOnSharedStore(recorder)


@pytest.fixture
def second(recorder: ObservableRecorder) -> Ledger:
    return LedgerOnSharedStore(recorder)


@pytest.fixture
def account_id(first: Ledger, context: CommandContext) -> UUID:
    return first.open_account(uuid4(), "EUR", context=context).aggregate_id


def test_a_command_at_the_expected_version_succeeds(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    outcome = ledger.deposit(account_id, 10, "ref", context=context, expected_version=1)
    assert outcome.version == 2


def test_a_command_at_another_version_than_expected_is_refused(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(account_id, 10, "ref", context=context)
    with pytest.raises(VersionMismatchError) as raised:
        ledger.deposit(account_id, 10, "ref", context=context, expected_version=1)
    assert (raised.value.aggregate_id, raised.value.expected_version) == (account_id, 1)
    assert raised.value.actual_version == 2
    assert ledger.get_account(account_id).version == 2


def test_a_concurrent_write_is_retried_on_a_fresh_load(
    first: Ledger,
    second: Ledger,
    recorder: ObservableRecorder,
    account_id: UUID,
    context: CommandContext,
) -> None:
    recorder.before_insert = lambda: second.deposit(account_id, 5, "other", context=context)
    outcome = first.deposit(account_id, 10, "mine", context=context)
    assert outcome.version == 3
    assert first.get_account(account_id).balance == Money(15, "EUR")


def test_a_retried_command_is_decided_again_on_the_fresh_state(
    first: Ledger,
    second: Ledger,
    recorder: ObservableRecorder,
    account_id: UUID,
    context: CommandContext,
) -> None:
    first.deposit(account_id, 10, "funds", context=context)
    recorder.before_insert = lambda: second.withdraw(account_id, 8, "other", context=context)
    with pytest.raises(InsufficientFundsError):
        first.withdraw(account_id, 5, "mine", context=context)
    assert first.get_account(account_id).balance == Money(2, "EUR")


def test_a_concurrent_write_against_an_expected_version_is_a_version_mismatch(
    first: Ledger,
    second: Ledger,
    recorder: ObservableRecorder,
    account_id: UUID,
    context: CommandContext,
) -> None:
    recorder.before_insert = lambda: second.deposit(account_id, 5, "other", context=context)
    with pytest.raises(VersionMismatchError) as raised:
        first.deposit(account_id, 10, "mine", context=context, expected_version=1)
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert first.get_account(account_id).balance == Money(5, "EUR")


def test_retries_stop_with_a_conflict_when_concurrent_writers_keep_winning(
    first: Ledger,
    second: Ledger,
    recorder: ObservableRecorder,
    account_id: UUID,
    context: CommandContext,
) -> None:
    recorder.interleave_every_time = True
    recorder.before_insert = lambda: second.deposit(account_id, 1, "other", context=context)
    with pytest.raises(ConcurrencyConflictError) as raised:
        first.deposit(account_id, 10, "mine", context=context)
    assert (raised.value.aggregate_id, raised.value.attempts) == (account_id, MAX_ATTEMPTS)
    recorder.before_insert = None
    assert first.get_account(account_id).balance == Money(MAX_ATTEMPTS, "EUR")


def test_retries_read_past_a_stale_aggregate_cache(
    recorder: ObservableRecorder, context: CommandContext
) -> None:
    cached = LedgerOnSharedStore(
        recorder, AGGREGATE_CACHE_MAXSIZE="10", AGGREGATE_CACHE_FASTFORWARD="n"
    )
    other = LedgerOnSharedStore(recorder)
    account_id = cached.open_account(uuid4(), "EUR", context=context).aggregate_id
    cached.get_account(account_id)
    other.deposit(account_id, 5, "other", context=context)
    outcome = cached.deposit(account_id, 10, "mine", context=context)
    assert outcome.version == 3
    assert other.get_account(account_id).balance == Money(15, "EUR")
