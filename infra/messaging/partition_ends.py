"""The end offset of every partition of the events topic, for the query API's consistency checks."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.messaging.kafka import topic_partitions
from infra.settings import KafkaSettings

REQUEST_TIMEOUT_MS = 5_000


class PartitionEnds:
    """Asks the broker where each partition of the events topic ends (no consumer group)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._starting = asyncio.Lock()

    async def fetch(self) -> dict[int, int]:
        """Partition -> offset the next record will get; every record before it is published."""
        consumer = await self._started()
        if not self._partitions:
            self._partitions = await topic_partitions(
                self._settings, self._settings.topic, REQUEST_TIMEOUT_MS
            )
        if not self._partitions:
            return {}
        ends = await consumer.end_offsets(self._partitions)
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    async def close(self) -> None:
        """Disconnect, if connected."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _started(self) -> AIOKafkaConsumer:
        async with self._starting:
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._settings.bootstrap_servers,
                    group_id=None,
                    enable_auto_commit=False,
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                )
                try:
                    await consumer.start()
                except BaseException:
                    await consumer.stop()
                    raise
                self._consumer = consumer
            return self._consumer
