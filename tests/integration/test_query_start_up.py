"""The query API's start-up: a start-up that fails part-way leaves nothing open behind it."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from asgi_lifespan import LifespanManager
from pymongo.errors import InvalidName

from infra.settings import Settings
from query_api.admin.worker import THREAD_NAME
from query_api.app import create_app

pytestmark = pytest.mark.integration

BACKENDS = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"


async def backends_of(settings: Settings) -> int:
    """Connections to the test's event-store database, other than this one."""
    url = settings.postgres.url.get_secret_value()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(BACKENDS, (conn.info.dbname,))
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_start_up_that_fails_part_way_closes_what_it_had_opened(
    isolated_settings: Settings,
) -> None:
    # A read-model database name MongoDB refuses: the start-up fails at the read store,
    # after the event store's two connection pools (the reader's, the history's) opened.
    refused = isolated_settings.model_copy(
        update={
            "mongodb": isolated_settings.mongodb.model_copy(update={"database": "no/such"}),
            "auth": isolated_settings.auth.model_copy(update={"disabled_for_development": True}),
        }
    )
    before = asyncio.all_tasks()
    app = create_app(refused)

    with pytest.raises(InvalidName):
        async with LifespanManager(app, startup_timeout=15):
            pass

    # An open pool keeps its scheduler and worker tasks on this loop, and connects.
    leftover = [task.get_name() for task in asyncio.all_tasks() - before if not task.done()]
    assert leftover == []
    await asyncio.sleep(1.0)  # what a pool left open would have connected by now
    assert await backends_of(isolated_settings) == 0
    assert THREAD_NAME not in [thread.name for thread in threading.enumerate()]
