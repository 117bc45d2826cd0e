"""Default hooks: which route class a request belongs to, and which client sent it."""

from __future__ import annotations

import re

from starlette.requests import Request

from infra.security.auth import principal_or_none
from infra.settings import RouteClass

_READ_METHODS = frozenset({"GET", "HEAD"})
# The event history: the global log, its stream and export, and one aggregate's own history.
_HISTORY = re.compile(r"^/v1/(events|history)(/|$)|^/v1/[^/]+/[^/]+/(events|history)(/|$)")


def classify_request(request: Request) -> RouteClass | None:
    """`/v1/admin/…` admin; event history; other reads queries; other writes commands."""
    path = request.url.path
    if not path.startswith("/v1/"):
        return None  # Health, readiness, metrics and docs are never limited.
    if path.startswith("/v1/admin/"):
        return "admin"
    if _HISTORY.match(path):
        return "history"
    return "queries" if request.method in _READ_METHODS else "commands"


async def principal_client_id(request: Request) -> str | None:
    """The client id of a request's valid bearer token; None when anonymous or invalid.

    The limiter runs before routing, so it authenticates the token itself; the
    authenticator remembers the verdict, and the route's own check is then a cache hit.
    """
    principal = await principal_or_none(request)
    return principal.client_id if principal is not None else None
