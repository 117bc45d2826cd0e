"""The projector never sends the read store a write command big enough to wedge it.

FerretDB v1 hangs for good on an update command of about fifty statements (BASELINES.md;
the wedge test shows the stack recovering from one an outside client sends). The writers
split their work into commands of at most `MAX_UPDATES_PER_COMMAND` statements: here every
projection's writer gets batches far larger than that, and PyMongo's own command monitoring
records what actually went over the wire.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from infra.readstore.client import DURABLE
from infra.settings import Settings
from projectors.engine.batches import BatchApplier
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.writers import MAX_UPDATES_PER_COMMAND, writer_for
from projectors.projections.registry import PROJECTIONS
from tests.unit.projectors.workload import build_workload

pytestmark = pytest.mark.integration

BATCH = 500
STATEMENTS = {"update": "updates", "delete": "deletes"}


class WriteCommands(monitoring.CommandListener):
    """The statement count of every update and delete command sent."""

    def __init__(self) -> None:
        self.sizes: dict[str, list[int]] = {name: [] for name in STATEMENTS}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        field = STATEMENTS.get(event.command_name)
        if field is not None:
            self.sizes[event.command_name].append(len(event.command.get(field, ())))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_no_write_command_carries_more_statements_than_the_cap(
    isolated_settings: Settings,
) -> None:
    listener = WriteCommands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        isolated_settings.mongodb.url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[listener],
    )
    database = client.get_database(isolated_settings.mongodb.database, write_concern=DURABLE)
    try:
        applier = BatchApplier(
            [writer_for(projection, database) for projection in PROJECTIONS.values()],
            DeadLetters(database),
            max_attempts=1,
            backoff_seconds=0,
        )
        await applier.prepare()
        workload = build_workload(commands=1_500)
        envelopes = workload.envelopes
        for start in range(0, len(envelopes), BATCH):
            await applier.apply(envelopes[start : start + BATCH])
    finally:
        await client.close()
    updates = listener.sizes["update"]
    assert len(updates) > len(workload.envelopes) / BATCH  # batches were split, not skipped
    assert max(updates) == MAX_UPDATES_PER_COMMAND
    assert max(listener.sizes["delete"], default=0) <= MAX_UPDATES_PER_COMMAND
