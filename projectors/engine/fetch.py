"""One fetch per projector process: each record read and decoded once, for every projection.

Each build of a projection keeps a consumer group of its own (ADR 0008): its member
consumer is how Kafka assigns it partitions, fences it in a rebalance and takes its
commits, and how operators see that it has stood down. But members do not fetch: their
partitions stay paused. One consumer of the process, in no group, fetches the union of
what the members hold, from the least of their positions; it decodes each record once and
hands every member the records of its own partitions from its own position on (ADR 0016).
Before, each projection's consumer fetched and decoded every record: five times.

A member only ever gets records that follow on from what it applied: one whose position
is behind where a fetch started (it joined, was reset, or failed to apply a batch) gets
nothing of that partition from that fetch; members ahead of it skip what they applied
already. Members at different positions take turns, so one replaying a long stretch
slows the others down rather than stopping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from infra.eventstore.progress import PartitionReached, Stage
from infra.messaging.kafka import make_fetcher
from infra.settings import Settings
from projectors.engine.progress import ProgressStore
from projectors.engine.records import Decoded, decode_records
from projectors.engine.routing import routing_topic
from projectors.engine.stopping import until_stored

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500
IDLE_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 1.0

Highwater = Mapping[TopicPartition, int | None]


ProgressRows = Sequence[tuple[Sequence[Stage], Sequence[PartitionReached]]]


@dataclass(frozen=True)
class Applied:
    """A member's batch whose documents are durable, waiting for its progress to be."""

    progress: ProgressRows
    settle: Callable[[], Awaitable[None]]
    """Progress is durable: the batch counts as applied (and commits when due)."""
    abandon: Callable[[], None]
    """Progress was not written (stopping): the batch will be applied again."""


class FetchMember(Protocol):
    """A build's worker, fed by the process's fetch."""

    @property
    def positions(self) -> Mapping[TopicPartition, int]:
        """The partitions it holds, each with the next offset it applies."""
        ...

    async def apply(
        self, decoded: Decoded, starts: Mapping[TopicPartition, int], highwater: Highwater
    ) -> Applied | None:
        """Write, of each partition in `starts`, the records from that offset on (None:
        nothing to write, or stopped before it was written)."""
        ...


class SharedFetch:
    """The process's one fetching consumer, and the loop that feeds every member."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._backoff_seconds = settings.projector.retry_backoff_seconds
        self._routing_topic = routing_topic(settings.kafka.topic)
        self._members: list[FetchMember] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = {}
        """Where the fetch goes on from, per partition: the offset after the last record it
        returned, or where it was last sent."""
        self._changed = asyncio.Event()
        self._progress = ProgressStore(settings)
        self._behind_turn: dict[TopicPartition, bool] = {}

    def join(self, member: FetchMember) -> None:
        """Feed `member` from the next fetch on."""
        self._members.append(member)
        self._changed.set()

    def leave(self, member: FetchMember) -> None:
        """Feed `member` no more (a batch it is applying goes on)."""
        with contextlib.suppress(ValueError):
            self._members.remove(member)
        self._changed.set()

    def assignment_changed(self) -> None:
        """A member's partitions or positions changed: look again before the next fetch."""
        self._changed.set()

    def highwater(self, partition: TopicPartition) -> int | None:
        """The partition's end offset at the last fetch, if the fetch reads it."""
        consumer = self._consumer
        if consumer is None or partition not in consumer.assignment():
            return None
        highwater: int | None = consumer.highwater(partition)
        return highwater

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch for the members until `stop` is set."""
        consumer = make_fetcher(self._settings.kafka)
        start = asyncio.ensure_future(consumer.start())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        try:
            if not start.done():
                start.cancel()
                return
            start.result()
            if not await until_stored(self._progress.prepare, stop, self._backoff_seconds):
                return
            self._consumer = consumer
            while not stop.is_set():
                await self._fetch_once(consumer, stop)
        finally:
            self._consumer = None
            await self._progress.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consumer.stop(), STOP_TIMEOUT_SECONDS)

    async def _fetch_once(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        self._changed.clear()
        wanted = self._wanted()
        self._follow(consumer, wanted)
        if not wanted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self._changed), IDLE_SECONDS)
            return
        fetched_from = dict(self._next)
        try:
            batches = await consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=self._settings.projector.max_batch
            )
        except KafkaError as error:
            log.warning("fetching failed (%r); again in %.1fs", error, RETRY_SECONDS)
            self._next = {}  # from where each member stands, whatever the fetch had read
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
            return
        decoded = decode_records(batches, self._routing_topic)
        if not decoded:
            return
        for partition, records in decoded.items():
            self._next[partition] = records[-1].offset + 1
        highwater = {partition: consumer.highwater(partition) for partition in decoded}
        feeds = []
        for member in list(self._members):
            # Only what follows on from the member's position: a member behind the fetch
            # waits for the fetch to go back to it.
            starts = {
                partition: position
                for partition, position in member.positions.items()
                if partition in decoded and position >= fetched_from.get(partition, position + 1)
            }
            if starts:
                feeds.append(member.apply(decoded, starts, highwater))
        applied = [batch for batch in await asyncio.gather(*feeds) if batch is not None]
        if applied:
            await self._record_progress(applied, stop)

    async def _record_progress(self, applied: list[Applied], stop: asyncio.Event) -> None:
        """One statement for every member's progress, then the members take their batches
        as applied (ADR 0015: progress is written once the documents are durable)."""
        rows = [row for batch in applied for row in batch.progress]
        try:
            recorded = await until_stored(
                lambda: self._progress.record(rows), stop, self._backoff_seconds
            )
        except BaseException:
            for batch in applied:
                batch.abandon()
            raise
        for batch in applied:
            if recorded:
                await batch.settle()
            else:
                batch.abandon()

    def _wanted(self) -> dict[TopicPartition, list[int]]:
        """Every partition a member holds, with its holders' positions (distinct, in order)."""
        wanted: dict[TopicPartition, set[int]] = {}
        for member in self._members:
            for partition, position in member.positions.items():
                wanted.setdefault(partition, set()).add(position)
        return {partition: sorted(positions) for partition, positions in wanted.items()}

    def _follow(self, consumer: AIOKafkaConsumer, wanted: dict[TopicPartition, list[int]]) -> None:
        """Fetch exactly the wanted partitions, each from a position one of its holders is at.

        Holders at different positions (one was reset, or just joined) take turns: the
        furthest behind, then the furthest ahead. Fetching only from the furthest behind
        would hold every other projection of the process back until it caught up.
        """
        if set(wanted) != consumer.assignment():
            consumer.assign(list(wanted))
            self._next = {}  # assigning forgets every position: seek them all
        for partition, positions in wanted.items():
            behind_turn = self._behind_turn.get(partition, True)
            position = positions[0] if behind_turn else positions[-1]
            if len(positions) > 1:
                self._behind_turn[partition] = not behind_turn
            if self._next.get(partition) != position:
                consumer.seek(partition, position)
                self._next[partition] = position


async def _first(*events: asyncio.Event) -> None:
    """Return once any of the events is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
