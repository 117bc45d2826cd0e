"""Read-only questions the query API asks the event store, over an async connection pool.

The query API never writes here: every connection runs with
`default_transaction_read_only`, so a mistake fails instead of changing the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from infra.eventstore.progress import PartitionProgress, read_progress
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import Settings

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 2_000
ACQUIRE_TIMEOUT_SECONDS = 2.0
MAX_POOL_SIZE = 10

_AT_OR_BEFORE = sql.SQL(
    "SELECT originator_version, notification_id FROM {} "
    "WHERE originator_id = %s AND notification_id <= %s "
    "ORDER BY originator_version DESC LIMIT 1"
).format(sql.Identifier(EVENTS_TABLE))
_AT_VERSION = sql.SQL(
    "SELECT originator_version, notification_id FROM {} "
    "WHERE originator_id = %s AND originator_version = %s"
).format(sql.Identifier(EVENTS_TABLE))
_RELAY_CHECKPOINT = "SELECT position FROM relay_checkpoints WHERE name = %s"


class EventStoreUnavailableError(Exception):
    """The event store did not answer (down, unreachable, or every connection busy)."""


def relay_checkpoint_name(settings: Settings) -> str:
    """The relay's checkpoint row for the configured topic (see `infra.relay.publisher`)."""
    return f"kafka:{settings.kafka.topic}"


@dataclass(frozen=True)
class RecordedEvent:
    """Where one event of an aggregate sits: its aggregate version and global position."""

    version: int
    position: int


class EventStoreReader:
    """Looks up versions and positions in the event store, the relay's checkpoint and the
    projections' progress."""

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]):
        self._pool = pool

    @classmethod
    def for_settings(cls, settings: Settings) -> EventStoreReader:
        """A reader with a closed pool; `open()` it on the event loop that will use it."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            settings.postgres.url.get_secret_value(),
            min_size=1,
            max_size=min(settings.postgres.pool_size, MAX_POOL_SIZE),
            open=False,
            timeout=ACQUIRE_TIMEOUT_SECONDS,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "options": (
                    "-c default_transaction_read_only=on "
                    f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
                ),
            },
        )
        return cls(pool)

    async def open(self) -> None:
        """Start the pool without waiting: the API serves reads even while PostgreSQL is down."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close(timeout=1.0)  # never hang shutdown on an unreachable store

    async def latest_at_or_before(self, aggregate_id: UUID, position: int) -> RecordedEvent | None:
        """The aggregate's last event at or before `position`; None if it had none by then."""
        return await self._recorded_event(_AT_OR_BEFORE, (aggregate_id, position))

    async def at_version(self, aggregate_id: UUID, version: int) -> RecordedEvent | None:
        """The aggregate's event at `version`; None if it has not reached that version."""
        return await self._recorded_event(_AT_VERSION, (aggregate_id, version))

    async def relay_position(self, checkpoint_name: str) -> int:
        """The last position the relay has published (0 before it has published anything)."""
        async with self._connection() as connection:
            try:
                cursor = await connection.execute(_RELAY_CHECKPOINT, (checkpoint_name,))
            except psycopg.errors.UndefinedTable:
                return 0
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def progress(
        self, read_store: str, projections: Collection[str]
    ) -> list[PartitionProgress]:
        """The named projections' progress in `read_store`, per partition."""
        async with self._connection() as connection:
            return await read_progress(connection, read_store, projections)

    async def ping(self) -> None:
        """Raise `EventStoreUnavailableError` unless the event store answers."""
        async with self._connection() as connection:
            await connection.execute("SELECT 1")

    async def _recorded_event(
        self, query: sql.Composed, parameters: tuple[UUID, int]
    ) -> RecordedEvent | None:
        async with self._connection() as connection:
            cursor = await connection.execute(query, parameters)
            row = await cursor.fetchone()
        return RecordedEvent(int(row[0]), int(row[1])) if row else None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        try:
            async with self._pool.connection() as connection:
                yield connection
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as error:
            raise EventStoreUnavailableError(str(error)) from error
