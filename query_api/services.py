"""The read side's services: what the views read through, opened and closed as one.

`open_read_services` opens them in order and registers each one's closing as soon as it
is open, on one `AsyncExitStack`: a start-up that fails half-way closes what it had
already opened, and a shutdown closes everything in reverse order (the background tasks
first, then the stores they use).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from infra.eventstore.history import EventHistory, LogListener, open_history
from infra.eventstore.reader import EventStoreReader, relay_checkpoint_name
from infra.messaging.partition_ends import PartitionEnds
from infra.messaging.read_side_news import follow_news
from infra.readstore.client import close_client, make_client, read_models
from infra.runtime.tasks import cancel_and_wait
from infra.settings import QueryApiSettings, Settings
from projectors.engine.routing import routing_topic
from projectors.operations.catalog import Build, CachedCatalog, ProjectionCatalog
from query_api.consistency.read_side import ReadSideProbe
from query_api.consistency.service import Consistency
from query_api.consistency.watcher import ConsistencyWatcher
from query_api.views.indexes import ensure_indexes
from query_api.views.served import SERVED, ReadStore

log = logging.getLogger(__name__)

# The build to read while a projection has no catalog entry yet (before any projector ran).
FIRST_BUILDS = {served.name: Build(served.name, served.version) for served in SERVED}

INDEX_START_UP_SECONDS = 3.0
INDEX_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class ReadServices:
    """Everything the read routes use, open for the life of the process."""

    settings: QueryApiSettings
    read_store: ReadStore
    event_store: EventStoreReader
    watcher: ConsistencyWatcher
    consistency: Consistency
    history: EventHistory
    log_listener: LogListener


@asynccontextmanager
async def open_read_services(settings: Settings) -> AsyncIterator[ReadServices]:
    """Open the event store's pools, then the read store; close them all on exit.

    Nothing here waits for a server: the API starts (and says it is not ready) while a
    store is down. A setting that cannot work (a database name MongoDB refuses) fails
    the start-up, after closing what was already open.
    """
    async with AsyncExitStack() as stack:
        events = EventStoreReader.for_settings(settings)
        stack.push_async_callback(events.close)
        await events.open()
        history = await stack.enter_async_context(open_history(settings))
        listener = LogListener(settings.postgres.url.get_secret_value())
        stack.push_async_callback(listener.stop)  # it starts with the first follower
        database = _read_models(stack, settings)
        store = ReadStore(database, CachedCatalog(ProjectionCatalog(database), FIRST_BUILDS))
        if not await _indexes_created(store):
            _in_background(stack, _retry_indexes(store), "ensure-indexes")
        watcher = ConsistencyWatcher(
            _probe(stack, settings, database, events),
            interval_seconds=settings.query.consistency_fallback_seconds,
        )
        _in_background(stack, watcher.run(), "consistency-watcher")
        _in_background(stack, follow_news(settings, watcher.announce), "read-side-news")
        timeout = settings.query.consistency_timeout_seconds
        yield ReadServices(
            settings=settings.query,
            read_store=store,
            event_store=events,
            watcher=watcher,
            consistency=Consistency(watcher, events, timeout, store),
            history=history,
            log_listener=listener,
        )


def _read_models(stack: AsyncExitStack, settings: Settings) -> AsyncDatabase[dict[str, Any]]:
    client = make_client(settings.mongodb)
    stack.push_async_callback(close_client, client)
    return read_models(client, settings.mongodb)


def _probe(
    stack: AsyncExitStack,
    settings: Settings,
    database: AsyncDatabase[dict[str, Any]],
    events: EventStoreReader,
) -> ReadSideProbe:
    """What the consistency watcher looks at: read models, relay, both topics' ends."""
    partition_ends = PartitionEnds(settings.kafka)
    stack.push_async_callback(partition_ends.close)
    routing = settings.kafka.model_copy(update={"topic": routing_topic(settings.kafka.topic)})
    routing_ends = PartitionEnds(routing)
    stack.push_async_callback(routing_ends.close)
    return ReadSideProbe(
        database, events, partition_ends, relay_checkpoint_name(settings), routing_ends
    )


def _in_background(stack: AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    """Run `work` as a task, cancelled when the stack closes (see `cancel_and_wait`)."""
    task = asyncio.create_task(work, name=name)
    stack.push_async_callback(cancel_and_wait, task)


async def _indexes_created(store: ReadStore) -> bool:
    """Create the indexes now; False if the read store does not answer soon."""
    try:
        async with asyncio.timeout(INDEX_START_UP_SECONDS):
            await ensure_indexes(store)
    except (ConnectionFailure, TimeoutError) as error:
        log.warning("read store unavailable at start-up (%r); will create indexes later", error)
        return False
    return True


async def _retry_indexes(store: ReadStore) -> None:
    while True:
        await asyncio.sleep(INDEX_RETRY_SECONDS)
        try:
            await ensure_indexes(store)
        except ConnectionFailure:
            continue
        log.info("read-model indexes created")
        return
