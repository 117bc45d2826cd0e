"""Trace context across processes: spans continue the trace an event names, without I/O.

The SDK's in-memory exporter stands in for the OTLP one; the spans are the SDK's own.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from infra.runtime import tracing
from infra.runtime.process import JsonFormatter
from infra.runtime.tracing import (
    RequestsOnly,
    TraceContextMiddleware,
    continued,
    current_traceparent,
    export_configured,
    for_each_trace,
)

TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"
SAMPLED_A = f"00-{TRACE_A}-00f067aa0ba902b7-01"
SAMPLED_B = f"00-{TRACE_B}-b7ad6b7169203331-01"
UNSAMPLED = "00-11111111111111111111111111111111-2222222222222222-00"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, spans kept in memory (the global provider stays untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(RequestsOnly()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield exporter
    provider.shutdown()


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


@pytest.mark.parametrize(
    ("environment", "exports"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
    ],
)
def test_export_is_off_unless_the_standard_variables_ask_for_it(
    environment: dict[str, str], exports: bool
) -> None:
    assert export_configured(environment) is exports


def test_with_tracing_off_the_trace_context_is_passed_on_as_it_came() -> None:
    with continued("step", SAMPLED_A) as passed_on:
        assert passed_on == SAMPLED_A
    with continued("step", None) as passed_on:
        assert passed_on is None


def test_a_continued_span_is_a_child_of_the_event_and_passes_its_own_context_on(
    exported: InMemorySpanExporter,
) -> None:
    with continued("relay publish", SAMPLED_A, kind=SpanKind.PRODUCER) as passed_on:
        inside = current_traceparent()

    (span,) = exported.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE_A
    assert parent_of(span) == "00f067aa0ba902b7"
    assert passed_on == inside == f"00-{TRACE_A}-{span.context.span_id:016x}-01"


def test_an_unsampled_trace_stays_unsampled_downstream(exported: InMemorySpanExporter) -> None:
    with continued("step", UNSAMPLED) as passed_on:
        pass

    assert exported.get_finished_spans() == ()
    assert passed_on is not None
    assert passed_on.startswith("00-11111111111111111111111111111111-")
    assert passed_on.endswith("-00")


def test_a_batch_gets_one_span_in_each_sampled_trace_it_serves(
    exported: InMemorySpanExporter,
) -> None:
    events = [SAMPLED_A, None, SAMPLED_B, f"00-{TRACE_A}-1111111111111111-01", UNSAMPLED]

    with for_each_trace("project accounts", events):
        current = current_traceparent()

    spans = sorted(exported.get_finished_spans(), key=lambda span: span.context.trace_id)
    assert [f"{span.context.trace_id:032x}" for span in spans] == sorted([TRACE_A, TRACE_B])
    by_trace = {f"{span.context.trace_id:032x}": span for span in spans}
    first = by_trace[TRACE_A]
    assert parent_of(first) == "00f067aa0ba902b7"  # the trace's first event is the parent
    assert parent_of(by_trace[TRACE_B]) == "b7ad6b7169203331"
    assert current is not None and TRACE_A in current  # the first span is current
    assert [f"{link.context.trace_id:032x}" for link in first.links] == [TRACE_B]
    assert first.start_time == pytest.approx(by_trace[TRACE_B].start_time, abs=5e7)


def test_a_failed_batch_marks_every_trace_it_served(exported: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), for_each_trace("project accounts", [SAMPLED_A, SAMPLED_B]):
        raise RuntimeError("read store refused")

    spans = exported.get_finished_spans()
    assert len(spans) == 2
    assert all(not span.status.is_ok for span in spans)


def test_only_requests_start_traces(exported: InMemorySpanExporter) -> None:
    tracer = tracing.tracer()
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass  # a polling loop's query: no trace of its own
    with (
        tracer.start_as_current_span("POST /v1/accounts", kind=SpanKind.SERVER),
        tracer.start_as_current_span("INSERT", kind=SpanKind.CLIENT),
    ):
        pass  # the query of a request: part of its trace

    assert sorted(span.name for span in exported.get_finished_spans()) == [
        "INSERT",
        "POST /v1/accounts",
    ]


def test_log_lines_carry_the_trace_and_span_ids(exported: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("relay"))
    logger = logging.getLogger("tests.tracing")
    logger.addHandler(handler)
    try:
        with continued("relay publish", SAMPLED_A):
            span_id = trace.get_current_span().get_span_context().span_id
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)

    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["trace_id"], inside["span_id"]) == (TRACE_A, f"{span_id:016x}")
    assert "trace_id" not in outside


async def test_with_tracing_off_a_request_still_runs_in_the_clients_trace() -> None:
    async def seen(request: Request) -> PlainTextResponse:
        return PlainTextResponse(current_traceparent() or "none")

    app = TraceContextMiddleware(Starlette(routes=[Route("/", seen)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/", headers={"traceparent": SAMPLED_A})).text == SAMPLED_A
        assert (await client.get("/", headers={"traceparent": "garbage"})).text == "none"
        assert (await client.get("/")).text == "none"
