"""The mixed synthetic log decodes with the library's mapper and folds into valid aggregates."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.accounts import Account
from domain.transfers import Transfer, TransferStatus
from infra.eventstore.codec import event_mapper
from tests.integration.synthetic_log import mixed_rows


def test_the_mixed_log_folds_into_accounts_and_completed_transfers_with_its_balances() -> None:
    mapper = event_mapper()
    aggregates: dict[UUID, Account | Transfer | None] = {}
    kinds: Counter[str] = Counter()
    last_balance: dict[UUID, int] = {}
    for originator, version, topic, state, _ in mixed_rows(3_000, accounts=20, seed=7):
        event: Any = mapper.to_domain_event(StoredEvent(originator, version, topic, state))
        aggregates[originator] = event.mutate(aggregates.get(originator))
        kinds[topic.rsplit(".", 1)[1]] += 1
        balance = getattr(event, "balance_after", None)
        if balance is not None:
            last_balance[originator] = balance
    accounts = [a for a in aggregates.values() if isinstance(a, Account)]
    transfers = [t for t in aggregates.values() if isinstance(t, Transfer)]
    assert len(accounts) == 20
    assert all(a.balance.amount == last_balance[a.id] >= 0 for a in accounts)
    assert transfers and all(t.status == TransferStatus.COMPLETED for t in transfers)
    assert kinds["TransferDebited"] == kinds["TransferCredited"] == len(transfers)
    assert kinds["FundsDeposited"] > kinds["FundsWithdrawn"] > 0
