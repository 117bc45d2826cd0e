"""Prometheus metrics of the query API: requests per route, and consistency waits."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "ledger_query_requests_total",
    "Query API requests, by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "ledger_query_request_seconds",
    "Query API request latency, by method and route template",
    ["method", "route"],
)
CONSISTENCY_WAIT_SECONDS = Histogram(
    "ledger_query_consistency_wait_seconds",
    "Time queries spent waiting for a view to catch up with a token, by outcome",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every HTTP request under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_recording_status)
        finally:
            path = getattr(scope.get("route"), "path", None)
            template = path if isinstance(path, str) else UNMATCHED
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            REQUEST_SECONDS.labels(method, template).observe(time.perf_counter() - started)
