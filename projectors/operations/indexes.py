"""The indexes readers use on each projection's documents, by projection name.

They belong to the read models, not to any one reader: the query API creates them on the
live builds at start-up, and a rebuild creates them on its new build before the switch.
The contract is docs/read-models.md, plus `(day, currency)` for daily volume without a
currency filter.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel


def _index(*fields: str, unique: bool = False) -> IndexModel:
    return IndexModel([(field, ASCENDING) for field in fields], unique=unique)


SERVING_INDEXES: dict[str, list[IndexModel]] = {
    "accounts": [
        _index("owner_id", "_id"),
        _index("status", "_id"),
        _index("currency", "_id"),
    ],
    "account_statements": [
        _index("account_id", "version", unique=True),
        _index("account_id", "occurred_at", "version"),
    ],
    "transfers": [
        _index("source_account_id", "requested_at"),
        _index("target_account_id", "requested_at"),
    ],
    "daily_volume": [_index("currency", "day"), _index("day", "currency")],
}


def serving_indexes(name: str) -> list[IndexModel]:
    """The indexes readers need on a build of projection `name` (none if it has none)."""
    return SERVING_INDEXES.get(name, [])
