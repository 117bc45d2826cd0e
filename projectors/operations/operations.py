"""What operators do to projections: status, pause, resume, reset, rebuild, dead letters.

Shared by `ledger projections …` and `/v1/admin/projections…`. Every command that
changes a projection takes a PostgreSQL advisory lock for that projection, held for
the length of the command (a rebuild's whole run), so two operators never act on one
projection at once; a second one gets `OperationInProgressError` at once.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import TopicPartition
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.eventstore.history import EventHistory
from infra.eventstore.leadership import TRY_LOCK
from infra.settings import Settings
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.dead_letters import EVERY_PROJECTION, PENDING, describe
from projectors.engine.groups import (
    commit_offsets,
    committed_offsets,
    end_offsets,
    offsets_after_position,
    wait_until_empty,
)
from projectors.engine.progress import COLLECTION as PROGRESS
from projectors.engine.routing import is_routed, routing_topic
from projectors.engine.supervisor import WORKERS
from projectors.engine.writers import writer_for
from projectors.operations.catalog import CatalogEntry, ProjectionCatalog
from projectors.operations.rebuild import (
    CHECKPOINT_EVERY,
    PAGE_SIZE,
    OnProgress,
    Rebuild,
    RebuildReport,
    retire_expired,
)
from projectors.projections.projection import Document, Projection

# Operator commands on one projection share a lock key; the relay and the transfer
# process use keys of their own (`infra.eventstore.leadership`).
LOCK_NAMESPACE = 0x1ED6F0
STAND_DOWN_SECONDS = 60.0
HEARTBEAT_FRESH_SECONDS = 15.0
RETRIED, DISCARDED = "retried", "discarded"


class UnknownProjectionError(LookupError):
    """No projection has that name."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no projection named {name!r} (known: {', '.join(sorted(known))})")
        self.name = name


class OperationInProgressError(RuntimeError):
    """Another operator command holds the projection."""


class NotRetryableError(ValueError):
    """A dead letter that holds no event (a record that was not a Ledger event)."""


@dataclass(frozen=True)
class ProjectionReport:
    """One projection as operators see it."""

    name: str
    version: int
    code_version: int
    generation: int
    collection: str
    state: str
    """running, paused, held, rebuilding, or failed (a worker cannot run it)."""
    message: str | None
    position: int | None
    lag_events: int | None
    lag_seconds: float | None
    events_per_second: float
    workers: int
    dead_letters: int
    rebuild: dict[str, Any] | None
    retired: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class RetryReport:
    """What retrying dead letters did."""

    retried: int
    failed: list[tuple[str, str]]
    """(letter id, error) of letters that still fail."""


def lock_key(name: str) -> int:
    """The advisory lock key of a projection (a stable 32-bit hash in our namespace)."""
    return (LOCK_NAMESPACE << 32) | zlib.crc32(name.encode())


