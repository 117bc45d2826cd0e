"""Applying a batch of events to every projection, isolating the events that poison it.

Each projection takes the whole batch in one go. When that fails, the batch is tried
again with backoff, up to `max_attempts`; then it is split in halves, recursively, until
the events that still fail stand alone: each goes to the dead-letter store and the rest
of the batch is applied, in order. A store that is unreachable is not poison: that error
goes up, so the worker keeps the batch (uncommitted) and tries it again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg
from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from domain.envelope import EventEnvelope
from infra.runtime.tracing import for_each_trace
from projectors.engine.routing import Router
from projectors.engine.writers import ProjectionWriter, WriteNotDurableError

log = logging.getLogger(__name__)

# The read store, the broker (routing) or PostgreSQL (progress), not the event, is the
# problem: no amount of isolating would help.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
    WriteNotDurableError,
    KafkaError,
    psycopg.OperationalError,
)

Sleep = Callable[[float], Awaitable[None]]


class DeadLetterRecorder(Protocol):
    """Where events that still fail after their retries are kept."""

    async def record_event(
        self, projection: str, event: EventEnvelope, error: BaseException, attempts: int
    ) -> None:
        """Keep an event `projection` could not apply."""
        ...


@dataclass(frozen=True)
class ProjectionOutcome:
    """What one projection did with a batch."""

    applied: int
    dead_lettered: int


class BatchApplier:
    """Applies batches to a set of projections; poison events end up as dead letters."""

    def __init__(
        self,
        writers: Sequence[ProjectionWriter],
        dead_letters: DeadLetterRecorder,
        *,
        max_attempts: int,
        backoff_seconds: float,
        sleep: Sleep = asyncio.sleep,
        traced: bool = False,
    ) -> None:
        self._writers = list(writers)
        # Live events continue their commands' traces; a rebuild's replay of old events
        # must not add spans to traces that ended long ago.
        self._traced = traced
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep

    @property
    def writers(self) -> list[ProjectionWriter]:
        """The writers, one per projection."""
        return list(self._writers)

    async def prepare(self) -> None:
        """Create the indexes every writer relies on."""
        for writer in self._writers:
            await writer.prepare()

    async def apply(self, events: Sequence[EventEnvelope]) -> dict[str, ProjectionOutcome]:
        """Apply the batch to every projection at once; per projection, what happened."""
        return await self.apply_each({writer.projection.name: events for writer in self._writers})

    async def apply_each(
        self, events_by_projection: Mapping[str, Sequence[EventEnvelope]]
    ) -> dict[str, ProjectionOutcome]:
        """Apply to each named projection its own events, all projections at once."""
        work = [
            (writer, events_by_projection[writer.projection.name])
            for writer in self._writers
            if events_by_projection.get(writer.projection.name)
        ]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {
                    writer.projection.name: group.create_task(self._apply_to(writer, events))
                    for writer, events in work
                }
        except ExceptionGroup as failures:
            # Only an unavailable store escapes a projection; the others were cancelled.
            raise failures.exceptions[0] from None
        return {name: task.result() for name, task in tasks.items()}

    async def _apply_to(
        self, writer: ProjectionWriter, events: Sequence[EventEnvelope]
    ) -> ProjectionOutcome:
        name = writer.projection.name
        for attempt in range(1, self._max_attempts + 1):
            try:
                with for_each_trace(
                    f"route {name}" if isinstance(writer, Router) else f"project {name}",
                    (event.traceparent for event in events) if self._traced else (),
                    attributes={"ledger.projection": name, "ledger.batch.events": len(events)},
                ):
                    await writer.apply(events)
                return ProjectionOutcome(applied=len(events), dead_lettered=0)
            except STORE_UNAVAILABLE:
                raise
            except Exception as error:  # a poison event may fail in any way at all
                log.warning(
                    "%s: a batch of %d events failed (attempt %d of %d): %r",
                    name,
                    len(events),
                    attempt,
                    self._max_attempts,
                    error,
                )
                if attempt < self._max_attempts:
                    await self._sleep(self._backoff_seconds * 2 ** (attempt - 1))
        dead = await self._isolate(writer, events)
        return ProjectionOutcome(applied=len(events) - dead, dead_lettered=dead)

    async def _isolate(self, writer: ProjectionWriter, events: Sequence[EventEnvelope]) -> int:
        """Apply the halves in order, splitting any that fail; return how many went dead."""
        if len(events) == 1:
            return await self._alone(writer, events[0])
        middle = len(events) // 2
        dead = 0
        for half in (events[:middle], events[middle:]):
            if len(half) == 1:
                dead += await self._alone(writer, half[0])
                continue
            try:
                await writer.apply(half)
            except STORE_UNAVAILABLE:
                raise
            except Exception:  # somewhere in this half: look closer
                dead += await self._isolate(writer, half)
        return dead

    async def _alone(self, writer: ProjectionWriter, event: EventEnvelope) -> int:
        name = writer.projection.name
        try:
            await writer.apply([event])
        except STORE_UNAVAILABLE:
            raise
        except Exception as error:  # this event is the poison
            log.exception("%s: %s %s goes to dead letters", name, event.event_type, event.event_id)
            await self._dead_letters.record_event(
                name, event, error, attempts=self._max_attempts + 1
            )
            return 1
        return 0
