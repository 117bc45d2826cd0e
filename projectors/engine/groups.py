"""The consumer groups of projection builds: who is in them, and where they stand.

Each build of a projection consumes in its own group (`Build.group`), so operators can
stop, move and hand over one projection without touching the others. Kafka is the
authority on whether anyone still consumes: a group with no members cannot commit (a
late member's commit carries a stale generation and is refused), so "no members" is the
signal that the workers of a build have stood down.

aiokafka's admin client can read a group's offsets but not set them, so offsets are set
the way Kafka allows for an empty group: a consumer of that group, assigned the
partitions by hand (no membership), commits them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.messaging.cloudevents import MalformedRecordError, from_record
from infra.messaging.kafka import topic_partitions
from infra.settings import KafkaSettings

FETCH_TIMEOUT_MS = 5_000


class GroupStillActiveError(RuntimeError):
    """A build's workers did not stand down in time."""


async def _admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    return admin


async def group_members(settings: KafkaSettings, group: str) -> int:
    """How many consumers are in the group now."""
    admin = await _admin(settings)
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return sum(len(description[5]) for response in responses for description in response.groups)


async def wait_until_empty(settings: KafkaSettings, group: str, timeout_seconds: float) -> None:
    """Return once the group has no members; `GroupStillActiveError` past the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while (members := await group_members(settings, group)) > 0:
        if time.monotonic() > deadline:
            raise GroupStillActiveError(
                f"{members} consumer(s) still in group {group!r} after {timeout_seconds:.0f} s"
            )
        await asyncio.sleep(0.2)


async def committed_offsets(settings: KafkaSettings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets (the next record each partition would read)."""
    admin = await _admin(settings)
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


async def commit_offsets(
    settings: KafkaSettings, group: str, offsets: Mapping[TopicPartition, int]
) -> None:
    """Set an empty group's offsets."""
    if not offsets:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def end_offsets(settings: KafkaSettings, topic: str) -> dict[TopicPartition, int]:
    """Every partition's end offset (the offset the next record will get)."""
    partitions = await topic_partitions(settings, topic)
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def offsets_after_position(
    settings: KafkaSettings, topic: str, position: int
) -> dict[TopicPartition, int]:
    """Per partition of the events topic, the first offset whose event is after `position`.

    Positions grow along each partition, so a binary search over offsets finds it in a
    few fetches per partition. A record that is not a Ledger event counts as after.
    """
    partitions = await topic_partitions(settings, topic)
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=64 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        return {
            partition: await _first_after(
                consumer, partition, starts[partition], ends[partition], position
            )
            for partition in partitions
        }
    finally:
        await consumer.stop()


async def _first_after(
    consumer: AIOKafkaConsumer, partition: TopicPartition, low: int, high: int, position: int
) -> int:
    """The least offset in [low, high] whose record is after `position` (high: none is).

    An offset with no readable event there (a control record, a foreign record) counts as
    after: the search may then start a little early, which the projections' guards absorb.
    """
    while low < high:
        middle = (low + high) // 2
        found = await _position_at(consumer, partition, middle)
        if found is None or found > position:
            high = middle
        else:
            low = middle + 1
    return low


async def _position_at(
    consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
) -> int | None:
    """The position of the event at `offset`, if a Ledger event is there."""
    consumer.seek(partition, offset)
    batches = await consumer.getmany(partition, timeout_ms=FETCH_TIMEOUT_MS, max_records=1)
    for record in batches.get(partition, []):
        if record.offset != offset:
            return None
        try:
            return from_record(record.value, list(record.headers)).position
        except MalformedRecordError:
            return None
    return None
