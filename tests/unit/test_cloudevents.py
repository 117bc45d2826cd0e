"""Kafka records are binary-mode CloudEvents that round-trip and that the official SDK reads."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from infra.messaging.cloudevents import MalformedRecordError, from_record, to_record
from tests.unit.factories import envelope

SOURCE = "urn:ledger:test"


def test_a_record_round_trips_to_the_same_envelope() -> None:
    original = envelope(
        "FundsDeposited", uuid4(), 2, 17, amount=500, currency="EUR", balance_after=500
    )

    record = to_record(original, SOURCE)

    assert from_record(record.value, record.headers) == original


def test_the_record_is_keyed_by_the_aggregate_id() -> None:
    account_id = uuid4()

    record = to_record(envelope("AccountOpened", account_id, 1), SOURCE)

    assert record.key == str(account_id).encode()


def test_the_cloudevents_sdk_parses_a_record_with_every_required_attribute() -> None:
    original = envelope("FundsDeposited", uuid4(), 3, 40, amount=7, currency="EUR")
    record = to_record(original, SOURCE)

    event = ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )

    attributes = event.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] == str(original.event_id)
    assert attributes["source"] == SOURCE
    assert attributes["type"] == "ledger.FundsDeposited"
    assert attributes["subject"] == str(original.aggregate_id)
    assert attributes["time"] == original.occurred_at
    assert attributes["position"] == "40"
    assert attributes["aggregateversion"] == "3"
    assert attributes["correlationid"] == str(original.correlation_id)
    assert event.get_data() == {"amount": 7, "currency": "EUR"}


def test_a_record_without_cloudevents_headers_is_refused() -> None:
    with pytest.raises(MalformedRecordError):
        from_record(b"{}", [("content-type", b"application/json")])


def test_a_record_whose_body_is_not_an_object_is_refused() -> None:
    record = to_record(envelope("AccountOpened", uuid4(), 1), SOURCE)

    with pytest.raises(MalformedRecordError):
        from_record(b"[1, 2]", record.headers)


def test_the_trace_context_travels_as_the_distributed_tracing_extension() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    original = replace(envelope("AccountOpened", uuid4(), 1), traceparent=traceparent)
    record = to_record(original, SOURCE)

    event = ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )

    assert event.get_attributes()["traceparent"] == traceparent
    assert from_record(record.value, record.headers) == original


def test_an_event_outside_any_trace_has_no_traceparent_header() -> None:
    record = to_record(envelope("AccountOpened", uuid4(), 1), SOURCE)

    assert "ce_traceparent" not in dict(record.headers)
    assert from_record(record.value, record.headers).traceparent is None
