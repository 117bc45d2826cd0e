"""The query API: read-only views over the MongoDB read models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from infra.http_problems import install_problem_handlers
from infra.mongo import make_client, read_models
from infra.settings import Settings
from query_api.routes import accounts, health


def create_app(settings: Settings) -> FastAPI:
    """Build the query API; it connects to the read store on start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = make_client(settings.mongodb)
        app.state.read_models = read_models(client, settings.mongodb)
        try:
            yield
        finally:
            await client.close()

    app = FastAPI(
        title="Ledger query API",
        version="1",
        description="Read models of the Ledger, eventually consistent with the event store.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(accounts.router)
    return app
