"""The transfer process worker: follows the event store and drives transfers to their end.

It runs `domain.transfer_process.TransferProcess` over the notification log, using the
library's own subscription (woken by LISTEN/NOTIFY) and tracking recorder (the
checkpoint). The checkpoint is written every CHECKPOINT_SECONDS, not after each event:
a commit per event halved the worker's rate, and a crash re-delivers what it handled
since; the process's handlers are idempotent, so no leg is applied twice. One worker is
active at a time (advisory lock).

Events are handled on LANES threads (`lanes.Lanes`), so that the saves of different
transfers overlap and share commits. Each transfer's steps stay in order without help:
a step's event is only written by the handler of the step before. A transfer request is
handled on the lane of its source account, so the debits of one account are taken in the
order the transfers were requested, as they were on one thread; the later steps on the
lane of their transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    PersistenceError,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from fastapi import FastAPI
from prometheus_client import Counter

from domain.accounts import Account
from domain.context import trace_scope
from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.transfer_process import TransferProcess
from domain.transfers import Transfer
from infra.eventstore.leadership import TRANSFER_PROCESS_LOCK, TRY_LOCK
from infra.runtime import failpoints
from infra.runtime.probes import probes_app, serve_probes
from infra.runtime.process import run_in_thread
from infra.runtime.tracing import continued
from infra.settings import Settings
from infra.transfer_process.lanes import Lanes

log = logging.getLogger(__name__)

TRACKING_NAME = "transfer-process"
TOPICS = [
    get_topic(Transfer.TransferRequested),
    get_topic(Account.TransferDebited),
    get_topic(Account.TransferCredited),
    get_topic(Account.TransferDebitReversed),
]
MAX_BACKOFF_SECONDS = 10.0
# A worker that holds the lock, has transfer events waiting and has not handled one for
# this long is stuck (a thread blocked on something that will not answer): the process
# logs every thread's stack and exits, and the supervisor starts it again.
STALL_SECONDS = 60.0
STALL_CHECK_SECONDS = 5.0
EXIT_STALLED = 70
CHECKPOINT_SECONDS = 0.5
LANES = 8
IN_FLIGHT = 256
TRANSFER_LEGS = (Account.TransferDebited, Account.TransferCredited, Account.TransferDebitReversed)

HANDLED = Counter("ledger_transfer_process_events_total", "Events handled", ["event_type"])
FAILURES = Counter("ledger_transfer_process_failures_total", "Times the process restarted")


class TransferWorker:
    """Feeds transfer-related events to the process manager, checkpointing each one."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self._settings = settings
        self._ledger = ledger
        self._process = TransferProcess(ledger)
        self._tracking: TrackingRecorder = ledger.factory.tracking_recorder(
            PostgresTrackingRecorder
        )
        self._stop = threading.Event()
        self._subscription: Subscription[ApplicationRecorder] | None = None
        self.handled = 0
        self.active = False
        self.position = 0
        self.checkpointed = 0
        self.progressed_at = time.monotonic()

    def stop(self) -> None:
        """Ask the worker to finish the event in hand and return."""
        self._stop.set()
        if self._subscription is not None:
            self._subscription.stop()

    def run(self) -> None:
        """Hold the lock and follow the log until stopped, recovering from failures."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._settings.postgres.url.get_secret_value(), autocommit=True
                ) as lock:
                    if self._wait_for_lock(lock):
                        log.info("transfer process is active")
                        self.active, self.progressed_at = True, time.monotonic()
                        self._follow()
                        backoff = 0.5
            except (psycopg.Error, PersistenceError, OSError) as error:
                log.warning("transfer process lost a connection (%s); retrying", error)
            except LedgerError:
                log.exception("transfer process failed on an event; retrying")
            self.active = False
            FAILURES.inc()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def checkpoint(self) -> None:
        """Record the position of the last event handled, if it moved since last time."""
        position = self.position
        if position > self.checkpointed:
            self._tracking.insert_tracking(Tracking(TRACKING_NAME, position))
            self.checkpointed = position

    def has_events_waiting(self) -> bool:
        """Whether the log holds a transfer event after the last one handled."""
        waiting = self._ledger.recorder.select_notifications(
            start=self.position, limit=1, topics=TOPICS, inclusive_of_start=False
        )
        return bool(waiting)

    def stalled_for(self, now: float) -> float:
        """Seconds since the active worker last handled an event (0 while on standby)."""
        return now - self.progressed_at if self.active else 0.0

    def _wait_for_lock(self, lock: psycopg.Connection[tuple[object, ...]]) -> bool:
        while not self._stop.is_set():
            row = lock.execute(TRY_LOCK, (TRANSFER_PROCESS_LOCK,)).fetchone()
            if row is not None and row[0] is True:
                return True
            self._stop.wait(1.0)
        return False

    def _follow(self) -> None:
        position = self._tracking.max_tracking_id(TRACKING_NAME) or 0
        self.position = self.checkpointed = position
        with self._ledger.recorder.subscribe(gt=position, topics=TOPICS) as subscription:
            self._subscription = subscription
            if self._stop.is_set():
                return
            lanes = Lanes(
                LANES,
                self._handle,
                limit=IN_FLIGHT,
                on_done=self._handled,
                on_failure=subscription.stop,
                start_after=position,
            )
            try:
                for notification in subscription:
                    event = self._ledger.mapper.to_domain_event(notification)
                    assert isinstance(event, DomainEvent)  # the mapper only builds our events
                    lanes.submit(lane_of(event), notification.id, event)
            finally:
                lanes.close()  # raises a handler's error, after every lane has stopped

    def _handle(self, event: DomainEvent) -> None:
        # The step continues the trace of the event that caused it, and the events it
        # records carry the step's own context: the legs hang under the request.
        with (
            continued(
                f"transfer process {type(event).__name__}",
                getattr(event, "traceparent", None),  # events from before traces lack it
                attributes={"ledger.aggregate_id": str(event.originator_id)},
            ) as traceparent,
            trace_scope(traceparent),
        ):
            self._process.handle(event)
        failpoints.reached(f"transfers.after_handle:{type(event).__name__}")

    def _handled(self, done_through: int, event: DomainEvent) -> None:
        """Called by the lanes, one at a time, after each event."""
        self.handled += 1
        self.position, self.progressed_at = done_through, time.monotonic()
        HANDLED.labels(type(event).__name__).inc()


def lane_of(event: DomainEvent) -> int:
    """The lane key: a request's source account, else the transfer."""
    if isinstance(event, Transfer.TransferRequested):
        return event.source_id.int
    if isinstance(event, TRANSFER_LEGS):
        return event.transfer_id.int
    return event.originator_id.int


