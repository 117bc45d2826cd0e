"""The projector's `/health` says, within seconds, that its read store does not answer.

A projector process (every supervisor running) serves its probes over real HTTP, with its
read store behind a closed port, a port that accepts and never answers, or a proxy to the
stack's read store that stops passing bytes (a hung server) and later resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from infra.readstore.client import make_client, read_models
from infra.runtime.probes import serve_probes
from infra.settings import MongodbSettings, Settings
from projectors.engine.probes import READ_STORE_CACHE_SECONDS, READ_STORE_TIMEOUT_SECONDS
from projectors.engine.supervisor import ProjectorProcess
from projectors.projections import accounts
from projectors.projections.registry import PROJECTIONS
from tests.network import free_port

pytestmark = pytest.mark.integration

# The longest the probes may take to tell: an "ok" remembered from just before, then a ping
# that times out; and a second to spare. (A dead-letters query that times out meanwhile
# tells sooner: about READ_STORE_TIMEOUT_SECONDS.)
WITHIN_SECONDS = READ_STORE_CACHE_SECONDS + READ_STORE_TIMEOUT_SECONDS + 1.0


class FreezableProxy:
    """A TCP proxy to the read store that can stop passing bytes, as a hung server would."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *_: object) -> None:
        self.thaw()
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    def freeze(self) -> None:
        """Connections stay open (new ones are accepted) but no byte goes through."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Bytes flow again, those held back first."""
        self._flowing.set()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        pipes = {
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        }
        self._pipes |= pipes
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            self._pipes -= pipes
            writer.close()
            upstream_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(64 * 1024):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


def with_read_store_at(settings: Settings, url: str) -> Settings:
    mongodb = MongodbSettings(url=url, database=settings.mongodb.database)
    return settings.model_copy(update={"mongodb": mongodb})


@asynccontextmanager
async def projector(settings: Settings, projections: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A projector process with its probes on a real port; a client of those probes."""
    client = make_client(settings.mongodb)
    process = ProjectorProcess(
        settings, read_models(client, settings.mongodb), projections, poll_seconds=0.2
    )
    port, stop = free_port(), asyncio.Event()
    running = asyncio.gather(
        process.run(stop), serve_probes(process.probes(), "127.0.0.1", port, stop)
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await _until_listening(http)
            yield http
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await client.close()


async def _until_listening(http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                await http.get("/metrics")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)


async def timed_health(http: httpx.AsyncClient) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    response = await http.get("/health")
    return time.monotonic() - began, response


async def first_health(
    http: httpx.AsyncClient, says: Callable[[str], bool]
) -> tuple[httpx.Response, float]:
    """The first `/health` whose `read_store` `says` so (30 s at most), and how long it took."""
    began = time.monotonic()
    while True:
        response = await http.get("/health")
        if says(response.json()["read_store"]) or time.monotonic() - began > 30:
            return response, time.monotonic() - began
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("server", ["closed", "silent"])
async def test_health_says_at_once_that_the_read_store_does_not_answer(
    isolated_settings: Settings, silent_port: int, server: str
) -> None:
    port = silent_port if server == "silent" else free_port()
    settings = with_read_store_at(isolated_settings, f"mongodb://127.0.0.1:{port}/")

    async with projector(settings, PROJECTIONS.values()) as http:
        elapsed, health = await timed_health(http)
        ready = await http.get("/ready")

    assert health.status_code == 200  # alive: restarting it would not bring the store back
    assert health.json()["read_store"].startswith("unavailable")
    assert elapsed < WITHIN_SECONDS
    assert ready.status_code == 503
    assert "read store" in ready.json()["error"]


async def test_health_notices_a_read_store_that_stops_answering_and_recovers(
    isolated_settings: Settings,
) -> None:
    stack_store = urlsplit(isolated_settings.mongodb.url.get_secret_value())
    async with FreezableProxy(stack_store.hostname or "127.0.0.1", stack_store.port or 0) as proxy:
        settings = with_read_store_at(isolated_settings, f"mongodb://127.0.0.1:{proxy.port}/")
        async with projector(settings, [accounts.PROJECTION]) as http:
            before, _ = await first_health(http, lambda status: status == "ok")
            proxy.freeze()
            during, elapsed = await first_health(http, lambda status: status != "ok")
            not_ready = await http.get("/ready")
            proxy.thaw()
            after, _ = await first_health(http, lambda status: status == "ok")

    assert before.json()["read_store"] == "ok"
    assert during.status_code == 200
    assert during.json()["read_store"].startswith("unavailable")
    assert elapsed < WITHIN_SECONDS
    assert not_ready.status_code == 503
    assert after.json()["read_store"] == "ok"
