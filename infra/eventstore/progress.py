"""How far each projection has got, per partition: the `projection_progress` table.

Projector workers write it after each batch, once the batch's read-model writes are
durable; the query API's consistency waits and `/health`, and `ledger projections
status`, read it. It lives in PostgreSQL, next to the relay's checkpoint, not in the read
store (ADR 0015): a batch's progress is one statement here, where in FerretDB it was a
read and a write per projection and partition, the read store's largest cost per command.

One row per (read store, projection, partition). The read store is the MongoDB database
whose builds the row describes, so two deployments sharing a PostgreSQL never mix.
`next_offset` is the Kafka offset the projector reads next (the last applied record's
offset + 1), `highwater` the partition's end offset at the projector's last fetch, and
`position` the global position of the last event it applied from that partition. A row
only moves forward: a worker that lost its partition in a rebalance may write late, and
never undoes its successor's progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from infra.settings import Settings

TABLE = "projection_progress"

CREATE_TABLE = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} ("
    " read_store text NOT NULL,"
    " projection text NOT NULL,"
    " partition integer NOT NULL,"
    " version integer NOT NULL,"
    " next_offset bigint NOT NULL,"
    " highwater bigint,"
    " position bigint,"
    " occurred_at timestamptz,"
    " updated_at timestamptz NOT NULL,"
    " PRIMARY KEY (read_store, projection, partition))"
).format(sql.Identifier(TABLE))

# One statement per batch, whatever its size. What a batch does not know (no event read
# from a partition: no position) is left standing; rows are locked in key order, so two
# workers writing overlapping rows during a handover wait for each other, never deadlock.
_RECORD = sql.SQL(
    "INSERT INTO {table} AS p (read_store, projection, partition, version, next_offset,"
    " highwater, position, occurred_at, updated_at)"
    " SELECT %(read_store)s, u.* FROM unnest("
    " %(projection)s::text[], %(partition)s::int[], %(version)s::int[],"
    " %(next_offset)s::bigint[], %(highwater)s::bigint[], %(position)s::bigint[],"
    " %(occurred_at)s::timestamptz[], %(updated_at)s::timestamptz[]) AS u"
    " ON CONFLICT (read_store, projection, partition) DO UPDATE SET"
    " version = EXCLUDED.version,"
    " next_offset = EXCLUDED.next_offset,"
    " highwater = COALESCE(EXCLUDED.highwater, p.highwater),"
    " position = COALESCE(EXCLUDED.position, p.position),"
    " occurred_at = COALESCE(EXCLUDED.occurred_at, p.occurred_at),"
    " updated_at = EXCLUDED.updated_at"
    " WHERE p.next_offset <= EXCLUDED.next_offset"
).format(table=sql.Identifier(TABLE))

_READ = sql.SQL(
    "SELECT projection, version, partition, next_offset, highwater, position, occurred_at,"
    " updated_at FROM {} WHERE read_store = %s AND projection = ANY(%s)"
    " ORDER BY projection, partition"
).format(sql.Identifier(TABLE))

_SET_VERSION = sql.SQL(
    "UPDATE {} SET version = %s WHERE read_store = %s AND projection = ANY(%s)"
).format(sql.Identifier(TABLE))

_FORGET = sql.SQL("DELETE FROM {} WHERE read_store = %s AND projection = ANY(%s)").format(
    sql.Identifier(TABLE)
)

Connection = psycopg.AsyncConnection[Any]
CONNECT_TIMEOUT_SECONDS = 5


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Connection]:
    """A short-lived autocommit connection to the event store, for operators' commands."""
    async with await psycopg.AsyncConnection.connect(
        settings.postgres.url.get_secret_value(),
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    ) as connection:
        yield connection


@dataclass(frozen=True, slots=True)
class PartitionReached:
    """Where one partition stands after a batch (what a worker records for each stage)."""

    partition: int
    offset: int
    highwater: int | None
    position: int | None
    occurred_at: datetime | None


Stage = tuple[str, int]
"""What progress is recorded for: a projection (or a routed one's router) and its version."""


@dataclass(frozen=True)
class PartitionProgress:
    """How far one projection has got in one partition, as stored."""

    projection: str
    version: int
    partition: int
    next_offset: int
    highwater: int
    position: int
    occurred_at: datetime | None
    updated_at: datetime | None

    @property
    def lag_events(self) -> int:
        """Records published to the partition but not applied, at the projector's last look."""
        return max(self.highwater - self.next_offset, 0)

    def lag_seconds(self, now: datetime) -> float:
        """How old the last applied event is, when records are waiting (else 0)."""
        if self.lag_events == 0 or self.occurred_at is None:
            return 0.0
        return max((now - self.occurred_at).total_seconds(), 0.0)


async def record_progress(
    connection: Connection,
    read_store: str,
    batches: Sequence[tuple[Sequence[Stage], Sequence[PartitionReached]]],
    now: datetime,
) -> None:
    """Move every (stage, partition) row of the batches forward to where its batch ended,
    in one statement."""
    # One row per key (a statement may not update a row twice), the furthest one.
    furthest: dict[tuple[str, int], tuple[str, int, PartitionReached]] = {}
    for stages, partitions in batches:
        for name, version in stages:
            for reached in partitions:
                key = (name, reached.partition)
                if key not in furthest or furthest[key][2].offset < reached.offset:
                    furthest[key] = (name, version, reached)
    rows = [furthest[key] for key in sorted(furthest)]
    if not rows:
        return
    await connection.execute(
        _RECORD,
        {
            "read_store": read_store,
            "projection": [name for name, _, _ in rows],
            "partition": [reached.partition for _, _, reached in rows],
            "version": [version for _, version, _ in rows],
            "next_offset": [reached.offset for _, _, reached in rows],
            "highwater": [reached.highwater for _, _, reached in rows],
            "position": [reached.position for _, _, reached in rows],
            "occurred_at": [reached.occurred_at for _, _, reached in rows],
            "updated_at": [now] * len(rows),
        },
    )


async def read_progress(
    connection: Connection, read_store: str, projections: Collection[str]
) -> list[PartitionProgress]:
    """Every partition's progress of the named projections (none before any is written)."""
    try:
        cursor = await connection.execute(_READ, (read_store, list(projections)))
    except psycopg.errors.UndefinedTable:  # an event store older than the table
        return []
    return [
        PartitionProgress(
            projection=projection,
            version=version,
            partition=partition,
            next_offset=next_offset,
            # No highwater known yet means no lag known; no position means nothing applied.
            highwater=next_offset if highwater is None else highwater,
            position=0 if position is None else position,
            occurred_at=occurred_at,
            updated_at=updated_at,
        )
        for (
            projection,
            version,
            partition,
            next_offset,
            highwater,
            position,
            occurred_at,
            updated_at,
        ) in await cursor.fetchall()
    ]


async def set_progress_version(
    connection: Connection, read_store: str, projections: Collection[str], version: int
) -> None:
    """Say the named projections' progress is now that of `version` (a rebuild's switch)."""
    await connection.execute(_SET_VERSION, (version, read_store, list(projections)))


async def forget_progress(
    connection: Connection, read_store: str, projections: Collection[str]
) -> None:
    """Drop the named projections' progress: it only moves forward, and a reset moves back."""
    await connection.execute(_FORGET, (read_store, list(projections)))
