"""`X-Consistency` on every response of a request that judged a view's freshness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from query_api.consistency.tokens import CONSISTENCY_HEADER, Freshness

_STATE_KEY = "consistency"


def record_freshness(request: Request, freshness: Freshness) -> None:
    """Remember the verdict; the middleware puts it on the response, errors included."""
    request.state.consistency = freshness


class ConsistencyHeaderMiddleware:
    """Adds `X-Consistency: fresh|stale` when the request recorded a verdict."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            freshness = scope.get("state", {}).get(_STATE_KEY)
            if message["type"] == "http.response.start" and freshness is not None:
                message["headers"] = [
                    *message.get("headers", []),
                    (CONSISTENCY_HEADER.lower().encode(), str(freshness).encode()),
                ]
            await send(message)

        await self._app(scope, receive, send_with_header)
