"""A rebuild's buffer writes its documents with `_id` lookups only, whatever its size.

FerretDB v1 serves `{"_id": {"$in": [...]}}` by reading the whole collection and testing
every document against the list, so a checkpoint that deleted its changed documents that
way took longer with every document of the build: on 500,000 events it outran the
client's 10 s socket timeout and failed the rebuild. Each document is looked up (and
deleted) by its own `_id` instead, which is an index lookup on FerretDB as on MongoDB.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.settings import Settings
from projectors.engine.buffer import BufferedDocuments
from projectors.engine.writers import by_document, fold
from projectors.projections.projection import DocumentProjection
from projectors.projections.registry import PROJECTIONS
from tests.integration.command_monitoring import SentCommands, monitored_read_models
from tests.unit.projectors.workload import build_workload

pytestmark = pytest.mark.integration

ACCOUNTS = PROJECTIONS["accounts"]
assert isinstance(ACCOUNTS, DocumentProjection)


def _filters(listener: SentCommands) -> list[Any]:
    """Every filter the client sent, of finds, deletes and updates alike."""
    sent = [body.get("filter") for body in listener.named("find")]
    for name, key in (("delete", "deletes"), ("update", "updates")):
        for body in listener.named(name):
            sent += [statement.get("q") for statement in body.get(key, [])]
    return [found for found in sent if found is not None]


@pytest.mark.parametrize("max_documents", [1_000_000, 3], ids=["in memory", "forgetting"])
async def test_checkpoints_rewrite_changed_documents_by_id_lookups(
    isolated_settings: Settings, max_documents: int
) -> None:
    events = build_workload(commands=400, seed=7).envelopes
    thirds = [events[: len(events) // 3], events[len(events) // 3 : 2 * len(events) // 3]]
    thirds.append(events[2 * len(events) // 3 :])
    listener = SentCommands()
    async with monitored_read_models(isolated_settings, listener) as database:
        buffer = BufferedDocuments(ACCOUNTS, database, max_documents=max_documents)
        await buffer.prepare()
        for third in thirds:  # each checkpoint rewrites documents stored by the one before
            await buffer.apply(third)
            await buffer.flush()
        stored = {
            document["_id"]: document async for document in database[ACCOUNTS.collection].find({})
        }
    expected = {
        key: fold(ACCOUNTS.apply, None, grouped)
        for key, grouped in by_document(
            events, [ACCOUNTS.document_id(event) for event in events]
        ).items()
    }
    assert {key: (d["version"], d["balance"]) for key, d in stored.items()} == {
        key: (d["version"], d["balance"]) for key, d in expected.items() if d is not None
    }
    assert listener.named("delete"), "the test rewrote no stored document"
    assert not [found for found in _filters(listener) if "$in" in str(found)]
