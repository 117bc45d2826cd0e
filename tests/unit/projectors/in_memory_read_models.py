"""The projection kinds applied to plain dicts: the writers' semantics without a server."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from domain.envelope import EventEnvelope
from projectors.projections.projection import (
    Document,
    DocumentProjection,
    LineProjection,
    LookupProjection,
    Projection,
    UnknownLookupKeyError,
)


class InMemoryReadModels:
    """Collections of documents by id, kept by applying events one at a time."""

    def __init__(self, projections: Iterable[Projection]) -> None:
        self.projections = list(projections)
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)

    def apply(self, events: Iterable[EventEnvelope]) -> None:
        for event in events:
            for projection in self.projections:
                self._apply(projection, event)

    def _apply(self, projection: Projection, event: EventEnvelope) -> None:
        documents = self.collections[projection.collection]
        if isinstance(projection, LineProjection):
            for line in projection.lines(event):
                documents.setdefault(line["_id"], line)
            return
        if isinstance(projection, DocumentProjection):
            document_id = projection.document_id(event)
        elif isinstance(projection, LookupProjection):
            document_id = self._look_up(projection, event)
        else:
            raise TypeError(projection)
        if document_id is not None:
            updated = projection.apply(documents.get(document_id), event)
            if updated is not None:
                documents[document_id] = updated

    def _look_up(self, projection: LookupProjection, event: EventEnvelope) -> str | None:
        mapping = self.collections[projection.lookup_collection]
        learned = projection.learns(event)
        if learned is not None:
            key, value = learned
            mapping.setdefault(key, {"_id": key, projection.lookup_field: value})
        key = projection.lookup_key(event)
        if key is None:
            return None
        if key not in mapping:
            raise UnknownLookupKeyError(projection.name, key)
        return str(mapping[key][projection.lookup_field])
