"""Writing projections to MongoDB: one writer per projection kind, every write guarded.

No write relies on a transaction or an upsert expected to collide (ADR 0003): documents
are inserted when new and otherwise replaced only where they still match the state
they were folded from; lines are inserted and a duplicate key means "already there".
When a guard misses, another writer moved the document first: the writer re-reads it
and folds again, and a document whose fold changes nothing is already up to date.

FerretDB v1 checks an update's filter and writes the document in two steps (a `SELECT`,
then an `UPDATE` by `_id` alone, on PostgreSQL as on SQLite), so there the guard only
holds while one writer at a time writes a document: the worker sees to that
(`projectors.engine.routing`). It also hangs a database for good when about a hundred
update statements are in flight at once, hence `MAX_UPDATES_PER_COMMAND`.

Documents are read back one `_id` equality each (`find_by_ids`), never with `$in`, which
FerretDB v1 serves by reading the whole collection (ADR 0010). Most are not read at all: a
writer remembers what it last wrote (`GuardedDocuments`), and since every document has one
writer at a time, that is what is stored. The guard keeps it safe when it is not (another
worker wrote the document while this one did not hold its partition): the replace misses,
the writer forgets, reads and folds again. A document whose events begin it (an account's
opening, a transfer's first event) is not read either: it is inserted, and read only if
the insert collides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from domain.envelope import EventEnvelope
from infra.readstore.lookups import find_by_ids
from projectors.projections.projection import (
    Apply,
    Document,
    DocumentProjection,
    Guard,
    Index,
    LineProjection,
    LookupProjection,
    Projection,
    ProjectionGapError,
    UnknownLookupKeyError,
)

DUPLICATE_KEY = 11000
MAX_WRITE_ATTEMPTS = 5
MAX_UPDATES_PER_COMMAND = 10
LOOKUP_CACHE_SIZE = 100_000
WRITTEN_CACHE_SIZE = 50_000
"""Documents a writer remembers as it wrote them (the least recently written go first)."""


Operation = InsertOne[Document] | ReplaceOne[Document] | UpdateOne
ProjectionT = TypeVar("ProjectionT", bound=DocumentProjection | LineProjection | LookupProjection)
GuardedT = TypeVar("GuardedT", bound=DocumentProjection | LookupProjection)


class StaleWriteError(Exception):
    """Other writers kept moving the same documents; the batch is applied again later."""


class WriteNotDurableError(Exception):
    """The server applied a write but could not confirm it durable (a write concern error)."""


class ProjectionWriter(Protocol):
    """Applies batches of events to one projection's collections."""

    @property
    def projection(self) -> Projection:
        """The projection this writer writes."""
        ...

    async def prepare(self) -> None:
        """Create the indexes the writer relies on (idempotent)."""
        ...

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Apply events (in log order per aggregate); return how many documents changed."""
        ...


class DocumentKeyedWriter(ProjectionWriter, Protocol):
    """A writer that can tell which document each event belongs to."""

    async def document_ids(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        """The document of each event (None: not this projection's)."""
        ...


def writer_for(projection: Projection, database: AsyncDatabase[Document]) -> ProjectionWriter:
    """The writer that knows how to guard this kind of projection."""
    if isinstance(projection, DocumentProjection):
        return DocumentWriter(projection, database)
    if isinstance(projection, LineProjection):
        return LineWriter(projection, database)
    if isinstance(projection, LookupProjection):
        return LookupWriter(projection, database)
    raise TypeError(f"no writer for {type(projection).__name__}")


def keyed_writer_for(
    projection: Projection, database: AsyncDatabase[Document]
) -> DocumentKeyedWriter:
    """The writer of a projection made of documents (not lines)."""
    if isinstance(projection, DocumentProjection):
        return DocumentWriter(projection, database)
    if isinstance(projection, LookupProjection):
        return LookupWriter(projection, database)
    raise TypeError(f"{projection.name} is not made of documents")


async def create_indexes(collection: AsyncCollection[Document], indexes: Sequence[Index]) -> None:
    """Create each index unless it exists (`createIndexes` is idempotent)."""
    for index in indexes:
        await collection.create_index([(key, 1) for key in index.keys], unique=index.unique)


class GuardedDocuments:
    """Folds events into documents and writes each back guarded by the state it came from."""

    def __init__(
        self,
        name: str,
        collection: AsyncCollection[Document],
        apply: Apply,
        guard: Guard,
        remember: int = WRITTEN_CACHE_SIZE,
    ) -> None:
        self._name = name
        self._collection = collection
        self._apply = apply
        self._guard = guard
        self._remember = remember
        self._written: OrderedDict[str, Document] = OrderedDict()
        """What this writer last wrote of each document: the store's state while one writer
        at a time writes it, and refuted by the guard when not."""

    async def write(self, by_document: Mapping[str, Sequence[EventEnvelope]]) -> int:
        """Fold each document's events (in order) and write; return documents changed."""
        pending = dict(by_document)
        changed = 0
        assume_new = True
        for _ in range(MAX_WRITE_ATTEMPTS):
            if not pending:
                return changed
            written, missed = await self._write_once(pending, assume_new)
            changed += written
            pending = {document_id: pending[document_id] for document_id in missed}
            assume_new = False  # what missed is read before it is folded again
        if not pending:
            return changed
        raise StaleWriteError(f"{self._name}: gave up on {sorted(pending)}")

    async def _write_once(
        self, pending: Mapping[str, Sequence[EventEnvelope]], assume_new: bool
    ) -> tuple[int, set[str]]:
        """One unordered bulk write; returns (documents written, documents to fold again).

        With `assume_new`, a document neither remembered nor read whose events fold from
        nothing (they begin it: an account's opening, a transfer's first event) is taken
        for new and inserted without reading it first. Most unknown documents are new, so
        this saves a read each (a new transfer per transfer command); when one exists
        after all (a replay), its insert collides and the next attempt reads it.
        """
        current = {key: self._written[key] for key in pending if key in self._written}
        remembered = set(current)
        unknown = [key for key in pending if key not in current]
        begun: dict[str, Document] = {}  # folded from nothing already: not folded again
        if assume_new:
            begun = {
                key: document
                for key in unknown
                if (document := _begun(self._apply, pending[key])) is not None
            }
            unknown = [key for key in unknown if key not in begun]
        if unknown:
            found = await find_by_ids(self._collection, unknown)
            current.update((document["_id"], document) for document in found)
        operations: list[InsertOne[Document] | ReplaceOne[Document]] = []
        touched: dict[str, Document] = {}
        behind: set[str] = set()
        for document_id, events in pending.items():
            before = current.get(document_id)
            try:
                after = begun.get(document_id) or fold(self._apply, before, events)
            except ProjectionGapError:
                if document_id not in remembered:
                    raise
                # Another writer moved the document past what this one remembers: read it.
                self._forget([document_id])
                behind.add(document_id)
                continue
            if after is None:
                continue
            touched[document_id] = after
            if before is None:
                operations.append(InsertOne(after))
            else:
                # Matches only the state we folded from, so a concurrent writer's newer
                # document is never overwritten with an older fold.
                guard = {"_id": document_id, **self._guard(before)}
                operations.append(ReplaceOne(guard, after))
        if not operations:
            return 0, behind
        try:
            written = await _bulk_write(self._collection, operations)
        except BaseException:
            self._forget(touched)  # some of them may have been written: read them next time
            raise
        if written == len(operations):
            self._recall(touched)
            return written, behind
        # Some guard missed or some insert collided. Folding again from what is stored now
        # changes nothing for the documents that were written, so refold them all.
        self._forget(touched)
        return written, set(touched) | behind

    def _recall(self, written: Mapping[str, Document]) -> None:
        for document_id, document in written.items():
            self._written[document_id] = document
            self._written.move_to_end(document_id)
        while len(self._written) > self._remember:
            self._written.popitem(last=False)

    def _forget(self, document_ids: Iterable[str]) -> None:
        for document_id in document_ids:
            self._written.pop(document_id, None)


def _begun(apply: Apply, events: Sequence[EventEnvelope]) -> Document | None:
    """The document the events make from nothing; None if they need one that exists."""
    try:
        return fold(apply, None, events)
    except ProjectionGapError:
        return None


def fold(
    apply: Apply, document: Document | None, events: Sequence[EventEnvelope]
) -> Document | None:
    """Apply events in order; the new document, or None when none of them changed it."""
    changed = False
    for event in events:
        updated = apply(document, event)
        if updated is not None:
            document, changed = updated, True
    return document if changed else None


async def _bulk_write(
    collection: AsyncCollection[Document],
    operations: Sequence[InsertOne[Document] | ReplaceOne[Document]],
) -> int:
    """Write unordered; return how many inserts landed plus how many replaces matched.

    Inserts go in one command; replaces in small commands (see `in_small_updates`).
    """
    inserts = [operation for operation in operations if isinstance(operation, InsertOne)]
    replaces = [operation for operation in operations if isinstance(operation, ReplaceOne)]
    written = await _write_unordered(collection, inserts) if inserts else 0
    for chunk in in_small_updates(replaces):
        written += await _write_unordered(collection, chunk)
    return written


def in_small_updates(operations: Sequence[Operation]) -> list[list[Operation]]:
    """Split update statements into commands of at most `MAX_UPDATES_PER_COMMAND`.

    FerretDB v1 (on PostgreSQL as on SQLite) holds a pooled connection for every
    statement of an update command until the command ends; at 100 statements, in one
    command or across concurrent ones, the pool of the database runs dry and every
    request on it hangs for good. Small commands keep all workers together well below
    that.
    """
    return [
        list(operations[start : start + MAX_UPDATES_PER_COMMAND])
        for start in range(0, len(operations), MAX_UPDATES_PER_COMMAND)
    ]


async def _write_unordered(
    collection: AsyncCollection[Document], operations: Sequence[Operation]
) -> int:
    try:
        result = await collection.bulk_write(list(operations), ordered=False)
    except BulkWriteError as error:
        details: Mapping[str, Any] = error.details
        if any(failure["code"] != DUPLICATE_KEY for failure in details.get("writeErrors", [])):
            raise
        if details.get("writeConcernErrors"):
            raise WriteNotDurableError(str(details["writeConcernErrors"])) from error
        return int(details.get("nInserted", 0)) + int(details.get("nMatched", 0))
    return result.inserted_count + result.matched_count


class _CollectionWriter(Generic[ProjectionT]):
    """What every writer does alike: know its projection, create the indexes it declares.

    Those are the indexes a writer relies on for correctness, such as the unique key
    that guards a `LineProjection`.
    """

    def __init__(self, projection: ProjectionT, database: AsyncDatabase[Document]) -> None:
        self._projection = projection
        self._collection = database[projection.collection]

    @property
    def projection(self) -> Projection:
        """The projection this writer writes."""
        return self._projection

    async def prepare(self) -> None:
        """Create the indexes the projection declares."""
        await create_indexes(self._collection, self._projection.indexes)


class _GuardedWriter(_CollectionWriter[GuardedT], ABC):
    """A writer of documents: events grouped by document, folded, written guarded."""

    def __init__(self, projection: GuardedT, database: AsyncDatabase[Document]) -> None:
        super().__init__(projection, database)
        self._documents = GuardedDocuments(
            projection.name, self._collection, projection.apply, projection.guard
        )

    @abstractmethod
    async def document_ids(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        """The document of each event (None: not this projection's)."""

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Apply events (in log order per document); return how many documents changed."""
        return await self._documents.write(by_document(events, await self.document_ids(events)))


class DocumentWriter(_GuardedWriter[DocumentProjection]):
    """Writes a `DocumentProjection`: events grouped by document, folded, guarded."""

    async def document_ids(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        """The document of each event (None: not this projection's)."""
        return [self._projection.document_id(event) for event in events]


def by_document(
    events: Sequence[EventEnvelope], document_ids: Sequence[str | None]
) -> dict[str, list[EventEnvelope]]:
    """Events grouped by their document, each group in log order; events of none dropped."""
    grouped: dict[str, list[EventEnvelope]] = defaultdict(list)
    for event, document_id in zip(events, document_ids, strict=True):
        if document_id is not None:
            grouped[document_id].append(event)
    return grouped


class LineWriter(_CollectionWriter[LineProjection]):
    """Writes a `LineProjection`: inserts only; a duplicate key is a line already written."""

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Insert the lines of the events; return how many were new."""
        # A line delivered twice in one batch is inserted once.
        lines = {line["_id"]: line for event in events for line in self._projection.lines(event)}
        if not lines:
            return 0
        return await _bulk_write(self._collection, [InsertOne(line) for line in lines.values()])


class LookupWriter(_GuardedWriter[LookupProjection]):
    """Writes a `LookupProjection`: learns the mapping first, then writes guarded documents."""

    def __init__(self, projection: LookupProjection, database: AsyncDatabase[Document]) -> None:
        super().__init__(projection, database)
        self._lookup = database[projection.lookup_collection]
        # The mapping never changes once learned, so what this process has seen stays true.
        self._known: dict[str, str] = {}

    async def document_ids(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        """Learn from the events, then map each to its document through its key."""
        learned = dict(pair for event in events if (pair := self._projection.learns(event)))
        await self._remember(learned)
        keys = [self._projection.lookup_key(event) for event in events]
        known = await self._recall({key for key in keys if key is not None})
        missing = next((key for key in keys if key is not None and key not in known), None)
        if missing is not None:
            raise UnknownLookupKeyError(self._projection.name, missing)
        return [known[key] if key is not None else None for key in keys]

    async def _remember(self, learned: Mapping[str, str]) -> None:
        new = {key: value for key, value in learned.items() if key not in self._known}
        if new:
            field = self._projection.lookup_field
            await _bulk_write(
                self._lookup,
                [InsertOne({"_id": key, field: value}) for key, value in new.items()],
            )
            self._cache(new)

    async def _recall(self, keys: set[str]) -> dict[str, str]:
        found = {key: self._known[key] for key in keys if key in self._known}
        missing = [key for key in keys if key not in found]
        if missing:
            field = self._projection.lookup_field
            fetched = {
                str(mapping["_id"]): str(mapping[field])
                for mapping in await find_by_ids(self._lookup, missing)
            }
            found.update(fetched)
            self._cache(fetched)
        return found

    def _cache(self, mappings: Mapping[str, str]) -> None:
        if len(self._known) + len(mappings) > LOOKUP_CACHE_SIZE:
            self._known.clear()
        self._known.update(mappings)
