"""The projector's read-store ping: bounded, shared by concurrent probes, remembered briefly."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from projectors.engine.probes import NotReadyError, ReadStorePing
from tests.auth_fixtures import FakeClock


class Database:
    """Answers `ping` as told: at once, after `delay`, or with an error; counts pings."""

    def __init__(self) -> None:
        self.pings = 0
        self.delay = 0.0
        self.error: Exception | None = None

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "ping"
        self.pings += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return {"ok": 1}


def ping_of(database: Database, clock: FakeClock, **options: float) -> ReadStorePing:
    return ReadStorePing(cast(Any, database), clock=clock, **options)


async def test_an_answer_is_remembered_for_the_cache_period() -> None:
    database, clock = Database(), FakeClock()
    ping = ping_of(database, clock, cache_seconds=2)

    assert await ping.status() == "ok"
    database.error = ServerSelectionTimeoutError("gone")
    clock.advance(1.9)
    assert await ping.status() == "ok"
    clock.advance(0.1)
    assert await ping.status() == "unavailable: ServerSelectionTimeoutError"
    assert database.pings == 2


async def test_a_store_that_does_not_answer_is_unavailable_after_the_timeout() -> None:
    database, clock = Database(), FakeClock()
    database.delay = 60
    ping = ping_of(database, clock, timeout_seconds=0.05)

    status = await asyncio.wait_for(ping.status(), 1)

    assert status == "unavailable: no answer within 0.05 s"
    with pytest.raises(NotReadyError, match="read store is unavailable"):
        await ping.check()


async def test_concurrent_probes_share_one_ping() -> None:
    database, clock = Database(), FakeClock()
    database.delay = 0.01
    ping = ping_of(database, clock)

    statuses = await asyncio.gather(*(ping.status() for _ in range(20)))

    assert set(statuses) == {"ok"}
    assert database.pings == 1


async def test_another_query_that_timed_out_marks_the_store_unavailable_at_once() -> None:
    database, clock = Database(), FakeClock()
    ping = ping_of(database, clock, timeout_seconds=1)
    assert await ping.status() == "ok"

    told = ping.did_not_answer(TimeoutError())

    assert told == "unavailable: no answer within 1 s"
    assert await ping.status() == told
    assert database.pings == 1
