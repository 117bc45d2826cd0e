"""Operator reads of traces: one trace's spans, or the traces of a command's correlation id.

The trace backend (Jaeger, `infra.observability`) holds them; the operators' console
draws the span tree from these answers, `ledger trace` prints it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from infra.observability.spans import Span, SpanStatus, Trace
from infra.observability.traces import TraceNotFoundError
from infra.security.auth import Scope, require_scope
from query_api.admin.problems import admin_responses
from query_api.admin.services import Traces

router = APIRouter(
    prefix="/v1/admin/traces",
    tags=["admin"],
    dependencies=[require_scope(Scope.PROJECTIONS_ADMIN)],
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_EXAMPLE: dict[str, Any] = {
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": None,
    "name": "POST /v1/accounts/{account_id}/deposits",
    "service": "ledger-command-api",
    "kind": "server",
    "start": "2026-12-03T09:00:00.120000Z",
    "duration_ms": 4.2,
    "status": "ok",
    "attributes": {
        "ledger.correlation_id": "0b9a1e6c-41e4-4a5e-9d0f-6f8f3f1d2c3b",
        "http.response.status_code": 201,
    },
    "links": [],
}


class SpanLinkOut(BaseModel):
    """A span this one follows from."""

    trace_id: str
    span_id: str


class SpanOut(BaseModel):
    """One operation of one process."""

    span_id: str
    parent_span_id: str | None = Field(description="None for a root (or a lost parent)")
    name: str
    service: str = Field(description="The process, e.g. `ledger-relay`")
    kind: str = Field(description="internal, server, client, producer, consumer")
    start: datetime
    duration_ms: float
    status: SpanStatus
    attributes: dict[str, Any]
    links: list[SpanLinkOut]

    @classmethod
    def from_span(cls, span: Span) -> SpanOut:
        """The span as the API shows it."""
        links = [SpanLinkOut(trace_id=link.trace_id, span_id=link.span_id) for link in span.links]
        return cls(
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=span.name,
            service=span.service,
            kind=span.kind,
            start=span.start,
            duration_ms=span.duration_ms,
            status=span.status,
            attributes=span.attributes,
            links=links,
        )


class TraceOut(BaseModel):
    """Every span of one trace, by start; parents by `parent_span_id`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"trace_id": TRACE_ID, "spans": [SPAN_EXAMPLE]}]}
    )

    trace_id: str
    spans: list[SpanOut]


class TraceSummaryOut(BaseModel):
    """One trace found: its first root span, when it started, how long, how many spans."""

    trace_id: str
    root_name: str
    root_service: str
    start: datetime
    duration_ms: float
    span_count: int

    @classmethod
    def from_trace(cls, trace: Trace) -> TraceSummaryOut:
        """The summary of a whole trace."""
        return cls(
            trace_id=trace.trace_id,
            root_name=trace.root.name,
            root_service=trace.root.service,
            start=trace.start,
            duration_ms=trace.duration_ms,
            span_count=len(trace.spans),
        )


class TraceList(BaseModel):
    """Traces found, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "traces": [
                        {
                            "trace_id": TRACE_ID,
                            "root_name": SPAN_EXAMPLE["name"],
                            "root_service": "ledger-command-api",
                            "start": SPAN_EXAMPLE["start"],
                            "duration_ms": 38.5,
                            "span_count": 9,
                        }
                    ]
                }
            ]
        }
    )

    traces: list[TraceSummaryOut]


TraceId = Annotated[
    str,
    Path(
        description="32 lowercase hex digits (W3C trace context)",
        pattern="^[0-9a-f]{32}$",
        examples=[TRACE_ID],
    ),
]
CorrelationId = Annotated[
    UUID, Query(description="The `X-Correlation-ID` a command was served with")
]


@router.get(
    "",
    response_model=TraceList,
    responses=admin_responses(422),
    summary="The traces of a command's correlation id",
)
async def find_traces(correlation_id: CorrelationId, traces: Traces) -> TraceList:
    """Traces whose command API span carries this correlation id, newest first (none: empty)."""
    found = await traces.find_traces(correlation_id)
    return TraceList(traces=[TraceSummaryOut.from_trace(trace) for trace in found])


@router.get(
    "/{trace_id}",
    response_model=TraceOut,
    responses=admin_responses(404, 422),
    summary="Every span of one trace",
)
async def get_trace(trace_id: TraceId, traces: Traces) -> TraceOut:
    """The trace's spans sorted by start, each with its parent, process, duration and status."""
    trace = await traces.get_trace(trace_id)
    if trace is None:
        raise TraceNotFoundError(trace_id)
    return TraceOut(trace_id=trace.trace_id, spans=[SpanOut.from_span(s) for s in trace.spans])
