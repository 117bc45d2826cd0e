"""The projector worker: consumes the events topic and keeps the read models up to date.

Offsets are committed only after every read-model write of the batch is durable, so a
crash replays events; each write is guarded by the version its document has applied, so
a replayed event changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from infra.cloudevents import MalformedRecordError, from_record
from infra.kafka import make_consumer
from infra.settings import Settings
from projectors.envelope import EventEnvelope
from projectors.projection import Document, DocumentProjection

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
MAX_WRITE_ATTEMPTS = 5


class StaleWriteError(Exception):
    """Another worker kept changing the same documents; the batch will be redelivered."""


class DocumentWriter:
    """Folds a batch of events into one projection's documents with guarded writes."""

    def __init__(self, projection: DocumentProjection, database: AsyncDatabase[Document]) -> None:
        self._projection = projection
        self._collection = database[projection.collection]

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Apply events (in log order per document); return how many documents changed."""
        by_document: dict[str, list[EventEnvelope]] = defaultdict(list)
        for event in events:
            document_id = self._projection.document_id(event)
            if document_id is not None:
                by_document[document_id].append(event)
        pending = dict(by_document)
        changed = 0
        for _ in range(MAX_WRITE_ATTEMPTS):
            if not pending:
                return changed
            written, lost = await self._write_once(pending)
            changed += written
            pending = {document_id: pending[document_id] for document_id in lost}
        raise StaleWriteError(f"{self._projection.name}: gave up on {sorted(pending)}")

    async def _write_once(self, pending: dict[str, list[EventEnvelope]]) -> tuple[int, set[str]]:
        """One guarded bulk write; returns (documents written, documents to refold)."""
        current = {
            document["_id"]: document
            async for document in self._collection.find({"_id": {"$in": list(pending)}})
        }
        operations: list[InsertOne[Document] | ReplaceOne[Document]] = []
        intended: dict[str, int] = {}
        for document_id, events in pending.items():
            before = current.get(document_id)
            after = _fold(self._projection, before, events)
            if after is None:
                continue
            intended[document_id] = int(after["version"])
            if before is None:
                operations.append(InsertOne(after))
            else:
                # Matches only the version we folded from, so a concurrent writer's newer
                # document is never overwritten with an older fold.
                operations.append(
                    ReplaceOne({"_id": document_id, "version": before["version"]}, after)
                )
        if not operations:
            return 0, set()
        replaces = sum(isinstance(operation, ReplaceOne) for operation in operations)
        try:
            result = await self._collection.bulk_write(operations, ordered=False)
            if result.matched_count == replaces:
                return len(operations), set()
        except BulkWriteError as error:
            if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
                raise
        return await self._reconcile(intended)

    async def _reconcile(self, intended: dict[str, int]) -> tuple[int, set[str]]:
        """Some guard missed: another writer moved those documents. Refold any left behind."""
        stored = {
            document["_id"]: int(document["version"])
            async for document in self._collection.find(
                {"_id": {"$in": list(intended)}}, {"version": 1}
            )
        }
        lost = {
            document_id
            for document_id, version in intended.items()
            if stored.get(document_id, 0) < version
        }
        return len(intended) - len(lost), lost


def _fold(
    projection: DocumentProjection, document: Document | None, events: Sequence[EventEnvelope]
) -> Document | None:
    changed = False
    for event in events:
        updated = projection.apply(document, event)
        if updated is not None:
            document, changed = updated, True
    return document if changed else None


class ProjectorWorker:
    """One member of the projector consumer group."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        projections: Iterable[DocumentProjection],
    ) -> None:
        self._settings = settings
        self._writers = [DocumentWriter(projection, database) for projection in projections]
        self.applied = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and project until `stop` is set."""
        consumer = make_consumer(self._settings.kafka, self._settings.projector.group_id)
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(
                    timeout_ms=500, max_records=self._settings.projector.max_batch
                )
                records = [record for batch in batches.values() for record in batch]
                if records:
                    await self._project(records)
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def _project(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        events = []
        for record in records:
            try:
                events.append(from_record(record.value, list(record.headers)))
            except MalformedRecordError:
                log.exception(
                    "skipping a record that is not a Ledger event at offset %s", record.offset
                )
        for writer in self._writers:
            await writer.apply(events)
        self.applied += len(events)


__all__ = ["AIOKafkaConsumer", "DocumentWriter", "ProjectorWorker"]


def main() -> None:
    """Run one projector process until SIGTERM."""
    from infra.mongo import make_client, read_models
    from infra.service import configure_logging, run_until_signalled
    from projectors.registry import PROJECTIONS

    configure_logging("projector")
    settings = Settings()

    async def work(stop: asyncio.Event) -> None:
        client = make_client(settings.mongodb)
        try:
            worker = ProjectorWorker(
                settings, read_models(client, settings.mongodb), PROJECTIONS.values()
            )
            await worker.run(stop)
        finally:
            await client.close()

    run_until_signalled(work)


if __name__ == "__main__":
    main()
