"""The projector's `/health`, `/ready` and `/metrics`, served next to its consumer loop.

`/health` stays 200 while the process lives (restarting it would not bring the read store
back), and says whether the read store answers: `read_store` is `ok` or `unavailable: …`,
as on the query API, from a ping bounded by `READ_STORE_TIMEOUT_SECONDS` and remembered
for `READ_STORE_CACHE_SECONDS` so that probes stay cheap. `/ready` answers 503 then.
So a read store that is down, or up but wedged (it accepts connections and never
answers), shows as unavailable within about three seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError

from infra.runtime.probes import probes_app
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.metrics import ProjectorStatus
from projectors.projections.projection import Document

T = TypeVar("T")

PROBE_TIMEOUT_SECONDS = 3.0
READ_STORE_TIMEOUT_SECONDS = 1.0
READ_STORE_CACHE_SECONDS = 2.0
READ_STORE_OK = "ok"


class NotReadyError(RuntimeError):
    """The worker is not consuming (yet), so it is not ready."""


class ReadStorePing:
    """Whether the read store answers a `ping`: bounded, one at a time, remembered briefly."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        timeout_seconds: float = READ_STORE_TIMEOUT_SECONDS,
        cache_seconds: float = READ_STORE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._last: tuple[float, str] | None = None
        self._in_flight: dict[str, asyncio.Future[Any]] = {}

    async def status(self) -> str:
        """`ok`, or `unavailable: <why>`; at most `timeout_seconds` old news or late."""
        last = self._last
        if last is not None and self._clock() - last[0] < self._cache_seconds:
            return last[1]
        try:
            await self.within_deadline("ping", lambda: self._database.command("ping"))
        except Exception as error:  # whatever the driver raises, the store did not answer
            status = self._unavailable(error)
        else:
            status = READ_STORE_OK
        self._last = (self._clock(), status)
        return status

    async def within_deadline(self, name: str, start: Callable[[], Awaitable[T]]) -> T:
        """The answer of `start()` if it comes within the deadline, else TimeoutError.

        A late command is never cancelled: cancelling closes the connection in the middle
        of the command, once suspected of leaking FerretDB v1's PostgreSQL connections
        (not reproduced since: see `infra.readstore.client`; the wedge we know comes from
        one big bulk). Not cancelling costs nothing: the command goes on in the background,
        ends at the client's deadline at the latest, and a later call waits on it instead
        of sending another, so a slow store is never sent a pile of pings.
        """
        running = self._in_flight.get(name)
        if (
            running is None
            or running.done()
            or running.get_loop() is not asyncio.get_running_loop()
        ):
            running = asyncio.ensure_future(start())
            # A late command ends by itself: at the client's deadline at the latest
            # (`infra.readstore.client`); its error then matters to nobody.
            running.add_done_callback(_ignore_outcome)
            self._in_flight[name] = running
        done, _ = await asyncio.wait({running}, timeout=self._timeout)
        if not done:
            raise TimeoutError
        return cast(T, running.result())

    async def check(self) -> None:
        """Raise `NotReadyError` unless the read store answers."""
        status = await self.status()
        if status != READ_STORE_OK:
            raise NotReadyError(f"the read store is {status}")

    def did_not_answer(self, error: BaseException) -> str:
        """Another query timed out or lost its connection: remember the store as unavailable
        (without waiting for the next ping) and say so."""
        status = self._unavailable(error)
        self._last = (self._clock(), status)
        return status

    def _unavailable(self, error: BaseException) -> str:
        if isinstance(error, TimeoutError):
            return f"unavailable: no answer within {self._timeout:g} s"
        return f"unavailable: {type(error).__name__}"


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so that asyncio does not log it as forgotten


async def pending_dead_letters(
    read_store: ReadStorePing, dead_letters: DeadLetters
) -> tuple[str, dict[str, int] | None]:
    """The read store's status, and the letters pending per projection when it answers."""
    status = await read_store.status()
    if status != READ_STORE_OK:
        return status, None  # do not wait on a store that just failed to answer a ping
    try:
        pending = await read_store.within_deadline(
            "dead letters", dead_letters.pending_by_projection
        )
    except (ConnectionFailure, TimeoutError) as error:
        return read_store.did_not_answer(error), None  # since the last ping, it stopped
    except PyMongoError:
        return status, None  # the status still says how far the worker got
    return status, pending


class ProjectorProbes:
    """What one projector worker reports about itself."""

    def __init__(
        self,
        group_id: str,
        status: ProjectorStatus,
        dead_letters: DeadLetters,
        database: AsyncDatabase[Document],
        consumer: Callable[[], AIOKafkaConsumer | None],
    ) -> None:
        self._group_id = group_id
        self._status = status
        self._dead_letters = dead_letters
        self._read_store = ReadStorePing(database)
        self._consumer = consumer

    async def health(self) -> dict[str, Any]:
        """Whether the read store answers; partitions held and, per projection, position,
        lag, rate and letters pending."""
        read_store, pending = await pending_dead_letters(self._read_store, self._dead_letters)
        return {
            "group_id": self._group_id,
            "read_store": read_store,
            **self._status.report(pending),
        }

    async def readiness(self) -> dict[str, Any]:
        """Consuming, and both Kafka and the read store answer."""
        await self._read_store.check()
        consumer = self._consumer()
        if consumer is None:
            raise NotReadyError("the projector is not consuming yet")
        await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT_SECONDS)
        return {"kafka": "ok", "mongodb": "ok"}

    def app(self) -> FastAPI:
        """The probes as an app for `infra.runtime.probes.serve_probes`."""
        return probes_app("projector", self.health, self.readiness)
