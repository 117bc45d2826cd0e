"""Queries on the `accounts` and `account_statements` read models."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from uuid import UUID

from query_api.cursors import query_scope
from query_api.views.pages import Keyset, PagedQuery, PageRequest, paged_query
from query_api.views.served import ACCOUNTS, STATEMENTS, Document, ReadStore

# Accounts by id: each filter has an index `(<filter>, _id)`.
ACCOUNT_ORDER = Keyset(("_id",), (str,))
# Newest movement first; `(account_id, occurred_at, version)` is indexed and the version is
# unique within one account, so it breaks ties between lines of the same instant.
STATEMENT_ORDER = Keyset(("occurred_at", "version"), (datetime, int), descending=True)


@dataclass(frozen=True)
class AccountFilters:
    """Which accounts to list; None means any."""

    owner_id: UUID | None = None
    status: str | None = None
    currency: str | None = None

    def query(self) -> Document:
        """The MongoDB filter."""
        return {name: str(value) for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Period:
    """A half-open time range `[start, end)`; None leaves that side open."""

    start: datetime | None = None
    end: datetime | None = None

    def query(self) -> Document:
        """The MongoDB condition on a date field (empty when unbounded)."""
        bounds: Document = {}
        if self.start is not None:
            bounds["$gte"] = self.start
        if self.end is not None:
            bounds["$lt"] = self.end
        return bounds


def statement_line_id(account_id: UUID, version: int) -> str:
    """The `_id` of the statement line of an account's movement at `version`."""
    return f"{account_id}:{version:010d}"


async def find_account(store: ReadStore, account_id: UUID) -> Document | None:
    """One account's summary document."""
    return await (await store.collection(ACCOUNTS)).find_one({"_id": str(account_id)})


def account_list(filters: AccountFilters, page: PageRequest) -> PagedQuery:
    """Accounts matching the filters, by id."""
    scope = query_scope("accounts", asdict(filters))
    return paged_query(ACCOUNTS, filters.query(), ACCOUNT_ORDER, page, scope)


def statement(account_id: UUID, period: Period, page: PageRequest) -> PagedQuery:
    """An account's statement lines in `period`, newest first."""
    scope = query_scope("statement", {"account_id": account_id, **asdict(period)})
    query: Document = {"account_id": str(account_id)}
    if bounds := period.query():
        query["occurred_at"] = bounds
    return paged_query(STATEMENTS, query, STATEMENT_ORDER, page, scope)
