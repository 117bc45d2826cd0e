"""Background tasks stop within a bounded time, even when a cancellation is swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from infra.runtime.tasks import cancel_and_wait


async def _swallowing(times: int, started: asyncio.Event) -> None:
    """Waits for ever, swallowing the first `times` cancellations, as a library once did."""
    started.set()
    swallowed = 0
    while True:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if swallowed == times:
                raise
            swallowed += 1


async def _started(times: int) -> asyncio.Task[None]:
    started = asyncio.Event()
    task = asyncio.create_task(_swallowing(times, started), name="swallower")
    await started.wait()
    return task


async def test_a_task_that_honours_its_cancellation_ends() -> None:
    task = await _started(times=0)

    assert await cancel_and_wait(task, grace_seconds=5.0)
    assert task.cancelled()


async def test_a_task_that_swallowed_one_cancellation_is_cancelled_again() -> None:
    task = await _started(times=1)

    assert await cancel_and_wait(task, grace_seconds=0.05)
    assert task.cancelled()


async def test_a_task_that_goes_on_swallowing_is_left_behind_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = await _started(times=2)

    assert not await cancel_and_wait(task, grace_seconds=0.05)
    assert not task.done()
    assert "task swallower did not stop when cancelled (attempt 2)" in caplog.text
    task.cancel()  # the third is honoured: end it before the loop closes
    with contextlib.suppress(asyncio.CancelledError):
        await task
