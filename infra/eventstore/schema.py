"""The event store's tables as our readers see them, and what we add to the library's schema.

The library names its tables after the application (`Ledger` → `ledger_events`) and
NOTIFYs a channel named after the events table on every append; a unit test holds these
names to the library's. The library's table has no time column, so we add `recorded_at`
(see docs/adr/0007-event-history-time-index.md) and an index per filter the history offers.
"""

from __future__ import annotations

from psycopg import sql

from infra.eventstore.progress import CREATE_TABLE as CREATE_PROGRESS_TABLE

EVENTS_TABLE = "ledger_events"
NOTIFY_CHANNEL = EVENTS_TABLE.replace(".", "_")

TABLE = sql.Identifier(EVENTS_TABLE)

MIGRATIONS = [
    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS recorded_at timestamptz").format(TABLE),
    sql.SQL("ALTER TABLE {} ALTER COLUMN recorded_at SET DEFAULT clock_timestamp()").format(TABLE),
    # Events recorded before the column existed get the time they carry.
    sql.SQL(
        "UPDATE {} SET recorded_at = "
        "(convert_from(state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_')::timestamptz "
        "WHERE recorded_at IS NULL"
    ).format(TABLE),
    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (recorded_at, notification_id)").format(
        sql.Identifier(f"{EVENTS_TABLE}_recorded_at_idx"), TABLE
    ),
    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (topic, notification_id)").format(
        sql.Identifier(f"{EVENTS_TABLE}_topic_idx"), TABLE
    ),
    # The projections' progress (ADR 0015), which readers may ask for before any is written.
    CREATE_PROGRESS_TABLE,
]
