"""What each projection has applied, per partition (`infra.eventstore.progress`).

Progress is written after the batch's read-model writes are durable, so a reader that
sees a partition's progress sees every document it covers. `read_progress` is the query
API's one way to read it: the rows of the builds it serves, at the versions it serves.
"""

from __future__ import annotations

from collections.abc import Collection

from infra.eventstore.progress import PartitionProgress
from infra.eventstore.reader import EventStoreReader
from query_api.views.served import ServedProjection

__all__ = ["PartitionProgress", "read_progress"]


async def read_progress(
    events: EventStoreReader, read_store: str, projections: Collection[ServedProjection]
) -> list[PartitionProgress]:
    """Every partition's progress of the given projections (at the versions we serve)."""
    wanted = {(projection.name, projection.version) for projection in projections}
    found = await events.progress(read_store, [projection.name for projection in projections])
    return [progress for progress in found if (progress.projection, progress.version) in wanted]
