"""OTLP JSON (`resourceSpans`, as Jaeger's API v3 answers) into our spans and traces.

Protobuf's JSON mapping writes 64-bit integers as strings and enums as numbers or names,
so both spellings are read; ids are hex, as the OTLP JSON encoding says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from infra.observability.spans import Span, SpanLink, SpanStatus, Trace

Json = Mapping[str, Any]

_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUSES: tuple[SpanStatus, ...] = ("unset", "ok", "error")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Name = TypeVar("Name", bound=str)


def traces_of(document: Json) -> list[Trace]:
    """Every trace with spans in an OTLP JSON document, in order of first appearance."""
    spans: dict[str, list[Span]] = {}
    for span in _spans(document.get("resourceSpans", [])):
        spans.setdefault(span.trace_id, []).append(span)
    return [Trace(trace_id, tuple(found)) for trace_id, found in spans.items()]


def _spans(resource_spans: list[Json]) -> Iterator[Span]:
    for resource_span in resource_spans:
        resource = attributes_of(resource_span.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", "unknown"))
        for scope_span in resource_span.get("scopeSpans", []):
            for span in scope_span.get("spans", []):
                yield span_of(span, service)


def span_of(span: Json, service: str) -> Span:
    """One OTLP JSON span of the service `service`."""
    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    return Span(
        trace_id=span["traceId"].lower(),
        span_id=span["spanId"].lower(),
        parent_span_id=span.get("parentSpanId", "").lower() or None,
        name=span.get("name", ""),
        service=service,
        kind=_enum(span.get("kind", 0), _KINDS, "SPAN_KIND_"),
        start=_EPOCH + timedelta(microseconds=start // 1_000),
        duration_ms=(end - start) / 1_000_000,
        status=_enum(span.get("status", {}).get("code", 0), _STATUSES, "STATUS_CODE_"),
        attributes=attributes_of(span.get("attributes", [])),
        links=tuple(
            SpanLink(link["traceId"].lower(), link["spanId"].lower())
            for link in span.get("links", [])
        ),
    )


def attributes_of(pairs: list[Json]) -> dict[str, object]:
    """OTLP `KeyValue`s as a plain dict."""
    return {pair["key"]: _value(pair.get("value", {})) for pair in pairs}


def _value(value: Json) -> object:
    """One `AnyValue`: its only field, decoded; an empty one is None."""
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes_of(value["kvlistValue"].get("values", []))
    for kind in ("stringValue", "boolValue", "bytesValue"):
        if kind in value:
            return value[kind]
    return None


def _enum(code: int | str, names: tuple[Name, ...], prefix: str) -> Name:
    """An enum written as its number or as its protobuf name (`SPAN_KIND_SERVER`)."""
    if isinstance(code, int):
        return names[code] if 0 <= code < len(names) else names[0]
    name = code.removeprefix(prefix).lower()
    return next((known for known in names if known == name), names[0])
