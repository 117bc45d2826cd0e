"""Waiting on the stores without outliving a stop: what the worker and the fetch share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from projectors.engine.batches import STORE_UNAVAILABLE

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
# Once stopping, how long the write or commit in hand may still take, and how long leaving
# the group may take: together well inside the 10 s a runner waits before SIGKILL.
SHUTDOWN_GRACE_SECONDS = 2.0


async def unless_stopped(
    work: Awaitable[None], stop: asyncio.Event, grace_seconds: float = 0.0
) -> bool:
    """Await `work`; once `stop` is set, give it `grace_seconds` more, then cancel it.

    Whether `work` finished.
    """
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done() and grace_seconds > 0:
        await asyncio.wait({task}, timeout=grace_seconds)
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def until_stored(
    write: Callable[[], Awaitable[None]], stop: asyncio.Event, backoff_seconds: float
) -> bool:
    """Run `write` until the stores take it; False when stopped first.

    A write still running when `stop` is set gets SHUTDOWN_GRACE_SECONDS, then is
    cancelled: its batch stays uncommitted and the next owner applies it again, which
    the guards make harmless, as after a crash.
    """
    backoff = max(backoff_seconds, 0.05)
    while not stop.is_set():
        try:
            return await unless_stopped(write(), stop, SHUTDOWN_GRACE_SECONDS)
        except STORE_UNAVAILABLE as error:
            log.warning("a store or the broker is unavailable (%r); retry in %.2fs", error, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return False
