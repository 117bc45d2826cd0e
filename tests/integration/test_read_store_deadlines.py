"""Every read-store call has a deadline, and the deadline we chose leaves FerretDB answering.

Each test runs a FerretDB of its own (over its own PostgreSQL database): some of them wedge
it on purpose, and the shared one serves every other test.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymongo import MongoClient, ReplaceOne
from pymongo.errors import ConnectionFailure, NetworkTimeout

from infra.readstore.client import CLOSE_SECONDS, close_client, make_client
from infra.settings import Settings, settings_environment
from infra.stack.processes import read_record
from projectors.projections.registry import PROJECTIONS
from tests.own_read_store import own_read_store, send_wedging_bulk
from tests.own_stack import run_ledger
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

DOCUMENTS = 5_000
ABANDONED_CALLS = 240
AT_ONCE = 8
SHORT_DEADLINE = 1.0


@pytest.fixture
def own_store(isolated_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    with own_read_store(isolated_settings, tmp_path) as (settings, _):
        yield settings


@pytest.fixture(scope="module")
def wedged(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A read store wedged by an outside client's bulk, with a short deadline for our calls."""
    with own_read_store(module_settings, tmp_path_factory.mktemp("store")) as (settings, _):
        url = settings.mongodb.url.get_secret_value()
        # A database FerretDB does not know it answers from memory: make the read models'.
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        try:
            client[settings.mongodb.database].accounts.insert_one({"_id": "someone"})
        finally:
            client.close()
        assert send_wedging_bulk(url), "it did not wedge"
        mongodb = settings.mongodb.model_copy(update={"deadline_seconds": SHORT_DEADLINE})
        yield settings.model_copy(update={"mongodb": mongodb})


def _fill(url: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    try:
        documents = [{"_id": n, "owner": f"o{n % 50}", "pad": "x" * 200} for n in range(DOCUMENTS)]
        client.deadlines.documents.insert_many(documents)
    finally:
        client.close()


async def test_calls_abandoned_at_their_deadline_leave_the_read_store_answering(
    own_store: Settings,
) -> None:
    _fill(own_store.mongodb.url.get_secret_value())
    # A deadline far shorter than the calls: each one is abandoned in the middle, the
    # connection closed under the server's feet, as a late call would be.
    hasty = make_client(own_store.mongodb, deadline_seconds=0.003)
    documents = hasty.deadlines.documents
    abandoned = 0

    async def calls(first: int) -> None:
        nonlocal abandoned
        for n in range(first, ABANDONED_CALLS, AT_ONCE):
            try:
                if n % 2:  # a filter FerretDB cannot push down: it reads every row
                    await documents.find({"owner": {"$regex": "^o1"}}).to_list()
                else:
                    await documents.replace_one({"_id": n}, {"owner": "o", "replaced": n})
            except NetworkTimeout:
                abandoned += 1
            except ConnectionFailure:
                pass  # cut short before it was even sent (no connection free in time)

    try:
        await asyncio.gather(*(calls(first) for first in range(AT_ONCE)))
    finally:
        await hasty.close()
    patient = make_client(own_store.mongodb)
    try:
        answer = await patient.admin.command("ping")
        written = await patient.deadlines.documents.bulk_write(
            [ReplaceOne({"_id": n}, {"owner": "o", "again": n}) for n in range(10)]
        )
    finally:
        await patient.close()

    assert abandoned > ABANDONED_CALLS // 4  # the test abandoned calls indeed
    assert answer["ok"] == 1
    assert written.matched_count == 10


async def test_a_call_to_a_wedged_read_store_fails_at_its_deadline(wedged: Settings) -> None:
    client = make_client(wedged.mongodb)
    try:
        with pytest.raises(NetworkTimeout) as raised:
            await asyncio.wait_for(client[wedged.mongodb.database].accounts.find_one(), 30)
    finally:
        await client.close()

    assert isinstance(raised.value, ConnectionFailure)  # what every caller handles


async def test_the_query_api_answers_503_while_the_read_store_is_wedged(
    wedged: Settings,
) -> None:
    async with query_client(wedged) as client:
        read = await asyncio.wait_for(client.get(f"/v1/accounts/{uuid4()}"), 30)

    assert read.status_code == 503
    assert read.headers["content-type"] == "application/problem+json"
    assert read.json()["type"].endswith("/read-store-unavailable")


def test_projections_status_says_the_read_store_is_unavailable_while_it_is_wedged(
    wedged: Settings,
) -> None:
    shown = run_ledger(
        {**os.environ, **settings_environment(wedged)}, "projections", "status", timeout=60
    )

    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "error: the read store is unavailable" in shown.stderr


def test_projections_status_shows_every_projection_when_the_read_store_answers(
    isolated_settings: Settings,
) -> None:
    shown = run_ledger(
        {**os.environ, **settings_environment(isolated_settings)},
        *("projections", "status", "--json"),
        timeout=120,
    )

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert {report["name"] for report in json.loads(shown.stdout)} == set(PROJECTIONS)


async def test_a_client_closes_promptly_while_the_read_store_hangs(
    isolated_settings: Settings, tmp_path: Path
) -> None:
    # Closing ends the client's sessions on the server: with a server that does not
    # answer, PyMongo waited a whole deadline for that courtesy, so a process asked to
    # stop took longer than its supervisor allows (and a test's lifespan timed out).
    with own_read_store(isolated_settings, tmp_path) as (settings, server):
        client = make_client(settings.mongodb, deadline_seconds=60.0)
        await client.deadlines.documents.insert_one({"_id": "a session now exists"})
        record = read_record(server.pid_path)
        assert record is not None
        os.kill(record.pid, signal.SIGSTOP)
        try:
            # Well under the 5 s after which PyMongo's monitor gives the server up anyway.
            async with asyncio.timeout(2 * CLOSE_SECONDS + 2.0):
                await close_client(client)
        finally:
            os.kill(record.pid, signal.SIGCONT)
