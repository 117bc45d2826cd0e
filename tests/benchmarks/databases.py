"""A fresh PostgreSQL database per benchmark run, and what its event table says afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
from psycopg import sql

from infra.eventstore.schema import EVENTS_TABLE
from tests.conftest import drop_database

DATABASE_PREFIX = "ledger_bench_"


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def database_name(url: str) -> str:
    """The database a URL points at."""
    return urlsplit(url).path.strip("/")


@contextmanager
def fresh_database(server_url: str, purpose: str) -> Iterator[str]:
    """Create an empty database named for the run; drop it afterwards, even on Ctrl-C."""
    database = f"{DATABASE_PREFIX}{purpose}_{uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield with_database(server_url, database)
    finally:
        # Not WITH (FORCE): it cannot end an autovacuum worker (see tests/conftest.py).
        drop_database(server_url, database)


@dataclass(frozen=True)
class WriteTransactions:
    """The events appended in a stretch of the log, and how many transactions wrote them."""

    events: int
    transactions: int


def last_position(database_url: str) -> int:
    """The highest notification id in the Ledger's events table (0 when empty)."""
    with psycopg.connect(database_url) as conn:
        query = sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            sql.Identifier(EVENTS_TABLE)
        )
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def write_transactions(database_url: str, after: int, up_to: int) -> WriteTransactions:
    """Count the events in (after, up_to] and the distinct transactions (xmin) that wrote them.

    Exact and local to this database, unlike pg_stat_database, whose counters also count
    read-only transactions and reach the view only when a backend flushes its statistics.
    """
    with psycopg.connect(database_url) as conn:
        query = sql.SQL(
            "SELECT count(*), count(DISTINCT xmin::text) FROM {} "
            "WHERE notification_id > %s AND notification_id <= %s"
        ).format(sql.Identifier(EVENTS_TABLE))
        row = conn.execute(query, (after, up_to)).fetchone()
    if row is None:
        return WriteTransactions(0, 0)
    return WriteTransactions(int(row[0]), int(row[1]))
