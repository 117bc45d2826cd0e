"""What each projection has applied, from `projection_progress` (one document per partition).

The fields, as `projectors.engine.progress` writes them: `offset` is the Kafka offset the
projector reads next (what it commits: the last applied record's offset + 1), `highwater`
the partition's end offset at the projector's last fetch, and `position` the global
position of the last event it applied from that partition. Progress is written after the
batch's read-model writes are durable. `read_progress` is the one place that reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from query_api.views.served import PROGRESS_COLLECTION, Document, ServedProjection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionProgress:
    """How far one projection has got in one partition of the events topic."""

    projection: str
    version: int
    partition: int
    next_offset: int
    highwater: int
    position: int
    occurred_at: datetime | None
    updated_at: datetime | None

    @property
    def lag_events(self) -> int:
        """Records published to the partition but not applied, at the projector's last look."""
        return max(self.highwater - self.next_offset, 0)

    def lag_seconds(self, now: datetime) -> float:
        """How old the last applied event is, when records are waiting (else 0)."""
        if self.lag_events == 0 or self.occurred_at is None:
            return 0.0
        return max((now - self.occurred_at).total_seconds(), 0.0)


async def read_progress(
    database: AsyncDatabase[Document], projections: Collection[ServedProjection]
) -> list[PartitionProgress]:
    """Every partition's progress of the given projections (at the versions we serve)."""
    names = [projection.name for projection in projections]
    wanted = {(projection.name, projection.version) for projection in projections}
    cursor = database[PROGRESS_COLLECTION].find({"projection": {"$in": names}})
    found = [progress async for document in cursor if (progress := _parse(document))]
    return [progress for progress in found if (progress.projection, progress.version) in wanted]


def _parse(document: Mapping[str, Any]) -> PartitionProgress | None:
    # A document is created before its first batch is applied, with nulls for what the
    # projector does not know yet: no position means nothing applied, no highwater no lag.
    try:
        next_offset = _integer(document.get("offset"), 0)
        return PartitionProgress(
            projection=str(document["projection"]),
            version=_integer(document.get("version"), 1),
            partition=int(document["partition"]),
            next_offset=next_offset,
            highwater=_integer(document.get("highwater"), next_offset),
            position=_integer(document.get("position"), 0),
            occurred_at=_aware(document.get("occurred_at")),
            updated_at=_aware(document.get("updated_at")),
        )
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring a malformed projection_progress document %r", document.get("_id"))
        return None


def _integer(value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
