"""The relay: publishes the event store's notification log to Kafka, at least once, in order.

One relay is active at a time (it holds a PostgreSQL advisory lock); others wait as
standbys. The active relay reads the log after its checkpoint in pages (through the
library's recorder), publishes each event as a CloudEvent keyed by aggregate id with an
idempotent `acks=all` producer, and moves the checkpoint only after the broker has
acknowledged the whole page. It sleeps on the library's LISTEN/NOTIFY channel, with a
polling fallback in case a notification is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import Notification
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram
from psycopg import sql

from domain.ledger import Ledger
from infra.eventstore.codec import envelope_from
from infra.eventstore.leadership import RELAY_LOCK, TRY_LOCK
from infra.eventstore.schema import NOTIFY_CHANNEL
from infra.messaging.cloudevents import to_record
from infra.messaging.kafka import ensure_topic, make_producer
from infra.runtime.probes import probes_app, serve_probes
from infra.runtime.tracing import continued
from infra.settings import Settings

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

MAX_BACKOFF_SECONDS = 10.0

CREATE_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS relay_checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""


PUBLISHED = Counter("ledger_relay_published_events_total", "Events the relay has published")
POSITION = Gauge("ledger_relay_position", "Last log position acknowledged by the broker")
ACTIVE = Gauge("ledger_relay_active", "1 while this relay holds the lock and publishes")
PAGE_SECONDS = Histogram("ledger_relay_page_seconds", "Time to publish and acknowledge one page")
FAILURES = Counter("ledger_relay_failures_total", "Times the relay lost a connection or failed")


@dataclass
class RelayStatus:
    """What the relay is doing, for health checks and tests."""

    active: bool = False
    position: int = 0
    published: int = 0


class Relay:
    """Follows the log from its checkpoint and publishes every event to Kafka."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self._settings = settings
        self._ledger = ledger
        self._checkpoint_name = f"kafka:{settings.kafka.topic}"
        self.status = RelayStatus()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, surviving broker and database restarts."""
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._run_while_connected(stop)
                backoff = 0.5
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
                log.warning("relay lost a connection (%s); retrying in %.1fs", error, backoff)
                FAILURES.inc()
            except Exception:
                log.exception("relay failed; retrying in %.1fs", backoff)
                FAILURES.inc()
            self.status.active = False
            ACTIVE.set(0)
            await _sleep_unless(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _run_while_connected(self, stop: asyncio.Event) -> None:
        conninfo = self._settings.postgres.url.get_secret_value()
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute(CREATE_CHECKPOINTS)
            if not await self._acquire_lock(conn, stop):
                return
            log.info("relay is active")
            self.status.active = True
            ACTIVE.set(1)
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            await ensure_topic(self._settings.kafka)
            producer = make_producer(self._settings.kafka)
            await producer.start()
            try:
                await self._publish_until_stopped(conn, producer, stop)
            finally:
                await producer.stop()

    async def _acquire_lock(self, conn: Connection, stop: asyncio.Event) -> bool:
        announced = False
        while not stop.is_set():
            cursor = await conn.execute(TRY_LOCK, (RELAY_LOCK,))
            row = await cursor.fetchone()
            if row is not None and row[0] is True:
                return True
            if not announced:
                log.info("another relay is active; standing by")
                announced = True
            await _sleep_unless(stop, 1.0)
        return False

    async def _publish_until_stopped(
        self,
        conn: Connection,
        producer: AIOKafkaProducer,
        stop: asyncio.Event,
    ) -> None:
        position = await self._load_checkpoint(conn)
        self.status.position = position
        while not stop.is_set():
            page = await asyncio.to_thread(self._read_page, position)
            if page:
                with PAGE_SECONDS.time():
                    await self._publish(producer, page)
                position = page[-1].id
                await self._save_checkpoint(conn, position)
                self.status.position = position
                self.status.published += len(page)
                PUBLISHED.inc(len(page))
                POSITION.set(position)
                continue
            await self._wait_for_news(conn, stop)

    def _read_page(self, position: int) -> Sequence[Notification]:
        return self._ledger.recorder.select_notifications(
            start=position, limit=self._settings.relay.batch_size, inclusive_of_start=False
        )

    async def _publish(self, producer: AIOKafkaProducer, page: Sequence[Notification]) -> None:
        topic = self._settings.kafka.topic
        source = self._settings.relay.source
        deliveries = []
        for notification in page:
            envelope = envelope_from(notification, self._ledger.mapper)
            # The record carries the publishing span's context, so consumers' spans hang
            # under the relay's in the command's trace.
            with continued(
                f"relay publish {envelope.event_type}",
                envelope.traceparent,
                kind=SpanKind.PRODUCER,
                attributes={"ledger.position": envelope.position},
            ) as traceparent:
                record = to_record(replace(envelope, traceparent=traceparent), source)
                deliveries.append(
                    await producer.send(
                        topic, value=record.value, key=record.key, headers=record.headers
                    )
                )
        # Every send must be acknowledged before the checkpoint moves past it.
        await asyncio.gather(*deliveries)

    async def _wait_for_news(self, conn: Connection, stop: asyncio.Event) -> None:
        timeout = self._settings.relay.poll_interval_seconds
        async for _ in conn.notifies(timeout=timeout, stop_after=1):
            break
        # Notifications that piled up while the relay was publishing (psycopg keeps them)
        # announce events the next page read sees anyway: drop them now, or each would
        # cost an empty page read later.
        async for _ in conn.notifies(timeout=0):
            pass

    async def _load_checkpoint(self, conn: Connection) -> int:
        cursor = await conn.execute(
            "SELECT position FROM relay_checkpoints WHERE name = %s", (self._checkpoint_name,)
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _save_checkpoint(self, conn: Connection, position: int) -> None:
        await conn.execute(
            "INSERT INTO relay_checkpoints (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            (self._checkpoint_name, position),
        )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_with_probes(settings: Settings, ledger: Ledger, stop: asyncio.Event) -> None:
    """The relay plus its /health, /ready and /metrics."""
    relay = Relay(settings, ledger)

    async def status() -> dict[str, Any]:
        newest = await asyncio.to_thread(ledger.recorder.max_notification_id) or 0
        lag = max(newest - relay.status.position, 0) if relay.status.active else None
        return {
            "role": "active" if relay.status.active else "standby",
            "position": relay.status.position,
            "published": relay.status.published,
            "lag_events": lag,
        }

    async def ready() -> dict[str, Any]:
        await asyncio.to_thread(ledger.recorder.max_notification_id)
        return {"postgres": "ok"}

    probes = probes_app("relay", status, ready)
    await asyncio.gather(
        relay.run(stop), serve_probes(probes, settings.relay.host, settings.relay.port, stop)
    )
