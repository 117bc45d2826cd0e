"""FerretDB's SQL for a find by `_id` or by an indexed field is an index lookup (ADR 0010).

Proven where it is decided: PostgreSQL's plan for the statement FerretDB sends, prepared
as FerretDB prepares it, in a session with the settings FerretDB's sessions get, after
more executions than PostgreSQL waits before it considers a generic plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from infra.stack.ferretdb_sessions import FERRETDB_SESSION_SETTINGS
from query_api.views.indexes import prepare_build
from tests.integration.ferretdb_tables import (
    EQUALITY_SQL,
    connect,
    plan_nodes,
    skip_unless_ferretdb,
    table_of,
)

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]

DOCUMENTS = 5_000
# PostgreSQL plans a prepared statement with its parameters five times, then weighs
# switching to a generic plan: go well past that.
EXECUTIONS = 12


@pytest.fixture
async def ferretdb(isolated_settings: Settings) -> Settings:
    await skip_unless_ferretdb(isolated_settings)
    return isolated_settings


@pytest.fixture
def session(stack: Settings, ferretdb: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A session of the read store's database with the settings FerretDB's sessions get."""
    with connect(stack) as connection:
        for name, value in FERRETDB_SESSION_SETTINGS.items():
            connection.execute(
                sql.SQL("SELECT set_config({}, {}, false)").format(
                    sql.Literal(name), sql.Literal(value)
                )
            )
        yield connection


async def fill_accounts(database: Database, collection: str) -> None:
    """A build of the accounts read model with its serving indexes, as a rebuild makes it."""
    await database[collection].insert_many(
        {"_id": f"account-{n:05d}", "owner_id": f"owner-{n // 4:05d}", "status": "open"}
        for n in range(DOCUMENTS)
    )
    await prepare_build(database, "accounts", collection)


def equality_plan(
    connection: psycopg.Connection[Any], table: sql.Identifier, field: str, value: str
) -> list[str]:
    """The plan of FerretDB's equality statement after it has run `EXECUTIONS` times."""
    connection.execute("DEALLOCATE ALL")
    connection.execute(sql.SQL("ANALYZE {}").format(table))
    statement = sql.SQL(EQUALITY_SQL).format(table=table)
    connection.execute(sql.SQL("PREPARE equality(text, jsonb) AS ") + statement)
    execute = sql.SQL("EXECUTE equality({}, {})").format(
        sql.Literal(field), sql.Literal(f'"{value}"')
    )
    for _ in range(EXECUTIONS):
        connection.execute(execute).fetchall()
    return plan_nodes(connection, execute)


def is_index_lookup(nodes: list[str]) -> bool:
    return not any(node.startswith("Seq Scan") for node in nodes) and any(
        "Index" in node for node in nodes
    )


async def test_a_find_by_id_is_an_index_lookup(
    ferretdb: Settings, mongo_database: Database, session: psycopg.Connection[Any]
) -> None:
    await fill_accounts(mongo_database, "accounts_v1")
    table = table_of(session, ferretdb.mongodb.database, "accounts_v1")

    nodes = equality_plan(session, table, "_id", "account-00042")

    assert is_index_lookup(nodes), nodes


async def test_a_find_by_an_indexed_field_is_an_index_lookup(
    ferretdb: Settings, mongo_database: Database, session: psycopg.Connection[Any]
) -> None:
    await fill_accounts(mongo_database, "accounts_v1")
    table = table_of(session, ferretdb.mongodb.database, "accounts_v1")

    nodes = equality_plan(session, table, "owner_id", "owner-00042")

    assert is_index_lookup(nodes), nodes


async def test_a_new_build_generation_is_looked_up_by_index_from_the_start(
    ferretdb: Settings, mongo_database: Database, session: psycopg.Connection[Any]
) -> None:
    await fill_accounts(mongo_database, "accounts_v1")
    await fill_accounts(mongo_database, "accounts_v1_g2")
    table = table_of(session, ferretdb.mongodb.database, "accounts_v1_g2")

    by_id = equality_plan(session, table, "_id", "account-00042")
    by_owner = equality_plan(session, table, "owner_id", "owner-00042")

    assert is_index_lookup(by_id), by_id
    assert is_index_lookup(by_owner), by_owner


async def test_a_generic_plan_of_ferretdbs_statement_would_scan(
    ferretdb: Settings, mongo_database: Database, session: psycopg.Connection[Any]
) -> None:
    """Why FerretDB's sessions must not use generic plans: one cannot use the indexes."""
    await fill_accounts(mongo_database, "accounts_v1")
    table = table_of(session, ferretdb.mongodb.database, "accounts_v1")
    session.execute("SET plan_cache_mode = force_generic_plan")

    nodes = equality_plan(session, table, "_id", "account-00042")

    assert not is_index_lookup(nodes), nodes
