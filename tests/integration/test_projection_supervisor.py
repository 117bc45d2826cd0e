"""The projector follows the catalog: a version it does not run, a pause, a resume."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from projectors.engine.groups import group_members
from projectors.engine.supervisor import WORKERS, ProjectorProcess
from projectors.operations.catalog import ProjectionCatalog
from projectors.operations.operations import ProjectionOperations
from projectors.projections import accounts
from projectors.projections.registry import PROJECTIONS

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]


async def until(condition: Callable[[], Any], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.1)


@pytest.fixture
async def operations(isolated_settings: Settings, mongo_database: Database) -> ProjectionOperations:
    return ProjectionOperations(isolated_settings, mongo_database, PROJECTIONS)


@asynccontextmanager
async def running(process: ProjectorProcess) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_worker_refuses_a_live_build_of_another_version_and_says_what_to_run(
    isolated_settings: Settings, mongo_database: Database, operations: ProjectionOperations
) -> None:
    await ProjectionCatalog(mongo_database).ensure(accounts.PROJECTION)  # live: version 1
    bumped = dataclasses.replace(accounts.PROJECTION, version=2)
    process = ProjectorProcess(isolated_settings, mongo_database, [bumped], poll_seconds=0.2)
    supervisor = process.supervisors["accounts"]

    async with running(process):

        async def failed() -> bool:
            return supervisor.state == "failed"

        await until(failed)
        report = await operations.report("accounts")
        health = await process.health()

    assert supervisor.worker is None  # it never joined a group
    assert "ledger projections rebuild accounts" in (supervisor.message or "")
    assert (report.state, report.version, report.code_version) == ("failed", 1, 1)
    assert "ledger projections rebuild accounts" in (report.message or "")
    assert health["projections"]["accounts"]["state"] == "failed"


async def test_pause_empties_the_group_and_resume_brings_the_worker_back(
    isolated_settings: Settings, mongo_database: Database, operations: ProjectionOperations
) -> None:
    process = ProjectorProcess(
        isolated_settings, mongo_database, [accounts.PROJECTION], poll_seconds=0.2
    )
    supervisor = process.supervisors["accounts"]
    group = f"{isolated_settings.projector.group_id}.accounts_v1"

    async with running(process):

        async def consuming() -> bool:
            return supervisor.worker is not None and supervisor.worker.consuming

        await until(consuming, 60)
        assert await group_members(isolated_settings.kafka, group) == 1

        await operations.pause("accounts")

        assert await group_members(isolated_settings.kafka, group) == 0
        assert (await operations.report("accounts")).state == "paused"

        await operations.resume("accounts")
        await until(consuming, 60)

        async def rejoined() -> bool:
            return await group_members(isolated_settings.kafka, group) == 1

        await until(rejoined, 60)
        assert (await operations.report("accounts")).state == "running"


async def test_the_heartbeat_names_the_partitions_the_worker_holds(
    isolated_settings: Settings, mongo_database: Database
) -> None:
    """Topic names have dots, which a MongoDB-wire server may refuse in a key (FerretDB
    does): a heartbeat keyed by topic was refused, and operators saw no worker."""
    process = ProjectorProcess(
        isolated_settings, mongo_database, [accounts.PROJECTION], poll_seconds=0.2
    )

    async def beat() -> dict[str, Any] | None:
        return await mongo_database[WORKERS].find_one({"projection": "accounts"})

    async def beating_with_partitions() -> bool:
        found = await beat()
        return found is not None and bool(found["partitions"])

    async with running(process):
        await until(beating_with_partitions, 60)
        found = await beat()

    assert found is not None
    assert found["partitions"] == [
        {
            "topic": isolated_settings.kafka.topic,
            "partitions": list(range(isolated_settings.kafka.partitions)),
        }
    ]
