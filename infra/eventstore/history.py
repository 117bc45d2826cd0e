"""Reading the event history: pages and streams of the global log, filtered, as envelopes.

The library's table has no time column, so `prepare_event_store` adds `recorded_at`
(`clock_timestamp()` at insert; inserts are serialised by the table lock, so recorded
time grows with position) and an index on `(recorded_at, notification_id)`. A time range
then becomes a position range with two index lookups instead of a scan of the log; see
docs/adr/0007-event-history-time-index.md. Time filters select on recorded time: when
the event became part of the ledger (its `occurred_at` precedes that by the command's
latency, milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from psycopg import AsyncConnection, OperationalError, sql
from psycopg_pool import AsyncConnectionPool

from domain.envelope import EVENT_TOPICS, EventEnvelope
from infra.eventstore.codec import (
    LeanDecoder,
    StoredRow,
    envelope_from,
    event_mapper,
    notification_of,
)
from infra.eventstore.schema import EVENTS_TABLE, NOTIFY_CHANNEL
from infra.settings import Settings

log = logging.getLogger(__name__)

TABLE = sql.Identifier(EVENTS_TABLE)


@asynccontextmanager
async def open_history(settings: Settings, max_connections: int = 4) -> AsyncIterator[EventHistory]:
    """An EventHistory on its own small connection pool, closed on exit.

    Opening does not wait for the database: a process may start while it is down (its
    readiness probe says so), and the pool connects when the database is back. The mapper
    needs no database at all.
    """
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        settings.postgres.url.get_secret_value(), min_size=1, max_size=max_connections, open=False
    )
    await pool.open(wait=False)
    try:
        yield EventHistory(pool, event_mapper())
    finally:
        # Never wait long on a pool still trying to reach a database that is down.
        await pool.close(timeout=1.0)


class UnknownEventTypeError(ValueError):
    """A filter names an event type the ledger does not record."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"unknown event type(s): {', '.join(sorted(names))}")
        self.names = tuple(names)


@dataclass(frozen=True)
class EventFilter:
    """Which events to read: after a position, up to one, of some types, aggregate, time."""

    after: int = 0
    until: int | None = None
    types: frozenset[str] = field(default_factory=frozenset)
    aggregate_id: UUID | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None


@dataclass(frozen=True)
class Page:
    """Some events and where the next page starts."""

    events: list[EventEnvelope]
    next_after: int
    exhausted: bool


@dataclass(frozen=True)
class JsonPage:
    """Some events in the envelope's JSON shape, and where the next page starts."""

    events: list[dict[str, Any]]
    next_after: int
    exhausted: bool


@dataclass(frozen=True)
class _RowPage:
    rows: list[StoredRow]
    next_after: int
    exhausted: bool


class EventHistory:
    """Reads the log through a PostgreSQL connection pool, decoding with the library's mapper."""

    def __init__(
        self, pool: AsyncConnectionPool[AsyncConnection[Any]], mapper: Mapper[UUID]
    ) -> None:
        self._pool = pool
        self._mapper = mapper
        self._lean = LeanDecoder(mapper)
        self._topics = EVENT_TOPICS

    @property
    def conninfo(self) -> str:
        """The connection string of its pool (workers reading ranges connect with it)."""
        conninfo = self._pool.conninfo
        if not isinstance(conninfo, str):
            raise TypeError("the history's pool takes its connection string from a function")
        return conninfo

    @property
    def event_types(self) -> frozenset[str]:
        """The event types the ledger records."""
        return frozenset(self._topics)

    async def head(self) -> int:
        """The newest position recorded (0 for an empty log)."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                sql.SQL("SELECT max(notification_id) FROM {}").format(TABLE)
            )
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def position_range(
        self, recorded_from: datetime | None, recorded_to: datetime | None
    ) -> tuple[int, int | None]:
        """(after, until) covering every event recorded in [from, to), by two index lookups."""
        after, until = 0, None
        async with self._pool.connection() as conn:
            if recorded_from is not None:
                first = await _first_position(conn, recorded_from)
                after = first - 1 if first is not None else await self._head_with(conn)
            if recorded_to is not None:
                first_outside = await _first_position(conn, recorded_to)
                until = first_outside - 1 if first_outside is not None else None
        return after, until

    async def _head_with(self, conn: AsyncConnection[Any]) -> int:
        cursor = await conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(TABLE))
        row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def page(self, wanted: EventFilter, limit: int) -> Page:
        """Up to `limit` matching events after `wanted.after`, in log order.

        `next_after` is where to continue: the last event returned, or, when the page is
        the last one for now, the log's head as it was when the page was read (so a client
        filtering for rare events still makes progress through the log).
        """
        found = await self._rows(wanted, limit)
        events = [envelope_from(notification_of(row), self._mapper) for row in found.rows]
        return Page(events, found.next_after, found.exhausted)

    async def json_page(self, wanted: EventFilter, limit: int) -> JsonPage:
        """`page`, with each event in the envelope's JSON shape, decoded the fast way (what
        the history API and exports send; see `LeanDecoder`)."""
        found = await self._rows(wanted, limit)
        events = [self._lean.to_json(row) for row in found.rows]
        return JsonPage(events, found.next_after, found.exhausted)

    async def bounds(self, wanted: EventFilter) -> tuple[int, int]:
        """The positions (after, up to) a filter covers now: its time range as positions,
        clipped to the log's head."""
        after, until = wanted.after, wanted.until
        if wanted.recorded_from is not None or wanted.recorded_to is not None:
            low, high = await self.position_range(wanted.recorded_from, wanted.recorded_to)
            after = max(after, low)
            until = high if until is None else (until if high is None else min(until, high))
        head = await self.head()
        return after, head if until is None else min(until, head)

    async def _rows(self, wanted: EventFilter, limit: int) -> _RowPage:
        after, bound = await self.bounds(wanted)
        query, params = select_rows(wanted, after, bound, limit)
        async with self._pool.connection() as conn:
            cursor = conn.cursor(binary=True)
            await cursor.execute(query, params)
            rows: list[StoredRow] = await cursor.fetchall()
        exhausted = len(rows) < limit
        next_after = rows[-1][0] if rows and not exhausted else bound
        return _RowPage(rows, max(next_after, after, wanted.after), exhausted)

    async def stream(
        self, wanted: EventFilter, page_size: int = 1_000
    ) -> AsyncIterator[EventEnvelope]:
        """Every matching event once, page by page, in bounded memory."""
        cursor = wanted
        while True:
            page = await self.page(cursor, page_size)
            for event in page.events:
                yield event
            if page.exhausted:
                return
            cursor = _after(cursor, page.next_after)


