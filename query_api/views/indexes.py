"""The read models' indexes, created idempotently on the builds the query API serves."""

from __future__ import annotations

import logging

from pymongo.asynchronous.database import AsyncDatabase

from infra.readstore.client import create_missing_indexes
from projectors.operations.indexes import PROGRESS_INDEXES, serving_indexes
from query_api.views.served import PROGRESS_COLLECTION, SERVED, Document, ReadStore

log = logging.getLogger(__name__)


async def ensure_indexes(store: ReadStore) -> None:
    """Create any missing index on the live builds; one made with other options is left."""
    database = store.database
    wanted = {PROGRESS_COLLECTION: PROGRESS_INDEXES}
    for served in SERVED:
        wanted[(await store.live(served)).collection] = serving_indexes(served.name)
    for collection, indexes in wanted.items():
        await create_missing_indexes(database[collection], indexes)


async def prepare_build(database: AsyncDatabase[Document], name: str, collection: str) -> None:
    """Give a new build of projection `name` the indexes readers need (before its switch)."""
    await create_missing_indexes(database[collection], serving_indexes(name))
