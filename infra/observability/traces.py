"""Traces read back from the trace backend: Jaeger v2's query API (`LEDGER_TRACES_QUERY_URL`).

One trace comes from API v3 (`GET /api/v3/traces/{id}`, OTLP JSON). A search by correlation
id goes through API v1 (`GET /api/traces?tags=…`): v3's HTTP search ignores attributes in
Jaeger v1.76. The search gives the ids; each trace is then read from v3, so that every
trace is read, and normalised, one way.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from infra.observability.otlp_json import traces_of
from infra.observability.spans import Trace
from infra.runtime.tracing import CORRELATION_ATTRIBUTE
from infra.settings import TracesSettings

TRACE_ID = re.compile(r"[0-9a-f]{32}")
# The process whose server span carries the correlation id of the command it served.
COMMAND_API_SERVICE = "ledger-command-api"
# The memory store loses everything when Jaeger restarts; a week back covers what it keeps.
SEARCH_LOOKBACK = timedelta(days=7)
MAX_TRACES_FOUND = 20


class TraceBackendUnavailableError(Exception):
    """The trace backend did not answer, or answered something other than traces."""


class TraceNotFoundError(LookupError):
    """The trace backend holds no span of this trace (never sent, or not kept)."""

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        super().__init__(f"no trace {trace_id} is known to the trace backend")


class TraceReader:
    """Reads traces from Jaeger's query API over one pooled HTTP client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get_trace(self, trace_id: str) -> Trace | None:
        """The trace with this id (32 hex digits), or None when the backend has none of it."""
        if not TRACE_ID.fullmatch(trace_id):
            raise ValueError(f"a trace id is 32 lowercase hex digits, not {trace_id!r}")
        response = await self._get(f"/api/v3/traces/{trace_id}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        found = traces_of(_json(response).get("result", {}))
        return next((trace for trace in found if trace.trace_id == trace_id), None)

    async def find_traces(self, correlation_id: UUID) -> list[Trace]:
        """The traces of the commands served with this correlation id, newest first."""
        now = datetime.now(UTC)
        response = await self._get(
            "/api/traces",
            params={
                "service": COMMAND_API_SERVICE,
                "tags": json.dumps({CORRELATION_ATTRIBUTE: str(correlation_id)}),
                "start": _microseconds(now - SEARCH_LOOKBACK),
                "end": _microseconds(now),
                "limit": MAX_TRACES_FOUND,
            },
        )
        ids = {str(found["traceID"]) for found in _json(response).get("data") or []}
        traces = await asyncio.gather(*(self.get_trace(trace_id) for trace_id in ids))
        found = [trace for trace in traces if trace is not None]
        return sorted(found, key=lambda trace: trace.start, reverse=True)

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """An answer of 200 or 404; anything else is the backend failing."""
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise TraceBackendUnavailableError(
                f"the trace backend at {self._client.base_url} did not answer "
                f"({type(error).__name__}: {error})"
            ) from None
        if response.status_code not in (httpx.codes.OK, httpx.codes.NOT_FOUND):
            raise TraceBackendUnavailableError(
                f"the trace backend at {self._client.base_url} answered "
                f"{response.status_code}: {response.text[:200]}"
            )
        return response


@asynccontextmanager
async def open_trace_reader(settings: TracesSettings) -> AsyncIterator[TraceReader]:
    """A reader of the backend the settings name; its connections close on exit."""
    async with httpx.AsyncClient(
        base_url=settings.query_url, timeout=settings.timeout_seconds
    ) as client:
        yield TraceReader(client)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise TraceBackendUnavailableError(
            f"the trace backend answered {response.status_code} without JSON"
        ) from None
    if not isinstance(document, dict):
        raise TraceBackendUnavailableError("the trace backend answered JSON that is not an object")
    return document


def _microseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)
