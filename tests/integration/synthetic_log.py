"""Large event logs for tests, written straight into the store with COPY (seconds, not minutes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg

from domain.context import CommandContext
from domain.ledger import Ledger
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import Settings

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(milliseconds=10)


def _templates() -> tuple[str, str, str, str]:
    """Real stored shapes of AccountOpened and FundsDeposited, from the library's mapper."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    context = CommandContext(correlation_id=uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(account_id, 7, "seed", context=context)
    opened, deposited = ledger.notification_log.select(1, 2)
    return opened.topic, opened.state.decode(), deposited.topic, deposited.state.decode()


def rows(events: int, accounts: int) -> Iterator[tuple[UUID, int, str, bytes, datetime]]:
    """Events spread round-robin over accounts, recorded 10 ms apart from START."""
    opened_topic, opened, deposit_topic, deposit = _templates()
    ids = [uuid4() for _ in range(accounts)]
    for index in range(events):
        version = index // accounts + 1
        topic, template = (opened_topic, opened) if version == 1 else (deposit_topic, deposit)
        state = json.loads(template)
        state["event_id"]["_data_"] = uuid4().hex
        state["timestamp"]["_data_"] = (START + index * STEP).isoformat()
        yield (
            ids[index % accounts],
            version,
            topic,
            json.dumps(state).encode(),
            START + index * STEP,
        )


def load(settings: Settings, events: int, accounts: int) -> None:
    """COPY a synthetic log into the (empty) store of `settings`."""
    columns = "originator_id, originator_version, topic, state, recorded_at"
    with psycopg.connect(settings.postgres.url.get_secret_value()) as conn:
        with conn.cursor().copy(f"COPY {EVENTS_TABLE} ({columns}) FROM STDIN") as copy:
            for row in rows(events, accounts):
                copy.write_row(row)
        conn.execute(f"ANALYZE {EVENTS_TABLE}")
