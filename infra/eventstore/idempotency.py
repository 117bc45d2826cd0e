"""Idempotent commands: an `Idempotency-Key` makes a retried command return its first outcome.

A successful command's outcome is stored by the group-commit recorder in the same
transaction as its events; a refused command's outcome goes through the same recorder
with no events. Either way the key is checked and claimed under the event store's table
lock, so of many concurrent requests with one key exactly one is carried out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore

CREATE_IDEMPOTENCY_TABLE = """
CREATE TABLE IF NOT EXISTS command_idempotency (
    key text PRIMARY KEY,
    fingerprint text NOT NULL,
    status integer NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
)"""

MAX_KEY_LENGTH = 255


class DuplicateIdempotencyKeyError(Exception):
    """Another request with this key was recorded first; its outcome stands."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} is already recorded")
        self.key = key


@dataclass(frozen=True)
class IdempotencyRecord:
    """The outcome of one command, to be stored under its key."""

    key: str
    fingerprint: str
    status: int
    body: dict[str, Any]
    ttl_seconds: int
    fill_outcome: bool = True

    def body_for(self, aggregate_id: str, version: int, position: int) -> dict[str, Any]:
        """The body to store: a success learns its version and position only as it is recorded."""
        if not self.fill_outcome:
            return dict(self.body)
        return {**self.body, "aggregate_id": aggregate_id, "version": version, "position": position}


@dataclass(frozen=True)
class StoredOutcome:
    """An outcome read back for a retried request."""

    fingerprint: str
    status: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: Any) -> str:
    """Identifies "the same request": method, path and the body's canonical JSON."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """Reads stored outcomes and purges expired ones (writes go through the recorder)."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def find(self, key: str) -> StoredOutcome | None:
        """The unexpired outcome stored under `key`, if any."""
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT fingerprint, status, body FROM command_idempotency "
                "WHERE key = %s AND expires_at > now()",
                (key,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return StoredOutcome(row["fingerprint"], row["status"], row["body"])

    def purge_expired(self) -> int:
        """Delete expired outcomes; returns how many."""
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute("DELETE FROM command_idempotency WHERE expires_at <= now()")
            return cursor.rowcount
