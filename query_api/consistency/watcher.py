"""One watcher per process wakes every request waiting for a view to catch up.

Requests never poll. Each registers its requirement and awaits a future; one background
task looks at the read side with one lookup per wanted document (plus, for
projection-wide requirements, the relay's checkpoint, `projection_progress` and the
topic's end offsets), then resolves the futures of every requirement that is met. Waiting
requests share each look: a document many of them wait for is read once.

It looks when there is reason to (ADR 0011): at once for a new waiter, and whenever the
projector announces that collections changed (`announce`), for the waiters that read
them. News is a hint and may be lost, so while anyone waits the watcher also looks at
everything every `interval_seconds`, a slow safety net rather than the means.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Counter

from infra.messaging.read_side_news import PROGRESS as PROGRESS_NEWS
from query_api.consistency.requirements import (
    AnyOf,
    Observation,
    Plan,
    ProjectionReached,
    Requirement,
    is_met,
    plan_for,
)
from query_api.views.progress import PartitionProgress
from query_api.views.served import ServedProjection

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 0.1

LOOKS = Counter(
    "ledger_query_consistency_looks_total",
    "Looks at the read side by the consistency watcher, by what prompted them.",
    ["cause"],
)
MET = Counter(
    "ledger_query_consistency_met_total",
    "Waits met, by what prompted the look that saw them met.",
    ["cause"],
)
FAILURE_LOG_INTERVAL_SECONDS = 5.0


class ReadSide(Protocol):
    """What the watcher reads: implemented over MongoDB, PostgreSQL and Kafka in `read_side.py`."""

    async def documents(
        self, collection: str, ids: Collection[str], fields: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """The documents among `ids` that exist, with `fields` (and `_id`)."""
        ...

    async def relay_position(self) -> int:
        """The relay's checkpoint: every event up to it is in Kafka."""
        ...

    async def progress(
        self, projections: Collection[ServedProjection]
    ) -> dict[ServedProjection, dict[int, PartitionProgress]]:
        """Each projection's progress, by partition."""
        ...

    async def end_offsets(self) -> dict[int, int]:
        """Each partition's end offset, from the broker."""
        ...

    async def routing_end_offsets(self) -> dict[int, int]:
        """Each partition's end offset of the projector's routing topic."""
        ...


async def observe(read_side: ReadSide, requirements: Collection[Requirement]) -> Observation:
    """Read everything the requirements need: a few queries, whatever their number."""
    plan = plan_for(requirements)
    documents, (relay_position, progress, ends, routing_ends) = await asyncio.gather(
        _documents(read_side, plan), _projections(read_side, plan)
    )
    return Observation(documents, relay_position, progress, ends, routing_ends)


async def _documents(read_side: ReadSide, plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    collections = list(plan.documents)
    found = await asyncio.gather(
        *(
            read_side.documents(name, plan.documents[name], plan.fields.get(name, set()))
            for name in collections
        )
    )
    return {
        (name, document_id): document
        for name, documents in zip(collections, found, strict=True)
        for document_id, document in documents.items()
    }


async def _projections(
    read_side: ReadSide, plan: Plan
) -> tuple[
    int | None,
    dict[ServedProjection, dict[int, PartitionProgress]],
    dict[int, int] | None,
    dict[int, int] | None,
]:
    if not plan.projections:
        return None, {}, None, None
    # Order matters: end offsets are read after the checkpoint and the progress (see
    # `projection_reached` and `routed_projection_reached`), and only once the checkpoint
    # is far enough to make them worth reading.
    relay_position = await read_side.relay_position()
    progress = await read_side.progress(plan.projections)
    reachable = plan.lowest_position is not None and plan.lowest_position <= relay_position
    end_offsets = await read_side.end_offsets() if reachable else None
    routed = reachable and any(projection.routed for projection in plan.projections)
    routing_end_offsets = await read_side.routing_end_offsets() if routed else None
    return relay_position, progress, end_offsets, routing_end_offsets


def collections_read(requirement: Requirement) -> frozenset[str]:
    """The collections whose news may make `requirement` met."""
    if isinstance(requirement, AnyOf):
        return frozenset().union(*(collections_read(option) for option in requirement.options))
    if isinstance(requirement, ProjectionReached):
        return frozenset({PROGRESS_NEWS})
    return frozenset({requirement.collection})


@dataclass(eq=False)
class _Waiter:
    requirement: Requirement
    reads: frozenset[str]
    future: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    seen: bool = False
    """Looked at once already: from then on, only news of its collections is a reason."""


class ConsistencyWatcher:
    """Shared by every request of one process; `run()` it as a background task."""

    def __init__(
        self, read_side: ReadSide, interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    ) -> None:
        self._read_side = read_side
        self._interval = interval_seconds
        self._waiters: set[_Waiter] = set()
        self._look = asyncio.Event()
        self._news: set[str] = set()
        self._everything = False
        self._last_failure_logged = 0.0

    @property
    def waiting(self) -> int:
        """How many requests are waiting now."""
        return len(self._waiters)

    async def wait_for(self, requirement: Requirement, timeout_seconds: float) -> bool:
        """True once the requirement is met; False if `timeout_seconds` pass first."""
        if timeout_seconds <= 0:
            return await self._met_now(requirement)
        waiter = _Waiter(requirement, collections_read(requirement))
        self._waiters.add(waiter)
        self._look.set()
        try:
            async with asyncio.timeout(timeout_seconds):
                return await waiter.future
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)

    def announce(self, collections: Collection[str] | None) -> None:
        """News: these collections were written (None: anything may have changed)."""
        if collections is None:
            self._everything = True
        else:
            self._news.update(collections)
        self._look.set()

    async def run(self) -> None:
        """Look when told (new waiter, news); while anyone waits, every interval too."""
        while True:
            fallback = self._interval if self._waiters else None
            try:
                async with asyncio.timeout(fallback):
                    await self._look.wait()
            except TimeoutError:
                self._everything = True
            self._look.clear()
            await self.tick()

    async def tick(self) -> None:
        """One look: resolve every waiter, among those with a reason to look, that is met."""
        news, self._news = self._news, set()
        everything, self._everything = self._everything, False
        waiters = [
            waiter
            for waiter in self._waiters
            if not waiter.future.done() and (everything or not waiter.seen or waiter.reads & news)
        ]
        if not waiters:
            return
        cause = "fallback" if everything else "news" if news else "new waiter"
        LOOKS.labels(cause).inc()
        requirements = {waiter.requirement for waiter in waiters}
        try:
            observation = await observe(self._read_side, requirements)
        except Exception:
            # A store being down must not stop the watcher: waiters time out as stale.
            self._log_failure()
            return
        for waiter in waiters:
            waiter.seen = True
            if not waiter.future.done() and is_met(waiter.requirement, observation):
                waiter.future.set_result(True)
                MET.labels(cause).inc()

    async def _met_now(self, requirement: Requirement) -> bool:
        try:
            return is_met(requirement, await observe(self._read_side, [requirement]))
        except Exception:
            self._log_failure()
            return False

    def _log_failure(self) -> None:
        now = time.monotonic()
        if now - self._last_failure_logged >= FAILURE_LOG_INTERVAL_SECONDS:
            self._last_failure_logged = now
            log.warning("consistency watcher could not read the read side", exc_info=True)
