"""The history API's NDJSON stream over a long stretch: read in parallel, same lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from infra.eventstore.history import EventFilter, LogListener, open_history
from infra.settings import Settings
from query_api.routes import history as routes
from tests.conftest import isolated
from tests.integration import synthetic_log

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def long_log(stack: Settings) -> Iterator[Settings]:
    with isolated(stack) as settings:
        synthetic_log.load(settings, routes.PARALLEL_FROM + 7_000, accounts=300, mixed=True)
        yield settings


def parallel_streams() -> float:
    return REGISTRY.get_sample_value("ledger_history_parallel_streams_total") or 0.0


async def streamed(settings: Settings, wanted: EventFilter) -> tuple[list[dict[str, Any]], float]:
    """The stream's lines for a filter, and how many streams were read in parallel for it."""
    before = parallel_streams()
    async with open_history(settings) as history:
        listener = LogListener(history.conninfo)  # not started: the stream does not follow
        blocks = [b async for b in routes._lines(history, listener, wanted, follow=False)]
        lines = [json.loads(line) for line in b"".join(blocks).splitlines()]
    return lines, parallel_streams() - before


async def paged(settings: Settings, wanted: EventFilter) -> list[dict[str, Any]]:
    async with open_history(settings) as history:
        return [e.to_json() async for e in history.stream(wanted, page_size=10_000)]


async def test_a_long_stream_is_read_in_parallel_and_equals_the_log(long_log: Settings) -> None:
    lines, parallel = await streamed(long_log, EventFilter())

    assert parallel == 1
    assert lines == await paged(long_log, EventFilter())


async def test_a_filtered_long_stream_holds_only_its_events(long_log: Settings) -> None:
    wanted = EventFilter(after=3, types=frozenset({"TransferRequested", "FundsWithdrawn"}))

    lines, parallel = await streamed(long_log, wanted)

    assert parallel == 1
    assert lines == await paged(long_log, wanted)
    assert {line["event_type"] for line in lines} == {"TransferRequested", "FundsWithdrawn"}


async def test_a_short_stream_is_read_page_by_page(long_log: Settings) -> None:
    wanted = EventFilter(after=routes.PARALLEL_FROM + 5_000)

    lines, parallel = await streamed(long_log, wanted)

    assert parallel == 0
    assert lines == await paged(long_log, wanted)
