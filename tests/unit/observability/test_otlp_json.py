"""OTLP JSON, as Jaeger's API v3 answers it, becomes our spans and traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.observability.otlp_json import attributes_of, span_of, traces_of
from infra.observability.spans import Span, SpanLink
from tests.unit.observability.otlp_documents import (
    LINKED_SPAN,
    LINKED_TRACE,
    PUBLISH_SPAN,
    ROOT_SPAN,
    STORE_SPAN,
    command_trace,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CORRELATION_ID = "0b9a1e6c-41e4-4a5e-9d0f-6f8f3f1d2c3b"
START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000


def _spans() -> dict[str, Span]:
    (trace,) = traces_of(command_trace(TRACE_ID, CORRELATION_ID, START_NS))
    return {span.span_id: span for span in trace.spans}


def test_every_span_of_every_resource_lands_in_its_trace() -> None:
    traces = traces_of(command_trace(TRACE_ID, CORRELATION_ID, START_NS))

    assert [(t.trace_id, len(t.spans)) for t in traces] == [(TRACE_ID, 3)]


def test_spans_of_two_traces_in_one_document_make_two_traces() -> None:
    document = command_trace(TRACE_ID, CORRELATION_ID, START_NS)
    other = command_trace(LINKED_TRACE, CORRELATION_ID, START_NS)
    document["resourceSpans"] += other["resourceSpans"]

    assert [t.trace_id for t in traces_of(document)] == [TRACE_ID, LINKED_TRACE]


def test_a_span_is_named_for_the_service_of_its_resource() -> None:
    services = {span_id: span.service for span_id, span in _spans().items()}

    assert services == {
        ROOT_SPAN: "ledger-command-api",
        STORE_SPAN: "ledger-command-api",
        PUBLISH_SPAN: "ledger-relay",
    }


def test_times_become_a_utc_start_and_a_duration_in_milliseconds() -> None:
    store = span_of(
        {
            "traceId": TRACE_ID,
            "spanId": STORE_SPAN,
            "name": "s",
            "startTimeUnixNano": str(START_NS + 2_000_500),
            "endTimeUnixNano": str(START_NS + 7_250_500),
        },
        "svc",
    )

    assert store.start == START + timedelta(microseconds=2_000)
    assert store.duration_ms == 5.25


def test_a_root_span_has_no_parent_and_a_child_names_its_own() -> None:
    spans = _spans()

    assert spans[ROOT_SPAN].parent_span_id is None
    assert spans[PUBLISH_SPAN].parent_span_id == STORE_SPAN


def test_kind_and_status_codes_become_names() -> None:
    spans = _spans()

    assert [(spans[s].kind, spans[s].status) for s in (ROOT_SPAN, STORE_SPAN, PUBLISH_SPAN)] == [
        ("server", "ok"),
        ("client", "unset"),
        ("producer", "error"),
    ]


def test_kind_and_status_written_as_protobuf_names_are_read_too() -> None:
    span = span_of(
        {
            "traceId": TRACE_ID,
            "spanId": ROOT_SPAN,
            "name": "s",
            "kind": "SPAN_KIND_CONSUMER",
            "status": {"code": "STATUS_CODE_ERROR"},
            "startTimeUnixNano": "0",
            "endTimeUnixNano": "0",
        },
        "svc",
    )

    assert (span.kind, span.status) == ("consumer", "error")


def test_links_keep_the_trace_and_span_they_point_at() -> None:
    assert _spans()[PUBLISH_SPAN].links == (SpanLink(LINKED_TRACE, LINKED_SPAN),)


def test_attribute_values_are_decoded_from_their_typed_fields() -> None:
    pairs = [
        {"key": "text", "value": {"stringValue": "a"}},
        {"key": "count", "value": {"intValue": "201"}},
        {"key": "ratio", "value": {"doubleValue": 0.5}},
        {"key": "flag", "value": {"boolValue": True}},
        {
            "key": "list",
            "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "b"}]}},
        },
        {
            "key": "map",
            "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}},
        },
        {"key": "empty", "value": {}},
    ]

    assert attributes_of(pairs) == {
        "text": "a",
        "count": 201,
        "ratio": 0.5,
        "flag": True,
        "list": [1, "b"],
        "map": {"k": "v"},
        "empty": None,
    }


def test_the_correlation_id_is_an_attribute_of_the_command_api_span() -> None:
    attributes = _spans()[ROOT_SPAN].attributes

    assert attributes["ledger.correlation_id"] == CORRELATION_ID
