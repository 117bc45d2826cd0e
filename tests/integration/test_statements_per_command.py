"""The projector never sends the read store a write command big enough to wedge it.

FerretDB v1 hangs for good on an update command of about fifty statements (BASELINES.md;
the wedge test shows the stack recovering from one an outside client sends). The writers
split their work into commands of at most `MAX_UPDATES_PER_COMMAND` statements: here every
projection's writer gets batches far larger than that, and PyMongo's own command monitoring
records what actually went over the wire.
"""

from __future__ import annotations

import pytest

from infra.settings import Settings
from projectors.engine.batches import BatchApplier
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.writers import MAX_UPDATES_PER_COMMAND, writer_for
from projectors.projections.registry import PROJECTIONS
from tests.integration.command_monitoring import SentCommands, monitored_read_models
from tests.unit.projectors.workload import build_workload

pytestmark = pytest.mark.integration

BATCH = 500


async def test_no_write_command_carries_more_statements_than_the_cap(
    isolated_settings: Settings,
) -> None:
    listener = SentCommands()
    async with monitored_read_models(isolated_settings, listener) as database:
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
    updates = [len(body["updates"]) for body in listener.named("update")]
    deletes = [len(body["deletes"]) for body in listener.named("delete")]
    assert len(updates) > len(workload.envelopes) / BATCH  # batches were split, not skipped
    assert max(updates) == MAX_UPDATES_PER_COMMAND
    assert max(deletes, default=0) <= MAX_UPDATES_PER_COMMAND
