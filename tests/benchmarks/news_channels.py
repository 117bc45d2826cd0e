"""`python -m tests.benchmarks.news_channels`: how fast each candidate carries read-side news.

The projector tells the query API which collections it wrote (ADR 0011). Three channels
are already in the stack; this sends COUNT small messages, one every INTERVAL seconds
(about the projector's batch rate under load), through each, and prints publish →
receive latency in ms. Loopback, the local stack's servers, a channel of its own.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

import psycopg
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.messaging.kafka import ensure_topic
from infra.settings import Settings

COUNT = 1_000
INTERVAL = 0.005
MESSAGE = json.dumps(["accounts_v1", "projection_progress"]).encode()

Send = Callable[[], Awaitable[None]]


async def measure(send: Send, received: asyncio.Queue[float]) -> dict[str, float]:
    samples = []
    for _ in range(COUNT):
        sent = time.perf_counter()
        await send()
        arrived = await asyncio.wait_for(received.get(), 5)
        samples.append((arrived - sent) * 1000)
        await asyncio.sleep(INTERVAL)
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "max_ms": max(samples)}


async def via_redis(settings: Settings) -> dict[str, float]:
    channel = f"bench.news.{uuid4().hex}"
    client = redis.from_url(settings.redis.url.get_secret_value())
    listener = redis.from_url(settings.redis.url.get_secret_value())
    pubsub = listener.pubsub()
    await pubsub.subscribe(channel)
    received: asyncio.Queue[float] = asyncio.Queue()

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                received.put_nowait(time.perf_counter())

    task = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0.2)
        return await measure(lambda: client.publish(channel, MESSAGE), received)
    finally:
        task.cancel()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await client.aclose()


async def via_postgres(settings: Settings) -> dict[str, float]:
    channel = f"bench_news_{uuid4().hex}"
    url = settings.postgres.url.get_secret_value()
    sender = await psycopg.AsyncConnection.connect(url, autocommit=True)
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await listener.execute(f"LISTEN {channel}")
    received: asyncio.Queue[float] = asyncio.Queue()

    async def listen() -> None:
        async for _ in listener.notifies():
            received.put_nowait(time.perf_counter())

    async def send() -> None:
        await sender.execute("SELECT pg_notify(%s, %s)", (channel, MESSAGE.decode()))

    task = asyncio.create_task(listen())
    try:
        return await measure(send, received)
    finally:
        task.cancel()
        await sender.close()
        await listener.close()


async def via_kafka(settings: Settings) -> dict[str, float]:
    topic = f"bench.news.{uuid4().hex}"
    kafka = settings.kafka.model_copy(update={"partitions": 1})
    await ensure_topic(kafka, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0, acks=1)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=None, fetch_max_wait_ms=500
    )
    await producer.start()
    await consumer.start()
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    await consumer.seek_to_end(partition)
    received: asyncio.Queue[float] = asyncio.Queue()

    async def listen() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1_000)
            for records in batches.values():
                for _ in records:
                    received.put_nowait(time.perf_counter())

    task = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0.5)
        return await measure(lambda: producer.send(topic, MESSAGE), received)
    finally:
        task.cancel()
        await producer.stop()
        await consumer.stop()


async def run_all(settings: Settings) -> dict[str, dict[str, float]]:
    return {
        "redis pub/sub": await via_redis(settings),
        "postgres notify": await via_postgres(settings),
        "kafka topic": await via_kafka(settings),
    }


def main() -> int:
    """Measure every channel, print JSON."""
    print(json.dumps(asyncio.run(run_all(Settings())), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
