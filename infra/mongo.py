"""The read store's client, configured once."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.write_concern import WriteConcern

from infra.settings import MongodbSettings

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
