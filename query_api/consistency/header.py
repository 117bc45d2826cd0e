"""`X-Consistency` on every response of a request that judged a view's freshness."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import Scope

from infra.http.middleware import Header, ResponseHeadersMiddleware
from query_api.consistency.tokens import CONSISTENCY_HEADER, Freshness

_STATE_KEY = "consistency"


def record_freshness(request: Request, freshness: Freshness) -> None:
    """Remember the verdict; the middleware puts it on the response, errors included."""
    request.state.consistency = freshness


class ConsistencyHeaderMiddleware(ResponseHeadersMiddleware):
    """Adds `X-Consistency: fresh|stale` when the request recorded a verdict."""

    def extra_headers(self, scope: Scope, headers: Sequence[Header]) -> list[Header]:
        """The verdict, when there is one."""
        freshness = scope.get("state", {}).get(_STATE_KEY)
        if freshness is None:
            return []
        return [(CONSISTENCY_HEADER.lower().encode(), str(freshness).encode())]
