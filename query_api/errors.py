"""What can go wrong answering a query; `problems.py` maps each to a problem type."""

from __future__ import annotations

from uuid import UUID


class QueryError(Exception):
    """Base class of every error the query API reports to clients."""


class AccountNotFoundError(QueryError):
    """The read model knows no such account."""

    def __init__(self, account_id: UUID) -> None:
        super().__init__(f"No account {account_id} is known to the read model.")
        self.account_id = account_id


class OwnerNotFoundError(QueryError):
    """The read model knows no accounts of this owner."""

    def __init__(self, owner_id: UUID) -> None:
        super().__init__(f"No portfolio of owner {owner_id} is known to the read model.")
        self.owner_id = owner_id


class TransferNotFoundError(QueryError):
    """The read model knows no such transfer."""

    def __init__(self, transfer_id: UUID) -> None:
        super().__init__(f"No transfer {transfer_id} is known to the read model.")
        self.transfer_id = transfer_id


class InvalidCursorError(QueryError):
    """A cursor we did not issue, or one issued for another query."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The cursor is not valid: {reason}. Start again without a cursor.")
        self.reason = reason


class InvalidRangeError(QueryError):
    """`from` is after `to`, or the range is wider than allowed."""


class PageSizeError(QueryError):
    """`limit` is larger than the configured maximum page size."""

    def __init__(self, limit: int, maximum: int) -> None:
        super().__init__(f"limit is {limit}; at most {maximum} items fit on a page.")
        self.limit = limit
        self.maximum = maximum


class AsOfPointError(QueryError):
    """`as-of` names its point in time by exactly one of a version and a moment."""


class ConsistencyTokenError(QueryError):
    """A consistency token that this view cannot honour, or two of them at once."""


class UnknownEventTypeFilterError(QueryError):
    """A `type` filter names an event type the ledger does not record."""


class HistoryNotFoundError(QueryError):
    """No events (yet, or at that moment) for this account."""

    def __init__(self, account_id: UUID) -> None:
        super().__init__(f"Account {account_id} has no recorded history at that point.")
        self.account_id = account_id
