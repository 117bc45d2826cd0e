"""Wiring of the `eventsourcing` PostgreSQL event store: the write side's Ledger application."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.postgres import PostgresTrackingRecorder

from domain.ledger import Ledger
from infra.eventstore.schema import MIGRATIONS
from infra.settings import Settings

AGGREGATE_CACHE_SIZE = 10_000


def library_environment(settings: Settings, *, create_tables: bool = False) -> dict[str, str]:
    """Translate our settings into the environment variables `eventsourcing` reads."""
    url = urlsplit(settings.postgres.url.get_secret_value())
    if url.scheme not in {"postgresql", "postgres"} or not url.path.strip("/"):
        raise ValueError("LEDGER_POSTGRES_URL must look like postgresql://user:pass@host:port/db")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.strip("/")),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "ledger"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(settings.postgres.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.postgres.pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # No ping before each use: it is a round trip per connection checkout, and the
        # recorders retry a statement that meets a dropped connection anyway.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "CREATE_TABLE": "y" if create_tables else "n",
        # Loads read only the events after the cached version ("fast-forward").
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
        "APPLICATION_RECORDER_TOPIC": (
            "infra.eventstore.group_commit:GroupCommitRecorder"
            if settings.postgres.group_commit
            else "infra.eventstore.group_commit:SingleCommitRecorder"
        ),
    }


def open_ledger(settings: Settings, *, create_tables: bool = False) -> Ledger:
    """The Ledger application on the configured PostgreSQL event store."""
    return Ledger(env=library_environment(settings, create_tables=create_tables))


def prepare_event_store(settings: Settings) -> None:
    """Create the library's tables once, before any worker starts.

    Several processes creating them at once race on `CREATE OR REPLACE FUNCTION`
    ("tuple concurrently updated"), so every process starts with creation off.
    """
    ledger = open_ledger(settings, create_tables=True)
    try:
        ledger.factory.tracking_recorder(PostgresTrackingRecorder)
    finally:
        ledger.close()
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        for statement in MIGRATIONS:
            conn.execute(statement)
