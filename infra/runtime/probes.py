"""Health, readiness and Prometheus metrics over HTTP, for every process.

The two APIs mount `metrics_router` on their own apps. The workers (relay, projector,
transfer process) have no HTTP of their own, so `serve_probes` runs a small app on the
worker's event loop, next to its real work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.runtime.process import serve_app

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


async def serve_probes(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on this event loop until `stop` is set."""
    await serve_app(app, host, port, stop, lifespan="off")


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