async def run_with_probes(settings: Settings, ledger: Ledger, stop: asyncio.Event) -> None:
    """The worker on a thread of its own, plus its /health, /ready and /metrics on this loop;
    setting `stop` asks the worker to finish the event in hand, and both end."""
    worker = TransferWorker(settings, ledger)
    probes = asyncio.create_task(
        serve_probes(
            probes_for(worker, ledger), settings.transfers.host, settings.transfers.port, stop
        )
    )
    watchdog = asyncio.create_task(watch_for_stalls(worker, stop))
    checkpoints = asyncio.create_task(keep_checkpointing(worker, stop))
    try:
        await run_in_thread(worker.run, worker.stop, stop)
    finally:
        stop.set()
        await probes
        watchdog.cancel()
        await checkpoints


async def keep_checkpointing(worker: TransferWorker, stop: asyncio.Event) -> None:
    """Write the worker's checkpoint every CHECKPOINT_SECONDS, and once more at the end."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECKPOINT_SECONDS)
        try:
            await asyncio.to_thread(worker.checkpoint)
        except (psycopg.Error, PersistenceError, OSError) as error:
            log.debug("checkpoint not written (%s); the next one will be", error)
        if stop.is_set():
            return


async def watch_for_stalls(
    worker: TransferWorker,
    stop: asyncio.Event,
    *,
    stall_seconds: float = STALL_SECONDS,
    check_seconds: float = STALL_CHECK_SECONDS,
    on_stall: Callable[[TransferWorker], None] | None = None,
) -> None:
    """Call `on_stall` (by default: log every thread's stack and exit the process) when
    the active worker has handled nothing for `stall_seconds` with events waiting. A
    blocked thread cannot be stopped from outside, only restarted by the supervisor."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_seconds)
        if stop.is_set() or worker.stalled_for(time.monotonic()) < stall_seconds:
            continue
        try:
            waiting = await asyncio.to_thread(worker.has_events_waiting)
        except (psycopg.Error, PersistenceError, OSError):
            continue  # the event store is down: the worker is waiting on it, not stuck
        if waiting and worker.stalled_for(time.monotonic()) >= stall_seconds:
            (on_stall or exit_stalled)(worker)
            return


def exit_stalled(worker: TransferWorker) -> None:
    """Log why and every thread's stack, then exit at once (a blocked thread would hold
    up a normal exit); the supervisor starts the process again."""
    log.error(
        "transfer process stuck at position %d for %.0f s with events waiting; "
        "exiting so that it is restarted. Threads:\n%s",
        worker.position,
        worker.stalled_for(time.monotonic()),
        thread_stacks(),
    )
    logging.shutdown()
    os._exit(EXIT_STALLED)


def thread_stacks() -> str:
    """Every thread's current stack, for the log of a stuck process."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(
        f"{names.get(ident, ident)}:\n{''.join(traceback.format_stack(frame))}"
        for ident, frame in sys._current_frames().items()
    )


def probes_for(worker: TransferWorker, ledger: Ledger) -> FastAPI:
    """/health with the worker's role and position; /ready when the event store answers."""

    async def status() -> dict[str, Any]:
        newest = await asyncio.to_thread(ledger.recorder.max_notification_id) or 0
        return {
            "role": "active" if worker.active else "standby",
            "position": worker.position,
            "handled": worker.handled,
            "log_head": newest,
        }

    async def ready() -> dict[str, Any]:
        await asyncio.to_thread(ledger.recorder.max_notification_id)
        return {"postgres": "ok"}

    return probes_app("transfer-process", status, ready)
