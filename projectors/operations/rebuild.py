"""Zero-downtime rebuild of one projection (ADR 0008).

1. Announce: the catalog records the rebuild and the new build (the next generation of
   the code's version); from now on readers look the live build up on every request.
2. Build: read the event store in large pages after the rebuild's checkpoint and apply
   them to the new build's collections with the projection's own writer (bulk writes,
   guarded, so a page applied twice changes nothing); checkpoint after each page. Not
   through Kafka: the log is the source, and it is read as fast as the store serves it.
   A rebuild stopped here (Ctrl-C, SIGKILL) continues from its checkpoint when started
   again.
3. Switch, once within `switch_lag` events of the head: hold the live build's workers
   and wait until their consumer group is empty (Kafka says so); read the head H; apply
   what is left up to H; point the new build's consumer group at the first offsets after
   H (and at the end of the routing topic, whose records all come from events up to H);
   then one catalog write makes the new build live. The held workers start again, on the
   new build, in its group. Readers saw the old build, frozen while held, then the new
   one, which already held everything the old one did: no view goes backwards. Readers
   are never blocked; only the projection's writes wait, for the length of the hold.
4. Retire: the old build's collections stay for `grace`, then are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.history import EventFilter, EventHistory
from infra.eventstore.progress import connected, set_progress_version
from infra.readstore.client import create_missing_indexes
from infra.settings import Settings
from projectors.engine.batches import BatchApplier
from projectors.engine.buffer import BufferedDocuments
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.groups import (
    commit_offsets,
    end_offsets,
    offsets_after_position,
    wait_until_empty,
)
from projectors.engine.routing import is_routed, router_stage_name, routing_topic
from projectors.engine.writers import ProjectionWriter, writer_for
from projectors.operations.catalog import (
    READER_CACHE_SECONDS,
    Build,
    CatalogEntry,
    ProjectionCatalog,
    RebuildState,
)
from projectors.projections.projection import Document, DocumentProjection, Projection

log = logging.getLogger(__name__)

PAGE_SIZE = 5_000
SWITCH_LAG = 2_000
CHECKPOINT_EVERY = 100_000
STAND_DOWN_SECONDS = 60.0


class RebuildInterruptedError(Exception):
    """The rebuild was asked to stop; it continues from its checkpoint next time."""


@dataclass(frozen=True)
class RebuildProgress:
    """Where a rebuild is, for progress bars."""

    stage: str
    position: int
    head: int
    applied: int
    """Events applied by this run (not counting earlier runs of a resumed rebuild)."""


@dataclass(frozen=True)
class RebuildReport:
    """What a finished rebuild did."""

    build: Build
    previous: Build
    resumed_from: int
    applied: int
    seconds: float
    hold_seconds: float
    """How long the projection's workers were held for the switch (readers never wait)."""
    head: int
    switched_at: float
    """When the new build became live (`time.time()`)."""

    @property
    def events_per_second(self) -> float:
        """Events applied per second over the whole run."""
        return self.applied / self.seconds if self.seconds else 0.0


OnProgress = Callable[[RebuildProgress], None]


def next_build(entry: CatalogEntry, projection: Projection) -> Build:
    """A build of the code's version whose collections no other build of it uses."""
    taken = [entry.live, *(item.build for item in entry.retired)]
    same = [build.generation for build in taken if build.version == projection.version]
    return Build(projection.name, projection.version, max(same, default=0) + 1)


async def drop_build(
    database: AsyncDatabase[Document], build: Build, projection: Projection
) -> None:
    """Drop every collection of a build."""
    for collection in _collections(build, projection):
        await database.drop_collection(collection)


def _collections(build: Build, projection: Projection) -> tuple[str, ...]:
    return replace(projection, version=build.version, generation=build.generation).collections


