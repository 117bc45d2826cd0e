"""The query API: read-only views over the MongoDB read models, and the operators' endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import TypedDict

from fastapi import FastAPI

from infra.http.edge import install_edge
from infra.problems import install_problem_handlers
from infra.security.auth import TokenVerifier
from infra.security.ratelimit import RateLimiter
from infra.settings import Settings
from query_api.admin.app import include_admin
from query_api.admin.services import AdminServices, open_admin_services
from query_api.consistency.header import ConsistencyHeaderMiddleware
from query_api.console.app import include_console
from query_api.problems import install_query_problems
from query_api.routes import accounts, health, owners, stats, transfers
from query_api.routes import history as history_routes
from query_api.services import ReadServices, open_read_services

DESCRIPTION = """\
Read models of the Ledger, eventually consistent with the event store.

**Read your writes.** Every command answers with the aggregate's new `version` and the
global log `position`. Hand either back as `X-Min-Version` / `X-Min-Position` (or the
`min_version` / `min_position` query parameters) and the query waits, at most the
configured consistency timeout, until the view reflects it. `X-Consistency: fresh` says
it does; `stale` says the wait ran out and the answer is what the view had. Version
tokens work on single-aggregate views (an account, its statement, a transfer); lists,
portfolios and statistics take position tokens.

**Lists** are cursor-paginated: pass `next_cursor` back as `cursor` until it is null.
"""


class QueryApiState(TypedDict):
    """What the lifespan opened, one entry per side; every request sees it as `request.state`.

    The keys are the names the dependencies read: `query_api.deps.read_services` and
    `query_api.admin.services.admin_services`.
    """

    read_services: ReadServices
    admin_services: AdminServices


def create_app(
    settings: Settings,
    *,
    verifier: TokenVerifier | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """Build the query API; it opens its stores on start-up and closes them on shutdown."""
    app = FastAPI(
        title="Ledger query API",
        version="1",
        description=DESCRIPTION,
        lifespan=partial(_lifespan, settings),
    )
    install_problem_handlers(app)
    install_query_problems(app)
    app.add_middleware(ConsistencyHeaderMiddleware)
    install_edge(app, settings, "query-api", verifier=verifier, limiter=limiter)
    _include_read_routes(app)
    include_admin(app)
    include_console(app)
    return app


def _include_read_routes(app: FastAPI) -> None:
    app.include_router(health.router)
    for module in (accounts, history_routes, owners, transfers, stats):
        app.include_router(module.router)


@asynccontextmanager
async def _lifespan(settings: Settings, app: FastAPI) -> AsyncIterator[QueryApiState]:
    """Open the read side, then the operators' services; close them in reverse order.

    A start-up that fails part-way closes whatever had opened (each side does the same
    for its own resources).
    """
    async with AsyncExitStack() as stack:
        read_services = await stack.enter_async_context(open_read_services(settings))
        admin_services = await stack.enter_async_context(open_admin_services(settings))
        yield {"read_services": read_services, "admin_services": admin_services}
