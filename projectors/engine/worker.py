"""The projector worker: consumes the events topic and keeps the read models up to date.

A worker is a member of its build's consumer group (which partitions it holds, fenced in a
rebalance, its commits) but does not fetch: the process's one fetch hands it each batch
of its partitions from its own position on (`projectors.engine.fetch`, ADR 0016), over
two topics. Events of the events topic are applied to the projections whose documents
belong to one aggregate, and the events of documents
fed by several aggregates (transfers, portfolios) are routed, keyed by document, to the
routing topic (see `projectors.engine.routing`), whose records are applied by whichever
worker holds their partition: every document has one writer at a time. Poison events
and foreign records go to dead letters; the fetch writes progress (in PostgreSQL, ADR
0015, one statement for every worker of the process); only then are the batch's
offsets committed, so a crash replays events, and every write is guarded by what its
document has applied, so a replayed event changes nothing. Several workers in one group
share the partitions of both topics; on a rebalance a worker finishes its batch before
letting go, so two workers never write the same documents at once.

Offsets are committed every `commit_interval_seconds`, not after every batch, and always
before partitions are handed over or the worker stops (ADR 0014). With a commit per
batch per projection, at low rates the broker took one commit per event per projection,
and committing once a second halved its CPU per command at 50 commands/s. Committing later
only widens what a crash replays, which the guards make harmless; progress, which
readers wait on, is still written after every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from infra.messaging.kafka import ensure_topic, make_consumer
from infra.messaging.read_side_news import PROGRESS as PROGRESS_NEWS
from infra.messaging.read_side_news import NewsPublisher
from infra.settings import Settings
from projectors.engine.batches import BatchApplier
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.fetch import Applied, Highwater, SharedFetch
from projectors.engine.metrics import BATCH_DURATION, ProjectorStatus, StageOutcomes, utc_now
from projectors.engine.probes import ProjectorProbes
from projectors.engine.records import Decoded, DecodedBatch, assemble
from projectors.engine.routing import KafkaRouting, Router, is_routed, router_stage_name
from projectors.engine.stopping import SHUTDOWN_GRACE_SECONDS, unless_stopped, until_stored
from projectors.engine.writers import ProjectionWriter, keyed_writer_for, writer_for
from projectors.projections.projection import Document, Projection

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500
# How long a rebalance waits for the batch in hand: past it, the batch's writes may overlap
# the next owner's. Below the consumer's max poll interval (300 s), which would evict us.
HANDOFF_TIMEOUT_SECONDS = 120.0
COMMIT_TIMEOUT_SECONDS = 30.0
CONSUMER_STOP_TIMEOUT_SECONDS = 2.0


class _FinishBatchBeforeHandoff(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets the batch in hand commit before its partitions move to another worker, and
    tells the process's fetch what the worker holds from where."""

    def __init__(self, worker: ProjectorWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._worker.release(revoked)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._worker.between_batches.wait(), HANDOFF_TIMEOUT_SECONDS)
        await self._worker.commit_before_handoff()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("projector holds %s", sorted((tp.topic, tp.partition) for tp in assigned))
        await self._worker.hold(assigned)


