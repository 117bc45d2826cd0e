"""The issuer's two tables in the event store's PostgreSQL database, created idempotently."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import psycopg
from psycopg.rows import TupleRow

Connection = psycopg.Connection[TupleRow]
Connect = Callable[[], AbstractContextManager[Connection]]
Clock = Callable[[], datetime]

# pg_advisory_xact_lock keys: one for DDL, one for signing-key changes.
SCHEMA_LOCK = 4_711_006_001
KEYS_LOCK = 4_711_006_002

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_clients (
    client_id text PRIMARY KEY,
    name text NOT NULL,
    secret_hash text NOT NULL,
    scopes text[] NOT NULL,
    owner_id uuid,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE TABLE IF NOT EXISTS auth_signing_keys (
    kid text PRIMARY KEY,
    algorithm text NOT NULL,
    public_jwk jsonb NOT NULL,
    encrypted_private_key text NOT NULL,
    created_at timestamptz NOT NULL,
    retired_at timestamptz,
    published_until timestamptz
);
"""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def connector(url: str) -> Connect:
    """Open a fresh connection per use (the CLI); the issuer passes its pool's instead."""

    def connect() -> AbstractContextManager[Connection]:
        return psycopg.connect(url, connect_timeout=5)

    return connect


def ensure_schema(connect: Connect) -> None:
    """Create the issuer's tables unless they exist; safe to run from several processes."""
    with connect() as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        connection.execute(SCHEMA)
