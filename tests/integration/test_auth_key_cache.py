"""The APIs' JWKS cache under bursts, with the real issuer: never a 503 while the issuer is up.

The settings are the production ones (keys cached, refetch rate-limited), not
`with_local_issuer`'s defaults (never cached, never rate-limited), which hid the fault:
on a cold cache, every request arriving while the first JWKS fetch was in flight was
refused 503 `authentication-unavailable` instead of waiting for that fetch.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from infra.security.issuer.app import JWKS_PATH
from infra.settings import Settings
from query_api.app import create_app as create_query_app
from tests.auth_fixtures import (
    InProcessIssuer,
    bearer,
    create_client,
    fetch_token,
    http_client,
    issuer_in_process,
    issuer_process,
    protected_app,
    with_local_issuer,
)
from tests.conftest import isolated
from tests.network import free_port

pytestmark = pytest.mark.integration

BURST = 64
# The production defaults (LEDGER_AUTH_JWKS_CACHE_SECONDS, …_MIN_REFRESH_SECONDS).
PRODUCTION_CACHE = {"jwks_cache_seconds": 300, "jwks_min_refresh_seconds": 30.0}
# A lifetime a test can wait out; no second refresh can start within a burst shorter than it.
SHORT_CACHE = {"jwks_cache_seconds": 3, "jwks_min_refresh_seconds": 3.0}


class CountingTransport(httpx.AsyncBaseTransport):
    """The way to the issuer: counts JWKS fetches, and fails them while `down` is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.jwks_fetches = 0
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == JWKS_PATH:
            self.jwks_fetches += 1
            if self.down:
                raise httpx.ConnectError("the issuer is down", request=request)
        return await self._inner.handle_async_request(request)


@pytest.fixture(scope="module")
def base(stack: Settings) -> Iterator[Settings]:
    with isolated(stack) as settings:
        yield settings


async def burst(api: httpx.AsyncClient, token: str, size: int = BURST) -> Counter[int]:
    """`size` concurrent reads with `token`; how many got each status."""
    responses = await asyncio.gather(
        *(api.get("/protected", headers=bearer(token)) for _ in range(size))
    )
    return Counter(response.status_code for response in responses)


async def new_token(settings: Settings, issuer: InProcessIssuer) -> str:
    """A token the API has not seen (its verdict cache would skip the keys otherwise)."""
    return await fetch_token(issuer.http, create_client(settings, scopes="ledger:read"))


async def test_a_burst_on_a_cold_cache_waits_for_one_fetch(base: Settings) -> None:
    settings = with_local_issuer(base, **PRODUCTION_CACHE)
    async with issuer_in_process(settings) as issuer:
        token = await new_token(settings, issuer)
        to_issuer = CountingTransport(issuer.transport)
        async with http_client(protected_app(settings.auth, transport=to_issuer)) as api:
            statuses = await burst(api, token)

    assert statuses == {200: BURST}
    assert to_issuer.jwks_fetches == 1


async def test_a_burst_on_a_cold_cache_with_the_issuer_process(base: Settings) -> None:
    with issuer_process(base) as running:
        trusting = with_local_issuer(running, running.auth.issuer, **PRODUCTION_CACHE)
        client = create_client(trusting, scopes="ledger:read")
        async with httpx.AsyncClient(base_url=trusting.auth.issuer) as issuer_http:
            token = await fetch_token(issuer_http, client)
        async with http_client(protected_app(trusting.auth)) as api:
            statuses = await burst(api, token)

    assert statuses == {200: BURST}


async def keys_cached_then_expired(
    api: httpx.AsyncClient, settings: Settings, issuer: InProcessIssuer
) -> str:
    """Let the API cache the keys, wait out their lifetime; a token it has not seen yet."""
    assert await burst(api, await new_token(settings, issuer), 1) == {200: 1}
    token = await new_token(settings, issuer)
    # Waiting out a configured lifetime of 3 s, not guessing at an eventual state.
    await asyncio.sleep(settings.auth.jwks_cache_seconds + 0.2)
    return token


async def test_a_burst_across_the_cache_expiry_is_served(base: Settings) -> None:
    settings = with_local_issuer(base, **SHORT_CACHE)
    async with issuer_in_process(settings) as issuer:
        to_issuer = CountingTransport(issuer.transport)
        async with http_client(protected_app(settings.auth, transport=to_issuer)) as api:
            token = await keys_cached_then_expired(api, settings, issuer)

            statuses = await burst(api, token)

    assert statuses == {200: BURST}
    assert to_issuer.jwks_fetches == 2  # the first, then one refresh for the whole burst


async def test_a_burst_after_expiry_with_the_issuer_down_is_served_from_the_last_keys(
    base: Settings,
) -> None:
    settings = with_local_issuer(base, **SHORT_CACHE)
    async with issuer_in_process(settings) as issuer:
        to_issuer = CountingTransport(issuer.transport)
        async with http_client(protected_app(settings.auth, transport=to_issuer)) as api:
            token = await keys_cached_then_expired(api, settings, issuer)
            to_issuer.down = True

            statuses = await burst(api, token)

    assert statuses == {200: BURST}
    assert to_issuer.jwks_fetches == 2  # one failed refresh, not one per request


async def test_a_cold_burst_with_the_issuer_down_is_503_after_one_fetch(base: Settings) -> None:
    settings = with_local_issuer(base, **PRODUCTION_CACHE)
    async with issuer_in_process(settings) as issuer:
        token = await new_token(settings, issuer)
        to_issuer = CountingTransport(issuer.transport)
        to_issuer.down = True
        async with http_client(protected_app(settings.auth, transport=to_issuer)) as api:
            statuses = await burst(api, token)

    assert statuses == {503: BURST}  # nothing to verify with: an outage, not a bad token
    assert to_issuer.jwks_fetches == 1


async def test_with_the_issuer_down_a_rate_limited_api_answers_503_not_500(
    base: Settings,
) -> None:
    # The rate limiter identifies the caller before any route runs; when the keys cannot
    # be fetched it must let the route answer (503), not fail the whole request (500).
    settings = with_local_issuer(base, **PRODUCTION_CACHE)
    async with issuer_in_process(settings) as issuer:
        token = await new_token(settings, issuer)
    unreachable = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    issuer_down = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(update={"jwks_url": unreachable}),
            "ratelimit": settings.ratelimit.model_copy(update={"enabled": True}),
        }
    )
    app = create_query_app(issuer_down)
    async with LifespanManager(app, startup_timeout=15) as manager, http_client(manager.app) as api:
        response = await api.get("/v1/accounts", headers=bearer(token))

    assert response.status_code == 503, response.text
    assert response.json()["type"].endswith("authentication-unavailable")
