"""Projection progress written as a projector worker writes it, for tests of its readers."""

from __future__ import annotations

from infra.eventstore.progress import CREATE_TABLE, PartitionReached, connected, record_progress
from infra.settings import Settings
from tests.unit.query_api.documents import EPOCH


async def store_progress(
    settings: Settings,
    projection: str,
    partition: int,
    *,
    offset: int,
    highwater: int,
    position: int,
    version: int = 1,
) -> None:
    """One projection's progress in one partition (`offset`: the next offset to read)."""
    reached = PartitionReached(partition, offset, highwater, position or None, EPOCH)
    async with connected(settings) as connection:
        await connection.execute(CREATE_TABLE)
        await record_progress(
            connection, settings.mongodb.database, [([(projection, version)], [reached])], EPOCH
        )
