"""One fetch per projector process feeds every build, each from where it stands."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from projectors.engine.fetch import SharedFetch
from projectors.engine.groups import committed_offsets
from projectors.engine.worker import ProjectorWorker
from projectors.projections import account_statements, accounts
from tests.integration.test_projector import account_history, publish

pytestmark = pytest.mark.integration


async def until(condition: Any, seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


async def test_one_fetch_feeds_each_build_from_its_own_position(
    isolated_settings: Settings, mongo_database: AsyncDatabase[dict[str, Any]]
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [100, 250, 50, 5, 7, 11])
    await publish(isolated_settings, history[:4])
    group = isolated_settings.projector.group_id
    ahead = ProjectorWorker(
        isolated_settings, mongo_database, [accounts.PROJECTION], group_id=f"{group}.ahead"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(ahead.run(stop))
    await until(lambda: ahead.applied == 4)
    stop.set()
    await task
    # The accounts build has applied four events; a statements build starts from nothing.
    ahead = ProjectorWorker(
        isolated_settings, mongo_database, [accounts.PROJECTION], group_id=f"{group}.ahead"
    )
    behind = ProjectorWorker(
        isolated_settings,
        mongo_database,
        [account_statements.PROJECTION],
        group_id=f"{group}.behind",
    )
    fetch = SharedFetch(isolated_settings)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(fetch.run(stop)),
        asyncio.create_task(ahead.run(stop, fetch)),
        asyncio.create_task(behind.run(stop, fetch)),
    ]
    await publish(isolated_settings, history[4:])

    await until(lambda: ahead.applied >= 3 and behind.applied >= 7)
    await until(lambda: ahead.positions and behind.positions)
    stop.set()
    await asyncio.gather(*tasks)

    assert (ahead.applied, behind.applied) == (3, 7)
    account = await mongo_database[accounts.PROJECTION.collection].find_one(
        {"_id": str(account_id)}
    )
    assert account is not None
    assert (account["balance"], account["version"]) == (423, 7)
    lines = mongo_database[account_statements.PROJECTION.collection]
    assert await lines.count_documents({"account_id": str(account_id)}) == 6
    for build in ("ahead", "behind"):
        committed = await committed_offsets(isolated_settings.kafka, f"{group}.{build}")
        assert sum(committed.values()) == 7
