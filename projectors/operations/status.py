"""What operators see of a projection: its build, state, position, lag, rate and workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.progress import connected, read_progress
from infra.settings import Settings
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.dead_letters import PENDING
from projectors.engine.groups import committed_offsets, end_offsets
from projectors.engine.routing import is_routed, routing_topic
from projectors.engine.supervisor import WORKERS
from projectors.operations.catalog import CatalogEntry, RebuildState, Retired
from projectors.projections.projection import Document, Projection

HEARTBEAT_FRESH_SECONDS = 15.0

EndOffsets = dict[str, dict[TopicPartition, int]]
"""The end offset of every partition, per topic."""


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


class StatusReader:
    """Reads a projection's state from the read store (workers, progress) and from Kafka."""

    def __init__(self, settings: Settings, database: AsyncDatabase[Document]) -> None:
        self._settings = settings
        self._database = database

    async def report(
        self, projection: Projection, entry: CatalogEntry, ends: EndOffsets
    ) -> ProjectionReport:
        """The report of `projection`, whose catalog entry is `entry`."""
        name = projection.name
        workers = await self._workers(name)
        failed = [worker for worker in workers if worker["state"] == "failed"]
        position, lag_seconds = await self._progress(name)
        lag_events = await self._lag_events(entry, projection, ends)
        dead = await self._database[DEAD_LETTERS].count_documents(
            {"projection": name, "status": PENDING}
        )
        return ProjectionReport(
            name=name,
            version=entry.live.version,
            code_version=projection.version,
            generation=entry.live.generation,
            collection=entry.live.collection,
            state="failed" if entry.state == "running" and failed else entry.state,
            message=failed[0]["message"] if failed else None,
            position=position,
            lag_events=lag_events,
            lag_seconds=0.0 if lag_events == 0 else lag_seconds,
            events_per_second=round(sum(float(w.get("events_per_second", 0)) for w in workers), 3),
            workers=len([worker for worker in workers if worker["state"] == "running"]),
            dead_letters=dead,
            rebuild=_rebuild_json(entry.rebuild) if entry.rebuild else None,
            retired=[_retired_json(item) for item in entry.retired],
        )

    async def end_offsets(self) -> EndOffsets:
        """The end offsets of the events topic and the routing topic ({} when unreachable)."""
        kafka = self._settings.kafka
        try:
            return {
                topic: await end_offsets(kafka, topic)
                for topic in (kafka.topic, routing_topic(kafka.topic))
            }
        except Exception:  # the broker is down: lag is then unknown
            return {}

    async def _workers(self, name: str) -> list[Document]:
        fresh = datetime.now(UTC) - timedelta(seconds=HEARTBEAT_FRESH_SECONDS)
        cursor = self._database[WORKERS].find({"projection": name, "updated_at": {"$gte": fresh}})
        return [worker async for worker in cursor]

    async def _progress(self, name: str) -> tuple[int | None, float | None]:
        """The last position applied, and how old the last applied event is (both None
        when nothing is applied yet, or the event store does not answer)."""
        try:
            async with connected(self._settings) as connection:
                rows = await read_progress(connection, self._settings.mongodb.database, [name])
        except psycopg.OperationalError:
            return None, None
        applied = [row for row in rows if row.position > 0]
        if not applied:
            return None, None
        last = max(applied, key=lambda row: row.position)
        if last.occurred_at is None:
            return last.position, None
        age = (datetime.now(UTC) - last.occurred_at).total_seconds()
        return last.position, round(age, 3)

    async def _lag_events(
        self, entry: CatalogEntry, projection: Projection, ends: EndOffsets
    ) -> int | None:
        """Records published but not yet applied by the live build's group (from Kafka)."""
        kafka = self._settings.kafka
        topics = [kafka.topic] + ([routing_topic(kafka.topic)] if is_routed(projection) else [])
        if any(topic not in ends for topic in topics):
            return None
        group = entry.live.group(self._settings.projector.group_id)
        try:
            committed = await committed_offsets(kafka, group)
        except Exception:  # the broker is down: say we do not know
            return None
        return sum(
            max(end - committed.get(partition, 0), 0)
            for topic in topics
            for partition, end in ends[topic].items()
        )


def _rebuild_json(rebuild: RebuildState) -> dict[str, Any]:
    return {
        "collection": rebuild.build.collection,
        "stage": rebuild.stage,
        "position": rebuild.position,
        "head": rebuild.head,
        "started_at": rebuild.started_at.isoformat(),
        "updated_at": rebuild.updated_at.isoformat(),
    }


def _retired_json(item: Retired) -> dict[str, Any]:
    return {"collection": item.build.collection, "drop_after": item.drop_after.isoformat()}
