"""The operators' side of the dead-letter store: list, retry and discard letters.

Letters are written by the workers (`projectors.engine.dead_letters`); operators decide
what becomes of the pending ones: applied again (`retried`) or kept for the record and
never applied (`discarded`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from domain.envelope import EventEnvelope
from projectors.engine.dead_letters import PENDING, describe
from projectors.engine.writers import ProjectionWriter
from projectors.operations.errors import NotRetryableError
from projectors.projections.projection import Document

RETRIED, DISCARDED = "retried", "discarded"


@dataclass(frozen=True)
class RetryReport:
    """What retrying dead letters did."""

    retried: int
    failed: list[tuple[str, str]]
    """(letter id, error) of letters that still fail."""


class LetterDesk:
    """Reads and settles the letters of `dead_letters`."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def letters(self, name: str, status: str | None, limit: int) -> list[Document]:
        """The projection's letters (of `status`, when given), oldest first."""
        query: Document = {"projection": name}
        if status is not None:
            query["status"] = status
        cursor = self._collection.find(query).sort("first_failed_at", ASCENDING)
        return [letter async for letter in cursor.limit(limit)]

    async def pending_events(self, name: str, letter_ids: Sequence[str] | None) -> list[Document]:
        """The pending letters (all, or those of `letter_ids`); each must hold an event."""
        letters = [letter async for letter in self._collection.find(_pending(name, letter_ids))]
        foreign = [str(letter["_id"]) for letter in letters if "event_id" not in letter["event"]]
        if foreign:
            raise NotRetryableError(
                f"not Ledger events, so nothing to apply: {', '.join(foreign)} (discard them)"
            )
        return letters

    async def retry(self, writer: ProjectionWriter, letters: list[Document]) -> RetryReport:
        """Apply each letter's event again, in log order; mark those that pass `retried`."""
        retried, failed = 0, []
        for letter in sorted(letters, key=lambda item: int(item["event"]["position"])):
            try:
                await writer.apply([envelope_of(letter)])
            except Exception as error:  # still poison: leave it pending, say why
                failed.append((str(letter["_id"]), describe(error)))
                await self._collection.update_one(
                    {"_id": letter["_id"]},
                    {"$set": {"error": describe(error), "last_failed_at": datetime.now(UTC)}},
                )
                continue
            retried += 1
            await self._collection.update_one(
                {"_id": letter["_id"]},
                {"$set": {"status": RETRIED, "retried_at": datetime.now(UTC)}},
            )
        return RetryReport(retried, failed)

    async def discard(self, name: str, letter_ids: Sequence[str] | None) -> int:
        """Mark pending letters discarded; how many."""
        result = await self._collection.update_many(
            _pending(name, letter_ids),
            {"$set": {"status": DISCARDED, "discarded_at": datetime.now(UTC)}},
        )
        return int(result.modified_count)


def _pending(name: str, letter_ids: Sequence[str] | None) -> Document:
    query: Document = {"projection": name, "status": PENDING}
    if letter_ids is not None:
        query["_id"] = {"$in": list(letter_ids)}
    return query


def envelope_of(letter: Document) -> EventEnvelope:
    """The event a dead letter holds, as the projections take it."""
    event = dict(letter["event"])
    if isinstance(event["data"], str):  # kept as JSON text: its keys are ones MongoDB refuses
        event["data"] = json.loads(event["data"])
    return EventEnvelope.from_json(event)
