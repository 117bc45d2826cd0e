"""What a projection is: a named, versioned, pure fold of events into documents.

Three kinds, each carrying the guard that makes an event applied twice change nothing:

- `DocumentProjection`: one document per key. `apply` ignores what the document has
  already applied (an aggregate version, or the event ids it lists); the writer replaces
  only the state it folded from (`guard`), so a concurrent writer is never overwritten.
- `LineProjection`: insert-only lines whose ids follow from the event, so a replayed
  event is a duplicate key.
- `LookupProjection`: a `DocumentProjection` whose document key comes from a mapping
  the projection learns from events itself (an account's owner, from `AccountOpened`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Self
from uuid import UUID

from domain.envelope import EventEnvelope

Document = dict[str, Any]
Apply = Callable[[Document | None, EventEnvelope], Document | None]
Guard = Callable[[Document], Document]


class ProjectionError(Exception):
    """An event cannot be applied to a read model as it stands."""


class ProjectionGapError(ProjectionError):
    """An event arrived for a document that has not seen the events before it."""

    def __init__(self, projection: str, document_id: str, have: int, got: int) -> None:
        super().__init__(
            f"{projection}: document {document_id} is at version {have}, cannot apply version {got}"
        )
        self.projection = projection
        self.document_id = document_id


class UnknownLookupKeyError(ProjectionError):
    """An event needs a mapping its projection never learned (the event teaching it is missing)."""

    def __init__(self, projection: str, key: str) -> None:
        super().__init__(f"{projection}: nothing is known about {key}")
        self.projection = projection
        self.key = key


class MalformedEventError(ProjectionError):
    """An event lacks a field its projection needs, or has it in another shape."""

    def __init__(self, event: EventEnvelope, field: str, expected: str) -> None:
        super().__init__(
            f"{event.event_type} {event.event_id}: field {field!r} is not {expected}"
            f" (got {event.data.get(field)!r})"
        )


def integer_field(event: EventEnvelope, field: str) -> int:
    """A whole-number field of the event's data (money never arrives as a float)."""
    value = event.data.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedEventError(event, field, "an integer")
    return value


def text_field(event: EventEnvelope, field: str) -> str:
    """A text field of the event's data."""
    value = event.data.get(field)
    if not isinstance(value, str):
        raise MalformedEventError(event, field, "text")
    return value


@dataclass(frozen=True)
class Index:
    """An index a writer relies on for correctness (query indexes belong to the readers)."""

    keys: tuple[str, ...]
    unique: bool = False


def version_guard(document: Document) -> Document:
    """Match the stored document only while it is still at the version it was read at."""
    return {"version": document["version"]}


@dataclass(frozen=True)
class Projection:
    """A named, versioned read model; version N writes to collections suffixed `_vN`.

    A rebuild writes the same version again into fresh collections: its `generation`
    (1 for the first build) tells them apart, as `_vN_gG` from the second on.
    """

    name: str
    version: int
    generation: int = field(default=1, kw_only=True)

    @property
    def collection(self) -> str:
        """The collection this build of the projection writes to."""
        return collection_name(self.name, self.version, self.generation)

    @property
    def collections(self) -> tuple[str, ...]:
        """Every collection this build writes (dropped together when it is retired)."""
        return (self.collection,)

    def build(self, generation: int) -> Self:
        """This projection writing generation `generation` of its collections."""
        return replace(self, generation=generation)


def collection_name(name: str, version: int, generation: int = 1) -> str:
    """`<name>_v<version>` for a projection's first build, `<name>_v<version>_g<n>` after."""
    base = f"{name}_v{version}"
    return base if generation == 1 else f"{base}_g{generation}"


@dataclass(frozen=True)
class DocumentProjection(Projection):
    """One document per key, guarded by what the document has applied.

    `document_id` says which document an event belongs to (None: not ours);
    `apply` is pure: (current document or None, event) -> new document, or None to ignore;
    `guard` gives the filter fields that match the document exactly as it was read;
    `spans_aggregates` says that events of several aggregates feed one document.
    """

    document_id: Callable[[EventEnvelope], str | None]
    apply: Apply
    guard: Guard = version_guard
    indexes: tuple[Index, ...] = ()
    spans_aggregates: bool = False


@dataclass(frozen=True)
class LineProjection(Projection):
    """Insert-only lines, each with an id that follows from its event.

    `lines` is pure: event -> the lines it adds (none when the event is not ours).
    """

    lines: Callable[[EventEnvelope], list[Document]]
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class LookupProjection(Projection):
    """Documents keyed through a mapping the projection keeps itself (key -> document id).

    `learns` gives the (key, document id) an event teaches, if any; `lookup_key` the key
    an event needs (None: not ours). The mapping lives in `<collection>_<lookup_name>`
    as `{_id: key, <lookup_field>: document id}` and never changes once learned. Keys are
    ids of aggregates, so events of several aggregates feed one document.
    """

    learns: Callable[[EventEnvelope], tuple[str, str] | None]
    lookup_key: Callable[[EventEnvelope], str | None]
    apply: Apply
    lookup_name: str
    lookup_field: str
    guard: Guard = version_guard
    indexes: tuple[Index, ...] = ()

    @property
    def spans_aggregates(self) -> bool:
        """Several aggregates (the keys) feed each document."""
        return True

    @property
    def lookup_collection(self) -> str:
        """Where the mapping is kept."""
        return f"{self.collection}_{self.lookup_name}"

    @property
    def collections(self) -> tuple[str, ...]:
        """The documents and the mapping."""
        return (self.collection, self.lookup_collection)


def by_aggregate(event: EventEnvelope) -> str:
    """Key a document by the id of the aggregate that recorded the event."""
    return str(event.aggregate_id)


def as_text(value: UUID | str) -> str:
    """Ids are stored as canonical text so they sort and compare the same everywhere."""
    return str(value)
