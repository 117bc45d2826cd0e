"""What the engine's stores share: one collection of the read store, and an injectable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from pymongo.asynchronous.database import AsyncDatabase

from projectors.projections.projection import Document

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC (the clock every store stamps with unless a test gives one)."""
    return datetime.now(UTC)


class CollectionStore:
    """A store kept in the read-store collection `COLLECTION_NAME`; tests may pass a clock."""

    COLLECTION_NAME: ClassVar[str]

    def __init__(self, database: AsyncDatabase[Document], clock: Clock = utc_now) -> None:
        self._collection = database[self.COLLECTION_NAME]
        self._clock = clock
