"""A test's own database is dropped after it, even while autovacuum is working in it.

CI once failed a teardown with `DROP DATABASE … WITH (FORCE)` raising
`InsufficientPrivilege: must be a member of the role whose process is being terminated`:
the other process on the database was an autovacuum worker, which has no role, and which
the stack's role (not a superuser) may not terminate. Here autovacuum is made to visit a
test database and stay (a table of dead rows, vacuumed at the slowest cost settings).
"""

from __future__ import annotations

import time
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from infra.settings import Settings
from tests.conftest import _with_database, create_database, drop_database

pytestmark = pytest.mark.integration

AUTOVACUUM_WAIT_SECONDS = 200.0
# Vacuumed as slowly as the settings allow (100 ms of sleep per page or so): it stays.
SLOW_TO_VACUUM = """
CREATE TABLE dead_rows (id int, pad text) WITH (
    autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
    autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0,
    autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1
)
"""


def roleless_processes(monitor: psycopg.Connection[tuple[object, ...]], database: str) -> int:
    """Processes on `database` with no role: autovacuum workers."""
    row = monitor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename IS NULL",
        (database,),
    ).fetchone()
    return int(row[0]) if row else 0


def exists(monitor: psycopg.Connection[tuple[object, ...]], database: str) -> bool:
    query = "SELECT 1 FROM pg_database WHERE datname = %s"
    return monitor.execute(query, (database,)).fetchone() is not None


def test_a_test_database_is_dropped_while_autovacuum_works_in_it(stack: Settings) -> None:
    base_url = stack.postgres.url.get_secret_value()
    database = f"ledger_test_{uuid4().hex[:12]}"
    create_database(base_url, database)
    try:
        url = _with_database(base_url, database)
        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute(SLOW_TO_VACUUM)
            setup.execute(
                "INSERT INTO dead_rows SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g"
            )
            setup.execute("DELETE FROM dead_rows")
        lingering = psycopg.connect(url, autocommit=True)  # as a pool left open would be
        with psycopg.connect(base_url, autocommit=True) as monitor:
            if monitor.execute("SHOW autovacuum").fetchone() != ("on",):
                pytest.skip("autovacuum is off on this server")
            deadline = time.monotonic() + AUTOVACUUM_WAIT_SECONDS
            while not roleless_processes(monitor, database):
                assert time.monotonic() < deadline, "autovacuum never visited the database"
                time.sleep(0.2)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the fault, on its own
                monitor.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database))
                )
            assert roleless_processes(monitor, database)  # autovacuum is still in there

            drop_database(base_url, database)

            assert not exists(monitor, database)
        with pytest.raises(psycopg.OperationalError):  # its session was ended
            lingering.execute("SELECT 1")
        lingering.close()
    finally:
        drop_database(base_url, database)
