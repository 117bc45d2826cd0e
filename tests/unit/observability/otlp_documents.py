"""Hand-made OTLP JSON traces, as a process's exporter would send them (and Jaeger returns)."""

from __future__ import annotations

from typing import Any

MILLISECOND = 1_000_000  # in nanoseconds

ROOT_SPAN = "00f067aa0ba902b7"
STORE_SPAN = "00f067aa0ba902b8"
PUBLISH_SPAN = "00f067aa0ba902b9"
LINKED_TRACE = "0af7651916cd43dd8448eb211c80319c"
LINKED_SPAN = "b7ad6b7169203331"


def _span(
    trace_id: str, span_id: str, parent: str | None, name: str, **fields: Any
) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        **({"parentSpanId": parent} if parent else {}),
        **fields,
    }


def _times(start_ns: int, begin_ms: int, end_ms: int) -> dict[str, str]:
    return {
        "startTimeUnixNano": str(start_ns + begin_ms * MILLISECOND),
        "endTimeUnixNano": str(start_ns + end_ms * MILLISECOND),
    }


def _resource(service: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
    }


def command_trace(trace_id: str, correlation_id: str, start_ns: int) -> dict[str, Any]:
    """Three spans in two services: the command API's server span (20 ms, with the
    correlation id), its store call (2-7 ms) under it, and the relay's publish (10-14 ms,
    failed, linked to another trace) under the store call."""
    root = _span(
        trace_id,
        ROOT_SPAN,
        None,
        "POST /v1/accounts",
        kind=2,
        status={"code": 1},
        attributes=[
            {"key": "ledger.correlation_id", "value": {"stringValue": correlation_id}},
            {"key": "http.response.status_code", "value": {"intValue": "201"}},
        ],
        **_times(start_ns, 0, 20),
    )
    store = _span(
        trace_id, STORE_SPAN, ROOT_SPAN, "append events", kind=3, **_times(start_ns, 2, 7)
    )
    publish = _span(
        trace_id,
        PUBLISH_SPAN,
        STORE_SPAN,
        "publish ledger.events",
        kind=4,
        status={"code": 2, "message": "broker gone"},
        links=[{"traceId": LINKED_TRACE, "spanId": LINKED_SPAN}],
        **_times(start_ns, 10, 14),
    )
    return {
        "resourceSpans": [
            _resource("ledger-command-api", [root, store]),
            _resource("ledger-relay", [publish]),
        ]
    }
