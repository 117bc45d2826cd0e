"""A document projection folded in memory during a rebuild, written to the store in bulk.

During a rebuild the new build has one writer and no reader, so its documents need not
be written event by event: they are folded in memory and written at checkpoints, each
changed document once: new ones by `insert_many`, changed ones deleted by `_id` and
inserted again, rather than one guarded replace per document. Documents are found and
deleted one `_id` each, never with `$in`, which FerretDB v1 serves by testing every
document of the collection against the list (`infra.readstore.lookups`): a checkpoint
that did so took longer the larger the build, and on 500,000 events outran the client's
socket timeout.

Crash safety rests on what every document records about itself (the aggregate version
or event ids it has applied): a rebuild resumed from its checkpoint folds the events
after it again, and a document already past them ignores them. So any document state at
or after the checkpoint is fine; only a document *lost* is not. Changed documents are
therefore written to a staging collection first; they are deleted from the build and
inserted again from memory; a crash in between leaves them in staging, from where
`recover` puts them back before the rebuild goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.readstore.lookups import delete_by_ids, find_by_ids
from projectors.engine.writers import by_document, create_indexes, fold
from projectors.projections.projection import Document, DocumentProjection, Projection

MAX_DOCUMENTS = 200_000
"""Documents kept in memory; past it the buffer is written and forgotten."""


class BufferedDocuments:
    """A `ProjectionWriter` for a private build: folds in memory, `flush` writes."""

    def __init__(
        self,
        projection: DocumentProjection,
        database: AsyncDatabase[Document],
        max_documents: int = MAX_DOCUMENTS,
    ) -> None:
        self._projection = projection
        self._collection = database[projection.collection]
        self._staging = database[f"{projection.collection}__staging"]
        self._max_documents = max_documents
        self._documents: dict[str, Document] = {}
        self._stored: set[str] = set()
        self._dirty: set[str] = set()
        self._complete = False
        """Every document of the collection is in memory: no need to look any up."""

    @property
    def projection(self) -> Projection:
        """The projection (at the build) this buffer writes."""
        return self._projection

    @property
    def dirty(self) -> int:
        """Documents changed since the last flush."""
        return len(self._dirty)

    @property
    def full(self) -> bool:
        """Whether the buffer should be written and forgotten."""
        return len(self._documents) >= self._max_documents

    async def prepare(self) -> None:
        """Put back what a crashed flush left in staging; load the build if it fits."""
        await create_indexes(self._collection, self._projection.indexes)
        staged = [document async for document in self._staging.find({})]
        if staged:
            present = {
                found["_id"]
                for found in await find_by_ids(
                    self._collection, [d["_id"] for d in staged], {"_id": 1}
                )
            }
            missing = [document for document in staged if document["_id"] not in present]
            if missing:
                await self._collection.insert_many(missing, ordered=False)
            await self._staging.drop()
        if await self._collection.estimated_document_count() < self._max_documents:
            async for document in self._collection.find({}):
                self._documents[document["_id"]] = document
                self._stored.add(document["_id"])
            self._complete = True

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Fold the events into the documents in memory; how many documents changed."""
        grouped = by_document(events, [self._projection.document_id(e) for e in events])
        await self._load([key for key in grouped if key not in self._documents])
        changed = 0
        for key, document_events in grouped.items():
            after = fold(self._projection.apply, self._documents.get(key), document_events)
            if after is not None:
                self._documents[key] = after
                self._dirty.add(key)
                changed += 1
        return changed

    async def _load(self, keys: list[str]) -> None:
        if self._complete or not keys:
            return
        for document in await find_by_ids(self._collection, keys):
            self._documents[document["_id"]] = document
            self._stored.add(document["_id"])

    async def flush(self) -> None:
        """Write every changed document durably; forget them all when the buffer is full."""
        new = [self._documents[key] for key in self._dirty if key not in self._stored]
        changed = [self._documents[key] for key in self._dirty if key in self._stored]
        if changed:
            await self._staging.insert_many(changed, ordered=False)
            await delete_by_ids(self._collection, [d["_id"] for d in changed])
        if new or changed:
            await self._collection.insert_many([*new, *changed], ordered=False)
        if changed:
            await self._staging.drop()
        self._stored.update(self._dirty)
        self._dirty.clear()
        if self.full:
            self._documents.clear()
            self._stored.clear()
            self._complete = False
