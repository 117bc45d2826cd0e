"""Rate limiting on the stack's real Redis, through two app replicas that share it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from starlette.requests import Request

from infra.problems import PROBLEM_JSON, install_problem_handlers, problem_type
from infra.security.ratelimit import RateLimiter, RateLimitMiddleware
from infra.security.ratelimit import limiter as limiter_module
from infra.settings import RateLimitSettings, Settings
from tests.network import free_port

pytestmark = pytest.mark.integration

LIMITS = RateLimitSettings(
    commands="5/second",
    queries="5/second",
    client_overrides='{"bulk-importer": {"commands": "8/second"}}',
)


def replica(limiter: RateLimiter) -> FastAPI:
    """A tiny app with one command and one query route, limited like the real APIs."""
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, client_id=_test_client)

    @app.post("/v1/transfers")
    async def request_transfer() -> dict[str, str]:
        return {"status": "accepted"}

    @app.get("/v1/accounts/{account_id}")
    async def account(account_id: str) -> dict[str, str]:
        return {"account_id": account_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _test_client(request: Request) -> str | None:
    return request.headers.get("x-test-client")


def client_for(limiter: RateLimiter) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=replica(limiter))
    return httpx.AsyncClient(transport=transport, base_url="http://ledger.test")


@pytest.fixture
async def limiters(stack: Settings) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two replicas' limiters, each with its own connection pool to the same Redis."""
    url = stack.redis.url.get_secret_value()
    first, second = RateLimiter.from_url(LIMITS, url), RateLimiter.from_url(LIMITS, url)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
