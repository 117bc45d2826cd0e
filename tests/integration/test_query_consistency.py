"""Read-your-writes against the real stores: tokens wait until the view catches up, bounded.

Projector writes are simulated by writing contract-shaped documents while a query waits,
and announcing them as the projector does; the event store, the relay checkpoint, the
Kafka topic and the news channel are real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer
from psycopg import sql
from pymongo.asynchronous.database import AsyncDatabase

from infra.eventstore.schema import EVENTS_TABLE
from infra.messaging.kafka import ensure_topic
from infra.messaging.read_side_news import news_channel
from infra.settings import Settings
from tests.integration.progress_rows import store_progress
from tests.unit.query_api import documents
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
# Long enough that a loaded machine never turns a catch-up into a timeout: a wait that
# ends fresh ended because the view caught up, which no upper bound on time could add to.
TIMEOUT = 5.0
CHANGE_AFTER = 0.15


@pytest.fixture
def settings(isolated_settings: Settings) -> Settings:
    query = isolated_settings.query.model_copy(update={"consistency_timeout_seconds": TIMEOUT})
    return isolated_settings.model_copy(update={"query": query})


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with query_client(settings) as started:
        yield started


def record_events(settings: Settings, aggregate_id: UUID, versions: int) -> list[int]:
    """Append bare events to the log; returns their positions (the query API reads only ids)."""
    insert = sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, 'test', '') RETURNING notification_id"
    ).format(sql.Identifier(EVENTS_TABLE))
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        return [
            int(conn.execute(insert, (aggregate_id, version)).fetchone()[0])  # type: ignore[index]
            for version in range(1, versions + 1)
        ]


def set_relay_checkpoint(settings: Settings, position: int) -> None:
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS relay_checkpoints (name text PRIMARY KEY, "
            "position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO relay_checkpoints (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
            (f"kafka:{settings.kafka.topic}", position),
        )


async def publish_to_partitions(settings: Settings, partitions: list[int]) -> None:
    await ensure_topic(settings.kafka)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for partition in partitions:
            await producer.send_and_wait(settings.kafka.topic, b"{}", partition=partition)
    finally:
        await producer.stop()


async def later(seconds: float, change: Any, settings: Settings) -> None:
    """Write as the projector would: the change, then the news of it (ADR 0011)."""
    await asyncio.sleep(seconds)
    await change
    client = redis.from_url(settings.redis.url.get_secret_value())
    try:
        await client.publish(news_channel(settings), b"anything may have changed")
    finally:
        await client.aclose()


async def timed_get(
    client: httpx.AsyncClient, path: str, **kwargs: Any
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path, **kwargs)
    return response, time.monotonic() - started


async def test_a_version_token_waits_until_the_account_shows_that_version(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    account_id = uuid4()
    accounts = mongo_database["accounts_v1"]
    await accounts.insert_one(documents.account(account_id, version=1, balance=0))
    catch_up = accounts.update_one(
        {"_id": str(account_id)}, {"$set": {"version": 2, "balance": 500}}
    )

    (response, waited), _ = await asyncio.gather(
        timed_get(client, f"/v1/accounts/{account_id}", headers={"X-Min-Version": "2"}),
        later(CHANGE_AFTER, catch_up, settings),
    )

    assert response.headers["x-consistency"] == "fresh"
    assert response.json()["balance"] == 500
    assert waited >= CHANGE_AFTER


async def test_a_position_token_waits_for_the_accounts_last_version_at_that_position(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    account_id = uuid4()
    positions = record_events(settings, account_id, 3)
    accounts = mongo_database["accounts_v1"]
    await accounts.insert_one(documents.account(account_id, version=1))
    catch_up = accounts.update_one({"_id": str(account_id)}, {"$set": {"version": 2}})

    (response, _), _ = await asyncio.gather(
        timed_get(client, f"/v1/accounts/{account_id}", params={"min_position": positions[1]}),
        later(CHANGE_AFTER, catch_up, settings),
    )

    assert response.headers["x-consistency"] == "fresh"
    assert response.json()["version"] == 2


async def test_a_version_never_reached_answers_what_there_is_after_the_timeout_as_stale(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account_id = uuid4()
    await mongo_database["accounts_v1"].insert_one(documents.account(account_id, version=3))

    response, waited = await timed_get(
        client, f"/v1/accounts/{account_id}", headers={"X-Min-Version": "1000000"}
    )

    assert response.status_code == 200
    assert response.headers["x-consistency"] == "stale"
    assert response.json()["version"] == 3
    assert waited >= TIMEOUT


async def test_an_account_that_never_appears_is_a_stale_not_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/accounts/{uuid4()}", params={"min_version": 1})

    assert response.status_code == 404
    assert response.headers["x-consistency"] == "stale"


async def test_a_statement_token_waits_for_the_movements_line(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    account_id = uuid4()
    record_events(settings, account_id, 2)
    await mongo_database["accounts_v1"].insert_one(documents.account(account_id, version=2))
    line = mongo_database["account_statements_v1"].insert_one(
        documents.statement_line(account_id, 2)
    )

    (response, _), _ = await asyncio.gather(
        timed_get(client, f"/v1/accounts/{account_id}/statement", params={"min_version": 2}),
        later(CHANGE_AFTER, line, settings),
    )

    assert response.headers["x-consistency"] == "fresh"
    assert [item["version"] for item in response.json()["items"]] == [2]


async def test_a_transfer_token_waits_for_the_event_in_its_timeline(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    transfer_id = uuid4()
    requested, completed = record_events(settings, transfer_id, 2)
    transfers = mongo_database["transfers_v1"]
    document = documents.transfer(transfer_id, uuid4(), uuid4(), positions=(requested,))
    document["status"] = "requested"
    await transfers.insert_one(document)
    finish = transfers.update_one(
        {"_id": str(transfer_id)},
        {
            "$set": {"status": "completed"},
            "$push": {
                "timeline": {
                    "event_type": "TransferCompleted",
                    "event_id": str(uuid4()),
                    "position": completed,
                    "occurred_at": documents.EPOCH,
                }
            },
        },
    )

    (response, _), _ = await asyncio.gather(
        timed_get(client, f"/v1/transfers/{transfer_id}", headers={"X-Min-Version": "2"}),
        later(CHANGE_AFTER, finish, settings),
    )

    assert response.headers["x-consistency"] == "fresh"
    assert response.json()["status"] == "completed"


async def test_a_list_waits_until_every_partition_has_applied_the_position(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    positions = record_events(settings, uuid4(), 2)
    await publish_to_partitions(settings, [0, 3])  # the two events, one in each partition
    set_relay_checkpoint(settings, positions[-1])
    await store_progress(settings, "accounts", 0, offset=1, highwater=1, position=positions[0])
    # Partition 3 looked caught up before its event was published: not to be trusted.
    await store_progress(settings, "accounts", 3, offset=0, highwater=0, position=0)
    applied = store_progress(settings, "accounts", 3, offset=1, highwater=1, position=positions[1])

    (response, waited), _ = await asyncio.gather(
        timed_get(client, "/v1/accounts", params={"min_position": positions[1]}),
        later(CHANGE_AFTER, applied, settings),
    )

    assert response.status_code == 200
    assert response.headers["x-consistency"] == "fresh"
    assert waited >= CHANGE_AFTER


async def test_a_list_is_stale_while_the_relay_has_not_published_the_position(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    positions = record_events(settings, uuid4(), 1)
    set_relay_checkpoint(settings, positions[0] - 1)

    response = await client.get(
        "/v1/owners/" + str(uuid4()) + "/portfolio", headers={"X-Min-Position": str(positions[0])}
    )

    assert response.status_code == 404
    assert response.headers["x-consistency"] == "stale"


async def test_daily_volume_takes_a_position_token_already_met(
    client: httpx.AsyncClient, mongo_database: Database, settings: Settings
) -> None:
    positions = record_events(settings, uuid4(), 1)
    await publish_to_partitions(settings, [2])
    set_relay_checkpoint(settings, positions[0])
    await store_progress(settings, "daily_volume", 2, offset=1, highwater=1, position=positions[0])

    response = await client.get("/v1/stats/daily", params={"min_position": positions[0]})

    assert response.headers["x-consistency"] == "fresh"
