"""The PostgreSQL event store appends events and gives them back, across application instances."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.accounts import Account
from domain.context import CommandContext
from infra.eventstore.library import open_ledger
from infra.settings import Settings

pytestmark = pytest.mark.integration


def test_an_account_appended_by_one_instance_is_read_back_by_another(
    isolated_settings: Settings,
) -> None:
    context = CommandContext(correlation_id=uuid4())
    writer = open_ledger(isolated_settings)
    account_id = writer.open_account(uuid4(), "EUR", context=context).aggregate_id
    for amount in (100, 250):
        writer.deposit(account_id, amount, "salary", context=context)
    writer.close()

    reader = open_ledger(isolated_settings)
    account = reader.get_account(account_id)
    stored = [type(e).__name__ for e in reader.events.get(account_id)]
    reader.close()

    assert (account.balance.amount, account.version) == (350, 3)
    assert stored == ["AccountOpened", "FundsDeposited", "FundsDeposited"]
    assert isinstance(account, Account)


def test_every_stored_event_carries_its_correlation_and_a_position(
    isolated_settings: Settings,
) -> None:
    correlation_id = uuid4()
    ledger = open_ledger(isolated_settings)
    outcome = ledger.open_account(uuid4(), "EUR", context=CommandContext(correlation_id))
    (opened,) = ledger.events.get(outcome.aggregate_id)
    ledger.close()

    assert opened.correlation_id == correlation_id  # type: ignore[attr-defined]
    assert outcome.position >= 1
