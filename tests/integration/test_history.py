"""The event history reads pages of the log by position, type, aggregate and recorded time.

The time filters must not scan the log: on a log of 500,000 events, a one-minute window is
found through the recorded-time index, which EXPLAIN shows and row counts confirm.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.eventstore.history import EventFilter, EventHistory, UnknownEventTypeError
from infra.eventstore.library import open_ledger
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import Settings
from tests.conftest import isolated
from tests.integration import synthetic_log

pytestmark = pytest.mark.integration

EVENTS = 500_000
ACCOUNTS = 1_000
START = synthetic_log.START


@pytest.fixture(scope="module")
def big_log(stack: Settings) -> Iterator[Settings]:
    """A store holding 500,000 events recorded 10 ms apart, loaded with COPY."""
    with isolated(stack) as settings:
        synthetic_log.load(settings, EVENTS, ACCOUNTS)
        yield settings


@pytest.fixture
async def history(big_log: Settings) -> AsyncIterator[EventHistory]:
    ledger = open_ledger(big_log)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        big_log.postgres.url.get_secret_value(), min_size=1, max_size=2, open=False
    )
    await pool.open()
    yield EventHistory(pool, ledger.mapper)
    await pool.close()
    ledger.close()


def explain(settings: Settings, query: str, params: tuple[Any, ...]) -> str:
    with psycopg.connect(settings.postgres.url.get_secret_value()) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
    assert rows is not None
    return json.dumps(rows[0])


async def test_a_time_window_returns_exactly_the_events_recorded_in_it(
    history: EventHistory,
) -> None:
    start, end = START + timedelta(seconds=1_000), START + timedelta(seconds=1_060)

    page = await history.page(EventFilter(recorded_from=start, recorded_to=end), limit=10_000)

    assert len(page.events) == 6_000
    assert [e.position for e in page.events] == list(range(100_001, 106_001))
    assert page.exhausted


async def test_finding_a_time_window_reads_index_entries_not_the_log(
    history: EventHistory, big_log: Settings
) -> None:
    moment = START + timedelta(seconds=2_500)
    lookup = (
        f"SELECT notification_id FROM {EVENTS_TABLE} WHERE recorded_at >= %s "
        "ORDER BY recorded_at, notification_id LIMIT 1"
    )

    plan = json.loads(explain(big_log, lookup, (moment,)))[0]["Plan"]

    assert "Index" in json.dumps(plan)
    assert "Seq Scan" not in json.dumps(plan)
    assert await history.position_range(moment, None) == (250_000, None)


async def test_a_page_after_a_position_continues_where_the_last_ended(
    history: EventHistory,
) -> None:
    first = await history.page(EventFilter(after=0), limit=500)
    second = await history.page(EventFilter(after=first.next_after), limit=500)

    assert [e.position for e in first.events + second.events] == list(range(1, 1_001))


async def test_one_aggregates_events_come_in_version_order(history: EventHistory) -> None:
    some = (await history.page(EventFilter(after=0), limit=1)).events[0]

    page = await history.page(EventFilter(aggregate_id=some.aggregate_id), limit=1_000)

    assert [e.aggregate_version for e in page.events] == list(range(1, EVENTS // ACCOUNTS + 1))


async def test_a_type_filter_returns_only_that_type(history: EventHistory) -> None:
    page = await history.page(EventFilter(types=frozenset({"AccountOpened"})), limit=2_000)

    assert len(page.events) == ACCOUNTS
    assert {e.event_type for e in page.events} == {"AccountOpened"}


async def test_an_unknown_type_is_refused(history: EventHistory) -> None:
    with pytest.raises(UnknownEventTypeError):
        await history.page(EventFilter(types=frozenset({"MoneyPrinted"})), limit=10)
