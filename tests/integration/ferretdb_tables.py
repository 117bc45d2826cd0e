"""What FerretDB does in PostgreSQL, seen from PostgreSQL: its tables, plans and scan counters.

FerretDB keeps a MongoDB database as a schema of the stack's PostgreSQL database, and a
collection as a table whose name it records in the schema's `_ferretdb_database_metadata`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pymongo import AsyncMongoClient

from infra.settings import Settings

# The SQL FerretDB v1.24.2 sends for a filter of one top-level equality (`find`, `find_one`,
# and the lookup inside `update`/`replace`), as PostgreSQL's statement log shows it: the
# field and the value are both parameters of one prepared statement.
EQUALITY_SQL = "SELECT  _jsonb FROM {table} WHERE _jsonb->$1 @> $2"


async def skip_unless_ferretdb(settings: Settings) -> None:
    """These tests are about FerretDB's SQL; with real MongoDB there is none to look at."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb.url.get_secret_value()
    )
    try:
        build = await client.admin.command("buildInfo")
    finally:
        await client.close()
    if "ferretdbVersion" not in build:
        pytest.skip("the read store is not FerretDB")


def connect(stack: Settings) -> psycopg.Connection[Any]:
    """The database FerretDB keeps the read store in (the stack's own, not a test's), as
    FerretDB's role."""
    return psycopg.connect(stack.postgres.url.get_secret_value(), autocommit=True)


def table_of(connection: psycopg.Connection[Any], database: str, collection: str) -> sql.Identifier:
    """The qualified name of the table FerretDB keeps `collection` of `database` in."""
    query = sql.SQL("SELECT _jsonb->>'table' FROM {} WHERE _jsonb->>'_id' = %s").format(
        sql.Identifier(database, "_ferretdb_database_metadata")
    )
    row = connection.execute(query, (collection,)).fetchone()
    assert row is not None, f"FerretDB has no table for {database}.{collection}"
    return sql.Identifier(database, row[0])


def plan_nodes(connection: psycopg.Connection[Any], statement: sql.Composable) -> list[str]:
    """Every node of the plan PostgreSQL picks for `statement`, as `<type> <index>`."""
    row = connection.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement).fetchone()
    assert row is not None

    def walk(node: dict[str, Any]) -> list[str]:
        own = f"{node['Node Type']} {node.get('Index Name', '')}".strip()
        return [own, *(name for child in node.get("Plans", []) for name in walk(child))]

    return walk(row[0][0]["Plan"])


@dataclass(frozen=True)
class TableScans:
    """Cumulative counters of one table in `pg_stat_user_tables`."""

    seq_scan: int
    seq_tup_read: int
    idx_scan: int
    n_tup_upd: int

    @property
    def scans(self) -> int:
        """Every scan of the table, by index or not: one per lookup FerretDB ran."""
        return self.seq_scan + self.idx_scan

    def __sub__(self, earlier: TableScans) -> TableScans:
        return TableScans(
            self.seq_scan - earlier.seq_scan,
            self.seq_tup_read - earlier.seq_tup_read,
            self.idx_scan - earlier.idx_scan,
            self.n_tup_upd - earlier.n_tup_upd,
        )


def table_scans(connection: psycopg.Connection[Any], table: sql.Identifier) -> TableScans:
    """The table's counters now (FerretDB's sessions report theirs within seconds)."""
    connection.execute("SELECT pg_stat_clear_snapshot()")
    row = connection.execute(
        "SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), n_tup_upd"
        " FROM pg_stat_user_tables WHERE relid = %s::regclass",
        (table.as_string(connection),),
    ).fetchone()
    assert row is not None
    return TableScans(*row)
