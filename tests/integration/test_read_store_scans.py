"""The projector's writes cost the same whatever the collection holds (issue #11, ADR 0010).

A collection is filled first; then events are applied through the projector's own writer,
in batches as the worker applies them, and PostgreSQL's counters for FerretDB's table say
how many rows were read by sequential scans meanwhile: fewer than one per event means no
write read the collection, however large it is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.settings import Settings
from projectors.engine.writers import DocumentWriter
from projectors.projections import accounts
from tests.integration.ferretdb_tables import (
    TableScans,
    connect,
    skip_unless_ferretdb,
    table_of,
    table_scans,
)
from tests.unit.factories import envelope

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]

STORED_ACCOUNTS = 5_000
TOUCHED_ACCOUNTS = 100
DEPOSITS_EACH = 2
BATCH = 50
# FerretDB's sessions report their counters when idle, within about ten seconds.
COUNTERS_TIMEOUT_SECONDS = 60.0


def opened(account: UUID) -> EventEnvelope:
    return envelope("AccountOpened", account, 1, owner_id=str(uuid4()), currency="EUR")


def deposited(account: UUID, version: int) -> EventEnvelope:
    return envelope(
        "FundsDeposited", account, version, amount=100, balance_after=100 * (version - 1)
    )


async def settled_counters(
    connection: psycopg.Connection[Any],
    table: sql.Identifier,
    before: TableScans,
    expected: TableScans,
) -> TableScans:
    """The counters once they include every lookup and update the writer made, or once
    they show sequential reads of `expected.seq_tup_read` rows or more (a verdict either way).
    """
    deadline = time.monotonic() + COUNTERS_TIMEOUT_SECONDS
    while True:
        grown = table_scans(connection, table) - before
        if grown.seq_tup_read >= expected.seq_tup_read:
            return grown
        if grown.scans >= expected.scans and grown.n_tup_upd >= expected.n_tup_upd:
            return grown
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {COUNTERS_TIMEOUT_SECONDS:.0f}s PostgreSQL counts {grown}, "
                f"not yet {expected.scans} scans and {expected.n_tup_upd} updates"
            )
        await asyncio.sleep(0.2)


async def test_applying_events_reads_no_row_of_the_collection_by_sequential_scan(
    stack: Settings, isolated_settings: Settings, mongo_database: Database
) -> None:
    await skip_unless_ferretdb(isolated_settings)
    writer = DocumentWriter(accounts.PROJECTION, mongo_database)
    await writer.prepare()
    ids = [uuid4() for _ in range(STORED_ACCOUNTS)]
    await mongo_database[accounts.PROJECTION.collection].insert_many(
        accounts.apply(None, opened(account)) for account in ids
    )
    events = [
        deposited(account, version)
        for version in range(2, 2 + DEPOSITS_EACH)
        for account in ids[:TOUCHED_ACCOUNTS]
    ]
    with connect(stack) as connection:
        table = table_of(
            connection, isolated_settings.mongodb.database, accounts.PROJECTION.collection
        )
        before = table_scans(connection, table)

        replaces = 0
        for start in range(0, len(events), BATCH):
            replaces += await writer.apply(events[start : start + BATCH])
        # The writer reads a document once; after that it remembers what it wrote.
        lookups = len({event.aggregate_id for event in events})

        # Each document is looked up once, then replaced at each batch: FerretDB's lookup
        # inside the replace, and its UPDATE by `_id`, are two more scans of the table.
        expected = TableScans(
            seq_scan=0,
            seq_tup_read=len(events),
            idx_scan=lookups + 2 * replaces,
            n_tup_upd=replaces,
        )
        grown = await settled_counters(connection, table, before, expected)

    assert replaces == len(events)
    assert grown.seq_tup_read < len(events), grown
