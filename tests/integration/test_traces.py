"""Traces sent to the stack's Jaeger as a process would, read back by the client, the
operators' admin endpoints and `ledger trace`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import httpx
import pytest
from typer.testing import CliRunner

from infra.cli.app import app
from infra.observability.traces import (
    TraceBackendUnavailableError,
    TraceReader,
    open_trace_reader,
)
from infra.settings import Settings, TracesSettings, settings_environment
from infra.stack.processes import wait_until
from tests.network import free_port
from tests.unit.observability.otlp_documents import (
    LINKED_SPAN,
    LINKED_TRACE,
    PUBLISH_SPAN,
    ROOT_SPAN,
    STORE_SPAN,
    command_trace,
)
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

ADMIN = "/v1/admin/traces"
# Jaeger batches for 200 ms before its memory store shows the spans.
VISIBLE_WITHIN_SECONDS = 30.0


@dataclass(frozen=True)
class SentTrace:
    """A trace Jaeger holds whole: its id and the correlation id of its command."""

    trace_id: str
    correlation_id: UUID


async def _whole(settings: TracesSettings, sent: SentTrace) -> bool:
    async with open_trace_reader(settings) as reader:
        trace = await reader.get_trace(sent.trace_id)
        found = await reader.find_traces(sent.correlation_id)
    return trace is not None and len(trace.spans) == 3 and len(found) == 1


def send(stack: Settings) -> SentTrace:
    """POST a three-span trace to the OTLP receiver; return once Jaeger shows all of it."""
    sent = SentTrace(uuid4().hex, uuid4())
    document = command_trace(sent.trace_id, str(sent.correlation_id), time.time_ns())
    otlp = f"http://127.0.0.1:{stack.stack.jaeger_otlp_port}/v1/traces"
    httpx.post(otlp, json=document, timeout=5).raise_for_status()
    wait_until(
        lambda: asyncio.run(_whole(stack.traces, sent)),
        VISIBLE_WITHIN_SECONDS,
        f"trace {sent.trace_id} in Jaeger",
    )
    return sent


@pytest.fixture(scope="module")
def sent(stack: Settings) -> SentTrace:
    return send(stack)


@pytest.fixture
async def reader(stack: Settings) -> AsyncIterator[TraceReader]:
    async with open_trace_reader(stack.traces) as opened:
        yield opened


@pytest.fixture(scope="module")
def nobody() -> TracesSettings:
    """A trace backend nothing answers for: a free port."""
    return TracesSettings(query_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)


@pytest.fixture
async def admin(module_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with query_client(module_settings) as client:
        yield client


def _problem_slug(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["type"]).rsplit("/", 1)[-1]


# The client


async def test_the_client_reads_back_every_span_with_its_parent_and_service(
    sent: SentTrace, reader: TraceReader
) -> None:
    trace = await reader.get_trace(sent.trace_id)

    assert trace is not None
    assert [(s.span_id, s.parent_span_id, s.service) for s in trace.spans] == [
        (ROOT_SPAN, None, "ledger-command-api"),
        (STORE_SPAN, ROOT_SPAN, "ledger-command-api"),
        (PUBLISH_SPAN, STORE_SPAN, "ledger-relay"),
    ]


async def test_the_client_reads_status_kind_duration_and_links(
    sent: SentTrace, reader: TraceReader
) -> None:
    trace = await reader.get_trace(sent.trace_id)

    assert trace is not None
    publish = trace.spans[-1]
    assert (publish.kind, publish.status, publish.duration_ms) == ("producer", "error", 4.0)
    assert [(link.trace_id, link.span_id) for link in publish.links] == [
        (LINKED_TRACE, LINKED_SPAN)
    ]


async def test_the_client_finds_a_trace_by_its_commands_correlation_id(
    sent: SentTrace, reader: TraceReader
) -> None:
    found = await reader.find_traces(sent.correlation_id)

    assert [trace.trace_id for trace in found] == [sent.trace_id]


async def test_an_unknown_trace_is_none(reader: TraceReader) -> None:
    assert await reader.get_trace(uuid4().hex) is None


async def test_an_unknown_correlation_id_finds_nothing(reader: TraceReader) -> None:
    assert await reader.find_traces(uuid4()) == []


async def test_a_backend_that_does_not_answer_is_a_typed_error(nobody: TracesSettings) -> None:
    async with open_trace_reader(nobody) as reader:
        with pytest.raises(TraceBackendUnavailableError):
            await reader.get_trace(uuid4().hex)


# The admin endpoints, through the query API


async def test_the_admin_endpoint_answers_the_spans_sorted_by_start(
    sent: SentTrace, admin: httpx.AsyncClient
) -> None:
    response = await admin.get(f"{ADMIN}/{sent.trace_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace_id"] == sent.trace_id
    assert [(s["span_id"], s["service"], s["status"]) for s in body["spans"]] == [
        (ROOT_SPAN, "ledger-command-api", "ok"),
        (STORE_SPAN, "ledger-command-api", "unset"),
        (PUBLISH_SPAN, "ledger-relay", "error"),
    ]
    assert body["spans"][0]["attributes"]["ledger.correlation_id"] == str(sent.correlation_id)


async def test_the_admin_search_summarises_the_traces_of_a_correlation_id(
    sent: SentTrace, admin: httpx.AsyncClient
) -> None:
    response = await admin.get(ADMIN, params={"correlation_id": str(sent.correlation_id)})

    assert response.status_code == 200, response.text
    (summary,) = response.json()["traces"]
    assert summary["trace_id"] == sent.trace_id
    assert (summary["root_name"], summary["root_service"]) == (
        "POST /v1/accounts",
        "ledger-command-api",
    )
    assert (summary["span_count"], summary["duration_ms"]) == (3, 20.0)


async def test_an_unknown_trace_is_a_404_problem(admin: httpx.AsyncClient) -> None:
    response = await admin.get(f"{ADMIN}/{uuid4().hex}")

    assert _problem_slug(response, 404) == "trace-not-found"


async def test_a_trace_id_that_is_not_32_lowercase_hex_digits_is_refused(
    admin: httpx.AsyncClient,
) -> None:
    response = await admin.get(f"{ADMIN}/{uuid4().hex.upper()}")

    assert _problem_slug(response, 422) == "validation-error"


async def test_a_backend_that_does_not_answer_is_a_503_problem(
    module_settings: Settings, nobody: TracesSettings
) -> None:
    async with query_client(module_settings.model_copy(update={"traces": nobody})) as admin:
        response = await admin.get(f"{ADMIN}/{uuid4().hex}")

    assert _problem_slug(response, 503) == "trace-backend-unavailable"
    assert nobody.query_url in response.json()["detail"]


# `ledger trace`


def ledger_trace(traces: TracesSettings, identifier: str) -> tuple[int, str, str]:
    environment = settings_environment(Settings(traces=traces))
    result = CliRunner().invoke(app, ["trace", identifier], env=environment)
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_prints_the_span_tree_of_a_correlation_id(sent: SentTrace, stack: Settings) -> None:
    code, output, _ = ledger_trace(stack.traces, str(sent.correlation_id))

    assert code == 0
    assert output.splitlines()[1:] == [
        "ledger-command-api  POST /v1/accounts  20.0 ms",
        "  ledger-command-api  append events  5.0 ms",
        "    ledger-relay  publish ledger.events  4.0 ms  error",
    ]


def test_the_cli_prints_a_trace_by_its_id(sent: SentTrace, stack: Settings) -> None:
    code, output, _ = ledger_trace(stack.traces, sent.trace_id)

    assert (code, output.splitlines()[0].split()[:2]) == (0, ["trace", sent.trace_id])


def test_the_cli_says_in_one_line_when_nothing_is_found(stack: Settings) -> None:
    code, _, errors = ledger_trace(stack.traces, str(uuid4()))

    assert code == 1
    assert len(errors.strip().splitlines()) == 1


def test_the_cli_says_in_one_line_when_the_backend_does_not_answer(
    nobody: TracesSettings,
) -> None:
    code, _, errors = ledger_trace(nobody, uuid4().hex)

    assert code == 1
    assert "did not answer" in errors and len(errors.strip().splitlines()) == 1
