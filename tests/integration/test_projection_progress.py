"""Projection progress in PostgreSQL: one statement per batch, only ever moving forward."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest

from infra.eventstore.progress import (
    PartitionReached,
    connected,
    forget_progress,
    read_progress,
    set_progress_version,
)
from infra.settings import MongodbSettings, Settings
from projectors.engine.progress import ProgressStore

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def reached(partition: int, offset: int, position: int | None) -> PartitionReached:
    return PartitionReached(partition, offset, offset + 1, position, AT if position else None)


async def stored(settings: Settings, *names: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(projection, partition) → (next offset, position)."""
    async with connected(settings) as connection:
        rows = await read_progress(connection, settings.mongodb.database, names)
    return {(row.projection, row.partition): (row.next_offset, row.position) for row in rows}


@pytest.fixture
async def store(isolated_settings: Settings) -> AsyncIterator[ProgressStore]:
    progress = ProgressStore(isolated_settings, clock=lambda: AT)
    await progress.prepare()
    yield progress
    await progress.close()


async def test_a_batch_records_every_stage_in_every_partition(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record(
        [([("accounts", 1), ("transfers.router", 1)], [reached(0, 5, 40), reached(3, 2, 41)])]
    )

    assert await stored(isolated_settings, "accounts", "transfers.router") == {
        ("accounts", 0): (5, 40),
        ("accounts", 3): (2, 41),
        ("transfers.router", 0): (5, 40),
        ("transfers.router", 3): (2, 41),
    }


async def test_a_late_writer_never_moves_progress_back(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record([([("accounts", 1)], [reached(0, 9, 50)])])
    # A worker that lost partition 0 in a rebalance writes what it had applied.
    await store.record([([("accounts", 1)], [reached(0, 7, 44)])])

    assert await stored(isolated_settings, "accounts") == {("accounts", 0): (9, 50)}


async def test_a_batch_without_events_from_a_partition_keeps_its_position(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record([([("accounts", 1)], [reached(0, 9, 50)])])
    await store.record([([("accounts", 1)], [reached(0, 11, None)])])  # only foreign records

    assert await stored(isolated_settings, "accounts") == {("accounts", 0): (11, 50)}


async def test_read_stores_do_not_see_each_others_progress(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record([([("accounts", 1)], [reached(0, 9, 50)])])
    other = isolated_settings.model_copy(
        update={"mongodb": MongodbSettings(url=isolated_settings.mongodb.url, database="other")}
    )

    assert await stored(other, "accounts") == {}


async def test_operators_move_the_version_and_forget_progress(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record([([("accounts", 1), ("transfers", 1)], [reached(0, 9, 50)])])
    read_store = isolated_settings.mongodb.database

    async with connected(isolated_settings) as connection:
        await set_progress_version(connection, read_store, ["accounts"], 2)
        versions = {
            row.projection: row.version
            for row in await read_progress(connection, read_store, ["accounts", "transfers"])
        }
        await forget_progress(connection, read_store, ["accounts"])

    assert versions == {"accounts": 2, "transfers": 1}
    assert await stored(isolated_settings, "accounts", "transfers") == {("transfers", 0): (9, 50)}


async def test_the_store_reconnects_after_losing_its_connection(
    store: ProgressStore, isolated_settings: Settings
) -> None:
    await store.record([([("accounts", 1)], [reached(0, 1, 10)])])
    async with connected(isolated_settings) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    with pytest.raises(psycopg.OperationalError):
        await store.record([([("accounts", 1)], [reached(0, 2, 11)])])
    await store.record([([("accounts", 1)], [reached(0, 3, 12)])])

    assert await stored(isolated_settings, "accounts") == {("accounts", 0): (3, 12)}
