"""The read store's client, configured once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern

from infra.settings import MongodbSettings

log = logging.getLogger(__name__)

# An offset is committed only after the write it covers is durable: journaled, majority.
DURABLE = WriteConcern(w="majority", j=True)


def make_client(settings: MongodbSettings) -> AsyncMongoClient[dict[str, Any]]:
    """A client for the read store (it connects lazily, on first use)."""
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        uuidRepresentation="standard",
    )


def read_models(
    client: AsyncMongoClient[dict[str, Any]], settings: MongodbSettings
) -> AsyncDatabase[dict[str, Any]]:
    """The database holding every read model, with durable writes."""
    return client.get_database(settings.database, write_concern=DURABLE)


async def create_missing_indexes(
    collection: AsyncCollection[dict[str, Any]], indexes: Sequence[IndexModel]
) -> None:
    """Create each index unless it exists, one command per index.

    One command each: FerretDB v1 drops the connection on a `createIndexes` naming several
    indexes that all exist already (a panic in its handler), and an index that exists
    with other options fails alone (logged, the others are still created).
    """
    for index in indexes:
        try:
            await collection.create_indexes([index])
        except OperationFailure as error:
            log.warning("index %s on %s not created: %s", index.document, collection.name, error)
