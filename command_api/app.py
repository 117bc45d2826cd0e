"""The command API: validates commands and appends their events to the event store."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from command_api.execution import CommandRunner
from command_api.problems import install_domain_problems
from command_api.routes import accounts, health, transfers
from domain.ledger import Ledger
from infra.eventstore.idempotency import IdempotencyStore
from infra.eventstore.library import open_ledger
from infra.http.body_limit import BodySizeLimitMiddleware
from infra.http.edge import install_edge
from infra.problems import install_problem_handlers
from infra.security.auth import TokenVerifier
from infra.security.ratelimit import RateLimiter
from infra.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
PURGE_INTERVAL_SECONDS = 600.0


def create_app(
    settings: Settings,
    ledger: Ledger | None = None,
    *,
    verifier: TokenVerifier | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """Build the command API; it opens the event store on start-up unless given a Ledger."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ledger is None
        application = (
            ledger if ledger is not None else await run_in_threadpool(open_ledger, settings)
        )
        store = IdempotencyStore(application.recorder.datastore)  # type: ignore[attr-defined]
        app.state.ledger = application
        app.state.runner = CommandRunner(
            application, store, settings.postgres.idempotency_ttl_seconds
        )
        stop = threading.Event()
        purger = threading.Thread(target=_purge_expired_keys, args=(store, stop), daemon=True)
        purger.start()
        try:
            yield
        finally:
            stop.set()
            if owned:
                application.close()

    app = FastAPI(
        title="Ledger command API",
        version="1",
        description=(
            "Commands on the Ledger. Each success appends events to the event store and "
            "answers with the aggregate id, its new version (also the ETag) and the global "
            "log position, which the query API accepts as a consistency token."
        ),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    install_domain_problems(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    install_edge(app, settings, "command-api", verifier=verifier, limiter=limiter)
    app.include_router(health.router)
    app.include_router(accounts.router)
    app.include_router(transfers.router)
    return app


def _purge_expired_keys(store: IdempotencyStore, stop: threading.Event) -> None:
    while not stop.wait(PURGE_INTERVAL_SECONDS):
        try:
            purged = store.purge_expired()
        except Exception:
            log.exception("purging expired idempotency keys failed; will retry")
        else:
            if purged:
                log.info("purged %d expired idempotency keys", purged)
