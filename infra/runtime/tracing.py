"""OpenTelemetry traces: one trace per command, through every process its events reach.

Off by default, and then nearly free: the API's no-op tracer creates no spans, but the
W3C `traceparent` a client sends still reaches the events (so a traced client's events
name its trace) and the logs. Turned on by the standard variables: exporting starts when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, or `OTEL_TRACES_EXPORTER`
names `otlp` (OTLP over HTTP) or `console`; `OTEL_SDK_DISABLED=true` wins over both.
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER` are honoured.

How a command's trace is carried from process to process:
- the command API's server span (FastAPI instrumentation, which honours the client's
  `traceparent`) is the root; the events record its context (`domain.context.trace_scope`);
- the relay publishes each event in a span under that context, and puts the span's own
  context in the record's `ce_traceparent` header (CloudEvents distributed tracing);
- the projector applies and writes a batch under the contexts its events carry;
- the transfer process handles each event under the event's context, and the legs it
  records carry its span's context, so they continue the same trace.

Only HTTP requests start traces: the default sampler drops root spans of any other kind,
so the polling loops (the relay's page reads, the projector's progress writes) do not
leave thousands of one-span traces behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

TRACER_NAME = "ledger"
SERVICE_PREFIX = "ledger-"
# The attribute of a request's server span that names the command's correlation id: how
# a trace is found from the id a client holds (`ledger trace`, the console).
CORRELATION_ATTRIBUTE = "ledger.correlation_id"
# Probes and scrapes are not commands: their requests start no trace.
EXCLUDED_URLS = "/health,/ready,/metrics"
# A batch applied for events of many traces links at most this many of them (span links
# are kept in memory per span; a thousand would make one span heavier than the write).
MAX_LINKS = 32

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def tracing_enabled() -> bool:
    """Whether this process records and exports spans."""
    return _provider is not None


def export_configured(environment: dict[str, str] | None = None) -> bool:
    """Whether the standard `OTEL_*` variables ask for traces to be exported."""
    env = os.environ if environment is None else environment
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters:
        return exporters != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service: str) -> bool:
    """Install the SDK's tracer provider and the library instrumentations, once per process,
    when the environment asks for export; True when spans are now recorded."""
    global _provider
    if _provider is not None:
        return True
    if not export_configured():
        return False
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource

    # An explicit attribute would override OTEL_SERVICE_NAME: name the service only when
    # the environment does not.
    named = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_PREFIX + service}
    )
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(RequestsOnly())
    provider = TracerProvider(resource=Resource.create(named), sampler=sampler)
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    PsycopgInstrumentor().instrument(skip_dep_check=True)
    AIOKafkaInstrumentor().instrument()
    PymongoInstrumentor().instrument()
    log.info("tracing on: exporting spans as %s", provider.resource.attributes["service.name"])
    return True


def shutdown_tracing() -> None:
    """Export the spans still buffered (at most a few seconds), at the process's end."""
    if _provider is not None:
        _provider.shutdown()


def instrument_api(app: FastAPI) -> None:
    """Give every request of `app` a server span (when tracing is on); the client's
    `traceparent` becomes its parent."""
    if tracing_enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
        )


class TraceContextMiddleware:
    """While tracing is off: the client's `traceparent` becomes the request's context, so
    that its commands' events and its log lines name the client's trace.

    Written by hand because the instrumentation's middleware, even with the no-op tracer,
    collects a span's worth of request attributes per request, for nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside the context its `traceparent` header names, if any."""
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"traceparent":
                    parent = context_of(value.decode("latin-1"))
                    if parent is not None:
                        token = otel_context.attach(parent)
                        try:
                            await self.app(scope, receive, send)
                        finally:
                            otel_context.detach(token)
                        return
                    break
        await self.app(scope, receive, send)


def tracer() -> trace.Tracer:
    """The Ledger's own tracer (the no-op one while tracing is off)."""
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    return provider.get_tracer(TRACER_NAME)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The context a `traceparent` names (None when there is none or it is malformed)."""
    if not traceparent:
        return None
    extracted = _PROPAGATOR.extract({"traceparent": traceparent})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


@contextmanager
def local_span(name: str, *, attributes: Attributes = None) -> Iterator[trace.Span | None]:
    """A span of work inside the current trace (none, and no cost, while tracing is off)."""
    if not tracing_enabled():
        yield None
        return
    with tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span


@contextmanager
def continued(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Attributes = None,
) -> Iterator[str | None]:
    """A span continuing the trace `traceparent` names; yields the context to pass on.

    With tracing off no span is made: the same `traceparent` is passed on, so the trace
    a client started still reaches the events of the steps that follow.
    """
    if not tracing_enabled():
        yield traceparent
        return
    with tracer().start_as_current_span(
        name, context=context_of(traceparent), kind=kind, attributes=attributes
    ):
        yield current_traceparent()


@contextmanager
def for_each_trace(
    name: str, traceparents: Iterable[str | None], *, attributes: Attributes = None
) -> Iterator[None]:
    """One span per trace that work on a batch serves, all timing the same work.

    A projector writes the events of many commands in one go: each command's trace gets a
    span of that write under its own event, so every trace shows it. The first span is
    current (the read-store client's spans hang under it) and links the other traces.
    """
    parents = _distinct_sampled(traceparents) if tracing_enabled() else []
    if not parents:
        yield
        return
    links = [Link(trace.get_current_span(parent).get_span_context()) for parent in parents[1:]]
    spans = [
        tracer().start_span(
            name,
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links[:MAX_LINKS] if index == 0 else None,
        )
        for index, parent in enumerate(parents)
    ]
    try:
        with trace.use_span(spans[0]):
            yield
    except Exception as error:
        for span in spans[1:]:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, repr(error)))
        raise
    finally:
        for span in spans:
            span.end()


def _distinct_sampled(traceparents: Iterable[str | None]) -> list[otel_context.Context]:
    """The contexts of the sampled traces among `traceparents`, one per trace, in order."""
    seen: set[int] = set()
    contexts: list[otel_context.Context] = []
    for traceparent in traceparents:
        parent = context_of(traceparent)
        if parent is None:
            continue
        span_context = trace.get_current_span(parent).get_span_context()
        if span_context.trace_flags.sampled and span_context.trace_id not in seen:
            seen.add(span_context.trace_id)
            contexts.append(parent)
    return contexts


def _exporter_names(env: dict[str, str] | os._Environ[str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _exporters() -> list[SpanExporter]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporters: list[SpanExporter] = []
    for name in _exporter_names(os.environ) or ["otlp"]:
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                log.warning("OTLP protocol %r is not installed; exporting http/protobuf", protocol)
            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored", name)
    return exporters


class RequestsOnly(Sampler):
    """Samples a root span only when it serves a request (the root sampler of ParentBased:
    a span with a parent follows the parent's decision)."""

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        """Record and sample server spans; drop every other root."""
        if kind == SpanKind.SERVER:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return SamplingResult(Decision.DROP, None, trace_state)

    def get_description(self) -> str:
        """The sampler's name, as the SDK reports it."""
        return "RequestsOnly"
