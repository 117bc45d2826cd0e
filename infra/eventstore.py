"""Wiring of the `eventsourcing` PostgreSQL event store, and reading its log as envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import PostgresTrackingRecorder

from domain.ledger import Ledger
from infra.settings import Settings
from projectors.envelope import EventEnvelope

# The library names its tables after the application: `ledger_events`, `ledger_snapshots`.
EVENTS_TABLE = f"{Ledger.name.lower()}_events"
# The library NOTIFYs a channel named after the events table on every append.
NOTIFY_CHANNEL = EVENTS_TABLE.replace(".", "_")

AGGREGATE_CACHE_SIZE = 10_000

_METADATA_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "event_id",
        "correlation_id",
        "causation_id",
    }
)


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
            "infra.group_commit:GroupCommitRecorder"
            if settings.postgres.group_commit
            else "infra.group_commit:SingleCommitRecorder"
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
    from infra.history import MIGRATIONS

    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        for statement in MIGRATIONS:
            conn.execute(statement)


def envelope_from(notification: Notification, mapper: Mapper[UUID]) -> EventEnvelope:
    """Decode a notification (upcasting old shapes) into an envelope."""
    event = mapper.to_domain_event(notification)
    state: dict[str, Any] = dict(vars(event))
    return EventEnvelope(
        event_id=_as_uuid(state.get("event_id")) or UUID(int=notification.id),
        event_type=type(event).__name__,
        aggregate_id=UUID(str(notification.originator_id)),
        aggregate_version=notification.originator_version,
        position=notification.id,
        occurred_at=state["timestamp"],
        schema_version=int(getattr(type(event), "class_version", 1)),
        correlation_id=_as_uuid(state.get("correlation_id")),
        causation_id=_as_uuid(state.get("causation_id")),
        data={
            name: _json_native(value)
            for name, value in state.items()
            if name not in _METADATA_FIELDS and not name.startswith("_")
        },
    )


def _as_uuid(value: object) -> UUID | None:
    if value is None:
        return None
    return value if isinstance(value, UUID) else UUID(str(value))


def _json_native(value: object) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return _json_native(value.value)
    if isinstance(value, Mapping):
        return {str(key): _json_native(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_native(item) for item in value]
    return value
