"""The read store's client, configured once."""

from __future__ import annotations

import asyncio
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


# Connecting and finding the server have their own bound: a server that does not even
# accept the connection is not worth waiting for longer, whatever a command may take.
CONNECT_SECONDS = 5.0

# How long closing a client may wait on the server (see `close_client`).
CLOSE_SECONDS = 1.0


def make_client(
    settings: MongodbSettings, *, deadline_seconds: float | None = None
) -> AsyncMongoClient[dict[str, Any]]:
    """A client for the read store (it connects lazily, on first use) whose every call has a
    deadline: `settings.deadline_seconds`, or `deadline_seconds` when given.

    A call that gets no answer in time raises `NetworkTimeout`, a `ConnectionFailure`,
    which every caller already handles as "the read store is unavailable": the projector
    keeps its batch uncommitted and applies it again (the writes are idempotent), the query
    API answers 503 `read-store-unavailable`, `ledger` prints one line and exits 1.

    Why the socket timeout and not PyMongo's client-side operation timeout (`timeoutMS`):
    - `timeoutMS` sends `maxTimeMS` with each command. FerretDB v1 honours it in `find`,
      `aggregate` and `findAndModify` by cancelling the command inside the server, in the
      middle of its PostgreSQL query: the in-flight cancellation we once suspected of
      leaking its PostgreSQL connections (`projectors.engine.probes`). Tried here: 480
      commands cut short that way, and 1,200 by a socket timeout or an asyncio
      cancellation, all left it answering; the wedge we can reproduce is the 50-statement
      bulk (`tests/own_read_store.py`). Still, nothing is cancelled inside the server.
    - A socket timeout only makes the client stop waiting and close its connection.
      FerretDB v1 runs each connection's commands one after another and does not read the
      socket while a command runs, so it does not see the close: the command runs to its
      end and only its reply is lost (a cursor it left open is closed with the
      connection). `tests/integration/test_read_store_deadlines.py` checks that the server
      still answers after hundreds of commands abandoned that way.
    - `timeoutMS` expiring on the server raises `ExecutionTimeout`, which is not a
      `ConnectionFailure`: the query API would answer 500 where 503 is the truth.
    """
    deadline = settings.deadline_seconds if deadline_seconds is None else deadline_seconds
    deadline_ms = round(deadline * 1000)
    connect_ms = round(CONNECT_SECONDS * 1000)
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        socketTimeoutMS=deadline_ms,  # waiting for a reply
        waitQueueTimeoutMS=deadline_ms,  # waiting for a free connection of the pool
        connectTimeoutMS=connect_ms,
        serverSelectionTimeoutMS=connect_ms,
    )


async def close_client(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """Close `client`, waiting on the server at most about `CLOSE_SECONDS` twice.

    PyMongo's `close` first ends the client's sessions on the server (`endSessions`) and
    waits for the answer as long as for any call: with a read store that hangs, a process
    asked to stop waited a whole deadline (10 s), past its supervisor's grace. Ending them
    is a courtesy (the server forgets idle sessions by itself), so it gets `CLOSE_SECONDS`.
    `close` takes the sessions off the client before it sends that, so closing again after
    the cut goes straight on to dropping the connections and stopping the monitors.
    """
    for attempt in (1, 2):
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await client.close()
            return
        except TimeoutError:
            log.warning("the read store did not answer while closing (attempt %d)", attempt)


def maintenance_client(settings: MongodbSettings) -> AsyncMongoClient[dict[str, Any]]:
    """A client for rebuilds and index builds: one command may take minutes on a large
    collection, so its deadline is `settings.maintenance_deadline_seconds`."""
    return make_client(settings, deadline_seconds=settings.maintenance_deadline_seconds)


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
