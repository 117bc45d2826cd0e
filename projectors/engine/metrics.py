"""What the projector tells operators: Prometheus metrics and the `/health` status.

Metrics live in prometheus_client's default registry (one set per process); the status
is this worker's own view: the partitions it holds, and per projection how far it got.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from projectors.engine.batches import ProjectionOutcome
from projectors.engine.dead_letters import EVERY_PROJECTION
from projectors.engine.records import DecodedBatch

EVENTS_APPLIED = Counter(
    "ledger_projector_events_applied",
    "Events a projection has taken through (applied, or found applied or not its concern).",
    ["projection"],
)
DEAD_LETTERS = Counter(
    "ledger_projector_dead_letters",
    "Events (or records) a projection sent to the dead-letter store.",
    ["projection"],
)
BATCH_DURATION = Histogram(
    "ledger_projector_batch_duration_seconds",
    "From a batch received to its offsets committed.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LAG_EVENTS = Gauge(
    "ledger_projector_lag_events",
    "Events on this worker's partitions not yet applied.",
    ["projection"],
)
LAG_SECONDS = Gauge(
    "ledger_projector_lag_seconds",
    "How old the last applied event is while events wait (0 when caught up).",
    ["projection"],
)

RATE_WINDOW_SECONDS = 60.0


@dataclass
class RateWindow:
    """Events per second over the last minute."""

    clock: Callable[[], float] = time.monotonic
    _counts: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, count: int) -> None:
        """Count events applied now."""
        self._counts.append((self.clock(), count))
        self._forget_old()

    def per_second(self) -> float:
        """The rate over the window."""
        self._forget_old()
        return sum(count for _, count in self._counts) / RATE_WINDOW_SECONDS

    def _forget_old(self) -> None:
        horizon = self.clock() - RATE_WINDOW_SECONDS
        while self._counts and self._counts[0][0] < horizon:
            self._counts.popleft()


@dataclass
class ProjectionStatus:
    """One projection's progress in this worker."""

    version: int
    position: int | None = None
    occurred_at: datetime | None = None
    rate: RateWindow = field(default_factory=RateWindow)


class ProjectorStatus:
    """Progress per projection and lag over the partitions held, fed after every batch."""

    def __init__(
        self, projections: Iterable[tuple[str, int]], wall_clock: Callable[[], datetime]
    ) -> None:
        self._projections = {name: ProjectionStatus(version) for name, version in projections}
        self._wall_clock = wall_clock
        self._lag_events: dict[str, int] = dict.fromkeys(self._projections, 0)
        self.partitions: dict[str, list[int]] = {}
        for name in self._projections:  # every series shows from the start, at zero
            EVENTS_APPLIED.labels(name)
            DEAD_LETTERS.labels(name)

    def applied(
        self, projection: str, events: int, position: int | None, occurred_at: datetime | None
    ) -> None:
        """`events` went through `projection`, the last of them at `position`."""
        status = self._projections[projection]
        status.rate.add(events)
        EVENTS_APPLIED.labels(projection).inc(events)
        if position is not None and (status.position is None or position > status.position):
            status.position, status.occurred_at = position, occurred_at

    def batch_done(
        self,
        projections: Iterable[tuple[str, bool]],
        batch: DecodedBatch,
        outcomes: StageOutcomes,
    ) -> None:
        """Count what a committed batch did, per (projection name, whether it is routed)."""
        nothing = ProjectionOutcome(applied=0, dead_lettered=0)
        for name, routed in projections:
            # A routed projection's events count when they come back from the routing
            # topic; its router on the events topic can only dead-letter them.
            first = outcomes.events.get(name, nothing)
            if routed:
                events = batch.routed.get(name, [])
                applied = outcomes.routed.get(name, nothing)
                dead_lettered = first.dead_lettered + applied.dead_lettered
            else:
                events, applied, dead_lettered = batch.events, first, first.dead_lettered
            last = max(events, key=lambda event: event.position, default=None)
            self.applied(
                name,
                applied.applied,
                last.position if last else None,
                last.occurred_at if last else None,
            )
            self.dead_lettered(name, dead_lettered)
        self.dead_lettered(EVERY_PROJECTION, len(batch.malformed))

    def dead_lettered(self, projection: str, count: int) -> None:
        """`count` events (or records) of a batch went to dead letters."""
        if count:
            DEAD_LETTERS.labels(projection).inc(count)

    def lagging(self, partitions: dict[str, list[int]], lag_events: dict[str, int]) -> None:
        """The partitions held now (by topic), and each projection's lag over them."""
        self.partitions = {topic: sorted(held) for topic, held in partitions.items()}
        for name in self._projections:
            self._lag_events[name] = lag_events.get(name, 0)
            LAG_EVENTS.labels(name).set(self._lag_events[name])
            LAG_SECONDS.labels(name).set(self.lag_seconds(name))

    def lag_events(self, projection: str) -> int:
        """Events waiting for the projection on this worker's partitions."""
        return self._lag_events[projection]

    def lag_seconds(self, projection: str) -> float:
        """Age of the last applied event while events are waiting; 0 when caught up."""
        occurred_at = self._projections[projection].occurred_at
        if self._lag_events[projection] == 0 or occurred_at is None:
            return 0.0
        return max(0.0, (self._wall_clock() - occurred_at).total_seconds())

    def report(self, dead_letters_pending: dict[str, int] | None) -> dict[str, Any]:
        """The `/health` body: per projection position, lag, rate and letters pending."""
        return {
            "partitions": self.partitions,
            "dead_letters_pending": (
                sum(dead_letters_pending.values()) if dead_letters_pending is not None else None
            ),
            "projections": {
                name: {
                    "version": status.version,
                    "position": status.position,
                    "occurred_at": status.occurred_at.isoformat() if status.occurred_at else None,
                    "lag_events": self._lag_events[name],
                    "lag_seconds": round(self.lag_seconds(name), 3),
                    "events_per_second": round(status.rate.per_second(), 3),
                    "dead_letters_pending": (
                        dead_letters_pending.get(name, 0)
                        if dead_letters_pending is not None
                        else None
                    ),
                }
                for name, status in self._projections.items()
            },
        }


@dataclass
class StageOutcomes:
    """What each projection did with a batch, on the events topic and on the routing topic."""

    events: dict[str, ProjectionOutcome] = field(default_factory=dict)
    routed: dict[str, ProjectionOutcome] = field(default_factory=dict)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)
