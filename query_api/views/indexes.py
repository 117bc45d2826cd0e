"""The indexes behind every filter and sort the API uses, created idempotently at start-up."""

from __future__ import annotations

import logging

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from infra.mongo import create_missing_indexes
from query_api.views.served import (
    ACCOUNTS,
    DAILY_VOLUME,
    PROGRESS_COLLECTION,
    SERVED,
    STATEMENTS,
    TRANSFERS,
    Document,
    ReadStore,
)

log = logging.getLogger(__name__)


def _index(*fields: str, unique: bool = False) -> IndexModel:
    return IndexModel([(field, ASCENDING) for field in fields], unique=unique)


# The contract's indexes (docs/read-models.md) by projection, plus `(day, currency)` for
# daily volume without a currency filter and `(projection, partition)` for the
# consistency checks. A rebuild creates them on its new build before the switch.
SERVING_INDEXES: dict[str, list[IndexModel]] = {
    ACCOUNTS.name: [
        _index("owner_id", "_id"),
        _index("status", "_id"),
        _index("currency", "_id"),
    ],
    STATEMENTS.name: [
        _index("account_id", "version", unique=True),
        _index("account_id", "occurred_at", "version"),
    ],
    TRANSFERS.name: [
        _index("source_account_id", "requested_at"),
        _index("target_account_id", "requested_at"),
    ],
    DAILY_VOLUME.name: [_index("currency", "day"), _index("day", "currency")],
}
PROGRESS_INDEXES = [_index("projection", "partition")]


async def ensure_indexes(store: ReadStore) -> None:
    """Create any missing index on the live builds; one made with other options is left."""
    database = store.database
    wanted = {PROGRESS_COLLECTION: PROGRESS_INDEXES}
    for served in SERVED:
        wanted[(await store.live(served)).collection] = SERVING_INDEXES.get(served.name, [])
    for collection, indexes in wanted.items():
        await create_missing_indexes(database[collection], indexes)


async def prepare_build(database: AsyncDatabase[Document], name: str, collection: str) -> None:
    """Give a new build of projection `name` the indexes readers need (before its switch)."""
    await create_missing_indexes(database[collection], SERVING_INDEXES.get(name, []))
