"""The query API: read-only views over the MongoDB read models."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from infra.eventstore.history import LogListener, open_history
from infra.eventstore.reader import EventStoreReader, relay_checkpoint_name
from infra.http.edge import install_edge
from infra.messaging.partition_ends import PartitionEnds
from infra.problems import install_problem_handlers
from infra.readstore.client import make_client, read_models
from infra.security.auth import TokenVerifier
from infra.security.ratelimit import RateLimiter
from infra.settings import Settings
from projectors.engine.routing import routing_topic
from projectors.operations.catalog import Build, CachedCatalog, ProjectionCatalog
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS
from query_api.consistency.header import ConsistencyHeaderMiddleware
from query_api.consistency.read_side import ReadSideProbe
from query_api.consistency.service import Consistency
from query_api.consistency.watcher import ConsistencyWatcher
from query_api.problems import install_query_problems
from query_api.rebuild_tasks import Rebuilds
from query_api.routes import accounts, admin, health, owners, stats, transfers
from query_api.routes import history as history_routes
from query_api.views.indexes import ensure_indexes
from query_api.views.served import SERVED, ReadStore

log = logging.getLogger(__name__)

# The build to read while a projection has no catalog entry yet (before any projector ran).
FIRST_BUILDS = {served.name: Build(served.name, served.version) for served in SERVED}

INDEX_START_UP_SECONDS = 3.0
INDEX_RETRY_SECONDS = 5.0

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


def create_app(
    settings: Settings,
    *,
    verifier: TokenVerifier | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """Build the query API; it connects to the read store and the event store on start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = make_client(settings.mongodb)
        database = read_models(client, settings.mongodb)
        events = EventStoreReader.for_settings(settings)
        partition_ends = PartitionEnds(settings.kafka)
        routing_ends = PartitionEnds(
            settings.kafka.model_copy(update={"topic": routing_topic(settings.kafka.topic)})
        )
        await events.open()
        store = ReadStore(database, CachedCatalog(ProjectionCatalog(database), FIRST_BUILDS))
        indexing = await _prepare_indexes(store)
        probe = ReadSideProbe(
            database, events, partition_ends, relay_checkpoint_name(settings), routing_ends
        )
        watcher = ConsistencyWatcher(probe)
        watching = asyncio.create_task(watcher.run(), name="consistency-watcher")
        app.state.read_store = store
        app.state.event_store = events
        app.state.watcher = watcher
        app.state.consistency = Consistency(
            watcher, events, settings.query.consistency_timeout_seconds, store
        )
        app.state.query_settings = settings.query
        listener = LogListener(settings.postgres.url.get_secret_value())
        app.state.log_listener = listener
        history = open_history(settings)
        app.state.history = await history.__aenter__()
        operations = ProjectionOperations(settings, database, PROJECTIONS)
        rebuilds = Rebuilds(operations, app.state.history)
        app.state.projection_operations = operations
        app.state.rebuilds = rebuilds
        try:
            yield
        finally:
            await rebuilds.close()  # before the stores it reads and writes close
            await listener.stop()
            await history.__aexit__(None, None, None)
            for task in (watching, indexing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await partition_ends.close()
            await routing_ends.close()
            await events.close()
            await client.close()

    app = FastAPI(title="Ledger query API", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_problem_handlers(app)
    install_query_problems(app)
    app.add_middleware(ConsistencyHeaderMiddleware)
    install_edge(app, settings, "query-api", verifier=verifier, limiter=limiter)
    app.include_router(health.router)
    for module in (accounts, history_routes, owners, transfers, stats, admin):
        app.include_router(module.router)
    return app


async def _prepare_indexes(store: ReadStore) -> asyncio.Task[None] | None:
    """Create the indexes now; if the read store does not answer soon, keep trying later."""
    try:
        async with asyncio.timeout(INDEX_START_UP_SECONDS):
            await ensure_indexes(store)
    except (ConnectionFailure, TimeoutError) as error:
        log.warning("read store unavailable at start-up (%r); will create indexes later", error)
        return asyncio.create_task(_retry_indexes(store), name="ensure-indexes")
    return None


async def _retry_indexes(store: ReadStore) -> None:
    while True:
        await asyncio.sleep(INDEX_RETRY_SECONDS)
        try:
            await ensure_indexes(store)
        except ConnectionFailure:
            continue
        log.info("read-model indexes created")
        return
