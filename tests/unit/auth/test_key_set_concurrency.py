"""The JWKS cache under concurrent requests: one fetch in flight, the last good keys kept."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from infra.security.auth.errors import KeySetUnavailableError
from infra.security.auth.key_set import KeySetCache, VerificationKey
from tests.auth_fixtures import FakeClock, LocalKey, generate_key

BURST = 64


class GatedSource:
    """A JWKS endpoint that answers only when the test opens the gate; counts fetches."""

    def __init__(self, *keys: LocalKey) -> None:
        self.keys = [key.public_jwk() for key in keys]
        self.fetches = 0
        self.failing = False
        self.gate = asyncio.Event()

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        await self.gate.wait()
        if self.failing:
            raise KeySetUnavailableError("down")
        return {"keys": list(self.keys)}


def cache_of(source: GatedSource, clock: FakeClock, **options: float) -> KeySetCache:
    settings: dict[str, Any] = {"max_age_seconds": 300, "min_refresh_interval_seconds": 30}
    return KeySetCache(source, clock=clock, **(settings | options))


async def burst(cache: KeySetCache, kid: str) -> list[VerificationKey | BaseException | None]:
    """`BURST` concurrent look-ups of `kid`, started before the source answers any."""
    lookups = [asyncio.create_task(cache.key(kid)) for _ in range(BURST)]
    await asyncio.sleep(0)  # every look-up reaches the cache while the gate is shut
    return await asyncio.gather(*lookups, return_exceptions=True)


async def open_soon(gate: asyncio.Event) -> None:
    await asyncio.sleep(0.01)
    gate.set()


async def test_a_burst_on_a_cold_cache_waits_for_a_single_fetch() -> None:
    key = generate_key()
    source, clock = GatedSource(key), FakeClock()
    cache = cache_of(source, clock)

    opener = asyncio.create_task(open_soon(source.gate))
    found = await burst(cache, key.kid)
    await opener

    assert all(isinstance(item, VerificationKey) and item.kid == key.kid for item in found)
    assert source.fetches == 1


async def test_a_cold_burst_with_the_issuer_down_fails_together_after_one_fetch() -> None:
    source, clock = GatedSource(), FakeClock()
    source.failing = True
    cache = cache_of(source, clock)

    opener = asyncio.create_task(open_soon(source.gate))
    found = await burst(cache, "any")
    await opener

    assert all(isinstance(item, KeySetUnavailableError) for item in found)
    assert source.fetches == 1


async def test_a_burst_on_an_expired_cache_awaits_one_refresh() -> None:
    old, new = generate_key(), generate_key()
    source, clock = GatedSource(old), FakeClock()
    source.gate.set()
    cache = cache_of(source, clock)
    assert await cache.key(old.kid) is not None
    source.keys = [new.public_jwk()]  # rotated while the keys were cached
    source.gate.clear()
    clock.advance(301)

    opener = asyncio.create_task(open_soon(source.gate))
    found = await burst(cache, new.kid)
    await opener

    assert all(isinstance(item, VerificationKey) and item.kid == new.kid for item in found)
    assert source.fetches == 2


async def test_a_failed_refresh_on_expiry_keeps_serving_the_last_keys() -> None:
    key = generate_key()
    source, clock = GatedSource(key), FakeClock()
    source.gate.set()
    cache = cache_of(source, clock)
    assert await cache.key(key.kid) is not None
    source.failing = True
    clock.advance(301)

    found = await burst(cache, key.kid)

    assert all(isinstance(item, VerificationKey) for item in found)
    assert source.fetches == 2  # one failed refresh, then none until the interval passes


async def test_keys_near_their_age_are_served_at_once_and_refreshed_behind() -> None:
    old, new = generate_key(), generate_key()
    source, clock = GatedSource(old), FakeClock()
    source.gate.set()
    cache = cache_of(source, clock)
    assert await cache.key(old.kid) is not None
    source.keys = [old.public_jwk(), new.public_jwk()]
    source.gate.clear()
    clock.advance(250)  # past REFRESH_AHEAD of 300 s, not past 300 s

    served = await asyncio.wait_for(cache.key(old.kid), 1)  # the gate is shut: no waiting
    source.gate.set()
    await asyncio.sleep(0.01)

    assert served is not None
    assert source.fetches == 2
    assert await cache.key(new.kid) is not None
    assert source.fetches == 2


async def test_a_hung_issuer_costs_a_cold_request_no_more_than_the_fetch_timeout() -> None:
    source, clock = GatedSource(), FakeClock()  # the gate never opens
    cache = cache_of(source, clock, fetch_timeout_seconds=0.05)

    with pytest.raises(KeySetUnavailableError):
        await asyncio.wait_for(cache.key("any"), 1)


async def test_a_hung_refresh_keeps_the_last_keys() -> None:
    key = generate_key()
    source, clock = GatedSource(key), FakeClock()
    source.gate.set()
    cache = cache_of(source, clock, fetch_timeout_seconds=0.05)
    assert await cache.key(key.kid) is not None
    source.gate.clear()
    clock.advance(301)

    assert await asyncio.wait_for(cache.key(key.kid), 1) is not None


async def test_a_request_that_gives_up_does_not_cancel_the_fetch_the_others_await() -> None:
    key = generate_key()
    source, clock = GatedSource(key), FakeClock()
    cache = cache_of(source, clock)
    first = asyncio.create_task(cache.key(key.kid))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.key(key.kid))
    await asyncio.sleep(0)

    first.cancel()  # its client went away
    source.gate.set()

    assert (await second) is not None
    assert source.fetches == 1


async def test_tokens_of_a_new_key_arriving_together_share_one_refresh() -> None:
    old, new = generate_key(), generate_key()
    source, clock = GatedSource(old), FakeClock()
    source.gate.set()
    cache = cache_of(source, clock)
    assert await cache.key(old.kid) is not None
    source.keys.append(new.public_jwk())  # the issuer rotated
    source.gate.clear()
    clock.advance(30)

    opener = asyncio.create_task(open_soon(source.gate))
    found = await burst(cache, new.kid)
    await opener

    assert all(isinstance(item, VerificationKey) and item.kid == new.kid for item in found)
    assert source.fetches == 2
