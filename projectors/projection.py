"""What a projection is: a named, versioned, pure fold of events into documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from projectors.envelope import EventEnvelope

Document = dict[str, Any]


class ProjectionGapError(Exception):
    """An event arrived for a document that has not seen the events before it."""

    def __init__(self, projection: str, document_id: str, have: int, got: int) -> None:
        super().__init__(
            f"{projection}: document {document_id} is at version {have}, cannot apply version {got}"
        )
        self.projection = projection
        self.document_id = document_id


@dataclass(frozen=True)
class DocumentProjection:
    """One document per aggregate, guarded by the aggregate version it has applied.

    `document_id` says which document an event belongs to (None: not ours);
    `apply` is pure: (current document or None, event) -> new document, or None to ignore.
    """

    name: str
    version: int
    document_id: Callable[[EventEnvelope], str | None]
    apply: Callable[[Document | None, EventEnvelope], Document | None]

    @property
    def collection(self) -> str:
        """The collection this version of the projection writes to."""
        return f"{self.name}_v{self.version}"


def by_aggregate(event: EventEnvelope) -> str:
    """Key a document by the id of the aggregate that recorded the event."""
    return str(event.aggregate_id)


def as_text(value: UUID | str) -> str:
    """Ids are stored as canonical text so they sort and compare the same everywhere."""
    return str(value)
