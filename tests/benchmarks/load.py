"""The load generator: N keep-alive HTTP clients on one uvloop event loop, for a fixed time."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import uvloop

REQUEST_TIMEOUT_SECONDS = 30.0
JSON_HEADERS = {"content-type": "application/json"}

Probe = TypeVar("Probe")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Request:
    """One request a client sends: no body means GET."""

    path: str
    body: bytes | None = None


@dataclass
class LoadResult(Generic[Probe]):
    """What the clients saw inside the measured window, and the probes around it."""

    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    before: Probe | None = None
    after: Probe | None = None

    @property
    def succeeded(self) -> int:
        """Requests answered 2xx within the window."""
        return len(self.latencies_ms)

    @property
    def per_second(self) -> float:
        """2xx answers per second."""
        return self.succeeded / self.seconds

    def latency_percentile(self, fraction: float) -> float:
        """The latency (ms) below which `fraction` of the 2xx answers came; 0 with none."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def generate_load(
    base_url: str,
    next_request: Callable[[], Request],
    probe: Callable[[], Probe],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
) -> LoadResult[Probe]:
    """Run `concurrency` clients flat out; count answers that arrive in the window after warm-up.

    `probe` is called (in a thread) as the window opens and as it closes.
    """
    result: LoadResult[Probe] = LoadResult(concurrency=concurrency, seconds=duration)
    run_on_uvloop(_drive(base_url, next_request, probe, result, warmup, duration))
    return result


def run_on_uvloop(work: Coroutine[Any, Any, Result]) -> Result:
    """Run `work` on a fresh uvloop; SIGTERM cancels it, and surfaces as KeyboardInterrupt.

    A Python signal handler that raises inside the loop would be caught by whichever
    callback was running (uvloop reports it and carries on), so the loop handles SIGTERM
    itself, the way asyncio.Runner handles Ctrl-C.
    """
    previous = signal.getsignal(signal.SIGTERM)
    terminated = False

    async def cancellable() -> Result:
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
        return await work

    try:
        return uvloop.run(cancellable())
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _drive(
    base_url: str,
    next_request: Callable[[], Request],
    probe: Callable[[], Probe],
    result: LoadResult[Probe],
    warmup: float,
    duration: float,
) -> None:
    opens = time.perf_counter() + warmup
    window = (opens, opens + duration)
    clients = [
        asyncio.create_task(_client(base_url, next_request, window, result))
        for _ in range(result.concurrency)
    ]
    await asyncio.sleep(warmup)
    result.before = await asyncio.to_thread(probe)
    await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
    result.after = await asyncio.to_thread(probe)
    await asyncio.gather(*clients)


async def _client(
    base_url: str,
    next_request: Callable[[], Request],
    window: tuple[float, float],
    result: LoadResult[Probe],
) -> None:
    # One connection per client, kept alive, as a real client pool would.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        while time.perf_counter() < window[1]:
            request = next_request()
            started = time.perf_counter()
            outcome = await _send(client, request)
            finished = time.perf_counter()
            if not window[0] <= finished <= window[1]:
                continue
            if outcome is None:
                result.latencies_ms.append(1000 * (finished - started))
            else:
                result.failures[outcome] += 1


async def _send(client: httpx.AsyncClient, request: Request) -> str | None:
    """None for a 2xx answer; otherwise what went wrong, as a short label."""
    try:
        if request.body is None:
            response = await client.get(request.path)
        else:
            response = await client.post(request.path, content=request.body, headers=JSON_HEADERS)
    except httpx.HTTPError as error:
        return type(error).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
