"""`X-Correlation-Id`: accepted from the client or generated, logged, and echoed back.

The request's server span is tagged with it (`ledger.correlation_id`), so a trace can be
found from the id a client holds; and the answer names the request's trace in a
`traceresponse` header (W3C Trace Context Level 2), so a client that sent no
`traceparent` can open the trace its command started.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from opentelemetry import trace
from starlette.types import Receive, Scope, Send

from infra.http.middleware import Header, ResponseHeadersMiddleware
from infra.runtime.process import correlation_id_var
from infra.runtime.tracing import CORRELATION_ATTRIBUTE, current_traceparent

HEADER = "x-correlation-id"
TRACE_RESPONSE_HEADER = "traceresponse"


def parse_correlation_id(raw: str | None) -> UUID:
    """The client's id when it is a UUID, else a fresh one (a bad id must not fail a command)."""
    if raw:
        try:
            return UUID(raw)
        except ValueError:
            pass
    return uuid4()


class CorrelationIdMiddleware(ResponseHeadersMiddleware):
    """Puts the request's correlation id in `scope["state"]`, the log context and the response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the request's correlation id known (and logged) throughout."""
        raw = dict(scope["headers"]).get(HEADER.encode())
        correlation_id = parse_correlation_id(raw.decode("latin-1") if raw else None)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        trace.get_current_span().set_attribute(CORRELATION_ATTRIBUTE, str(correlation_id))
        token = correlation_id_var.set(str(correlation_id))
        try:
            await super().handle(scope, receive, send)
        finally:
            correlation_id_var.reset(token)

    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """The correlation id, echoed back, and the request's trace when it has one."""
        extra = [(HEADER.encode(), str(scope["state"]["correlation_id"]).encode())]
        traceparent = current_traceparent()
        if traceparent is not None:
            extra.append((TRACE_RESPONSE_HEADER.encode(), traceparent.encode()))
        return extra
