"""Keyset pagination: a page starts strictly after the previous page's last sort key.

Never skip/offset: an insert between two page reads cannot shift later pages, so no item
is repeated or skipped; items inserted before the cursor's key are simply not seen.
Every sort key ends in a field that is unique within the query (`_id`, or a line's
version within one account), so the order is total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from query_api.cursors import KeyShape, KeyValue, decode_cursor, encode_cursor
from query_api.views.served import Document, ReadStore, ServedProjection


@dataclass(frozen=True)
class PageRequest:
    """How many items, and where to continue from."""

    limit: int
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    """Some documents, and the cursor of the next page (None on the last page)."""

    documents: list[Document]
    next_cursor: str | None


@dataclass(frozen=True)
class Keyset:
    """A list's order: the fields of its sort key, all ascending or all descending."""

    fields: tuple[str, ...]
    shape: KeyShape
    descending: bool = False

    def sort(self) -> list[tuple[str, int]]:
        """The `sort` argument of the query."""
        direction = -1 if self.descending else 1
        return [(field, direction) for field in self.fields]

    def after(self, key: Sequence[KeyValue]) -> Document:
        """A filter matching exactly the items that sort after `key`."""
        beyond = "$lt" if self.descending else "$gt"
        branches: list[Document] = []
        for depth, field in enumerate(self.fields):
            branch: Document = {self.fields[i]: key[i] for i in range(depth)}
            branch[field] = {beyond: key[depth]}
            branches.append(branch)
        return branches[0] if len(branches) == 1 else {"$or": branches}

    def key_of(self, document: Mapping[str, Any]) -> tuple[KeyValue, ...]:
        """The sort key of a document."""
        return tuple(document[field] for field in self.fields)


@dataclass(frozen=True)
class PagedQuery:
    """A page's query, its cursor already checked: build it before waiting, read it after."""

    served: ServedProjection
    query: Document
    order: Keyset
    limit: int
    scope: str

    async def read(self, store: ReadStore) -> Page:
        """The page: at most `limit` documents in order, and the next page's cursor."""
        # One extra document says whether another page exists without a count.
        collection = await store.collection(self.served)
        cursor = collection.find(self.query).sort(self.order.sort())
        documents = await cursor.to_list(self.limit + 1)
        if len(documents) <= self.limit:
            return Page(documents, None)
        shown = documents[: self.limit]
        return Page(shown, encode_cursor(self.order.key_of(shown[-1]), self.scope))


def paged_query(
    served: ServedProjection, query: Document, order: Keyset, page: PageRequest, scope: str
) -> PagedQuery:
    """`query` in `order`, after the cursor's key if there is one (`InvalidCursorError`)."""
    if page.cursor is not None:
        after = order.after(decode_cursor(page.cursor, scope, order.shape))
        query = conjunction(query, after)
    return PagedQuery(served, query, order, page.limit, scope)


def conjunction(query: Document, more: Document) -> Document:
    """Both filters, as one document where their fields do not overlap.

    The same filter as `{"$and": [query, more]}`, but FerretDB v1 passes on to PostgreSQL
    only a document's top-level equalities, and none under `$and`: the `$and` form made
    every later page read the whole collection, the merged one reads the documents of the
    query's equality (`owner_id`, `account_id`) through its index (ADR 0010).
    """
    if query.keys() & more.keys():
        return {"$and": [query, more]}
    return {**query, **more}
