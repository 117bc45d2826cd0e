"""Reading documents by `_id` as index lookups, on FerretDB v1 as on MongoDB.

FerretDB v1 passes a filter on to PostgreSQL only where it is an equality on a top-level
field; `{"_id": {"$in": [...]}}` (like `$or` and `$and`) reaches PostgreSQL as no filter at
all, so it reads every document of the collection and filters them itself: its cost grows
with the collection. One `{"_id": key}` per document is an index lookup on both servers
(ADR 0010), so a batch costs what its own documents cost, whatever the collection holds.
The same goes for deleting documents by `_id`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
T = TypeVar("T")

MAX_CONCURRENT_LOOKUPS = 8
"""Lookups in flight per call: enough to hide round trips, few enough to leave the server's
connections to the other callers (FerretDB holds a PostgreSQL connection per command)."""


async def find_by_ids(
    collection: AsyncCollection[Document],
    ids: Iterable[Any],
    projection: Mapping[str, Any] | None = None,
) -> list[Document]:
    """The documents whose `_id` is one of `ids` (each once; missing ones left out)."""

    async def lookup(key: Any) -> Document | None:
        return await collection.find_one({"_id": key}, projection)

    return [document for document in await _each(ids, lookup) if document is not None]


async def delete_by_ids(collection: AsyncCollection[Document], ids: Iterable[Any]) -> int:
    """Delete the documents whose `_id` is one of `ids`; how many there were."""

    async def delete(key: Any) -> int:
        return (await collection.delete_one({"_id": key})).deleted_count

    return sum(await _each(ids, delete))


async def _each(ids: Iterable[Any], call: Callable[[Any], Awaitable[T]]) -> list[T]:
    """`call` for each distinct id, `MAX_CONCURRENT_LOOKUPS` at a time."""
    gate = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)

    async def gated(key: Any) -> T:
        async with gate:
            return await call(key)

    return list(await asyncio.gather(*(gated(key) for key in dict.fromkeys(ids))))
