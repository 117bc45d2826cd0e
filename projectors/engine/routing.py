"""Routing the events of documents fed by several aggregates, so each document has one writer.

A transfer hears from its own aggregate and from two accounts; a portfolio from every
account of its owner. Those events sit on different partitions of the events topic, so
competing workers would write one document at the same time, and the read store cannot
be trusted to make that safe: FerretDB v1 checks an update's filter and writes the
document in two steps (a `SELECT`, then an `UPDATE` by `_id` alone), so two guarded
replaces of one document can both succeed and one update is lost. So the worker that
reads such an event does not write the document: it sends the event on to the routing
topic, keyed by the document, where the one worker holding that partition folds every
event of the document. The events topic's offsets are committed only once the routed
copies are acknowledged by every in-sync replica.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from domain.envelope import EventEnvelope
from infra.messaging.cloudevents import KafkaRecord, to_record
from infra.messaging.kafka import make_producer
from infra.settings import KafkaSettings
from projectors.engine.writers import DocumentKeyedWriter
from projectors.projections.projection import DocumentProjection, LookupProjection, Projection

PROJECTION_HEADER = "ledger_projection"
ROUTED_SOURCE = "urn:ledger:projector"


class RoutingStoppedError(RuntimeError):
    """Events were routed while the routing producer was not running."""


def routing_topic(events_topic: str) -> str:
    """The topic that carries events keyed by their document: `<events topic>.by-document`."""
    return f"{events_topic}.by-document"


def router_stage_name(name: str) -> str:
    """The name a routed projection's router records its events-topic progress under."""
    return f"{name}.router"


def is_routed(projection: Projection) -> bool:
    """Whether a projection's documents are fed by several aggregates (so, routed)."""
    if isinstance(projection, DocumentProjection | LookupProjection):
        return projection.spans_aggregates
    return False


def routed_record(event: EventEnvelope, document_id: str, projection: str) -> KafkaRecord:
    """The event as a CloudEvent keyed by its document, naming the projection it is for."""
    record = to_record(event, ROUTED_SOURCE)
    return KafkaRecord(
        key=document_id.encode(),
        value=record.value,
        headers=[*record.headers, (PROJECTION_HEADER, projection.encode())],
    )


class RecordSender(Protocol):
    """Where routed records go (the routing topic in the worker; a list in tests)."""

    async def send_all(self, records: Sequence[KafkaRecord]) -> None:
        """Send in order and wait until all are durable."""
        ...


class KafkaRouting:
    """Sends routed records and waits until every one of them is acknowledged."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.topic = routing_topic(settings.topic)
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._broken = False

    async def start(self) -> None:
        """Connect a producer."""
        producer = make_producer(self._settings)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        """Flush and close the producer."""
        self._broken = False
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def send_all(self, records: Sequence[KafkaRecord]) -> None:
        """Send in order and wait for all acknowledgements.

        A failed send replaces the producer before the error goes up: an idempotent
        producer whose sequence the broker lost (`OutOfOrderSequenceNumber` after a broker
        restart) fails every later send too, so retrying on it never ends. A fresh one (a
        new producer id) is safe, since the worker sends the whole batch again before it
        commits its offsets; the routing topic's consumers are idempotent.
        """
        if self._broken:
            await self.start()
            self._broken = False
        producer = self._producer
        if producer is None:
            raise RoutingStoppedError("the routing producer is not running")
        try:
            deliveries = [
                await producer.send(
                    self.topic, record.value, key=record.key, headers=record.headers
                )
                for record in records
            ]
            for delivery in deliveries:
                await delivery
        except KafkaError:
            self._producer, self._broken = None, True
            with contextlib.suppress(Exception):
                await producer.stop()
            raise


class Router:
    """Stands in for a routed projection on the events topic: forwards, does not write."""

    def __init__(self, writer: DocumentKeyedWriter, sender: RecordSender) -> None:
        self._writer = writer
        self._sender = sender

    @property
    def projection(self) -> Projection:
        """The projection whose events this router forwards."""
        return self._writer.projection

    async def prepare(self) -> None:
        """Nothing to prepare: the writer on the routing topic creates its indexes."""

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        """Forward the events of the projection's documents; return how many were sent."""
        name = self._writer.projection.name
        document_ids = await self._writer.document_ids(events)
        records = [
            routed_record(event, document_id, name)
            for event, document_id in zip(events, document_ids, strict=True)
            if document_id is not None
        ]
        if records:
            await self._sender.send_all(records)
        return len(records)
