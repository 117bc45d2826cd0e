"""The read models' indexes, created idempotently on the builds the query API serves."""

from __future__ import annotations

import logging

from pymongo.asynchronous.database import AsyncDatabase

from infra.readstore.client import create_missing_indexes
from projectors.operations.indexes import serving_indexes
from query_api.views.served import SERVED, Document, ReadStore

log = logging.getLogger(__name__)


async def ensure_indexes(store: ReadStore) -> None:
    """Create any missing index on the live builds; one made with other options is left."""
    database = store.database
    for served in SERVED:
        build = await store.live(served)
        await create_missing_indexes(database[build.collection], serving_indexes(served.name))


async def prepare_build(database: AsyncDatabase[Document], name: str, collection: str) -> None:
    """Give a new build of projection `name` the indexes readers need (before its switch)."""
    await create_missing_indexes(database[collection], serving_indexes(name))
