"""Stopping background tasks within a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 1.0


async def cancel_and_wait(
    task: asyncio.Task[None], grace_seconds: float = CANCEL_GRACE_SECONDS
) -> bool:
    """Cancel `task` and wait for it to end, a bounded time; whether it ended.

    A cancellation can be swallowed inside a library: redis-py 8.1's subscriber, cancelled
    while it connected under CPU load, went on waiting, and the query API's shutdown with
    it (seen in CI; a second cancellation then ended it at once). So a task still running
    after `grace_seconds` is cancelled once more, and after that it is left behind with a
    warning: a process asked to stop must stop within its supervisor's grace.
    """
    for attempt in (1, 2):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if done:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return True
        log.warning("task %s did not stop when cancelled (attempt %d)", task.get_name(), attempt)
    return False
