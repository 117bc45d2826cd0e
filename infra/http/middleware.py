"""Pure ASGI middleware of HTTP requests: the pass-through of other scopes, and headers.

`HttpMiddleware` lets lifespan and websocket scopes through untouched and hands each HTTP
request to `handle`. `ResponseHeadersMiddleware` adds headers to every HTTP response,
errors included: a subclass says which (`extra_headers`), looking at the request's scope
and at the headers the response already has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Header = tuple[bytes, bytes]


class HttpMiddleware(ABC):
    """Acts on HTTP requests only (`handle`); every other scope goes straight to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (through `self._app`, or not)."""


class ResponseHeadersMiddleware(HttpMiddleware):
    """Adds `extra_headers(...)` to the start of every HTTP response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app on an HTTP request, adding the headers as its response starts."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                message["headers"] = [*headers, *self.extra_headers(scope, headers)]
            await send(message)

        await self._app(scope, receive, send_with_headers)

    @abstractmethod
    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """The headers to add to a response that already has `headers`."""
