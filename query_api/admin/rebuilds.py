"""Rebuilds started through `POST /v1/admin/projections/{name}/rebuild`, run by the worker.

A rebuild takes minutes to hours, so the request only starts it: the rebuild worker's
thread (`query_api.admin.worker`) runs `ProjectionOperations.rebuild` on its own event
loop, holding the projection's operator lock for the whole run, while the request loop
keeps serving. Each rebuild's report is written by the worker's thread and read by the
request loop's, under a lock: a status read never waits for the worker's loop, which may
be in the middle of a page. A rebuild is resumable from its checkpoint (ADR 0008), so
stopping the process stops the rebuild and nothing is lost: the next rebuild continues it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from projectors.engine.dead_letters import describe
from projectors.operations.indexes import serving_indexes
from projectors.operations.operations import OperationInProgressError, ProjectionOperations
from projectors.operations.rebuild import RebuildInterruptedError, RebuildProgress, RebuildReport
from query_api.admin.schemas import RebuildTaskOut, RebuildTaskStatus
from query_api.admin.worker import RebuildWorker, WorkerStores

log = logging.getLogger(__name__)


class RebuildTask:
    """One background rebuild and what it reported so far (thread-safe)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._status: RebuildTaskStatus = "running"
        self._progress: RebuildProgress | None = None
        self._finished_at: datetime | None = None
        self._error: str | None = None
        self._report: RebuildReport | None = None

    @property
    def running(self) -> bool:
        """Whether the rebuild has not ended yet."""
        with self._lock:
            return self._status == "running"

    def progressed(self, progress: RebuildProgress) -> None:
        """Keep the rebuild's latest progress (its `on_progress` hook)."""
        with self._lock:
            self._progress = progress

    def succeeded(self, report: RebuildReport) -> None:
        """Record the rebuild's report; its new build is live."""
        with self._lock:
            self._report = report
            self._end("succeeded", None)

    def finish(self, status: RebuildTaskStatus, error: str | None = None) -> None:
        """Record how the rebuild ended, unless it had ended already."""
        with self._lock:
            if self._status == "running":
                self._end(status, error)

    def _end(self, status: RebuildTaskStatus, error: str | None) -> None:
        self._status, self._error, self._finished_at = status, error, datetime.now(UTC)

    def to_out(self) -> RebuildTaskOut:
        """The task as the projection's report shows it, with its rate and ETA."""
        with self._lock:
            status, progress, report = self._status, self._progress, self._report
            finished_at, error = self._finished_at, self._error
        applied = progress.applied if progress else 0
        elapsed = time.monotonic() - self._started
        rate = applied / elapsed if elapsed > 0 else 0.0
        remaining = max(progress.head - progress.position, 0) if progress else None
        return RebuildTaskOut(
            status=status,
            started_at=self.started_at,
            finished_at=finished_at,
            stage=progress.stage if progress else None,
            position=progress.position if progress else None,
            head=progress.head if progress else None,
            applied=report.applied if report else applied,
            events_per_second=round(report.events_per_second if report else rate, 3),
            eta_seconds=(
                round(remaining / rate, 1)
                if status == "running" and remaining is not None and rate > 0
                else None
            ),
            error=error,
            build=report.build.collection if report else None,
        )


class Rebuilds:
    """This process's background rebuilds, one at most per projection.

    Used from the request loop only; the rebuilds themselves run on the worker's.
    """

    def __init__(self, operations: ProjectionOperations, worker: RebuildWorker) -> None:
        self._operations = operations
        self._worker = worker
        self._tasks: dict[str, RebuildTask] = {}

    def reports(self) -> dict[str, RebuildTaskOut]:
        """Per projection, the rebuild this process runs or last ran."""
        return {name: rebuild.to_out() for name, rebuild in self._tasks.items()}

    async def start(self, name: str, grace: timedelta) -> RebuildTask:
        """Start rebuilding `name`; `OperationInProgressError` if anyone is acting on it."""
        self._operations.projection(name)
        self._refuse_if_running(name)
        # Another process (an operator's CLI, another replica) may hold the projection:
        # say so now rather than from a rebuild nobody waits for. Between this probe and
        # the worker taking the lock, another operator may still win; the rebuild then
        # fails and says so in the report.
        async with self._operations.exclusive(name):
            pass
        self._refuse_if_running(name)  # a request of this process may have started it meanwhile
        rebuild = RebuildTask(name)
        self._worker.submit(partial(_rebuild, rebuild, grace))
        self._tasks[name] = rebuild
        return rebuild

    def _refuse_if_running(self, name: str) -> None:
        current = self._tasks.get(name)
        if current is not None and current.running:
            raise OperationInProgressError(f"{name} is already being rebuilt by this query API")


async def _rebuild(rebuild: RebuildTask, grace: timedelta, stores: WorkerStores) -> None:
    """Run one rebuild on the worker's loop, recording how it ends in its report."""
    name = rebuild.name
    log.info("%s: rebuild started on thread %s", name, threading.current_thread().name)
    try:
        report = await stores.operations.rebuild(
            name,
            stores.history,
            serving_indexes=serving_indexes(name),
            grace=grace,
            stop=stores.stopping,
            on_progress=rebuild.progressed,
        )
    except asyncio.CancelledError:
        rebuild.finish("cancelled", "the query API stopped; rebuild again to resume")
        raise
    except RebuildInterruptedError as error:
        rebuild.finish("interrupted", f"the query API stopped; rebuild again to resume ({error})")
    except Exception as error:  # the report is the only one waiting for it
        log.exception("%s: rebuild failed", name)
        rebuild.finish("failed", describe(error))
    else:
        rebuild.succeeded(report)
        log.info("%s: rebuild done, %s is live", name, report.build.collection)
