"""Recording how far a process's projections have got: one PostgreSQL statement per batch.

The rows are described in `infra.eventstore.progress`, which also reads them. The
process's fetch writes them for every projection at once, after the batch's read-model
writes are durable, so a reader that sees a partition's progress sees every document it
covers. The connection is the fetch's own (one, autocommit, with a statement deadline):
a batch writes progress once, and waiting on a pool for it would only add a queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg

from infra.eventstore.progress import (
    CREATE_TABLE,
    PartitionReached,
    Stage,
    record_progress,
)
from infra.settings import Settings
from projectors.engine.stores import Clock, utc_now

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 5_000


class ProgressStore:
    """Writes the process's progress to PostgreSQL, reconnecting after a lost connection."""

    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self._url = settings.postgres.url.get_secret_value()
        self._read_store = settings.mongodb.database
        self._clock = clock
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def prepare(self) -> None:
        """Create the table unless it exists (the event store's migrations also do)."""
        connection = await self._connected()
        # Another worker creating it at the same moment makes ours a duplicate: fine.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            await connection.execute(CREATE_TABLE)

    async def record(
        self, batches: Sequence[tuple[Sequence[Stage], Sequence[PartitionReached]]]
    ) -> None:
        """Move every (stage, partition) row of the batches forward to where its batch
        ended, in one statement."""
        if not any(stages and partitions for stages, partitions in batches):
            return
        connection = await self._connected()
        try:
            await record_progress(connection, self._read_store, batches, self._clock())
        except psycopg.OperationalError:
            await self.close()  # a fresh connection next time; the error goes up to retry
            raise

    async def close(self) -> None:
        """Close the connection, if any."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            )
        return self._connection
