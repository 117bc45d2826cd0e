"""`X-Correlation-Id`: accepted from the client or generated, logged, and echoed back."""

from __future__ import annotations

from uuid import UUID, uuid4

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class CorrelationIdMiddleware:
    """Puts the request's correlation id in `scope["state"]`, the log context and the response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw = headers.get(HEADER.encode())
        correlation_id = parse_correlation_id(raw.decode("latin-1") if raw else None)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        token = correlation_id_var.set(str(correlation_id))

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (HEADER.encode(), str(correlation_id).encode()),
                ]
            await send(message)

        try:
            await self._app(scope, receive, send_with_header)
        finally:
            correlation_id_var.reset(token)
