"""The projector applies each event once, however often Kafka delivers it."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.messaging.cloudevents import to_record
from infra.messaging.kafka import ensure_topic
from infra.settings import Settings
from projectors.engine.groups import committed_offsets
from projectors.engine.worker import ProjectorWorker
from projectors.engine.writers import DocumentWriter
from projectors.projections import accounts
from tests.unit.factories import envelope

pytestmark = pytest.mark.integration


def account_history(account_id: UUID, deposits: list[int]) -> list[EventEnvelope]:
    events = [
        envelope(
            "AccountOpened", account_id, 1, owner_id=str(uuid4()), currency="EUR", overdraft_limit=0
        )
    ]
    balance = 0
    for version, amount in enumerate(deposits, start=2):
        balance += amount
        events.append(
            envelope(
                "FundsDeposited",
                account_id,
                version,
                amount=amount,
                currency="EUR",
                reference="r",
                channel="api",
                balance_after=balance,
            )
        )
    return events


async def publish(settings: Settings, events: list[EventEnvelope]) -> None:
    await ensure_topic(settings.kafka)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for event in events:
            record = to_record(event, "urn:test")
            await producer.send_and_wait(
                settings.kafka.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def test_an_event_delivered_twice_is_applied_once(
    isolated_settings: Settings, mongo_database: AsyncDatabase[dict[str, Any]]
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [100, 250, 50])
    await publish(isolated_settings, history[:3] + history[1:3] + history[3:] + history[3:])
    worker = ProjectorWorker(isolated_settings, mongo_database, [accounts.PROJECTION])

    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(30):
        while worker.applied < 7:
            await asyncio.sleep(0.05)
    stop.set()
    await task

    document = await mongo_database[accounts.PROJECTION.collection].find_one(
        {"_id": str(account_id)}
    )
    assert document is not None
    assert (document["balance"], document["version"]) == (400, 4)


async def test_replaying_a_whole_history_over_a_projected_document_changes_nothing(
    mongo_database: AsyncDatabase[dict[str, Any]],
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [10, 20])
    writer = DocumentWriter(accounts.PROJECTION, mongo_database)
    await writer.apply(history)
    collection = mongo_database[accounts.PROJECTION.collection]
    before = await collection.find_one({"_id": str(account_id)})

    changed = await writer.apply(history)

    assert changed == 0
    assert await collection.find_one({"_id": str(account_id)}) == before


async def test_two_writers_racing_on_one_document_both_converge_on_the_latest_version(
    mongo_database: AsyncDatabase[dict[str, Any]],
) -> None:
    account_id = uuid4()
    history = account_history(account_id, [1, 2, 3, 4])
    first, second = (
        DocumentWriter(accounts.PROJECTION, mongo_database),
        DocumentWriter(accounts.PROJECTION, mongo_database),
    )

    await asyncio.gather(first.apply(history[:3]), second.apply(history))

    document = await mongo_database[accounts.PROJECTION.collection].find_one(
        {"_id": str(account_id)}
    )
    assert document is not None
    assert (document["balance"], document["version"]) == (10, 5)


def with_commit_interval(settings: Settings, seconds: float) -> Settings:
    projector = settings.projector.model_copy(update={"commit_interval_seconds": seconds})
    return settings.model_copy(update={"projector": projector})


async def run_until_applied(worker: ProjectorWorker, count: int) -> tuple[asyncio.Event, Any]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(30):
        while worker.applied < count:
            await asyncio.sleep(0.05)
    return stop, task


async def test_a_stopping_worker_commits_what_it_applied_before_its_interval_is_up(
    isolated_settings: Settings, mongo_database: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = with_commit_interval(isolated_settings, 60.0)
    history = account_history(uuid4(), [5, 6, 7, 8])
    await publish(settings, history[:2])
    worker = ProjectorWorker(settings, mongo_database, [accounts.PROJECTION])
    stop, task = await run_until_applied(worker, 2)  # the first batch is committed at once
    await publish(settings, history[2:])
    async with asyncio.timeout(30):
        while worker.applied < len(history):
            await asyncio.sleep(0.05)

    stop.set()
    await task

    committed = await committed_offsets(settings.kafka, worker.group_id)
    assert sum(committed.values()) == len(history)


async def test_a_running_worker_commits_once_its_interval_is_up_with_nothing_more_to_read(
    isolated_settings: Settings, mongo_database: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = with_commit_interval(isolated_settings, 0.5)
    await publish(settings, account_history(uuid4(), [5, 6, 7]))
    worker = ProjectorWorker(settings, mongo_database, [accounts.PROJECTION])

    stop, task = await run_until_applied(worker, 4)
    try:
        async with asyncio.timeout(30):
            while sum((await committed_offsets(settings.kafka, worker.group_id)).values()) < 4:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
