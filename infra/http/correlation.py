"""`X-Correlation-Id`: accepted from the client or generated, logged, and echoed back."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from starlette.types import Receive, Scope, Send

from infra.http.middleware import Header, ResponseHeadersMiddleware
from infra.runtime.process import correlation_id_var

HEADER = "x-correlation-id"


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
        token = correlation_id_var.set(str(correlation_id))
        try:
            await super().handle(scope, receive, send)
        finally:
            correlation_id_var.reset(token)

    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """The correlation id, echoed back."""
        return [(HEADER.encode(), str(scope["state"]["correlation_id"]).encode())]
