"""What operators do to projections: status, pause, resume, reset, rebuild, dead letters.

Shared by `ledger projections …` and `/v1/admin/projections…`. Every command that
changes a projection takes a PostgreSQL advisory lock for that projection, held for
the length of the command (a rebuild's whole run), so two operators never act on one
projection at once; a second one gets `OperationInProgressError` at once.

The pieces live beside this module: the refusals (`errors`), the lock (`lock`), the
reports (`status`) and the dead letters (`letters`); their public names are importable
from here as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.history import EventHistory
from infra.eventstore.progress import connected, forget_progress
from infra.settings import Settings
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.dead_letters import EVERY_PROJECTION, PENDING
from projectors.engine.groups import (
    GroupStillActiveError,
    commit_offsets,
    offsets_after_position,
    wait_until_empty,
)
from projectors.engine.writers import writer_for
from projectors.operations.catalog import CatalogEntry, ProjectionCatalog
from projectors.operations.errors import (
    NotRetryableError,
    OperationInProgressError,
    UnknownProjectionError,
)
from projectors.operations.letters import (
    DISCARDED,
    RETRIED,
    LetterDesk,
    RetryReport,
    envelope_of,
)
from projectors.operations.lock import LOCK_NAMESPACE, lock_key, operator_lock
from projectors.operations.rebuild import (
    CHECKPOINT_EVERY,
    PAGE_SIZE,
    STAND_DOWN_SECONDS,
    OnProgress,
    Rebuild,
    RebuildReport,
    retire_expired,
)
from projectors.operations.status import (
    HEARTBEAT_FRESH_SECONDS,
    EndOffsets,
    ProjectionReport,
    StatusReader,
)
from projectors.projections.projection import Document, Projection

__all__ = [
    "DISCARDED",
    "HEARTBEAT_FRESH_SECONDS",
    "LOCK_NAMESPACE",
    "RETRIED",
    "STAND_DOWN_SECONDS",
    "GroupStillActiveError",
    "NotRetryableError",
    "OperationInProgressError",
    "ProjectionOperations",
    "ProjectionReport",
    "RetryReport",
    "UnknownProjectionError",
    "envelope_of",
    "lock_key",
]


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
        self._status = StatusReader(settings, database)
        self._letters = LetterDesk(database[DEAD_LETTERS])

    @property
    def database(self) -> AsyncDatabase[Document]:
        """The read store's database these commands work on."""
        return self._database

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
        async with operator_lock(self._settings, name):
            yield

    async def _entry(self, name: str) -> CatalogEntry:
        return await self._catalog.ensure(self.projection(name))

    @asynccontextmanager
    async def _held(
        self, entry: CatalogEntry, reason: str, wait_seconds: float
    ) -> AsyncIterator[None]:
        """Hold the live build's workers and wait until none consumes; let them go after."""
        await self._catalog.set_hold(entry.name, reason)
        try:
            await wait_until_empty(
                self._settings.kafka, entry.live.group(self._group_base), wait_seconds
            )
            yield
        finally:
            await self._catalog.set_hold(entry.name, None)

    @property
    def _group_base(self) -> str:
        return self._settings.projector.group_id

    # -- status -----------------------------------------------------------------------

    async def status(self) -> list[ProjectionReport]:
        """Every projection: version, state, position, lag, rate, workers, dead letters."""
        ends = await self._status.end_offsets()
        names = sorted(self._projections)
        return list(await asyncio.gather(*(self.report(name, ends) for name in names)))

    async def report(self, name: str, ends: EndOffsets | None = None) -> ProjectionReport:
        """One projection's report (`ends`: the topics' end offsets, when already read)."""
        projection = self.projection(name)
        entry = await self._entry(name)
        return await self._status.report(
            projection, entry, ends or await self._status.end_offsets()
        )

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
            async with self._held(entry, "reset", wait_seconds):
                kafka = self._settings.kafka
                offsets = await offsets_after_position(kafka, kafka.topic, position)
                await commit_offsets(kafka, entry.live.group(self._group_base), offsets)
                # Progress only moves forward; start it again from what the workers apply.
                async with connected(self._settings) as connection:
                    await forget_progress(connection, self._settings.mongodb.database, [name])
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
        return await self._letters.letters(name, status, limit)

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
            letters = await self._letters.pending_events(name, letter_ids)
            if not letters:
                return RetryReport(0, [])
            entry = await self._entry(name)
            writer = writer_for(entry.live.of(projection), self._database)
            async with self._held(entry, "dead-letters retry", wait_seconds):
                return await self._letters.retry(writer, letters)

    async def discard(self, name: str, letter_ids: Sequence[str] | None = None) -> int:
        """Mark pending letters discarded (kept for the record, never applied); how many."""
        if name != EVERY_PROJECTION:
            self.projection(name)
        return await self._letters.discard(name, letter_ids)
