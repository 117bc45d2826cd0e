"""The dead-letter store: events a projection could not apply, kept for operators.

`_id` is `<projection>:<event id>`, so a redelivered poison event updates its letter
(attempts, last failure) instead of adding another. A Kafka record that is not a Ledger
event at all fails every projection alike: its letter belongs to projection `*` and is
keyed by where it sits in the log, with the raw key, value and headers as text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

from domain.envelope import EventEnvelope
from projectors.engine.stores import CollectionStore
from projectors.projections.projection import Document

COLLECTION = "dead_letters"
EVERY_PROJECTION = "*"
PENDING = "pending"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka record as it was read, for the records that are not Ledger events."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]

    def to_json(self) -> Document:
        """The record with its bytes as text (invalid UTF-8 replaced)."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": _text(self.key),
            "value": _text(self.value),
            "headers": [{"name": name, "value": _text(value)} for name, value in self.headers],
        }


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", "replace") if raw is not None else None


def describe(error: BaseException) -> str:
    """What went wrong, as operators read it."""
    return f"{type(error).__name__}: {error}"


class DeadLetters(CollectionStore):
    """Records events that still fail after their retries."""

    COLLECTION_NAME = COLLECTION

    async def record_event(
        self, projection: str, event: EventEnvelope, error: BaseException, attempts: int
    ) -> None:
        """Keep an event `projection` could not apply."""
        await self._record(
            f"{projection}:{event.event_id}",
            projection,
            _storable(event.to_json()),
            error,
            attempts,
        )

    async def record_malformed(self, record: RawRecord, error: BaseException) -> None:
        """Keep a record that is not a Ledger event (it failed to decode, once, for all)."""
        letter_id = f"{EVERY_PROJECTION}:{record.topic}:{record.partition}:{record.offset}"
        await self._record(letter_id, EVERY_PROJECTION, record.to_json(), error, 1)

    async def pending_by_projection(self) -> dict[str, int]:
        """How many letters wait for an operator, per projection."""
        counts = await self._collection.aggregate(
            [{"$match": {"status": PENDING}}, {"$group": {"_id": "$projection", "n": {"$sum": 1}}}]
        )
        return {str(row["_id"]): int(row["n"]) async for row in counts}

    async def _record(
        self,
        letter_id: str,
        projection: str,
        event: Document,
        error: BaseException,
        attempts: int,
    ) -> None:
        now = self._clock()
        letter = {
            "_id": letter_id,
            "projection": projection,
            "event": event,
            "error": describe(error),
            "attempts": attempts,
            "status": PENDING,
            "first_failed_at": now,
            "last_failed_at": now,
        }
        try:
            await self._collection.insert_one(letter)
        except DuplicateKeyError:
            # Delivered again (a crash before the commit, or a retried letter that failed
            # again): the same letter, one more failure. A discarded letter stays discarded.
            await self._collection.update_one(
                {"_id": letter_id},
                {
                    "$set": {"error": describe(error), "last_failed_at": now},
                    "$inc": {"attempts": attempts},
                },
            )
            await self._collection.update_one(
                {"_id": letter_id, "status": "retried"}, {"$set": {"status": PENDING}}
            )


def _storable(envelope: dict[str, Any]) -> Document:
    """The envelope as stored: a payload whose keys MongoDB refuses is kept as JSON text."""
    if _has_unsafe_key(envelope["data"]):
        return {**envelope, "data": json.dumps(envelope["data"], default=str)}
    return envelope


def _has_unsafe_key(value: object) -> bool:
    if isinstance(value, dict):
        return any(
            not isinstance(key, str) or "." in key or key.startswith("$") or _has_unsafe_key(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(isinstance(item, list) or _has_unsafe_key(item) for item in value)
    return False
