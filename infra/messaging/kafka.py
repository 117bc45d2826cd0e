"""Kafka clients configured the way every Ledger process needs them."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.settings import KafkaSettings

log = logging.getLogger(__name__)

_NO_ERROR = 0
_TOPIC_ALREADY_EXISTS = 36
REBALANCE_TIMEOUT_MS = 130_000


class TopicCreationError(RuntimeError):
    """The broker refused to create the events topic."""


async def ensure_topic(settings: KafkaSettings, topic: str | None = None) -> None:
    """Create the events topic with the configured partitions, unless it exists."""
    name = topic or settings.topic
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=name, num_partitions=settings.partitions, replication_factor=1)]
        )
        for topic_error in response.topic_errors:
            code = topic_error[1]
            if code not in (_NO_ERROR, _TOPIC_ALREADY_EXISTS):
                raise TopicCreationError(f"creating topic {name!r} failed with error code {code}")
    finally:
        await admin.close()


def make_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """An idempotent producer waiting for all in-sync replicas: no loss, no reorder."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        # Sends at once: a batch still fills up while the previous request is in flight,
        # so waiting on a timer only adds latency (ADR 0011).
        linger_ms=settings.linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )


def make_consumer(
    settings: KafkaSettings, group_id: str, topic: str | None = None
) -> AIOKafkaConsumer:
    """A group consumer that never commits on its own: offsets follow durable writes."""
    return AIOKafkaConsumer(
        topic or settings.topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=2_000,
        # The broker answers a fetch as soon as one byte is there; this is only how long
        # an idle fetch is parked, not a delay on records that arrive (ADR 0011).
        fetch_min_bytes=1,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        # A rebalance waits this long for members to rejoin. Longer than the projector's
        # handoff (it finishes the batch in hand first, up to two minutes): otherwise the
        # broker evicts it mid-batch and its successor writes the same documents at once.
        rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
    )


def make_fetcher(settings: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer in no group, reading the partitions it is assigned from where it is sent."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=2_000,
        fetch_min_bytes=1,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )


async def topic_partitions(
    settings: KafkaSettings, topic: str, request_timeout_ms: int = 5_000
) -> list[TopicPartition]:
    """The topic's real partitions, from the broker (none when it does not exist).

    Not the configured count: a topic created with more partitions than the settings say
    must not hide any of them.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=request_timeout_ms
    )
    await admin.start()
    try:
        topics = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [
        TopicPartition(topic, int(partition["partition"]))
        for described in topics
        if described["topic"] == topic and described["error_code"] == 0
        for partition in described["partitions"]
    ]
