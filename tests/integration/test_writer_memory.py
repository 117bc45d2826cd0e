"""A writer remembers what it wrote instead of reading it back, and never trusts it blindly.

Every document has one writer at a time, so what a writer last wrote is what is stored, and
the projector skips the read. When another writer moved the document in between (the
partition was elsewhere for a while), the remembered state is stale: the guarded replace
misses, and the writer must read the document again and fold its events onto that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from projectors.engine.writers import ProjectionWriter, fold, writer_for
from projectors.projections.projection import DocumentProjection
from projectors.projections.registry import PROJECTIONS
from tests.integration.command_monitoring import SentCommands, monitored_read_models
from tests.unit.projectors.workload import build_workload

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
ACCOUNTS = PROJECTIONS["accounts"]
assert isinstance(ACCOUNTS, DocumentProjection)


def busiest_account_events() -> list[Any]:
    workload = build_workload(commands=300)
    accounts = ACCOUNTS
    owners = Counter(accounts.document_id(e) for e in workload.envelopes)
    owners.pop(None, None)
    busiest, count = owners.most_common(1)[0]
    assert count >= 6
    return [e for e in workload.envelopes if accounts.document_id(e) == busiest]


@asynccontextmanager
async def monitored_writer(
    settings: Settings, listener: SentCommands
) -> AsyncIterator[tuple[ProjectionWriter, Database]]:
    """A prepared accounts writer on a client that reports every command to `listener`."""
    async with monitored_read_models(settings, listener) as database:
        writer = writer_for(ACCOUNTS, database)
        await writer.prepare()
        yield writer, database


async def test_a_stale_memory_is_caught_by_the_guard_and_the_document_read_again(
    mongo_database: Database,
) -> None:
    events = busiest_account_events()
    projection = ACCOUNTS
    mine, other = writer_for(projection, mongo_database), writer_for(projection, mongo_database)
    await mine.prepare()
    await mine.apply(events[:2])
    await other.apply(events[2:4])  # moved behind `mine`'s back
    await mine.apply(events[4:])  # `mine` remembers the document at its second event
    stored = await mongo_database[projection.collection].find_one(
        {"_id": projection.document_id(events[0])}
    )
    assert stored is not None
    expected = fold(projection.apply, None, events)
    assert expected is not None
    assert stored["version"] == expected["version"]
    assert stored["balance"] == expected["balance"]


async def test_a_writer_that_wrote_a_document_does_not_read_it_back(
    isolated_settings: Settings,
) -> None:
    listener = SentCommands()
    async with monitored_writer(isolated_settings, listener) as (writer, _):
        events = busiest_account_events()
        await writer.apply(events[:1])
        first = len(listener.named("find"))
        for event in events[1:]:
            await writer.apply([event])
    assert len(listener.named("find")) == first


async def test_a_document_its_events_begin_is_inserted_without_a_read(
    isolated_settings: Settings,
) -> None:
    listener = SentCommands()
    async with monitored_writer(isolated_settings, listener) as (writer, database):
        events = busiest_account_events()
        await writer.apply(events[:2])  # opens the account: nothing to read
        stored = await database[ACCOUNTS.collection].find_one(
            {"_id": ACCOUNTS.document_id(events[0])}
        )
    assert len(listener.named("find")) == 1  # the test's own read-back only
    assert stored is not None and stored["version"] == 2


async def test_a_document_that_exists_after_all_is_read_when_its_insert_collides(
    mongo_database: Database,
) -> None:
    events = busiest_account_events()
    first, replay = writer_for(ACCOUNTS, mongo_database), writer_for(ACCOUNTS, mongo_database)
    await first.prepare()
    await first.apply(events[:3])
    # A writer with no memory replays from the opening event on (as after a crash): it
    # takes the document for new, its insert collides, and it folds onto what is stored.
    assert await replay.apply(events) >= 1
    stored = await mongo_database[ACCOUNTS.collection].find_one(
        {"_id": ACCOUNTS.document_id(events[0])}
    )
    expected = fold(ACCOUNTS.apply, None, events)
    assert stored is not None and expected is not None
    assert (stored["version"], stored["balance"]) == (expected["version"], expected["balance"])
