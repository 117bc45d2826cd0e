"""Health, readiness and Prometheus metrics over HTTP, for every process.

The two APIs mount `metrics_route` on their own apps. The workers (relay, projector,
transfer process) have no HTTP of their own, so `serve_probes` runs a small app on the
worker's event loop, next to its real work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
