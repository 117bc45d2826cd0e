"""Events of documents fed by several aggregates are routed, keyed by their document."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from aiokafka import ConsumerRecord, TopicPartition

from domain.envelope import EventEnvelope
from infra.messaging.cloudevents import KafkaRecord, from_record, to_record
from projectors.engine.records import Batches, DecodedBatch, assemble, decode_records
from projectors.engine.routing import PROJECTION_HEADER, Router, is_routed, routing_topic
from projectors.projections import (
    account_statements,
    accounts,
    daily_volume,
    owner_portfolios,
    transfers,
)
from projectors.projections.projection import Projection
from tests.unit.factories import envelope

TOPIC = "ledger.events"
ROUTING = routing_topic(TOPIC)


class KeyedByTransfer:
    """Keys events the way the transfers writer does, without a store."""

    projection: Projection = transfers.PROJECTION

    async def prepare(self) -> None:
        pass

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        raise AssertionError("a router never writes")

    async def document_ids(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        return [transfers.transfer_id(event) for event in events]


class SentRecords:
    def __init__(self) -> None:
        self.records: list[KafkaRecord] = []

    async def send_all(self, records: Sequence[KafkaRecord]) -> None:
        self.records.extend(records)


def consumer_record(topic: str, offset: int, record: KafkaRecord) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=record.key,
        value=record.value,
        checksum=None,
        serialized_key_size=len(record.key),
        serialized_value_size=len(record.value),
        headers=record.headers,
    )


def test_only_projections_whose_documents_span_aggregates_are_routed() -> None:
    assert is_routed(transfers.PROJECTION)
    assert is_routed(owner_portfolios.PROJECTION)
    assert not is_routed(accounts.PROJECTION)
    assert not is_routed(daily_volume.PROJECTION)
    assert not is_routed(account_statements.PROJECTION)


async def test_a_leg_is_routed_keyed_by_its_transfer_and_naming_the_projection() -> None:
    transfer_id = str(uuid4())
    leg = envelope("TransferDebited", uuid4(), 4, transfer_id=transfer_id, amount=1)
    sent = SentRecords()

    routed = await Router(KeyedByTransfer(), sent).apply(
        [leg, envelope("AccountOpened", uuid4(), 1)]
    )

    assert routed == 1
    [record] = sent.records
    assert record.key == transfer_id.encode()
    assert (PROJECTION_HEADER, b"transfers") in record.headers
    assert from_record(record.value, record.headers) == leg


def decode(batches: Batches, highwater: dict[TopicPartition, int], routing: str) -> DecodedBatch:
    """The whole batch, as a worker that applied nothing of it yet is given it."""
    return assemble(decode_records(batches, routing), dict.fromkeys(batches, 0), highwater)


async def test_routed_records_are_decoded_for_the_projection_they_name() -> None:
    deposit = envelope("FundsDeposited", uuid4(), 2, amount=5)
    leg = envelope("TransferCredited", uuid4(), 3, transfer_id=str(uuid4()), amount=5)
    sent = SentRecords()
    await Router(KeyedByTransfer(), sent).apply([leg])
    batches = {
        TopicPartition(TOPIC, 0): [consumer_record(TOPIC, 7, to_record(deposit, "urn:test"))],
        TopicPartition(ROUTING, 0): [consumer_record(ROUTING, 3, sent.records[0])],
    }

    batch = decode(batches, {TopicPartition(TOPIC, 0): 10}, ROUTING)

    assert batch.events == [deposit]
    assert batch.routed == {"transfers": [leg]}
    assert batch.offsets == {TopicPartition(TOPIC, 0): 8, TopicPartition(ROUTING, 0): 4}
    [progress] = batch.progress[TOPIC]
    assert (progress.offset, progress.highwater, progress.position) == (8, 10, 2)


def test_a_record_that_is_not_a_ledger_event_is_set_aside_and_still_passed() -> None:
    junk = KafkaRecord(key=b"k", value=b"junk", headers=[("x", b"y")])
    batches = {TopicPartition(TOPIC, 1): [consumer_record(TOPIC, 0, junk)]}

    batch = decode(batches, {}, ROUTING)

    assert batch.events == []
    [(raw, _error)] = batch.malformed
    assert raw.to_json()["value"] == "junk"
    assert batch.offsets == {TopicPartition(TOPIC, 1): 1}


def test_a_worker_is_given_only_the_records_from_its_own_position_on() -> None:
    account_id = uuid4()
    events = [envelope("FundsDeposited", account_id, version, amount=5) for version in (2, 3, 4)]
    partition = TopicPartition(TOPIC, 0)
    batches = {
        partition: [
            consumer_record(TOPIC, offset, to_record(event, "urn:test"))
            for offset, event in enumerate(events, start=20)
        ]
    }
    decoded = decode_records(batches, ROUTING)

    behind = assemble(decoded, {partition: 20}, {partition: 23})
    ahead = assemble(decoded, {partition: 22}, {partition: 23})
    caught_up = assemble(decoded, {partition: 23}, {partition: 23})

    assert (behind.events, behind.offsets) == (events, {partition: 23})
    assert (ahead.events, ahead.offsets) == (events[2:], {partition: 23})
    assert (caught_up.events, caught_up.offsets, caught_up.progress) == ([], {}, {})
