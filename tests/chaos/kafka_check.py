"""Every stored event on Kafka, in per-aggregate order, read by a plain aiokafka consumer.

Deliberately none of Ledger's modules here: the topic is read the way any other team's
consumer would, from the CloudEvents headers alone.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer


@dataclass
class AggregateOnTopic:
    """What one aggregate's records looked like on the topic, in partition order."""

    highest: int = 0
    duplicates: int = 0
    partitions: set[int] = field(default_factory=set)
    event_ids: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def see(self, aggregate: str, version: int, event_id: str, partition: int) -> None:
        """A repeat of a seen version is a duplicate; a new version must be the next one."""
        self.partitions.add(partition)
        if version <= self.highest:
            self.duplicates += 1
            if self.event_ids.get(version) != event_id:
                self.problems.append(f"{aggregate} v{version}: a different event repeated")
            return
        if version != self.highest + 1:
            self.problems.append(f"{aggregate}: v{version} after v{self.highest}")
        self.highest = version
        self.event_ids[version] = event_id


async def read_topic(bootstrap: str, topic: str) -> dict[str, AggregateOnTopic]:
    """Every record of the topic from the beginning up to its current end."""
    # No group: the consumer is given every partition of the topic, and commits nothing.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        give_up = time.monotonic() + 30.0
        while not consumer.assignment() and time.monotonic() < give_up:
            await asyncio.sleep(0.2)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        aggregates: dict[str, AggregateOnTopic] = {}
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            batches = await consumer.getmany(timeout_ms=1_000, max_records=10_000)
            for partition, records in batches.items():
                for record in records:
                    headers = {name: value.decode() for name, value in record.headers}
                    aggregate = headers["ce_subject"]
                    entry = aggregates.setdefault(aggregate, AggregateOnTopic())
                    version = int(headers["ce_aggregateversion"])
                    entry.see(aggregate, version, headers["ce_id"], partition.partition)
        return aggregates
    finally:
        await consumer.stop()


def topic_problems(
    bootstrap: str, topic: str, stored: dict[str, dict[int, str]], deadline_seconds: float
) -> tuple[list[str], int]:
    """Missing, reordered or foreign events on the topic, and the duplicates seen; polls until
    the relay has published everything stored or the deadline passes."""
    give_up = time.monotonic() + deadline_seconds
    while True:
        aggregates = asyncio.run(read_topic(bootstrap, topic))
        problems = [p for entry in aggregates.values() for p in entry.problems]
        problems += [
            f"{aggregate}: on {len(entry.partitions)} partitions"
            for aggregate, entry in aggregates.items()
            if len(entry.partitions) > 1
        ]
        for aggregate, versions in stored.items():
            entry = aggregates.get(aggregate, AggregateOnTopic())
            if entry.highest < max(versions):
                problems.append(f"{aggregate}: up to v{entry.highest} of v{max(versions)}")
            problems += [
                f"{aggregate} v{version}: another event id on the topic"
                for version, event_id in versions.items()
                if entry.event_ids.get(version, event_id) != event_id
            ]
        problems += [f"{a}: on the topic, not in the store" for a in aggregates if a not in stored]
        duplicates = sum(entry.duplicates for entry in aggregates.values())
        if not problems or time.monotonic() > give_up:
            return problems, duplicates
        time.sleep(2.0)