class ProjectorWorker:
    """One member of the projector consumer group."""

    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[Document],
        projections: Iterable[Projection],
        *,
        group_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._commit_interval = settings.projector.commit_interval_seconds
        self._group_id = group_id or settings.projector.group_id
        self._projections = list(projections)
        self._partitioned = [p for p in self._projections if not is_routed(p)]
        self._routed = [p for p in self._projections if is_routed(p)]
        # Progress of the events topic is the partitioned projections' and the routers';
        # progress of the routing topic is the routed projections'.
        self._events_stages = [(p.name, p.version) for p in self._partitioned] + [
            (router_stage_name(p.name), p.version) for p in self._routed
        ]
        self._routed_stages = [(p.name, p.version) for p in self._routed]
        self._routing = KafkaRouting(settings.kafka)
        self._news = NewsPublisher(settings)
        # What a stage writes, to announce once it is durable: the routers write nothing.
        self._events_collections = frozenset(
            name for projection in self._partitioned for name in projection.collections
        )
        self._routed_collections = {
            projection.name: projection.collections for projection in self._routed
        }
        self._dead_letters = DeadLetters(database)
        self._backoff_seconds = settings.projector.retry_backoff_seconds
        routed_writers = [keyed_writer_for(projection, database) for projection in self._routed]
        events_writers: list[ProjectionWriter] = [
            writer_for(projection, database) for projection in self._partitioned
        ]
        events_writers += [Router(writer, self._routing) for writer in routed_writers]
        self._events_stage = self._applier(events_writers)
        self._routed_stage = self._applier(routed_writers)
        self.status = ProjectorStatus(
            ((projection.name, projection.version) for projection in self._projections), utc_now
        )
        self.between_batches = asyncio.Event()
        self.between_batches.set()
        self._consumer: AIOKafkaConsumer | None = None
        self._member: AIOKafkaConsumer | None = None
        """The consumer in the build's group, from before it starts (it may be assigned
        partitions at once); `_consumer` is set once it has started."""
        self._fetch: SharedFetch | None = None
        self._stop = asyncio.Event()
        self._positions: dict[TopicPartition, int] = {}
        """The partitions held, each with the next offset to apply: what the fetch feeds."""
        self._next_offsets: dict[TopicPartition, int] = {}
        # Applied and durable, not committed yet; committed when due.
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self.applied = 0
        self._probes = ProjectorProbes(
            self._group_id,
            self.status,
            self._dead_letters,
            database,
            lambda: self._consumer,
        )

    def _applier(self, writers: Sequence[ProjectionWriter]) -> BatchApplier:
        return BatchApplier(
            writers,
            self._dead_letters,
            max_attempts=self._settings.projector.max_attempts,
            backoff_seconds=self._settings.projector.retry_backoff_seconds,
            traced=True,
        )

    async def run(self, stop: asyncio.Event, fetch: SharedFetch | None = None) -> None:
        """Consume and project until `stop` is set, fed by the process's `fetch` (or by a
        fetch of the worker's own)."""
        # The topics exist before subscribing: the consumer would wait for them forever.
        topics = [self._settings.kafka.topic] + ([self._routing.topic] if self._routed else [])
        for topic in topics:
            if not await unless_stopped(ensure_topic(self._settings.kafka, topic), stop):
                return
        if not await until_stored(self._prepare, stop, self._backoff_seconds):
            return
        own_fetch = fetch is None
        self._fetch = fetch = fetch or SharedFetch(self._settings)
        self._stop = stop
        consumer = make_consumer(self._settings.kafka, self._group_id)
        consumer.subscribe(topics, listener=_FinishBatchBeforeHandoff(self))
        self._member = consumer
        fetching: asyncio.Task[None] | None = None
        try:
            await self._news.start()
            if self._routed:
                await self._routing.start()
            if not await unless_stopped(consumer.start(), stop):
                return
            self._consumer = consumer
            fetch.join(self)
            if own_fetch:
                fetching = asyncio.create_task(fetch.run(stop))
            await self._keep_membership(consumer, stop, fetching)
        finally:
            fetch.leave(self)
            # A batch in hand honours `stop` within its grace; then what it applied commits.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.between_batches.wait(), 2 * SHUTDOWN_GRACE_SECONDS)
            if fetching is not None:
                fetching.cancel()
                await asyncio.wait({fetching})  # its failure, if any, went up already
            self._consumer = self._member = None
            self._positions = {}
            # What was applied is committed before leaving, within the shutdown grace.
            await self._commit_applied(consumer, stop)
            try:
                # Leaving the group hands the partitions over at once, but a rebalance in
                # progress holds the JoinGroup aiokafka sends first up to its timeout.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(consumer.stop(), CONSUMER_STOP_TIMEOUT_SECONDS)
            finally:
                await self._routing.stop()
                await self._news.stop()

    async def _keep_membership(
        self,
        consumer: AIOKafkaConsumer,
        stop: asyncio.Event,
        fetching: asyncio.Task[None] | None,
    ) -> None:
        """Stay in the group until `stop`: the member never fetches (its partitions are
        paused) but must poll, or the group takes it for dead; commit when due. A fetch of
        the worker's own that fails fails the worker."""
        while not stop.is_set():
            if fetching is not None and fetching.done():
                fetching.result()
            if not await unless_stopped(_poll(consumer), stop):
                return
            if time.monotonic() - self._last_commit >= self._commit_interval:
                await self._commit_applied(consumer, stop)
            self._observe_lag(consumer)

    @property
    def positions(self) -> dict[TopicPartition, int]:
        """The partitions this worker holds, each with the next offset it applies."""
        return self._positions

    async def hold(self, assigned: set[TopicPartition]) -> None:
        """Take newly assigned partitions, from the offsets the group committed."""
        consumer = self._member
        self.forget_partitions_except(assigned)
        if consumer is None or not assigned:
            return
        consumer.pause(*assigned)  # the process's fetch reads them, not the member
        committed = {partition: await consumer.committed(partition) for partition in assigned}
        unknown = [partition for partition, offset in committed.items() if offset is None]
        beginnings = await consumer.beginning_offsets(unknown) if unknown else {}
        self._positions = {
            partition: offset if offset is not None else beginnings[partition]
            for partition, offset in committed.items()
        }
        self._next_offsets.update(self._positions)
        if self._fetch is not None:
            self._fetch.assignment_changed()

    def release(self, revoked: set[TopicPartition]) -> None:
        """Stop being fed the partitions being revoked (a batch in hand goes on)."""
        self._positions = {p: o for p, o in self._positions.items() if p not in revoked}
        if self._fetch is not None:
            self._fetch.assignment_changed()

    async def _prepare(self) -> None:
        await self._events_stage.prepare()
        await self._routed_stage.prepare()

    def forget_partitions_except(self, assigned: set[TopicPartition]) -> None:
        """Drop what is known of partitions this worker no longer holds."""
        self._next_offsets = {
            partition: offset
            for partition, offset in self._next_offsets.items()
            if partition in assigned
        }
        self._uncommitted = {
            partition: offset
            for partition, offset in self._uncommitted.items()
            if partition in assigned
        }

    async def commit_before_handoff(self) -> None:
        """Commit what was applied, while the partitions being revoked are still ours."""
        consumer = self._consumer
        if consumer is not None:
            await self._commit_applied(consumer, asyncio.Event())

    async def apply(
        self, decoded: Decoded, starts: Mapping[TopicPartition, int], highwater: Highwater
    ) -> Applied | None:
        """Write, of each partition in `starts`, the records from that offset on; the batch
        counts as applied once the fetch has recorded its progress (`Applied.settle`)."""
        started = time.perf_counter()
        stop = self._stop
        self.between_batches.clear()
        batch = assemble(decoded, starts, highwater)
        outcomes = StageOutcomes()

        async def store() -> None:
            # Each write is announced as soon as it is durable, so waiting reads see
            # documents before this batch's progress is written (ADR 0011).
            if batch.events:
                outcomes.events = await self._events_stage.apply(batch.events)
                self._news.announce(self._events_collections)
            outcomes.routed = await self._routed_stage.apply_each(batch.routed)
            self._news.announce(self._written_by_routed(batch))
            for record, error in batch.malformed:
                await self._dead_letters.record_malformed(record, error)

        try:
            stored = bool(batch.offsets) and await until_stored(store, stop, self._backoff_seconds)
        except BaseException:
            self.between_batches.set()
            raise
        if not stored:  # stopping: the batch stays uncommitted, for the next owner
            self.between_batches.set()
            return None

        async def settle() -> None:
            self._news.announce([PROGRESS_NEWS])
            self._uncommitted.update(batch.offsets)
            self._next_offsets.update(batch.offsets)
            for partition, offset in batch.offsets.items():
                if partition in self._positions:  # not revoked meanwhile
                    self._positions[partition] = offset
            self._account(batch, outcomes)
            self.between_batches.set()
            BATCH_DURATION.observe(time.perf_counter() - started)
            consumer = self._consumer
            if consumer is not None and time.monotonic() - self._last_commit >= (
                self._commit_interval
            ):
                await self._commit_applied(consumer, stop)

        progress = [
            (self._events_stages, batch.progress.get(self._settings.kafka.topic, [])),
            (self._routed_stages, batch.progress.get(self._routing.topic, [])),
        ]
        return Applied(progress, settle, self.between_batches.set)

    def _written_by_routed(self, batch: DecodedBatch) -> list[str]:
        return [
            name
            for projection, events in batch.routed.items()
            if events
            for name in self._routed_collections.get(projection, ())
        ]

    async def _commit_applied(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Commit every offset applied since the last commit, if any."""
        offsets, self._uncommitted = self._uncommitted, {}
        self._last_commit = time.monotonic()
        if offsets:
            await self._commit(consumer, offsets, stop)

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        offsets: dict[TopicPartition, int],
        stop: asyncio.Event,
    ) -> None:
        commit = asyncio.wait_for(consumer.commit(offsets), COMMIT_TIMEOUT_SECONDS)
        try:
            if not await unless_stopped(commit, stop, SHUTDOWN_GRACE_SECONDS):
                log.warning("stopping before %s were committed: they will be replayed", offsets)
                return
        except (KafkaError, TimeoutError) as error:
            # Lost the partitions in a rebalance (or the broker): whoever reads them next
            # applies these events again, and the guards make that change nothing.
            log.warning("could not commit %s: %r", offsets, error)

    def _account(self, batch: DecodedBatch, outcomes: StageOutcomes) -> None:
        self.applied += batch.size
        self.status.batch_done(
            [(projection.name, is_routed(projection)) for projection in self._projections],
            batch,
            outcomes,
        )

    def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        lag_by_topic: dict[str, int] = {}
        held: dict[str, list[int]] = {}
        for partition in consumer.assignment():
            held.setdefault(partition.topic, []).append(partition.partition)
            highwater = self._fetch.highwater(partition) if self._fetch is not None else None
            next_offset = self._next_offsets.get(partition)
            if highwater is not None and next_offset is not None:
                lag = max(0, highwater - next_offset)
                lag_by_topic[partition.topic] = lag_by_topic.get(partition.topic, 0) + lag
        events_lag = lag_by_topic.get(self._settings.kafka.topic, 0)
        routed_lag = events_lag + lag_by_topic.get(self._routing.topic, 0)
        self.status.lagging(
            held,
            {
                projection.name: routed_lag if is_routed(projection) else events_lag
                for projection in self._projections
            },
        )

    @property
    def group_id(self) -> str:
        """The consumer group this worker is a member of."""
        return self._group_id

    @property
    def consuming(self) -> bool:
        """Whether the consumer has joined its group and is polling."""
        return self._consumer is not None

    async def health(self) -> dict[str, Any]:
        """The `/health` status of this worker."""
        return await self._probes.health()

    def probes(self) -> FastAPI:
        """The `/health`, `/ready` and `/metrics` app of this worker."""
        return self._probes.app()


async def _poll(consumer: AIOKafkaConsumer) -> None:
    """One poll of a member whose partitions are paused: returns nothing, after a while."""
    await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