async def api(limiters: tuple[RateLimiter, RateLimiter]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(limiters[0]) as client:
        yield client


def new_client() -> dict[str, str]:
    return {"x-test-client": f"client-{uuid4().hex[:12]}"}


async def burst(
    api: httpx.AsyncClient, headers: dict[str, str], count: int
) -> list[httpx.Response]:
    return [await api.post("/v1/transfers", headers=headers) for _ in range(count)]


async def test_a_burst_over_the_limit_is_refused_with_429_and_retry_after(
    api: httpx.AsyncClient,
) -> None:
    responses = await burst(api, new_client(), 7)

    assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
    refused = responses[-1]
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["type"] == problem_type("rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert refused.headers["ratelimit-limit"] == "5"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["ratelimit-reset"]) <= 2


async def test_every_limited_response_carries_the_ratelimit_headers(
    api: httpx.AsyncClient,
) -> None:
    responses = await burst(api, new_client(), 3)

    assert [r.headers["ratelimit-remaining"] for r in responses] == ["4", "3", "2"]
    assert {r.headers["ratelimit-limit"] for r in responses} == {"5"}
    assert {r.headers["ratelimit-policy"] for r in responses} == {"5;w=1"}
    assert all(0 <= int(r.headers["ratelimit-reset"]) <= 1 for r in responses)


async def test_error_responses_carry_the_ratelimit_headers_too(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/no-such-command", headers=new_client())

    assert response.status_code == 404
    assert response.headers["ratelimit-remaining"] == "4"


async def test_another_client_is_unaffected_by_a_limited_one(api: httpx.AsyncClient) -> None:
    await burst(api, new_client(), 7)

    response = await api.post("/v1/transfers", headers=new_client())

    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "4"


async def test_queries_are_counted_apart_from_commands(api: httpx.AsyncClient) -> None:
    headers = new_client()
    await burst(api, headers, 7)

    response = await api.get("/v1/accounts/a-1", headers=headers)

    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "4"


async def test_a_client_override_raises_that_clients_limit(
    limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    limiter = limiters[0]
    await limiter.check("commands", "bulk-importer")
    decision = await limiter.check("commands", "bulk-importer")

    assert decision.binding is not None
    assert decision.binding.amount == 8
    assert decision.outcome == "allowed"


async def test_anonymous_clients_are_limited_by_remote_address(
    limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    address = f"10.{uuid4().int % 250}.{uuid4().int % 250}.{uuid4().int % 250}"
    transport = httpx.ASGITransport(app=replica(limiters[0]), client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as api:
        responses = await burst(api, {}, 6)

    assert [r.status_code for r in responses] == [200] * 5 + [429]


async def test_the_limit_recovers_after_retry_after(api: httpx.AsyncClient) -> None:
    headers = new_client()
    refused = (await burst(api, headers, 6))[-1]
    assert refused.status_code == 429

    await asyncio.sleep(int(refused.headers["retry-after"]))
    response = await api.post("/v1/transfers", headers=headers)

    assert response.status_code == 200


async def test_the_limit_holds_across_two_replicas(
    limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    headers = new_client()
    async with client_for(limiters[0]) as first, client_for(limiters[1]) as second:
        statuses = [
            (await replica_client.post("/v1/transfers", headers=headers)).status_code
            for replica_client in (first, second, first, second, first, second, first)
        ]

    assert statuses == [200] * 5 + [429] * 2


async def test_health_is_never_limited(api: httpx.AsyncClient) -> None:
    headers = new_client()
    responses = [await api.get("/health", headers=headers) for _ in range(8)]

    assert {r.status_code for r in responses} == {200}
    assert "ratelimit-limit" not in responses[0].headers


def failures(route_class: str, mode: str) -> float:
    value = REGISTRY.get_sample_value(
        "ledger_ratelimit_redis_failures_total", {"route_class": route_class, "mode": mode}
    )
    return value or 0.0


def limited(route_class: str) -> float:
    value = REGISTRY.get_sample_value(
        "ledger_ratelimit_limited_total", {"route_class": route_class}
    )
    return value or 0.0


async def test_refusals_are_counted(api: httpx.AsyncClient) -> None:
    before = limited("commands")

    await burst(api, new_client(), 7)

    assert limited("commands") - before == 2


@pytest.fixture
async def dead_redis_api() -> AsyncIterator[httpx.AsyncClient]:
    """A replica whose Redis URL points at a closed port."""
    limiter = RateLimiter.from_url(LIMITS, f"redis://127.0.0.1:{free_port()}/0")
    async with client_for(limiter) as client:
        yield client
    await limiter.aclose()


async def test_commands_fail_closed_with_503_when_redis_is_down(
    dead_redis_api: httpx.AsyncClient,
) -> None:
    before = failures("commands", "closed")

    response = await dead_redis_api.post("/v1/transfers", headers=new_client())

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("rate-limiter-unavailable")
    assert response.headers["retry-after"] == "1"
    assert failures("commands", "closed") - before == 1


async def test_queries_fail_open_when_redis_is_down(dead_redis_api: httpx.AsyncClient) -> None:
    before = failures("queries", "open")

    response = await dead_redis_api.get("/v1/accounts/a-1", headers=new_client())

    assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers
    assert failures("queries", "open") - before == 1


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers: a hung Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


async def test_a_hung_redis_costs_a_request_no_more_than_the_timeout(silent_redis: int) -> None:
    limiter = RateLimiter.from_url(LIMITS, f"redis://127.0.0.1:{silent_redis}/0")
    try:
        async with client_for(limiter) as api:
            began = time.monotonic()
            command = await api.post("/v1/transfers", headers=new_client())
            query = await api.get("/v1/accounts/a-1", headers=new_client())
            elapsed = time.monotonic() - began
    finally:
        await limiter.aclose()

    assert (command.status_code, query.status_code) == (503, 200)
    assert elapsed < 2 * LIMITS.redis_timeout_seconds + 0.2


class RestartableRedis:
    """A redis-server of the test's own on a free port, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1"]
        command += ["--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self._directory)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_restarted_redis_costs_no_request_its_answer(own_redis: RestartableRedis) -> None:
    limiter = RateLimiter.from_url(LIMITS, own_redis.url)
    try:
        async with client_for(limiter) as api:
            # Several connections in the pool, all dead once the server restarts.
            warm = await asyncio.gather(
                *(api.post("/v1/transfers", headers=new_client()) for _ in range(8))
            )
            own_redis.stop()
            own_redis.start()
            before = failures("commands", "closed")
            after_restart = [
                await api.post("/v1/transfers", headers=new_client()) for _ in range(8)
            ]
    finally:
        await limiter.aclose()

    assert {r.status_code for r in warm} == {200}
    assert [r.status_code for r in after_restart] == [200] * 8
    assert failures("commands", "closed") == before


class CountingLimiter(RateLimiter):
    """Counts the requests that went to Redis."""

    asked = 0

    async def _count(self, *args: Any) -> Any:
        self.asked += 1
        return await super()._count(*args)


async def test_after_a_failure_one_request_alone_probes_a_hung_redis(
    silent_redis: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter_module, "STORE_RETRY_SECONDS", 0.0)  # probe at once
    settings = LIMITS.model_copy(update={"redis_timeout_seconds": 0.3})
    limiter = CountingLimiter.from_url(settings, f"redis://127.0.0.1:{silent_redis}/0")
    try:
        async with client_for(limiter) as api:
            first = await api.post("/v1/transfers", headers=new_client())
            assert limiter.asked == 1
            # The breaker is open; ten at once: one probes (and waits), nine skip Redis.
            rest = await asyncio.gather(
                *(api.post("/v1/transfers", headers=new_client()) for _ in range(10))
            )
    finally:
        await limiter.aclose()

    assert {r.status_code for r in [first, *rest]} == {503}
    assert limiter.asked == 2


class RecordingLimiter(RateLimiter):
    """Remembers being closed."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


async def test_the_limiter_closes_its_redis_connections_when_the_app_shuts_down(
    stack: Settings,
) -> None:
    limiter = RecordingLimiter.from_url(LIMITS, stack.redis.url.get_secret_value())
    app = replica(limiter)

    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as api:
            assert (await api.get("/v1/accounts/a-1", headers=new_client())).status_code == 200
        assert not limiter.closed

    assert limiter.closed


async def test_a_request_costs_one_call_to_redis(
    stack: Settings, limiters: tuple[RateLimiter, RateLimiter]
) -> None:
    """Admitting it and reading its windows for the headers is one script call, whatever
    the number of limits ("10/second;100/minute" here)."""
    settings = LIMITS.model_copy(update={"commands": "10/second;100/minute"})
    limiter = RateLimiter.from_url(settings, stack.redis.url.get_secret_value())
    redis = Redis.from_url(stack.redis.url.get_secret_value())
    try:
        await limiter.check("commands", f"one-call-{uuid4()}")  # loads the script once
        before = await redis.info("commandstats")
        decision = await limiter.check("commands", f"one-call-{uuid4()}")
        after = await redis.info("commandstats")
    finally:
        await limiter.aclose()
        await redis.aclose()

    calls = {
        name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"]
        for name in after
        if after[name]["calls"] != before.get(name, {"calls": 0})["calls"]
    }
    # Redis counts the commands a script runs too: those are the script's own, no round trip.
    inside_the_script = {"get", "pttl", "set", "exists", "incr", "rename"}
    sent = {
        name.removeprefix("cmdstat_"): count
        for name, count in calls.items()
        if name.removeprefix("cmdstat_") not in inside_the_script | {"info"}
    }
    assert decision.outcome == "allowed"
    assert sent == {"evalsha": 1}
