"""Two projector workers in one group share the partitions; every event takes effect once.

The second worker joins once the first has applied part of the log, so partitions the
first has written change hands mid-stream, and the rest of the log is published after the
handover, so both go on applying. The read models must come out exactly as one pass over
the log makes them. (Publishing it all up front made the test race the first worker: it
could finish the whole log before the second joined, and nothing changed hands mid-stream.)
"""

from __future__ import annotations

import asyncio
from random import Random
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.worker import ProjectorWorker
from projectors.projections.registry import PROJECTIONS
from tests.integration.test_dead_letters import eventually, publish
from tests.integration.test_projections_exactly_once import project, snapshot
from tests.unit.projectors.workload import build_workload, in_batches

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]


async def test_two_workers_in_one_group_apply_every_event_exactly_once(
    isolated_settings: Settings, mongo_database: Database
) -> None:
    settings = isolated_settings.model_copy(
        update={"projector": isolated_settings.projector.model_copy(update={"max_batch": 20})}
    )
    envelopes = build_workload(commands=1_000, seed=42).envelopes
    reference = mongo_database.client.get_database(f"{mongo_database.name}_reference")
    first = ProjectorWorker(settings, mongo_database, PROJECTIONS.values())
    second = ProjectorWorker(settings, mongo_database, PROJECTIONS.values())
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await project(reference, in_batches(envelopes, Random(0), 200))
        expected = await snapshot(reference)
        half = len(envelopes) // 2
        await publish(settings, envelopes[:half])
        tasks.append(asyncio.create_task(first.run(stop)))
        await eventually(lambda: _applied_some(first))
        tasks.append(asyncio.create_task(second.run(stop)))
        await eventually(lambda: _sharing(first, second))
        applied_alone = first.applied
        await publish(settings, envelopes[half:])

        async def caught_up() -> bool:
            return await snapshot(mongo_database) == expected

        await eventually(caught_up, seconds=120)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await mongo_database.client.drop_database(reference.name)

    # both applied after the handover: the partitions changed hands mid-stream
    assert first.applied > applied_alone and second.applied > 0
    assert first.applied + second.applied >= len(envelopes)
    assert await mongo_database[DEAD_LETTERS].count_documents({}) == 0


async def _applied_some(worker: ProjectorWorker) -> bool:
    return worker.applied > 0


async def _sharing(first: ProjectorWorker, second: ProjectorWorker) -> bool:
    """Both hold partitions of both topics, and no partition is held twice."""
    topics = set(first.status.partitions) | set(second.status.partitions)
    if len(topics) != 2:
        return False
    for topic in topics:
        mine, theirs = first.status.partitions.get(topic), second.status.partitions.get(topic)
        if not mine or not theirs or set(mine) & set(theirs):
            return False
    return True
