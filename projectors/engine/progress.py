"""How far each projection has got, per partition: the `projection_progress` documents.

`offset` is the next offset to read (what the group commits), so `highwater - offset`
is the lag in events. A worker that lost its partition in a rebalance may write late;
updates only move a document forward, so it never undoes its successor's progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from projectors.engine.stores import Clock, CollectionStore, utc_now
from projectors.engine.writers import Operation, in_small_updates
from projectors.projections.projection import Document

COLLECTION = "projection_progress"
DUPLICATE_KEY = 11000


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """Where one partition stands after a batch."""

    partition: int
    offset: int
    highwater: int | None
    position: int | None
    occurred_at: datetime | None


Stage = tuple[str, int]
"""What progress is recorded for: a projection (or a routed one's router) and its version."""


def progress_id(projection: str, partition: int) -> str:
    """`<projection>:<partition>`."""
    return f"{projection}:{partition}"


class ProgressStore(CollectionStore):
    """Writes progress after each batch, without upserts that could collide (ADR 0003)."""

    COLLECTION_NAME = COLLECTION

    def __init__(self, database: AsyncDatabase[Document], clock: Clock = utc_now) -> None:
        super().__init__(database, clock)
        self._existing: set[str] = set()

    async def record(
        self, stages: Sequence[Stage], partitions: Sequence[PartitionProgress]
    ) -> None:
        """Move every (stage, partition) document forward to where the batch ended."""
        now = self._clock()
        documents = [_document(stage, progress, now) for stage in stages for progress in partitions]
        if not documents:
            return
        await self._create_missing(documents)
        updates: list[Operation] = [
            UpdateOne(
                {"_id": document["_id"], "offset": {"$lte": document["offset"]}},
                {"$set": _known_fields(document)},
            )
            for document in documents
        ]
        for chunk in in_small_updates(updates):
            await self._collection.bulk_write(chunk, ordered=False)

    async def _create_missing(self, documents: list[Document]) -> None:
        ids = [document["_id"] for document in documents if document["_id"] not in self._existing]
        if not ids:
            return
        self._existing.update(
            [found["_id"] async for found in self._collection.find({"_id": {"$in": ids}}, {})]
        )
        new = [document for document in documents if document["_id"] not in self._existing]
        if new:
            try:
                await self._collection.bulk_write([InsertOne(dict(d)) for d in new], ordered=False)
            except BulkWriteError as error:  # another worker created some first: fine
                if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
                    raise
        self._existing.update(document["_id"] for document in new)


def _document(stage: Stage, progress: PartitionProgress, now: datetime) -> Document:
    name, version = stage
    return {
        "_id": progress_id(name, progress.partition),
        "projection": name,
        "version": version,
        "partition": progress.partition,
        "offset": progress.offset,
        "highwater": progress.highwater,
        "position": progress.position,
        "occurred_at": progress.occurred_at,
        "updated_at": now,
    }


def _known_fields(document: Document) -> Document:
    """What to set: what this batch does not know (no events in it) is left standing."""
    return {name: value for name, value in document.items() if name != "_id" and value is not None}
