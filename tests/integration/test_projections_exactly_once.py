"""Exactly-once effect on the real read store: duplicates and reordering change nothing.

A random workload of 1,000 commands runs on the in-memory Ledger; its log, as envelopes,
is fed to the writers of every projection (a) once, in log order, and (b) every event
twice, aggregates interleaved at random but each in its own order. Every read model
must come out the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from random import Random
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from domain.envelope import EventEnvelope
from infra.readstore.client import DURABLE
from projectors.engine.batches import BatchApplier
from projectors.engine.dead_letters import COLLECTION as DEAD_LETTERS
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.writers import writer_for
from projectors.projections.projection import LookupProjection
from projectors.projections.registry import PROJECTIONS
from tests.unit.projectors.workload import (
    Workload,
    build_workload,
    delivered_twice_shuffled,
    in_batches,
)

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]
Snapshot = dict[str, list[dict[str, Any]]]

LARGEST_BATCH = 200


def read_model_collections() -> list[str]:
    names = [projection.collection for projection in PROJECTIONS.values()]
    names += [
        projection.lookup_collection
        for projection in PROJECTIONS.values()
        if isinstance(projection, LookupProjection)
    ]
    return sorted(names)


async def project(database: Database, batches: Sequence[Sequence[EventEnvelope]]) -> None:
    """Feed every projection's writer, batch by batch, as the worker does."""
    applier = BatchApplier(
        [writer_for(projection, database) for projection in PROJECTIONS.values()],
        DeadLetters(database),
        max_attempts=1,
        backoff_seconds=0,
    )
    await applier.prepare()
    for batch in batches:
        await applier.apply(batch)


async def snapshot(database: Database) -> Snapshot:
    """Every document of every read model, by collection, sorted by id."""
    return {
        name: [document async for document in database[name].find().sort("_id", 1)]
        for name in read_model_collections()
    }


@pytest.fixture(scope="module")
def workload() -> Workload:
    return build_workload(commands=1_000)


@pytest.fixture
async def second_database(mongo_database: Database) -> AsyncIterator[Database]:
    """Another read store next to the test's own, dropped afterwards."""
    name = f"{mongo_database.name}_b{uuid4().hex[:6]}"
    yield mongo_database.client.get_database(name, write_concern=DURABLE)
    await mongo_database.client.drop_database(name)


async def test_every_read_model_is_the_same_when_each_event_comes_twice_and_shuffled(
    workload: Workload, mongo_database: Database, second_database: Database
) -> None:
    random = Random(1128)
    await project(mongo_database, in_batches(workload.envelopes, random, LARGEST_BATCH))
    shuffled = delivered_twice_shuffled(workload.envelopes, random)

    await project(second_database, in_batches(shuffled, random, LARGEST_BATCH))

    once, twice = await snapshot(mongo_database), await snapshot(second_database)
    assert all(once[name] for name in read_model_collections())
    assert twice == once
    assert await mongo_database[DEAD_LETTERS].count_documents({}) == 0
    assert await second_database[DEAD_LETTERS].count_documents({}) == 0


async def test_the_read_models_agree_with_the_ledger(
    workload: Workload, mongo_database: Database
) -> None:
    await project(mongo_database, in_batches(workload.envelopes, Random(3), LARGEST_BATCH))

    accounts = {
        document["_id"]: document async for document in mongo_database["accounts_v1"].find()
    }
    transfers = {
        document["_id"]: document async for document in mongo_database["transfers_v1"].find()
    }
    for account_id in workload.accounts:
        account = workload.ledger.get_account(account_id)
        document = accounts[str(account_id)]
        assert (document["balance"], document["version"]) == (
            account.balance.amount,
            account.version,
        )
    for transfer_id in workload.transfers:
        status = workload.ledger.get_transfer(transfer_id).status.value
        assert transfers[str(transfer_id)]["status"] == status
