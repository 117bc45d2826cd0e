"""Waiting reads are woken by the projector's news (ADR 0011), not by the fallback look.

Each test sets the fallback look far beyond the wait's own timeout, so a read that comes
back fresh was woken by news: the real projector writes, announces over the real Redis,
and the query side hears it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.reader import EventStoreReader, relay_checkpoint_name
from infra.messaging.partition_ends import PartitionEnds
from infra.messaging.read_side_news import News, follow_news
from infra.settings import Settings
from projectors.engine.worker import ProjectorWorker
from projectors.projections import accounts
from query_api.consistency.read_side import ReadSideProbe
from query_api.consistency.requirements import DocumentVersion
from query_api.consistency.watcher import ConsistencyWatcher
from tests.integration.test_projector import account_history, publish
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
FALLBACK_SECONDS = 10.0
WAIT_SECONDS = 8.0
BOUND_SECONDS = 30.0


@pytest.fixture
def settings(isolated_settings: Settings) -> Settings:
    query = isolated_settings.query.model_copy(
        update={
            "consistency_timeout_seconds": WAIT_SECONDS,
            "consistency_fallback_seconds": FALLBACK_SECONDS,
        }
    )
    return isolated_settings.model_copy(update={"query": query})


@contextlib.asynccontextmanager
async def running(work: Any) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def projector(settings: Settings, database: Database) -> AsyncIterator[ProjectorWorker]:
    worker = ProjectorWorker(settings, database, [accounts.PROJECTION])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def until(condition: Callable[[], Any]) -> None:
    """Bounded wait for a condition that the code under test makes true."""
    async with asyncio.timeout(BOUND_SECONDS):
        while not await _holds(condition):
            await asyncio.sleep(0.01)


async def _holds(condition: Callable[[], Any]) -> bool:
    result = condition()
    return bool(await result) if asyncio.iscoroutine(result) else bool(result)


class LooksCounted:
    """The real read side, counting the watcher's looks at documents."""

    def __init__(self, real: ReadSideProbe) -> None:
        self._real = real
        self.looks = 0

    async def documents(
        self, collection: str, ids: Collection[str], fields: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        found = await self._real.documents(collection, ids, fields)
        self.looks += 1
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def account_at_version(database: Database, account_id: UUID, version: int) -> bool:
    document = await database[accounts.PROJECTION.collection].find_one({"_id": str(account_id)})
    return document is not None and document["version"] >= version


async def test_a_waiter_looked_at_once_is_woken_by_the_projectors_news(
    settings: Settings, mongo_database: Database
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [100])
    events = EventStoreReader.for_settings(settings)
    await events.open()
    ends = PartitionEnds(settings.kafka)
    read_side = LooksCounted(
        ReadSideProbe(mongo_database, events, ends, relay_checkpoint_name(settings))
    )
    watcher = ConsistencyWatcher(read_side, interval_seconds=FALLBACK_SECONDS)  # type: ignore[arg-type]
    heard: list[News] = []

    def hear(news: News) -> None:
        heard.append(news)
        watcher.announce(news)

    try:
        async with (
            running(watcher.run()),
            running(follow_news(settings, hear)),
            projector(settings, mongo_database),
        ):
            await until(lambda: heard)  # subscribed: told to look at everything once
            await publish(settings, history[:1])
            await until(lambda: account_at_version(mongo_database, account_id, 1))
            waiting = asyncio.create_task(
                watcher.wait_for(
                    DocumentVersion(accounts.PROJECTION.collection, str(account_id), 2),
                    WAIT_SECONDS,
                )
            )
            await until(lambda: read_side.looks >= 1)  # seen once, at version 1

            await publish(settings, history[1:])

            assert await waiting is True
            assert frozenset({accounts.PROJECTION.collection}) in heard
    finally:
        await ends.close()
        await events.close()


def looks_by(cause: str) -> float:
    return REGISTRY.get_sample_value("ledger_query_consistency_looks_total", {"cause": cause}) or 0


async def test_a_read_with_a_version_token_is_answered_fresh_once_the_projector_writes(
    settings: Settings, mongo_database: Database
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [100])
    async with query_client(settings) as client, projector(settings, mongo_database):
        await until(lambda: REGISTRY.get_sample_value("ledger_read_side_news_subscribed") == 1)
        await publish(settings, history[:1])
        await until(lambda: account_at_version(mongo_database, account_id, 1))
        before = looks_by("new waiter")
        reading = asyncio.create_task(
            client.get(f"/v1/accounts/{account_id}", headers={"X-Min-Version": "2"})
        )
        await until(lambda: looks_by("new waiter") > before)

        await publish(settings, history[1:])
        response = await reading

    assert response.headers["x-consistency"] == "fresh"
    assert response.json()["version"] == 2
