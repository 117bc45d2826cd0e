"""One trace per command: a transfer sent with a client's `traceparent` is traced through
every process it crosses, as the trace backend (the stack's Jaeger) holds it.

Every process runs for real with OTLP export turned on by the standard variables; the
spans are read back from the backend's own query API, never from the processes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.observability.spans import Trace
from infra.observability.traces import open_trace_reader
from infra.settings import Settings
from tests.e2e.conftest import RunningSystem, running
from tests.e2e.http_helpers import open_account

pytestmark = pytest.mark.e2e

# Every process a transfer crosses, and the spans each must have added to its trace.
EXPECTED = {
    ("ledger-command-api", "POST /v1/transfers"),
    ("ledger-command-api", "event store append"),
    ("ledger-relay", "relay publish TransferRequested"),
    ("ledger-transfer-process", "transfer process TransferRequested"),
    ("ledger-relay", "relay publish TransferDebited"),
    ("ledger-transfer-process", "transfer process TransferDebited"),
    ("ledger-transfer-process", "transfer process TransferCredited"),
    ("ledger-relay", "relay publish TransferCompleted"),
    ("ledger-projector", "route transfers"),
    ("ledger-projector", "project transfers"),
    ("ledger-projector", "project accounts"),
}
DEADLINE_SECONDS = 30.0


@pytest.fixture
def traced_system(
    isolated_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningSystem]:
    """Every process exporting spans to the stack's trace backend, as an operator turns it on."""
    otlp = f"http://127.0.0.1:{isolated_settings.stack.jaeger_otlp_port}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within a tenth of a second
    with running(isolated_settings, tmp_path) as started:
        yield started


def test_a_transfer_is_one_trace_through_every_process_it_crosses(
    traced_system: RunningSystem,
) -> None:
    trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    with traced_system.client() as commands:
        source = open_account(commands, deposit=500)
        target = open_account(commands)
        response = commands.post(
            "/v1/transfers",
            json={
                "source_account_id": source,
                "target_account_id": target,
                "amount": 200,
                "reference": "traced",
            },
            headers={"traceparent": f"00-{trace_id}-{client_span_id}-01"},
        )
    assert response.status_code == 202, response.text
    assert response.headers["traceresponse"].split("-")[1] == trace_id

    trace = asyncio.run(_until_complete(traced_system.settings, trace_id))

    seen = {(span.service, span.name) for span in trace.spans}
    assert seen >= EXPECTED, f"missing {sorted(EXPECTED - seen)}"
    (request,) = [span for span in trace.spans if span.name == "POST /v1/transfers"]
    assert request.parent_span_id == client_span_id  # the client's traceparent was honoured
    assert request.attributes["ledger.correlation_id"] == response.json()["correlation_id"]
    # One tree: every span but the request hangs under a span of the same trace.
    assert [span.span_id for span in trace.roots] == [request.span_id]
    # Each step hangs under the step that recorded its event (the transfer process reads
    # the event store, not Kafka), so the tree shows what caused what.
    spans = {span.span_id: span for span in trace.spans}
    credit = next(s for s in trace.spans if s.name == "transfer process TransferDebited")
    assert spans[credit.parent_span_id or ""].name == "transfer process TransferRequested"


def _complete(trace: Trace) -> bool:
    """Every expected span is in, and no span waits for its parent to arrive."""
    return {(s.service, s.name) for s in trace.spans} >= EXPECTED and len(trace.roots) == 1


async def _until_complete(settings: Settings, trace_id: str) -> Trace:
    """The trace once it is complete (spans arrive in batches from five processes, a child
    sometimes before its parent), or what it holds when the deadline passes."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    async with open_trace_reader(settings.traces) as reader:
        while True:
            trace = await reader.get_trace(trace_id)
            if trace is not None and _complete(trace):
                return trace
            if time.monotonic() > deadline:
                assert trace is not None, f"the backend holds no span of trace {trace_id}"
                return trace
            await asyncio.sleep(0.2)