class ProjectionOperations:
    """Operator commands over the read store, Kafka and the event store."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        projections: Mapping[str, Projection],
    ) -> None:
        self._settings = settings
        self._database = database
        self._projections = dict(projections)
        self._catalog = ProjectionCatalog(database)

    def projection(self, name: str) -> Projection:
        """The code of a projection by name."""
        try:
            return self._projections[name]
        except KeyError:
            raise UnknownProjectionError(name, list(self._projections)) from None

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Hold the projection's operator lock (released when the session ends, even on kill)."""
        self.projection(name)
        url = self._settings.postgres.url.get_secret_value()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cursor = await conn.execute(TRY_LOCK, (lock_key(name),))
            row = await cursor.fetchone()
            if row is None or row[0] is not True:
                raise OperationInProgressError(
                    f"another operator command (a rebuild, a reset…) is running on {name}"
                )
            yield

    async def _entry(self, name: str) -> CatalogEntry:
        return await self._catalog.ensure(self.projection(name))

    # -- status -----------------------------------------------------------------------

    async def status(self) -> list[ProjectionReport]:
        """Every projection: version, state, position, lag, rate, workers, dead letters."""
        ends = await self._end_offsets()
        names = sorted(self._projections)
        return list(await asyncio.gather(*(self.report(name, ends) for name in names)))

    async def report(
        self, name: str, ends: dict[str, dict[TopicPartition, int]] | None = None
    ) -> ProjectionReport:
        """One projection's report (`ends`: the topics' end offsets, when already read)."""
        projection = self.projection(name)
        entry = await self._entry(name)
        workers = await self._workers(name)
        failed = [worker for worker in workers if worker["state"] == "failed"]
        state = entry.state
        if state == "running" and failed:
            state = "failed"
        position, lag_seconds = await self._progress(name)
        lag_events = await self._lag_events(entry, projection, ends or await self._end_offsets())
        dead = await self._database[DEAD_LETTERS].count_documents(
            {"projection": name, "status": PENDING}
        )
        rebuild = entry.rebuild
        return ProjectionReport(
            name=name,
            version=entry.live.version,
            code_version=projection.version,
            generation=entry.live.generation,
            collection=entry.live.collection,
            state=state,
            message=failed[0]["message"] if failed else None,
            position=position,
            lag_events=lag_events,
            lag_seconds=0.0 if lag_events == 0 else lag_seconds,
            events_per_second=round(sum(float(w.get("events_per_second", 0)) for w in workers), 3),
            workers=len([worker for worker in workers if worker["state"] == "running"]),
            dead_letters=dead,
            rebuild=(
                {
                    "collection": rebuild.build.collection,
                    "stage": rebuild.stage,
                    "position": rebuild.position,
                    "head": rebuild.head,
                    "started_at": rebuild.started_at.isoformat(),
                    "updated_at": rebuild.updated_at.isoformat(),
                }
                if rebuild
                else None
            ),
            retired=[
                {"collection": item.build.collection, "drop_after": item.drop_after.isoformat()}
                for item in entry.retired
            ],
        )

    async def _workers(self, name: str) -> list[Document]:
        fresh = datetime.now(UTC) - timedelta(seconds=HEARTBEAT_FRESH_SECONDS)
        cursor = self._database[WORKERS].find({"projection": name, "updated_at": {"$gte": fresh}})
        return [worker async for worker in cursor]

    async def _progress(self, name: str) -> tuple[int | None, float | None]:
        """The last position applied, and how old the last applied event is."""
        documents = [d async for d in self._database[PROGRESS].find({"projection": name})]
        positions = [d for d in documents if d.get("position") is not None]
        if not positions:
            return None, None
        last = max(positions, key=lambda d: int(d["position"]))
        occurred_at = last.get("occurred_at")
        if not isinstance(occurred_at, datetime):
            return int(last["position"]), None
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        return int(last["position"]), round((datetime.now(UTC) - occurred_at).total_seconds(), 3)

    async def _end_offsets(self) -> dict[str, dict[TopicPartition, int]]:
        """The end offsets of the events topic and the routing topic ({} when unreachable)."""
        kafka = self._settings.kafka
        try:
            return {
                topic: await end_offsets(kafka, topic)
                for topic in (kafka.topic, routing_topic(kafka.topic))
            }
        except Exception:  # the broker is down: lag is then unknown
            return {}

    async def _lag_events(
        self,
        entry: CatalogEntry,
        projection: Projection,
        ends: dict[str, dict[TopicPartition, int]],
    ) -> int | None:
        """Records published but not yet applied by the live build's group (from Kafka)."""
        kafka = self._settings.kafka
        topics = [kafka.topic] + ([routing_topic(kafka.topic)] if is_routed(projection) else [])
        if any(topic not in ends for topic in topics):
            return None
        try:
            committed = await committed_offsets(kafka, entry.live.group(self._group_base))
        except Exception:  # the broker is down: say we do not know
            return None
        return sum(
            max(end - committed.get(partition, 0), 0)
            for topic in topics
            for partition, end in ends[topic].items()
        )

    @property
    def _group_base(self) -> str:
        return self._settings.projector.group_id

    # -- pause, resume, reset ---------------------------------------------------------

    async def pause(self, name: str, wait_seconds: float = STAND_DOWN_SECONDS) -> None:
        """Stop the projection's workers; return once none consumes."""
        entry = await self._entry(name)
        await self._catalog.set_paused(name, True)
        await wait_until_empty(
            self._settings.kafka, entry.live.group(self._group_base), wait_seconds
        )

    async def resume(self, name: str) -> None:
        """Let the projection's workers consume again."""
        await self._entry(name)
        await self._catalog.set_paused(name, False)

    async def reset(
        self, name: str, position: int, wait_seconds: float = STAND_DOWN_SECONDS
    ) -> dict[str, int]:
        """Make the workers apply again every event after `position` (guards skip what is there).

        Returns the offsets set, per `topic:partition`.
        """
        if position < 0:
            raise ValueError("a position is 0 or more")
        async with self.exclusive(name):
            entry = await self._entry(name)
            if entry.rebuild is not None:
                raise OperationInProgressError(f"{name} is being rebuilt; reset it afterwards")
            group = entry.live.group(self._group_base)
            await self._catalog.set_hold(name, "reset")
            try:
                await wait_until_empty(self._settings.kafka, group, wait_seconds)
                offsets = await offsets_after_position(
                    self._settings.kafka, self._settings.kafka.topic, position
                )
                await commit_offsets(self._settings.kafka, group, offsets)
                # Progress only moves forward; start it again from what the workers apply.
                await self._database[PROGRESS].delete_many({"projection": name})
            finally:
                await self._catalog.set_hold(name, None)
        return {f"{tp.topic}:{tp.partition}": offset for tp, offset in offsets.items()}

    # -- rebuild ----------------------------------------------------------------------

    async def rebuild(
        self,
        name: str,
        history: EventHistory,
        *,
        serving_indexes: Sequence[IndexModel] = (),
        grace: timedelta = timedelta(seconds=60),
        stop: asyncio.Event | None = None,
        on_progress: OnProgress | None = None,
        page_size: int = PAGE_SIZE,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> RebuildReport:
        """Rebuild the projection into fresh collections and switch to them (ADR 0008)."""
        projection = self.projection(name)
        async with self.exclusive(name):
            await retire_expired(self._database, projection)
            rebuild = Rebuild(
                self._settings,
                self._database,
                history,
                projection,
                serving_indexes=serving_indexes,
                on_progress=on_progress,
                page_size=page_size,
                checkpoint_every=checkpoint_every,
            )
            return await rebuild.run(stop, grace)

    async def retire(self, name: str, *, force: bool = False) -> list[str]:
        """Drop the retired builds whose grace is over (every retired build with `force`)."""
        projection = self.projection(name)
        async with self.exclusive(name):
            dropped = await retire_expired(self._database, projection, force=force)
        return [build.collection for build in dropped]

    # -- dead letters -----------------------------------------------------------------

    async def dead_letters(
        self, name: str, status: str | None = PENDING, limit: int = 100
    ) -> list[Document]:
        """The projection's letters (`*`: records that were not events), oldest first."""
        if name != EVERY_PROJECTION:
            self.projection(name)
        query: Document = {"projection": name}
        if status is not None:
            query["status"] = status
        cursor = self._database[DEAD_LETTERS].find(query).sort("first_failed_at", ASCENDING)
        return [letter async for letter in cursor.limit(limit)]

    async def retry(
        self,
        name: str,
        letter_ids: Sequence[str] | None = None,
        wait_seconds: float = STAND_DOWN_SECONDS,
    ) -> RetryReport:
        """Apply pending letters again, in log order, to the live build; mark those that pass.

        The projection's workers are held meanwhile, so the documents have one writer.
        """
        if name == EVERY_PROJECTION:
            raise NotRetryableError(
                "the letters of `*` are records that were not Ledger events: discard them"
            )
        projection = self.projection(name)
        async with self.exclusive(name):
            letters = await self._pending(name, letter_ids)
            if not letters:
                return RetryReport(0, [])
            entry = await self._entry(name)
            writer = writer_for(entry.live.of(projection), self._database)
            await self._catalog.set_hold(name, "dead-letters retry")
            try:
                await wait_until_empty(
                    self._settings.kafka, entry.live.group(self._group_base), wait_seconds
                )
                return await self._retry_each(writer, letters)
            finally:
                await self._catalog.set_hold(name, None)

    async def _retry_each(self, writer: Any, letters: list[Document]) -> RetryReport:
        retried, failed = 0, []
        for letter in sorted(letters, key=lambda item: int(item["event"]["position"])):
            try:
                await writer.apply([envelope_of(letter)])
            except Exception as error:  # still poison: leave it pending, say why
                failed.append((str(letter["_id"]), describe(error)))
                await self._database[DEAD_LETTERS].update_one(
                    {"_id": letter["_id"]},
                    {"$set": {"error": describe(error), "last_failed_at": datetime.now(UTC)}},
                )
                continue
            retried += 1
            await self._database[DEAD_LETTERS].update_one(
                {"_id": letter["_id"]},
                {"$set": {"status": RETRIED, "retried_at": datetime.now(UTC)}},
            )
        return RetryReport(retried, failed)

    async def discard(self, name: str, letter_ids: Sequence[str] | None = None) -> int:
        """Mark pending letters discarded (kept for the record, never applied); how many."""
        if name != EVERY_PROJECTION:
            self.projection(name)
        query: Document = {"projection": name, "status": PENDING}
        if letter_ids is not None:
            query["_id"] = {"$in": list(letter_ids)}
        result = await self._database[DEAD_LETTERS].update_many(
            query, {"$set": {"status": DISCARDED, "discarded_at": datetime.now(UTC)}}
        )
        return int(result.modified_count)

    async def _pending(self, name: str, letter_ids: Sequence[str] | None) -> list[Document]:
        query: Document = {"projection": name, "status": PENDING}
        if letter_ids is not None:
            query["_id"] = {"$in": list(letter_ids)}
        letters = [letter async for letter in self._database[DEAD_LETTERS].find(query)]
        foreign = [str(letter["_id"]) for letter in letters if "event_id" not in letter["event"]]
        if foreign:
            raise NotRetryableError(
                f"not Ledger events, so nothing to apply: {', '.join(foreign)} (discard them)"
            )
        return letters


def envelope_of(letter: Document) -> EventEnvelope:
    """The event a dead letter holds, as the projections take it."""
    event = dict(letter["event"])
    if isinstance(event["data"], str):  # kept as JSON text: its keys are ones MongoDB refuses
        event["data"] = json.loads(event["data"])
    return EventEnvelope.from_json(event)