def select_rows(
    wanted: EventFilter, after: int, bound: int, limit: int | None
) -> tuple[sql.Composed, list[Any]]:
    """The query for the filter's rows in (after, bound], in log order, as `StoredRow`s.

    Select it with a binary cursor: the state then arrives as the stored bytes, not as hex.
    """
    conditions = [sql.SQL("notification_id > %s"), sql.SQL("notification_id <= %s")]
    params: list[Any] = [after, bound]
    if wanted.types:
        unknown = [name for name in wanted.types if name not in EVENT_TOPICS]
        if unknown:
            raise UnknownEventTypeError(unknown)
        conditions.append(sql.SQL("topic = ANY(%s)"))
        params.append([EVENT_TOPICS[name] for name in sorted(wanted.types)])
    if wanted.aggregate_id is not None:
        conditions.append(sql.SQL("originator_id = %s"))
        params.append(wanted.aggregate_id)
    if wanted.recorded_from is not None:
        conditions.append(sql.SQL("recorded_at >= %s"))
        params.append(wanted.recorded_from)
    if wanted.recorded_to is not None:
        conditions.append(sql.SQL("recorded_at < %s"))
        params.append(wanted.recorded_to)
    query = sql.SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {} WHERE {} ORDER BY notification_id"
    ).format(TABLE, sql.SQL(" AND ").join(conditions))
    if limit is not None:
        query += sql.SQL(" LIMIT %s")
        params.append(limit)
    return query, params


async def _first_position(conn: AsyncConnection[Any], moment: datetime) -> int | None:
    """The first position recorded at or after `moment`."""
    # Served by the (recorded_at, notification_id) index: one index probe, no scan.
    query = sql.SQL(
        "SELECT notification_id FROM {} WHERE recorded_at >= %s "
        "ORDER BY recorded_at, notification_id LIMIT 1"
    ).format(TABLE)
    cursor = await conn.execute(query, (moment,))
    row = await cursor.fetchone()
    return int(row[0]) if row else None


def _after(wanted: EventFilter, position: int) -> EventFilter:
    return EventFilter(
        after=position,
        until=wanted.until,
        types=wanted.types,
        aggregate_id=wanted.aggregate_id,
        recorded_from=wanted.recorded_from,
        recorded_to=wanted.recorded_to,
    )


class LogListener:
    """One LISTEN connection per process, waking every follower when the log grows.

    Followers note `generation` before they read, then `wait_for_news(generation)`: an
    append that lands between their read and their wait still wakes them. If the
    connection drops, waits simply time out (followers then re-read: polling at the
    heartbeat rate) until it is back.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self.generation = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="log-listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_for_news(self, seen: int, patience: float) -> bool:
        """True once the log grew after `seen`; False after `patience` seconds without news."""
        async with self._changed:
            try:
                async with asyncio.timeout(patience):
                    await self._changed.wait_for(lambda: self.generation > seen)
            except TimeoutError:
                return False
        return True

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
                    backoff = 0.5
                    async for _ in conn.notifies():
                        async with self._changed:
                            self.generation += 1
                            self._changed.notify_all()
            except (OperationalError, OSError) as error:
                log.warning("log listener lost its connection (%s); retrying", error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
