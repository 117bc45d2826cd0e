"""Reading a whole topic back in tests, with a deadline instead of a sleep."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from infra.settings import KafkaSettings


async def read_topic(
    settings: KafkaSettings, expected: int, deadline_seconds: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topic from the beginning, once at least `expected` have arrived."""
    consumer = AIOKafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + deadline_seconds
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        # Anything beyond `expected` (a duplicate, say) arrives with it or right after.
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(batch)
        return records
    finally:
        await consumer.stop()
