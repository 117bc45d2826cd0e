"""Fixtures shared by every test: isolated databases, topics and settings on the real stack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pymongo
import pytest
from psycopg import sql

from infra.settings import (
    KafkaSettings,
    MongodbSettings,
    PostgresSettings,
    ProjectorSettings,
    Settings,
)


@pytest.fixture(scope="session")
def stack() -> Settings:
    """The local stack, started once per session (a no-op when it is already up)."""
    from infra.cli.stack import stack_up

    base = Settings()
    stack_up(base)
    return base


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
def isolated_settings(stack: Settings) -> Iterator[Settings]:
    """Real-stack settings with a database, topic, read store and group of the test's own."""
    with isolated(stack) as settings:
        yield settings


@pytest.fixture(scope="module")
def module_settings(stack: Settings) -> Iterator[Settings]:
    """Like `isolated_settings`, shared by the tests of one module."""
    with isolated(stack) as settings:
        yield settings


DROP_READ_MODELS_SECONDS = 60


@contextmanager
def isolated(stack: Settings) -> Iterator[Settings]:
    """Create a database, topic name, read-model database and group of their own; drop after."""
    suffix = uuid4().hex[:12]
    base_url = stack.postgres.url.get_secret_value()
    database = f"ledger_test_{suffix}"
    create_database(base_url, database)
    settings = Settings(
        postgres=PostgresSettings(url=_with_database(base_url, database), pool_size=8),
        kafka=KafkaSettings(
            bootstrap_servers=stack.kafka.bootstrap_servers,
            topic=f"ledger.test.{suffix}",
            partitions=stack.kafka.partitions,
        ),
        mongodb=MongodbSettings(url=stack.mongodb.url, database=f"ledger_test_{suffix}"),
        projector=ProjectorSettings(group_id=f"projector-{suffix}"),
        stack=stack.stack,
        redis=stack.redis,
    )
    from infra.eventstore.library import prepare_event_store

    try:
        prepare_event_store(settings)
        yield settings
    finally:
        drop_database(base_url, database)
        asyncio.run(_drop_read_models(settings))


def create_database(base_url: str, database: str) -> None:
    """A new, empty database owned by the stack's role."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(base_url: str, database: str, *, timeout_seconds: float = 30.0) -> None:
    """Drop a test's database, whoever is still on it.

    Not `DROP DATABASE … WITH (FORCE)`: that terminates every other session first, and a
    role that is not a superuser may not terminate an autovacuum worker (a process with no
    role), so it fails with `InsufficientPrivilege: must be a member of the role whose
    process is being terminated` whenever autovacuum happens to be visiting the database.
    Instead: refuse new connections, end this role's own sessions (leaked pools, the
    issuer's, a test's), and let a plain `DROP DATABASE` stop autovacuum, as it always does.
    """
    name = sql.Identifier(database)
    deadline = time.monotonic() + timeout_seconds
    with psycopg.connect(base_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        except psycopg.errors.InvalidCatalogName:
            return  # already gone
        while True:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
                (database,),
            )
            try:
                # Waits up to 5 s for the sessions just ended, and stops autovacuum workers.
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise


async def _drop_read_models(settings: Settings) -> None:
    from infra.readstore.client import make_client

    client = make_client(settings.mongodb)
    try:
        # Bounded: a read store that stopped answering fails this test's teardown, instead
        # of holding the whole suite until CI's limit.
        with pymongo.timeout(DROP_READ_MODELS_SECONDS):
            await client.drop_database(settings.mongodb.database)
    finally:
        await client.close()


@pytest.fixture
async def mongo_database(isolated_settings: Settings) -> AsyncIterator[object]:
    """The test's own read-model database, with durable writes."""
    from infra.readstore.client import make_client, read_models

    client = make_client(isolated_settings.mongodb)
    yield read_models(client, isolated_settings.mongodb)
    await client.close()
