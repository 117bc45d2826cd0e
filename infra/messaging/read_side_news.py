"""News of the read side: the projector says which collections it has just written.

The query API's waiting reads look at the read store when told, not on a timer (ADR
0011). The news travels by Redis publish/subscribe: fire and forget, the fastest of the
channels measured (ADR 0011), already in every deployment of the stack, and a broadcast,
so every query API replica hears it. News is a hint, never the truth: the query API still reads the
documents, and keeps a slow fallback look for news lost while Redis was away.

One channel per read-store database, so stacks (and tests) sharing a Redis server do not
wake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable

import redis.asyncio as redis
from prometheus_client import Gauge
from redis.exceptions import RedisError

from infra.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 0.5
PUBLISH_TIMEOUT_SECONDS = 0.5
RETRY_AFTER_FAILURE_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
FAILURE_LOG_INTERVAL_SECONDS = 30.0

SUBSCRIBED = Gauge(
    "ledger_read_side_news_subscribed",
    "1 while this process hears the projector's news; 0 while it relies on its fallback.",
)

PROGRESS = "projection_progress"
"""The news that the projections' progress moved (it is in PostgreSQL, not a collection)."""

News = frozenset[str] | None
"""Collections that changed; None: anything may have (news may have been missed)."""


def news_channel(settings: Settings) -> str:
    """`ledger.read-side.<read-store database>`."""
    return f"ledger.read-side.{settings.mongodb.database}"


def _client(settings: Settings) -> redis.Redis:
    return redis.from_url(
        settings.redis.url.get_secret_value(),
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=0,
    )


def encode(collections: Iterable[str]) -> bytes:
    """The message: a JSON list of collection names."""
    return json.dumps(sorted(set(collections))).encode()


def decode(data: bytes | str) -> News:
    """The collections a message names; None when it is not ours to read."""
    try:
        names = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    return frozenset(names)


class NewsPublisher:
    """Announces written collections without ever holding the projector up.

    `announce` only records the names; one background task publishes whatever piled up
    meanwhile in one message. A Redis that is down costs a failed send now and then,
    never a write: the query API's fallback look covers the silence.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel = news_channel(settings)
        self._pending: set[str] = set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_failure_logged = 0.0

    async def start(self) -> None:
        """Start the sending task (Redis is connected on the first send)."""
        if self._task is None:
            self._task = asyncio.create_task(self._send_forever(), name="read-side-news")

    async def stop(self) -> None:
        """Stop sending; news not sent yet is dropped (it is only a hint)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def announce(self, collections: Iterable[str]) -> None:
        """Say that these collections have just been written (durably)."""
        self._pending.update(collections)
        if self._pending:
            self._ready.set()

    async def _send_forever(self) -> None:
        client = _client(self._settings)
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                names, self._pending = self._pending, set()
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                        await client.publish(self._channel, encode(names))
                except (RedisError, OSError, TimeoutError) as error:
                    self._log_failure(error)
                    await asyncio.sleep(RETRY_AFTER_FAILURE_SECONDS)
        finally:
            await client.aclose()

    def _log_failure(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_failure_logged >= FAILURE_LOG_INTERVAL_SECONDS:
            self._last_failure_logged = now
            log.warning("could not announce read-side news (%r); readers fall back", error)


async def follow_news(settings: Settings, on_news: Callable[[News], None]) -> None:
    """Call `on_news` for every announcement, for ever, reconnecting after failures.

    Every (re)subscription is reported as `None`: what was announced while nobody
    listened is unknown, so anything may have changed.
    """
    channel = news_channel(settings)
    backoff = 0.5
    while True:
        client = _client(settings)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message["type"] == "subscribe":
                    backoff = 0.5
                    SUBSCRIBED.set(1)
                    on_news(None)
                elif message["type"] == "message":
                    on_news(decode(message["data"]))
        except (RedisError, OSError) as error:
            log.warning("read-side news unavailable (%r); retrying in %.1fs", error, backoff)
        finally:
            SUBSCRIBED.set(0)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
