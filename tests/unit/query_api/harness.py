"""The query API in-process, lifespan and all, behind an httpx client (integration tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from infra.settings import Settings
from query_api.app import create_app


@asynccontextmanager
async def query_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a freshly built query API whose start-up and shutdown have run.

    These tests are about the views, so the caller is the development principal (every
    scope, every owner) and no rate limit applies; tests/e2e covers the real edge.
    """
    development = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(update={"disabled_for_development": True}),
            "ratelimit": settings.ratelimit.model_copy(update={"enabled": False}),
        }
    )
    app = create_app(development)
    async with LifespanManager(app, startup_timeout=15) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://query") as client:
            yield client
