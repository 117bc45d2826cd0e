"""The watcher's view of the world: MongoDB documents, the relay checkpoint, Kafka offsets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.reader import EventStoreReader
from infra.messaging.partition_ends import PartitionEnds
from infra.readstore.lookups import find_by_ids
from query_api.views.progress import PartitionProgress, read_progress
from query_api.views.served import ServedProjection


class ReadSideProbe:
    """Implements the watcher's `ReadSide` over the real stores."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        events: EventStoreReader,
        partition_ends: PartitionEnds,
        checkpoint_name: str,
        routing_ends: PartitionEnds | None = None,
    ) -> None:
        self._database = database
        self._events = events
        self._partition_ends = partition_ends
        self._checkpoint_name = checkpoint_name
        self._routing_ends = routing_ends

    async def documents(
        self, collection: str, ids: Collection[str], fields: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """One `_id` lookup each (an index lookup on FerretDB too, where `$in` reads the whole
        collection: ADR 0010); only the fields the requirements look at."""
        projection = {name: 1 for name in fields} if fields else {"_id": 1}
        found = await find_by_ids(self._database[collection], ids, projection)
        return {document["_id"]: document for document in found}

    async def relay_position(self) -> int:
        """The relay's checkpoint, from PostgreSQL."""
        return await self._events.relay_position(self._checkpoint_name)

    async def progress(
        self, projections: Collection[ServedProjection]
    ) -> dict[ServedProjection, dict[int, PartitionProgress]]:
        """The projections' progress (from PostgreSQL), by projection and partition."""
        by_name = {(p.name, p.version): p for p in projections}
        grouped: dict[ServedProjection, dict[int, PartitionProgress]] = defaultdict(dict)
        for progress in await read_progress(self._events, self._database.name, projections):
            grouped[by_name[progress.projection, progress.version]][progress.partition] = progress
        return dict(grouped)

    async def end_offsets(self) -> dict[int, int]:
        """The topic's end offsets, from the broker."""
        return await self._partition_ends.fetch()

    async def routing_end_offsets(self) -> dict[int, int]:
        """The routing topic's end offsets, from the broker ({} when not configured)."""
        return await self._routing_ends.fetch() if self._routing_ends is not None else {}
