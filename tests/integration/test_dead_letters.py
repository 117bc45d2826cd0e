"""A poison event goes to dead letters after its retries, and the projections keep going.

Through Kafka with the real worker: records are published as the relay would publish
them, plus one that is not a Ledger event at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.messaging.cloudevents import to_record
from infra.messaging.kafka import ensure_topic
from infra.settings import Settings
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.worker import ProjectorWorker
from projectors.projections.registry import PROJECTIONS
from tests.unit.factories import envelope

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
MAX_ATTEMPTS = 2


def opened(account: UUID) -> EventEnvelope:
    return envelope(
        "AccountOpened", account, 1, owner_id=str(uuid4()), currency="EUR", overdraft_limit=0
    )


def deposited(account: UUID, version: int, amount: Any, balance_after: Any) -> EventEnvelope:
    return envelope(
        "FundsDeposited",
        account,
        version,
        amount=amount,
        currency="EUR",
        reference="r",
        channel="api",
        balance_after=balance_after,
    )


async def publish(settings: Settings, records: Sequence[EventEnvelope | bytes]) -> None:
    """Publish envelopes as CloudEvents, and raw bytes as they are (not Ledger events)."""
    await ensure_topic(settings.kafka)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for item in records:
            if isinstance(item, bytes):
                await producer.send_and_wait(
                    settings.kafka.topic, item, key=b"junk", headers=[("origin", b"elsewhere")]
                )
                continue
            record = to_record(item, "urn:test")
            await producer.send_and_wait(
                settings.kafka.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.1)


def dead_letters_counted(projection: str) -> float:
    value = REGISTRY.get_sample_value(
        "ledger_projector_dead_letters_total", {"projection": projection}
    )
    return value or 0.0


@pytest.fixture
def poison_settings(isolated_settings: Settings) -> Settings:
    projector = isolated_settings.projector.model_copy(
        update={"max_attempts": MAX_ATTEMPTS, "retry_backoff_seconds": 0.01}
    )
    return isolated_settings.model_copy(update={"projector": projector})


@pytest.fixture
async def running_worker(
    poison_settings: Settings, mongo_database: Database
) -> AsyncIterator[ProjectorWorker]:
    worker = ProjectorWorker(poison_settings, mongo_database, PROJECTIONS.values())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task


class Scenario:
    """Healthy accounts around a poison deposit, a foreign record and an unknown event."""

    def __init__(self) -> None:
        self.healthy, self.poisoned, self.later = uuid4(), uuid4(), uuid4()
        self.poison = deposited(self.poisoned, 2, amount="lots", balance_after="lots")
        self.unknown = envelope("SomethingNewHappened", uuid4(), 1, detail="x")
        self.records: list[EventEnvelope | bytes] = [
            opened(self.healthy),
            deposited(self.healthy, 2, 100, 100),
            opened(self.poisoned),
            self.poison,
            b"not a cloud event",
            self.unknown,
            deposited(self.healthy, 3, 50, 150),
            opened(self.later),
            deposited(self.later, 2, 70, 70),
        ]


async def account(database: Database, account_id: UUID) -> dict[str, Any] | None:
    return await database["accounts_v1"].find_one({"_id": str(account_id)})


async def test_a_poison_event_is_dead_lettered_and_the_projections_move_on(
    poison_settings: Settings, mongo_database: Database, running_worker: ProjectorWorker
) -> None:
    scenario = Scenario()
    counted_before = dead_letters_counted("accounts")

    await publish(poison_settings, scenario.records)

    letter_id = f"accounts:{scenario.poison.event_id}"

    async def settled() -> bool:
        # The projections apply a batch concurrently, and the halves around a poison event
        # in order: the later account can be projected before the letter is written, and
        # the healthy one after it. Wait for all that the test looks at.
        later = await account(mongo_database, scenario.later)
        healthy = await account(mongo_database, scenario.healthy)
        return (
            later is not None
            and later["balance"] == 70
            and healthy is not None
            and healthy["version"] == 3
            and await mongo_database[DEAD_LETTERS].find_one({"_id": letter_id}) is not None
            and dead_letters_counted("accounts") - counted_before == 1
        )

    await eventually(settled)
    letter = await mongo_database[DEAD_LETTERS].find_one({"_id": letter_id})
    assert letter is not None
    assert (letter["projection"], letter["status"], letter["attempts"]) == (
        "accounts",
        "pending",
        MAX_ATTEMPTS + 1,
    )
    assert "balance_after" in letter["error"]
    assert letter["event"]["event_id"] == str(scenario.poison.event_id)
    assert letter["event"]["data"]["amount"] == "lots"
    assert letter["first_failed_at"] <= letter["last_failed_at"]
    healthy = await account(mongo_database, scenario.healthy)
    poisoned = await account(mongo_database, scenario.poisoned)
    assert healthy is not None and (healthy["balance"], healthy["version"]) == (150, 3)
    assert poisoned is not None and poisoned["version"] == 1


async def test_every_projection_the_poison_concerns_keeps_its_own_letter(
    poison_settings: Settings, mongo_database: Database, running_worker: ProjectorWorker
) -> None:
    scenario = Scenario()

    await publish(poison_settings, scenario.records)

    async def all_letters_written() -> bool:
        return await mongo_database[DEAD_LETTERS].count_documents({}) >= 5

    await eventually(all_letters_written)
    projections = sorted(
        [letter["projection"] async for letter in mongo_database[DEAD_LETTERS].find()]
    )
    # the transfers projection has no part in a deposit; the foreign record fails them all
    assert projections == [
        "*",
        "account_statements",
        "accounts",
        "daily_volume",
        "owner_portfolios",
    ]


async def test_a_record_that_is_not_a_ledger_event_is_kept_as_text(
    poison_settings: Settings, mongo_database: Database, running_worker: ProjectorWorker
) -> None:
    await publish(poison_settings, [b"not a cloud event", opened(uuid4())])

    async def letter_written() -> bool:
        return await mongo_database[DEAD_LETTERS].count_documents({"projection": "*"}) == 1

    await eventually(letter_written)
    letter = await mongo_database[DEAD_LETTERS].find_one({"projection": "*"})
    assert letter is not None
    assert letter["event"]["value"] == "not a cloud event"
    assert letter["event"]["key"] == "junk"
    assert letter["event"]["headers"] == [{"name": "origin", "value": "elsewhere"}]
    assert letter["_id"].startswith(f"*:{poison_settings.kafka.topic}:")
    assert "MalformedRecordError" in letter["error"]


async def test_an_unknown_event_type_is_ignored_not_dead_lettered(
    poison_settings: Settings, mongo_database: Database, running_worker: ProjectorWorker
) -> None:
    later = uuid4()
    unknown = envelope("SomethingNewHappened", uuid4(), 1, detail="x")

    await publish(poison_settings, [unknown, opened(later)])

    async def later_account_projected() -> bool:
        return await account(mongo_database, later) is not None

    await eventually(later_account_projected)
    assert await mongo_database[DEAD_LETTERS].count_documents({}) == 0


async def test_health_reports_the_letters_pending_per_projection(
    poison_settings: Settings, mongo_database: Database, running_worker: ProjectorWorker
) -> None:
    scenario = Scenario()
    await publish(poison_settings, scenario.records)

    async def all_letters_counted() -> bool:
        health = await running_worker.health()
        return bool(health["dead_letters_pending"] == 5)

    await eventually(all_letters_counted)
    transport = httpx.ASGITransport(app=running_worker.probes())
    async with httpx.AsyncClient(transport=transport, base_url="http://projector") as client:
        health = (await client.get("/health")).json()
        ready = await client.get("/ready")
        metrics = (await client.get("/metrics")).text

    projections = health["projections"]
    assert projections["accounts"]["dead_letters_pending"] == 1
    assert projections["transfers"]["dead_letters_pending"] == 0
    assert health["dead_letters_pending"] == 5
    assert projections["accounts"]["position"] is not None
    assert projections["accounts"]["lag_events"] == 0
    assert ready.status_code == 200
    assert "ledger_projector_dead_letters_total" in metrics
    assert "ledger_projector_batch_duration_seconds" in metrics
