"""Health, readiness and Prometheus metrics over HTTP, for every process.

The two APIs mount `metrics_route` on their own apps. The workers (relay, projector,
transfer process) have no HTTP of their own, so `serve_probes` runs a small app on the
worker's event loop, next to its real work.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Probe = Callable[[], Awaitable[dict[str, Any]]]


def metrics_router() -> APIRouter:
    """`GET /metrics` in the Prometheus text format (this process's default registry)."""
    router = APIRouter(tags=["health"])

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def probes_app(service: str, status: Probe, ready: Probe) -> FastAPI:
    """`/health` (alive, with status), `/ready` (dependencies reachable) and `/metrics`."""
    app = FastAPI(title=f"Ledger {service} probes", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "service": service, **await status()}

    @app.get("/ready")
    async def readiness() -> JSONResponse:
        try:
            details = await ready()
        except Exception as error:  # any failure means "not ready"
            return JSONResponse({"status": "unavailable", "error": str(error)}, status_code=503)
        return JSONResponse({"status": "ok", **details})

    app.include_router(metrics_router())
    return app


class _ProbeServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker it lives in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_probes(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on this event loop until `stop` is set."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = _ProbeServer(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


class ProbesThread:
    """`serve_probes` on its own thread and event loop, for workers that are not async."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._app, self._host, self._port = app, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probes", daemon=True)

    def start(self) -> None:
        """Start serving; returns once the loop is running."""
        self._thread.start()
        self._started.wait(timeout=5)

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await serve_probes(self._app, self._host, self._port, self._stop)

        asyncio.run(serve())


REQUESTS = Counter(
    "ledger_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "ledger_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)


class RequestMetricsMiddleware:
    """Counts requests and times them per route template (not per raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(self._service, method, template, str(status)).inc()
            LATENCY.labels(self._service, method, template).observe(time.perf_counter() - started)
