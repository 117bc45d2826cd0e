"""Rebuilds started through `POST /v1/admin/projections/{name}/rebuild`, run in the background.

A rebuild takes minutes to hours, so the request only starts it: an asyncio task of this
process runs `ProjectionOperations.rebuild`, which holds the projection's operator lock
for its whole run. A rebuild is resumable from its checkpoint (ADR 0008), so stopping
the process cancels the task and nothing is lost: the next rebuild continues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infra.eventstore.history import EventHistory
from projectors.engine.dead_letters import describe
from projectors.operations.indexes import serving_indexes
from projectors.operations.operations import OperationInProgressError, ProjectionOperations
from projectors.operations.rebuild import RebuildInterruptedError, RebuildProgress, RebuildReport
from query_api.schemas.admin import RebuildTaskOut, RebuildTaskStatus

log = logging.getLogger(__name__)

# Pages of the log decoded and folded on the event loop that also serves queries: small
# enough that one page holds the loop for tens of milliseconds, not hundreds.
PAGE_SIZE = 1_000


@dataclass
class RebuildTask:
    """One background rebuild and what it reported so far."""

    name: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    status: RebuildTaskStatus = "running"
    progress: RebuildProgress | None = None
    finished_at: datetime | None = None
    error: str | None = None
    report: RebuildReport | None = None
    task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the rebuild has not ended yet."""
        return self.task is not None and not self.task.done()

    def progressed(self, progress: RebuildProgress) -> None:
        """Keep the rebuild's latest progress (its `on_progress` hook)."""
        self.progress = progress

    def finish(self, status: RebuildTaskStatus, error: str | None = None) -> None:
        """Record how the rebuild ended."""
        self.status, self.error, self.finished_at = status, error, datetime.now(UTC)

    def to_out(self) -> RebuildTaskOut:
        """The task as the projection's report shows it, with its rate and ETA."""
        progress = self.progress
        applied = progress.applied if progress else 0
        elapsed = time.monotonic() - self.started
        rate = applied / elapsed if elapsed > 0 else 0.0
        remaining = max(progress.head - progress.position, 0) if progress else None
        return RebuildTaskOut(
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            stage=progress.stage if progress else None,
            position=progress.position if progress else None,
            head=progress.head if progress else None,
            applied=self.report.applied if self.report else applied,
            events_per_second=round(self.report.events_per_second if self.report else rate, 3),
            eta_seconds=(
                round(remaining / rate, 1)
                if self.running and remaining is not None and rate > 0
                else None
            ),
            error=self.error,
            build=self.report.build.collection if self.report else None,
        )


class Rebuilds:
    """This process's background rebuilds, one at most per projection."""

    def __init__(self, operations: ProjectionOperations, history: EventHistory) -> None:
        self._operations = operations
        self._history = history
        self._tasks: dict[str, RebuildTask] = {}

    def reports(self) -> dict[str, RebuildTaskOut]:
        """Per projection, the rebuild this process runs or last ran."""
        return {name: rebuild.to_out() for name, rebuild in self._tasks.items()}

    async def start(self, name: str, grace: timedelta) -> RebuildTask:
        """Start rebuilding `name`; `OperationInProgressError` if anyone is acting on it."""
        self._operations.projection(name)
        self._refuse_if_running(name)
        # Another process (an operator's CLI, another replica) may hold the projection:
        # say so now rather than from a task nobody waits for. Between this probe and the
        # task taking the lock, another operator may still win; the task then fails and
        # says so in the report.
        async with self._operations.exclusive(name):
            pass
        self._refuse_if_running(name)  # a request of this process may have started it meanwhile
        rebuild = RebuildTask(name)
        rebuild.task = asyncio.create_task(self._run(rebuild, grace), name=f"rebuild-{name}")
        self._tasks[name] = rebuild
        return rebuild

    def _refuse_if_running(self, name: str) -> None:
        current = self._tasks.get(name)
        if current is not None and current.running:
            raise OperationInProgressError(f"{name} is already being rebuilt by this query API")

    async def _run(self, rebuild: RebuildTask, grace: timedelta) -> None:
        name = rebuild.name
        log.info("%s: rebuild started", name)
        try:
            rebuild.report = await self._operations.rebuild(
                name,
                self._history,
                serving_indexes=serving_indexes(name),
                grace=grace,
                stop=rebuild.stop,
                on_progress=rebuild.progressed,
                page_size=PAGE_SIZE,
            )
        except asyncio.CancelledError:
            rebuild.finish("cancelled", "the query API stopped; rebuild again to resume")
            raise
        except RebuildInterruptedError as error:
            rebuild.finish("interrupted", describe(error))
        except Exception as error:  # the report is the only one waiting for it
            log.exception("%s: rebuild failed", name)
            rebuild.finish("failed", describe(error))
        else:
            rebuild.finish("succeeded")
            log.info("%s: rebuild done, %s is live", name, rebuild.report.build.collection)

    async def close(self) -> None:
        """Stop every running rebuild (each resumes from its checkpoint when started again)."""
        running = [rebuild for rebuild in self._tasks.values() if rebuild.running]
        for rebuild in running:
            rebuild.stop.set()
            if rebuild.task is not None:
                rebuild.task.cancel()
        for rebuild in running:
            if rebuild.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await rebuild.task
            if rebuild.status == "running":  # cancelled before it ever ran
                rebuild.finish("cancelled", "the query API stopped before the rebuild began")