class Rebuild:
    """Rebuilds one projection into a new build and switches readers and workers to it."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        history: EventHistory,
        projection: Projection,
        *,
        serving_indexes: Sequence[IndexModel] = (),
        page_size: int = PAGE_SIZE,
        checkpoint_every: int = CHECKPOINT_EVERY,
        switch_lag: int = SWITCH_LAG,
        on_progress: OnProgress | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._database = database
        self._history = history
        self._projection = projection
        self._serving_indexes = list(serving_indexes)
        self._page_size = page_size
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._buffer: BufferedDocuments | None = None
        self._switch_lag = switch_lag
        self._on_progress = on_progress or (lambda _: None)
        self._clock = clock
        self._catalog = ProjectionCatalog(database, clock)
        self._applied = 0

    async def run(
        self, stop: asyncio.Event | None = None, grace: timedelta = timedelta(0)
    ) -> RebuildReport:
        """Rebuild, switch, and return; the old build is dropped after `grace` by `retire`."""
        stop = stop or asyncio.Event()
        started = time.monotonic()
        name = self._projection.name
        entry = await self._catalog.ensure(self._projection)
        state = await self._start_or_resume(entry)
        resumed_from = state.position
        applier = self._applier(state.build)
        await applier.prepare()
        await self._create_serving_indexes(state.build)
        state = await self._build(applier, state, stop)
        hold_started = time.monotonic()
        try:
            head = await self._switch(applier, state, entry.live, grace)
        except BaseException:
            await self._catalog.set_hold(name, None)
            raise
        hold_seconds = time.monotonic() - hold_started
        log.info("%s: %s is live (held %.3f s)", name, state.build, hold_seconds)
        return RebuildReport(
            build=state.build,
            previous=entry.live,
            resumed_from=resumed_from,
            applied=self._applied,
            seconds=time.monotonic() - started,
            hold_seconds=hold_seconds,
            head=head,
            switched_at=time.time(),
        )

    async def _start_or_resume(self, entry: CatalogEntry) -> RebuildState:
        name = self._projection.name
        current = entry.rebuild
        if current is not None and current.build.version == self._projection.version:
            log.info(
                "%s: resuming the rebuild of %s after position %d",
                name,
                current.build,
                current.position,
            )
            return current
        if current is not None:
            log.info(
                "%s: dropping the unfinished %s (the code is version %d)",
                name,
                current.build,
                self._projection.version,
            )
            await drop_build(self._database, current.build, self._projection)
        build = next_build(entry, self._projection)
        await drop_build(self._database, build, self._projection)  # leftovers of a lost run
        return await self._catalog.start_rebuild(name, build, 0)

    def _applier(self, build: Build) -> BatchApplier:
        projection = build.of(self._projection)
        writer: ProjectionWriter
        if isinstance(projection, DocumentProjection):
            writer = self._buffer = BufferedDocuments(projection, self._database)
        else:
            writer = writer_for(projection, self._database)  # lines and lookups: per page
        return BatchApplier(
            [writer],
            DeadLetters(self._database, self._clock),
            max_attempts=self._settings.projector.max_attempts,
            backoff_seconds=self._settings.projector.retry_backoff_seconds,
        )

    async def _create_serving_indexes(self, build: Build) -> None:
        await create_missing_indexes(self._database[build.collection], self._serving_indexes)

    async def _build(
        self, applier: BatchApplier, state: RebuildState, stop: asyncio.Event
    ) -> RebuildState:
        """Apply the log until close enough to its head, and readers had time to notice."""
        announced = time.monotonic() - (self._clock() - state.announced_at).total_seconds()
        while True:
            head = await self._history.head()
            readers_know = time.monotonic() - announced >= 2 * READER_CACHE_SECONDS
            if head - state.position <= self._switch_lag and readers_know:
                return replace(state, head=head)
            if stop.is_set():
                raise RebuildInterruptedError(f"stopped after position {state.position}")
            if state.position >= head:
                state = await self._checkpoint(state)
                await asyncio.sleep(0.05)  # caught up, waiting for the readers' caches
                continue
            state = await self._apply_page(applier, state, head)
            if self._checkpoint_due:
                state = await self._checkpoint(state)

    async def _apply_page(
        self, applier: BatchApplier, state: RebuildState, head: int, until: int | None = None
    ) -> RebuildState:
        page = await self._history.page(
            EventFilter(after=state.position, until=until), self._page_size
        )
        if page.events:
            await applier.apply(page.events)
            self._applied += len(page.events)
            self._since_checkpoint += len(page.events)
        state = replace(state, position=page.next_after, head=head)
        self._on_progress(RebuildProgress(state.stage, state.position, head, self._applied))
        return state

    @property
    def _checkpoint_due(self) -> bool:
        if self._buffer is None:
            return True  # every page is durable once applied
        return self._buffer.full or self._since_checkpoint >= self._checkpoint_every

    async def _checkpoint(self, state: RebuildState) -> RebuildState:
        """Make everything applied durable, then record the position it reached."""
        if self._buffer is not None:
            await self._buffer.flush()
        self._since_checkpoint = 0
        await self._catalog.rebuild_progress(self._projection.name, state)
        return state

    async def _switch(
        self, applier: BatchApplier, state: RebuildState, live: Build, grace: timedelta
    ) -> int:
        name = self._projection.name
        settings = self._settings
        state = await self._checkpoint(replace(state, stage="switching"))
        await self._catalog.set_hold(name, "rebuild")
        await wait_until_empty(
            settings.kafka, live.group(settings.projector.group_id), STAND_DOWN_SECONDS
        )
        head = await self._history.head()
        while state.position < head:
            state = await self._apply_page(applier, state, head, until=head)
        state = await self._checkpoint(state)
        offsets = await offsets_after_position(settings.kafka, settings.kafka.topic, head)
        if is_routed(self._projection):
            offsets.update(await end_offsets(settings.kafka, routing_topic(settings.kafka.topic)))
        await commit_offsets(
            settings.kafka, state.build.group(settings.projector.group_id), offsets
        )
        async with connected(settings) as connection:
            await set_progress_version(
                connection,
                settings.mongodb.database,
                [name, router_stage_name(name)],
                state.build.version,
            )
        await self._catalog.switch(name, state.build, grace)
        return head


async def retire_expired(
    database: AsyncDatabase[Document],
    projection: Projection,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    force: bool = False,
) -> list[Build]:
    """Drop the retired builds whose grace is over (all of them with `force`)."""
    catalog = ProjectionCatalog(database, clock)
    entry = await catalog.get(projection.name)
    if entry is None:
        return []
    now = clock()
    due = [item.build for item in entry.retired if force or item.drop_after <= now]
    for build in due:
        await drop_build(database, build, projection)
    if due:
        await catalog.forget_retired(projection.name, due)
    return due
