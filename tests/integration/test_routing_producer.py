"""The routing producer survives a broker that lost its sequence, against the real Kafka.

The fault is injected at one point: the first producer's sends raise what aiokafka raises
once the broker has forgotten an idempotent producer's sequence (after a broker restart).
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from infra.messaging.cloudevents import KafkaRecord
from infra.messaging.kafka import ensure_topic
from infra.settings import Settings
from projectors.engine.routing import KafkaRouting

pytestmark = pytest.mark.integration


async def test_a_producer_that_lost_its_sequence_is_replaced(stack: Settings) -> None:
    kafka = stack.kafka.model_copy(update={"topic": f"routing-test-{uuid4().hex[:8]}"})
    routing = KafkaRouting(kafka)
    await ensure_topic(kafka, routing.topic)
    await routing.start()
    broken = routing._producer
    assert broken is not None

    async def lost_sequence(*args: object, **kwargs: object) -> None:
        raise OutOfOrderSequenceNumber()

    broken.send = lost_sequence  # type: ignore[method-assign]
    record = KafkaRecord(key=b"account-1", value=b"{}", headers=[])
    try:
        with pytest.raises(OutOfOrderSequenceNumber):
            await routing.send_all([record])
        await routing.send_all([record])  # the worker's retry: on a fresh producer
        assert routing._producer is not None
        assert routing._producer is not broken
    finally:
        await routing.stop()
