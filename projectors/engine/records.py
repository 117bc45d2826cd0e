"""A polled batch of Kafka records, decoded once, assembled into what each worker applies.

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


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """One record, decoded once for every projection of the process."""

    offset: int
    event: EventEnvelope | None
    routed_to: str | None = None
    """The routed projection it is for (records of the routing topic)."""
    malformed: tuple[RawRecord, MalformedRecordError] | None = None


Decoded = Mapping[TopicPartition, Sequence[DecodedRecord]]


def decode_records(
    batches: Batches, routing_topic: str
) -> dict[TopicPartition, list[DecodedRecord]]:
    """Turn records into envelopes (in log order per partition), setting foreign ones aside."""
    decoded: dict[TopicPartition, list[DecodedRecord]] = {}
    for partition, records in batches.items():
        if not records:
            continue
        decoded[partition] = [_decoded(partition, record, routing_topic) for record in records]
    return decoded


def _decoded(
    partition: TopicPartition, record: ConsumerRecord[bytes, bytes], routing_topic: str
) -> DecodedRecord:
    try:
        event = from_record(record.value, list(record.headers))
        routed_to = _routed_to(record) if partition.topic == routing_topic else None
    except MalformedRecordError as error:
        log.warning("record at %s:%s is not a Ledger event", partition, record.offset)
        return DecodedRecord(record.offset, None, malformed=(_raw(record), error))
    return DecodedRecord(record.offset, event, routed_to)


def assemble(
    decoded: Decoded,
    starts: Mapping[TopicPartition, int],
    highwater: Mapping[TopicPartition, int | None],
) -> DecodedBatch:
    """One worker's batch: of each partition in `starts`, the records from its start offset
    on (the worker applied those before it already)."""
    batch = DecodedBatch()
    for partition, start in starts.items():
        records = [record for record in decoded.get(partition, ()) if record.offset >= start]
        if not records:
            continue
        last: EventEnvelope | None = None
        for record in records:
            if record.event is None:
                if record.malformed is not None:
                    batch.malformed.append(record.malformed)
                continue
            last = record.event
            if record.routed_to is not None:
                batch.routed[record.routed_to].append(last)
            else:
                batch.events.append(last)
        next_offset = records[-1].offset + 1
        batch.offsets[partition] = next_offset
        batch.progress[partition.topic].append(
            PartitionReached(
                partition=partition.partition,
                offset=next_offset,
                highwater=highwater.get(partition),
                position=last.position if last else None,
                occurred_at=last.occurred_at if last else None,
            )
        )
    return batch


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
