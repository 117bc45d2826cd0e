"""The shared watcher: few reads however many wait, and every waiter woken or timed out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import Any

import pytest

from query_api.consistency.requirements import DocumentVersion, ProjectionReached
from query_api.consistency.watcher import ConsistencyWatcher
from query_api.views.progress import PartitionProgress
from query_api.views.served import ACCOUNTS, ServedProjection


class FakeReadSide:
    """Documents and progress held in memory; counts every read."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.relay = 0
        self.partitions: dict[int, PartitionProgress] = {}
        self.ends: dict[int, int] = {}
        self.reads: list[str] = []
        self.failing = False

    async def documents(
        self, collection: str, ids: Collection[str], fields: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        self.reads.append(f"documents:{collection}:{len(ids)}")
        if self.failing:
            raise ConnectionError("read store down")
        return {i: {"_id": i, "version": self.versions[i]} for i in ids if i in self.versions}

    async def relay_position(self) -> int:
        self.reads.append("relay")
        return self.relay

    async def progress(
        self, projections: Collection[ServedProjection]
    ) -> dict[ServedProjection, dict[int, PartitionProgress]]:
        self.reads.append("progress")
        return {ACCOUNTS: dict(self.partitions)}

    async def end_offsets(self) -> dict[int, int]:
        self.reads.append("ends")
        return dict(self.ends)

    async def routing_end_offsets(self) -> dict[int, int]:
        self.reads.append("routing ends")
        return {}


@pytest.fixture
def read_side() -> FakeReadSide:
    return FakeReadSide()


@pytest.fixture
async def watcher(read_side: FakeReadSide) -> AsyncIterator[ConsistencyWatcher]:
    shared = ConsistencyWatcher(read_side, interval_seconds=0.005)
    task = asyncio.create_task(shared.run())
    yield shared
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_waiter_is_woken_once_the_document_reaches_its_version(
    watcher: ConsistencyWatcher, read_side: FakeReadSide
) -> None:
    read_side.versions["a"] = 1
    waiting = asyncio.create_task(watcher.wait_for(DocumentVersion("accounts_v1", "a", 2), 5))
    await asyncio.sleep(0.03)
    assert not waiting.done()

    read_side.versions["a"] = 2

    assert await asyncio.wait_for(waiting, 1) is True
    assert watcher.waiting == 0


async def test_a_waiter_times_out_as_not_met(watcher: ConsistencyWatcher) -> None:
    met = await watcher.wait_for(DocumentVersion("accounts_v1", "never", 1), 0.05)

    assert met is False
    assert watcher.waiting == 0


async def test_many_waiters_share_one_read_per_collection_per_tick(
    watcher: ConsistencyWatcher, read_side: FakeReadSide
) -> None:
    requirements = [DocumentVersion("accounts_v1", f"a{i}", 1) for i in range(200)]
    waiting = [asyncio.create_task(watcher.wait_for(r, 5)) for r in requirements]
    await asyncio.sleep(0.05)
    ticks = len(read_side.reads)

    read_side.versions.update({f"a{i}": 1 for i in range(200)})

    assert all(await asyncio.gather(*waiting))
    assert ticks <= 0.05 / 0.005 + 2, "the watcher read more often than once per interval"
    assert set(read_side.reads) == {"documents:accounts_v1:200"}


async def test_the_watcher_reads_nothing_while_nobody_waits(
    watcher: ConsistencyWatcher, read_side: FakeReadSide
) -> None:
    await watcher.wait_for(DocumentVersion("accounts_v1", "x", 1), 0.02)
    reads = len(read_side.reads)

    await asyncio.sleep(0.05)

    assert len(read_side.reads) == reads


async def test_a_failing_read_side_leaves_waiters_to_time_out_and_the_watcher_alive(
    watcher: ConsistencyWatcher, read_side: FakeReadSide
) -> None:
    read_side.failing = True
    assert await watcher.wait_for(DocumentVersion("accounts_v1", "a", 1), 0.03) is False

    read_side.failing = False
    read_side.versions["a"] = 1

    assert await watcher.wait_for(DocumentVersion("accounts_v1", "a", 1), 1) is True


async def test_end_offsets_are_read_only_once_the_relay_has_published_the_position(
    watcher: ConsistencyWatcher, read_side: FakeReadSide
) -> None:
    read_side.relay = 5
    waiting = asyncio.create_task(watcher.wait_for(ProjectionReached(ACCOUNTS, 10), 5))
    await asyncio.sleep(0.03)
    assert "ends" not in read_side.reads

    read_side.relay = 10
    read_side.ends = {0: 4}
    read_side.partitions = {0: PartitionProgress("accounts", 1, 0, 4, 4, 10, None, None)}

    assert await asyncio.wait_for(waiting, 1) is True
    assert read_side.reads.index("ends") > read_side.reads.index("relay")


async def test_a_zero_timeout_still_answers_from_one_look(read_side: FakeReadSide) -> None:
    watcher = ConsistencyWatcher(read_side)
    read_side.versions["a"] = 3

    assert await watcher.wait_for(DocumentVersion("accounts_v1", "a", 3), 0) is True
    assert await watcher.wait_for(DocumentVersion("accounts_v1", "a", 4), 0) is False


async def registered(watcher: ConsistencyWatcher, count: int = 1) -> None:
    """Let waiter tasks run up to their registration."""
    while watcher.waiting < count:
        await asyncio.sleep(0)


async def test_news_of_the_waiters_collection_wakes_it_without_the_fallback(
    read_side: FakeReadSide,
) -> None:
    watcher = ConsistencyWatcher(read_side, interval_seconds=3600)
    task = asyncio.create_task(watcher.run())
    try:
        read_side.versions["a"] = 1
        waiting = asyncio.create_task(watcher.wait_for(DocumentVersion("accounts_v1", "a", 2), 60))
        await registered(watcher)
        while not read_side.reads:  # the first look, for the new waiter
            await asyncio.sleep(0)

        read_side.versions["a"] = 2
        watcher.announce(["accounts_v1"])

        assert await asyncio.wait_for(waiting, 30) is True
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_news_of_other_collections_does_not_read_for_a_waiter_already_looked_at(
    read_side: FakeReadSide,
) -> None:
    watcher = ConsistencyWatcher(read_side, interval_seconds=3600)
    waiting = asyncio.create_task(watcher.wait_for(DocumentVersion("accounts_v1", "a", 1), 60))
    await registered(watcher)
    await watcher.tick()
    assert read_side.reads == ["documents:accounts_v1:1"]

    watcher.announce(["statements_v1", "projection_progress"])
    await watcher.tick()
    assert read_side.reads == ["documents:accounts_v1:1"]

    read_side.versions["a"] = 1
    watcher.announce(["accounts_v1"])
    await watcher.tick()
    assert read_side.reads == ["documents:accounts_v1:1"] * 2
    assert await waiting is True


async def test_news_of_progress_wakes_a_projection_wide_waiter(read_side: FakeReadSide) -> None:
    watcher = ConsistencyWatcher(read_side, interval_seconds=3600)
    read_side.relay = 10
    waiting = asyncio.create_task(watcher.wait_for(ProjectionReached(ACCOUNTS, 10), 60))
    await registered(watcher)
    await watcher.tick()
    assert not waiting.done()

    read_side.ends = {0: 4}
    read_side.partitions = {0: PartitionProgress("accounts", 1, 0, 4, 4, 10, None, None)}
    watcher.announce(["projection_progress"])
    await watcher.tick()

    assert await waiting is True


async def test_unknown_news_looks_at_every_waiter(read_side: FakeReadSide) -> None:
    watcher = ConsistencyWatcher(read_side, interval_seconds=3600)
    waiting = asyncio.create_task(watcher.wait_for(DocumentVersion("accounts_v1", "a", 1), 60))
    await registered(watcher)
    await watcher.tick()

    read_side.versions["a"] = 1
    watcher.announce(None)
    await watcher.tick()

    assert await waiting is True
