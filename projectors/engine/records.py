"""A polled batch of Kafka records, decoded into what each stage of the projector applies.

Records of the events topic feed the projections whose documents belong to one
aggregate (and the routers of the others); records of the routing topic name the
routed projection they are for. Records that are not Ledger events are set aside for
the dead-letter store. Each partition's next offset and last event become its progress.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord, TopicPartition

from domain.envelope import EventEnvelope
from infra.eventstore.progress import PartitionReached
from infra.messaging.cloudevents import MalformedRecordError, from_record
from projectors.engine.dead_letters import RawRecord
from projectors.engine.routing import PROJECTION_HEADER

log = logging.getLogger(__name__)

Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


@dataclass
class DecodedBatch:
    """A batch as the projections see it, and where it leaves each partition."""

    events: list[EventEnvelope] = field(default_factory=list)
    routed: dict[str, list[EventEnvelope]] = field(default_factory=lambda: defaultdict(list))
    malformed: list[tuple[RawRecord, MalformedRecordError]] = field(default_factory=list)
    progress: dict[str, list[PartitionReached]] = field(default_factory=lambda: defaultdict(list))
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many events the batch holds, of both topics."""
        return len(self.events) + sum(len(events) for events in self.routed.values())


def decode(
    batches: Batches, highwater: Mapping[TopicPartition, int | None], routing_topic: str
) -> DecodedBatch:
    """Turn records into envelopes (in log order per partition), setting foreign ones aside."""
    decoded = DecodedBatch()
    for partition, records in batches.items():
        if not records:
            continue
        last: EventEnvelope | None = None
        for record in records:
            try:
                event = from_record(record.value, list(record.headers))
                if partition.topic == routing_topic:
                    decoded.routed[_routed_to(record)].append(event)
                else:
                    decoded.events.append(event)
                last = event
            except MalformedRecordError as error:
                log.warning("record at %s:%s is not a Ledger event", partition, record.offset)
                decoded.malformed.append((_raw(record), error))
        next_offset = records[-1].offset + 1
        decoded.offsets[partition] = next_offset
        decoded.progress[partition.topic].append(
            PartitionReached(
                partition=partition.partition,
                offset=next_offset,
                highwater=highwater.get(partition),
                position=last.position if last else None,
                occurred_at=last.occurred_at if last else None,
            )
        )
    return decoded


def _routed_to(record: ConsumerRecord[bytes, bytes]) -> str:
    for name, value in record.headers:
        if name == PROJECTION_HEADER:
            return bytes(value).decode("utf-8", "replace")
    raise MalformedRecordError(f"a routed record without a {PROJECTION_HEADER!r} header")


def _raw(record: ConsumerRecord[bytes, bytes]) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers),
    )
