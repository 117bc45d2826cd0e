"""Old event versions stay readable: FundsDeposited v1 (no channel) is upcast to v2."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.accounts import Account
from domain.context import CommandContext
from domain.ledger import Ledger
from domain.money import Money


def store_v1_deposit(ledger: Ledger, account_id: UUID, version: int, amount: int) -> None:
    """Write a deposit exactly as version 1 of the event was stored."""
    v1_state = {
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "event_id": uuid4(),
        "correlation_id": uuid4(),
        "causation_id": uuid4(),
        "amount": amount,
        "currency": "EUR",
        "reference": "legacy import",
        "balance_after": amount,
    }
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=account_id,
                originator_version=version,
                topic=get_topic(Account.FundsDeposited),
                state=ledger.mapper.transcoder.encode(v1_state),
            )
        ]
    )


def test_the_deposit_event_is_at_schema_version_two() -> None:
    assert Account.FundsDeposited.class_version == 2


def test_a_version_one_deposit_reads_with_an_unknown_channel(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    store_v1_deposit(ledger, account_id, version=2, amount=70)
    deposited = list(ledger.events.get(account_id))[-1]
    assert isinstance(deposited, Account.FundsDeposited)
    assert (deposited.channel, deposited.amount, deposited.reference) == (
        "unknown",
        70,
        "legacy import",
    )


def test_an_account_with_a_version_one_deposit_loads_and_takes_new_commands(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    store_v1_deposit(ledger, account_id, version=2, amount=70)
    ledger.withdraw(account_id, 20, "atm", context=context)
    account = ledger.get_account(account_id)
    assert (account.balance, account.version) == (Money(50, "EUR"), 3)


def test_new_deposits_are_stored_with_their_schema_version(
    ledger: Ledger, context: CommandContext
) -> None:
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(account_id, 1, "ref", context=context)
    stored = ledger.recorder.select_events(account_id)[-1]
    state = ledger.mapper.transcoder.decode(stored.state)
    assert (state["class_version"], state["channel"]) == (2, "api")
