"""The thread that runs rebuilds, away from the event loop that serves requests.

A rebuild decodes and folds the whole log, page after page: on the request loop, every
page held queries back for its length. The worker is a thread running an asyncio loop of
its own. Async clients belong to the loop that created them, so the worker opens its own
MongoDB client and event-history pool on its loop, from the settings; nothing of the
request loop crosses over. The request loop hands it work with
`asyncio.run_coroutine_threadsafe` and tells it to stop with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from infra.eventstore.history import EventHistory, open_history
from infra.readstore.client import close_client, maintenance_client, read_models
from infra.settings import Settings
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS

log = logging.getLogger(__name__)

THREAD_NAME = "rebuild-worker"
STOP_GRACE_SECONDS = 2.0
"""At shutdown, how long work may take to stop by itself before it is cancelled."""
JOIN_SECONDS = 8.0
"""At shutdown, how long to wait for the thread (under the 10 s a supervisor gives)."""


@dataclass(frozen=True)
class WorkerStores:
    """What work on the worker's loop uses, all opened on that loop."""

    operations: ProjectionOperations
    history: EventHistory
    stopping: asyncio.Event
    """Set when the process stops: a rebuild given it as `stop` ends at its next page."""


Work = Callable[[WorkerStores], Coroutine[Any, Any, None]]


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[RebuildWorker]:
    """A started worker; on exit its work is stopped and its thread joined (bounded)."""
    worker = RebuildWorker(settings)
    try:
        await worker.start()
        yield worker
    finally:
        await worker.stop()


class RebuildWorker:
    """A thread with its own event loop and stores, running the work handed to it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        # Set on the worker's loop before `_ready` resolves; read only after it did.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stores: WorkerStores | None = None
        self._running: set[asyncio.Task[None]] = set()  # touched on the worker's loop only
        self._stop_requested = False  # touched on the request loop only

    async def start(self) -> None:
        """Start the thread; return once its stores are open (they connect lazily)."""
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def submit(self, work: Work) -> concurrent.futures.Future[None]:
        """Run `work` on the worker's loop (thread-safe); it gets the worker's stores."""
        if self._loop is None or self._stores is None or self._stop_requested:
            raise RuntimeError("the rebuild worker is not running")
        return asyncio.run_coroutine_threadsafe(self._tracked(work, self._stores), self._loop)

    async def stop(self) -> None:
        """Stop the work (it resumes from its checkpoint next time), close, join the thread."""
        self._stop_requested = True
        if self._loop is not None and self._stores is not None:
            # RuntimeError: the loop is closed already, the thread has ended.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stores.stopping.set)
        if self._thread.ident is None:
            return  # never started
        # Joined from a helper thread, so the request loop goes on while it waits.
        await asyncio.to_thread(self._thread.join, JOIN_SECONDS)
        if self._thread.is_alive():
            log.warning("the rebuild worker did not stop within %.0f s", JOIN_SECONDS)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            if not self._ready.done():
                self._ready.set_exception(error)
            else:
                log.exception("the rebuild worker failed")

    async def _serve(self) -> None:
        async with AsyncExitStack() as stack:
            # Rebuilds run here: their index builds may take minutes on a large collection.
            client = maintenance_client(self._settings.mongodb)
            stack.push_async_callback(close_client, client)
            database = read_models(client, self._settings.mongodb)
            history = await stack.enter_async_context(open_history(self._settings))
            operations = ProjectionOperations(self._settings, database, PROJECTIONS)
            self._stores = WorkerStores(operations, history, asyncio.Event())
            self._loop = asyncio.get_running_loop()
            self._ready.set_result(None)
            await self._stores.stopping.wait()
            await self._stop_work()

    async def _tracked(self, work: Work, stores: WorkerStores) -> None:
        task = asyncio.current_task()
        assert task is not None  # run_coroutine_threadsafe runs it as a task
        self._running.add(task)
        try:
            await work(stores)
        finally:
            self._running.discard(task)

    async def _stop_work(self) -> None:
        """Let the work stop by itself (`stopping` is set); cancel what did not in time."""
        if not self._running:
            return
        _, late = await asyncio.wait(set(self._running), timeout=STOP_GRACE_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
