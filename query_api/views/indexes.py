"""The indexes behind every filter and sort the API uses, created idempotently at start-up."""

from __future__ import annotations

import logging

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from query_api.views.pages import Document
from query_api.views.served import (
    ACCOUNTS,
    DAILY_VOLUME,
    PROGRESS_COLLECTION,
    STATEMENTS,
    TRANSFERS,
)

log = logging.getLogger(__name__)


def _index(*fields: str, unique: bool = False) -> IndexModel:
    return IndexModel([(field, ASCENDING) for field in fields], unique=unique)


# The contract's indexes (docs/read-models.md), plus `(day, currency)` for daily volume
# without a currency filter and `(projection, partition)` for the consistency checks.
INDEXES: dict[str, list[IndexModel]] = {
    ACCOUNTS.collection: [
        _index("owner_id", "_id"),
        _index("status", "_id"),
        _index("currency", "_id"),
    ],
    STATEMENTS.collection: [
        _index("account_id", "version", unique=True),
        _index("account_id", "occurred_at", "version"),
    ],
    TRANSFERS.collection: [
        _index("source_account_id", "requested_at"),
        _index("target_account_id", "requested_at"),
    ],
    DAILY_VOLUME.collection: [_index("currency", "day"), _index("day", "currency")],
    PROGRESS_COLLECTION: [_index("projection", "partition")],
}


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    """Create any missing index; one the projector made with other options is left alone."""
    for collection, indexes in INDEXES.items():
        try:
            await database[collection].create_indexes(indexes)
        except OperationFailure:
            # Some index exists with the same keys but other options (e.g. made by a
            # projector): keep theirs, and create the others one by one.
            for index in indexes:
                await _create_one(database, collection, index)


async def _create_one(
    database: AsyncDatabase[Document], collection: str, index: IndexModel
) -> None:
    try:
        await database[collection].create_indexes([index])
    except OperationFailure as error:
        log.warning("index %s on %s not created: %s", index.document, collection, error)
