"""One projector process: a supervisor per projection, each following the catalog.

A supervisor runs a `ProjectorWorker` for the live build of its projection, a member of
that build's consumer group fed by the process's one fetch (`projectors.engine.fetch`),
while the catalog lets it (not paused, not held) and while the live build is one this
code can write (same version). It looks at the catalog every
`poll_seconds`; when the entry changes under it (paused, held for a switch or a reset,
another build made live) it finishes the batch in hand, commits, leaves the group, and
starts again from the new entry. Operators' commands wait for the group to be empty
(`projectors.engine.groups.wait_until_empty`), so they never race a worker.

A live build of another version than this code's is not written: the supervisor says
so in `/health` (state `failed`) and in the log, naming the command to run (ADR 0008).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from infra.runtime.probes import probes_app
from infra.settings import Settings
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.fetch import SharedFetch
from projectors.engine.probes import NotReadyError, ReadStorePing, pending_dead_letters
from projectors.engine.worker import ProjectorWorker
from projectors.operations.catalog import Build, CatalogEntry, ProjectionCatalog
from projectors.projections.projection import Document, Projection

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
WORKERS = "projector_workers"
"""One heartbeat document per (process, projection), rewritten by its process."""
HEARTBEAT_SECONDS = 5.0
"""How often an unchanged heartbeat is rewritten: three times within the 15 s that
`ledger projections status` counts a worker as alive (a change is written at once)."""


def version_mismatch(entry: CatalogEntry, projection: Projection) -> str:
    """What an operator should do when the live build and the code disagree on the version."""
    name, live, code = projection.name, entry.live.version, projection.version
    if code > live:
        return (
            f"{name}: the read store serves version {live} and this code is version {code};"
            f" run `ledger projections rebuild {name}` (zero downtime) to build version {code}"
        )
    return (
        f"{name}: the read store serves version {live}, newer than this code's version {code};"
        " this worker leaves it to workers of the newer release"
    )


class ProjectionSupervisor:
    """Keeps the live build of one projection consumed in this process."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        projection: Projection,
        *,
        poll_seconds: float = POLL_SECONDS,
        fetch: SharedFetch | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._fetch = fetch
        self.projection = projection
        self._catalog = ProjectionCatalog(database)
        self._poll_seconds = poll_seconds
        self.state = "starting"
        self.message: str | None = None
        self.build: Build | None = None
        self.worker: ProjectorWorker | None = None
        self._warned: str | None = None
        self._heartbeat_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}:{projection.name}"
        self._last_beat: tuple[float, tuple[object, ...]] | None = None
        self._beat_failing = False

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the catalog until `stop` is set."""
        try:
            while not stop.is_set():
                entry = await self._entry()
                if entry is None:
                    await self._idle(stop)
                    continue
                if not entry.workers_run:
                    self._standing_by(entry.state, None)
                    await self._idle(stop)
                    continue
                if entry.live.version != self.projection.version:
                    self._standing_by("failed", version_mismatch(entry, self.projection))
                    await self._idle(stop)
                    continue
                await self._run_build(entry, stop)
        finally:
            with contextlib.suppress(PyMongoError):
                await self._database[WORKERS].delete_one({"_id": self._heartbeat_id})

    async def _idle(self, stop: asyncio.Event) -> None:
        await self._beat()
        await _wait(stop, self._poll_seconds)

    async def _beat(self) -> None:
        """Tell operators (`ledger projections status`) what this worker is doing: at once
        when its state changed, else every HEARTBEAT_SECONDS (each beat is a read-store
        write, once a second per projection when it was written every poll)."""
        report = self.report(None)
        now, state = time.monotonic(), (report["state"], report["message"], report["build"])
        if self._last_beat is not None:
            last, last_state = self._last_beat
            if state == last_state and now - last < HEARTBEAT_SECONDS:
                return
        document = {
            "_id": self._heartbeat_id,
            "projection": self.projection.name,
            "version": self.projection.version,
            "state": report["state"],
            "message": report["message"],
            "build": report["build"],
            "events_per_second": report.get("events_per_second", 0.0),
            # A list, not keyed by topic: topic names have dots, which FerretDB refuses in
            # a key (and the whole heartbeat with it).
            "partitions": [
                {"topic": topic, "partitions": held}
                for topic, held in report.get("partitions", {}).items()
            ],
            "updated_at": datetime.now(UTC),
        }
        try:
            # One writer per document (this process), so an upsert cannot collide.
            await self._database[WORKERS].replace_one(
                {"_id": self._heartbeat_id}, document, upsert=True
            )
        except PyMongoError as error:
            # Operators miss this worker until a beat gets through; the work goes on.
            if not self._beat_failing:
                log.warning("%s: heartbeat not written: %s", self.projection.name, error)
            self._beat_failing = True
        else:
            self._last_beat, self._beat_failing = (now, state), False

    async def _entry(self) -> CatalogEntry | None:
        try:
            return await self._catalog.ensure(self.projection)
        except PyMongoError as error:
            self._standing_by("starting", f"the read store is unavailable: {error}")
            return None

    def _standing_by(self, state: str, message: str | None) -> None:
        self.state, self.message, self.worker = state, message, None
        if message and message != self._warned:
            log.error(message)
        self._warned = message

    async def _run_build(self, entry: CatalogEntry, stop: asyncio.Event) -> None:
        build = entry.live
        worker_stop = asyncio.Event()
        worker = ProjectorWorker(
            self._settings,
            self._database,
            [build.of(self.projection)],
            group_id=build.group(self._settings.projector.group_id),
        )
        self.state, self.message, self.build, self.worker = "running", None, build, worker
        self._warned = None
        log.info("%s: consuming into %s", self.projection.name, build.collection)
        watch = asyncio.create_task(self._watch(entry, stop, worker_stop))
        try:
            await worker.run(worker_stop, self._fetch)
        finally:
            worker_stop.set()
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            self.worker = None

    async def _watch(
        self, entry: CatalogEntry, stop: asyncio.Event, worker_stop: asyncio.Event
    ) -> None:
        """Stop the worker when the process stops or the catalog no longer lets it run."""
        while not worker_stop.is_set():
            await self._beat()
            if await _wait(stop, self._poll_seconds):
                break
            try:
                current = await self._catalog.get(self.projection.name)
            except PyMongoError:
                continue  # the worker is held up by the same outage; look again later
            if current is None or not current.workers_run or current.live != entry.live:
                break
        worker_stop.set()

    def report(self, dead_letters_pending: dict[str, int] | None) -> dict[str, Any]:
        """This projection's state and, while it runs, its worker's progress."""
        report: dict[str, Any] = {
            "state": self.state,
            "message": self.message,
            "build": self.build.collection if self.build else None,
        }
        worker = self.worker
        if worker is not None:
            status = worker.status.report(dead_letters_pending)
            report.update(status["projections"].get(self.projection.name, {}))
            report["partitions"] = status["partitions"]
            report["group_id"] = worker.group_id
        return report


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when `stop` was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class ProjectorProcess:
    """Every projection's supervisor, with the process's probes."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        projections: Iterable[Projection],
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._database = database
        self._read_store = ReadStorePing(database)
        self._fetch = SharedFetch(settings)
        self.supervisors = {
            projection.name: ProjectionSupervisor(
                settings, database, projection, poll_seconds=poll_seconds, fetch=self._fetch
            )
            for projection in projections
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Run every supervisor, and the one fetch that feeds them, until `stop` is set."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch.run(stop))
            for supervisor in self.supervisors.values():
                group.create_task(supervisor.run(stop))

    async def health(self) -> dict[str, Any]:
        """Whether the read store answers (within about a second); per projection: state,
        build, position, lag, rate, dead letters pending."""
        read_store, pending = await pending_dead_letters(
            self._read_store, DeadLetters(self._database)
        )
        return {
            "read_store": read_store,
            "dead_letters_pending": sum(pending.values()) if pending is not None else None,
            "projections": {
                name: supervisor.report(pending) for name, supervisor in self.supervisors.items()
            },
        }

    async def readiness(self) -> dict[str, Any]:
        """The read store answers, and every projection allowed to run is consuming."""
        await self._read_store.check()
        waiting = [
            name
            for name, supervisor in self.supervisors.items()
            if supervisor.state in ("starting", "running")
            and (supervisor.worker is None or not supervisor.worker.consuming)
        ]
        if waiting:
            raise NotReadyError(f"not consuming yet: {', '.join(sorted(waiting))}")
        return {"mongodb": "ok", "projections": {n: s.state for n, s in self.supervisors.items()}}

    def probes(self) -> FastAPI:
        """The process's `/health`, `/ready` and `/metrics`."""
        return probes_app("projector", self.health, self.readiness)
