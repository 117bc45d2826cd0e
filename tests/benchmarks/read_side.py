"""`python -m tests.benchmarks.read_side`: the read side's figures, printed and written as JSON.

Catch-up: relay and projector throughput on a backlog (200,000 events over 2,000 accounts
by default; `--backlog 1000000 --accounts 10000` for the issue's figure), loaded into a
fresh store with COPY, with the raw `insert_many` rate of the same MongoDB-wire server,
in the same run, as the reference.
The whole system's latency and CPU through the gateway are `tests.benchmarks.system`'s.

Bounded in count and time; loopback only; fresh databases, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.eventstore.library import open_ledger
from infra.readstore.client import make_client, read_models
from infra.relay.publisher import Relay
from infra.settings import Settings
from projectors.engine.groups import committed_offsets
from projectors.engine.supervisor import ProjectorProcess
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS
from tests.benchmarks.report import RESULTS_DIR
from tests.conftest import isolated
from tests.integration import synthetic_log

BACKLOG = 200_000
ACCOUNTS = 2_000
RAW_BATCH = 1_000
PROJECTOR_DEADLINE_SECONDS = 240.0
# Larger backlogs get longer: at 2,000 events/s, the slowest rate worth waiting for.
SLOWEST_EVENTS_PER_SECOND = 2_000


async def raw_insert_rate(settings: Settings, count: int) -> float:
    """Documents/s of plain insert_many into one collection, same write concern as projections."""
    client = make_client(settings.mongodb)
    try:
        collection = read_models(client, settings.mongodb)["raw_insert_reference"]
        started = time.perf_counter()
        for first in range(0, count, RAW_BATCH):
            await collection.insert_many(
                [
                    {"_id": f"{first + n}", "balance": n, "version": 1, "owner_id": "x" * 36}
                    for n in range(RAW_BATCH)
                ],
                ordered=False,
            )
        return count / (time.perf_counter() - started)
    finally:
        await client.close()


async def relay_backlog(settings: Settings, count: int) -> float:
    """Events/s the relay publishes and gets acknowledged, from a cold start."""
    ledger = open_ledger(settings)
    relay = Relay(settings, ledger)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    try:
        while relay.status.position < count:
            await asyncio.sleep(0.05)
        return count / (time.perf_counter() - started)
    finally:
        stop.set()
        await task
        ledger.close()


def projector_deadline(count: int) -> float:
    """Seconds the projector gets to catch up on `count` events."""
    return max(PROJECTOR_DEADLINE_SECONDS, count / SLOWEST_EVENTS_PER_SECOND)


async def project_backlog(
    settings: Settings, count: int
) -> tuple[float, dict[str, dict[str, float]]]:
    """Events/s until every projection has applied the whole backlog (lag 0 in Kafka).

    One projector process as deployed: a worker per projection, each in its own group.
    Returns the overall rate and, per projection, the seconds it took to catch up (or
    the deadline) and its events/s: events of the topic its group has committed, per
    second (the backlog, once caught up).
    """
    client = make_client(settings.mongodb)
    database = read_models(client, settings.mongodb)
    process = ProjectorProcess(settings, database, PROJECTIONS.values())
    operations = ProjectionOperations(settings, database, PROJECTIONS)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(process.run(stop))
    deadline = started + projector_deadline(count)
    caught_up: dict[str, dict[str, float]] = {}
    try:
        while len(caught_up) < len(PROJECTIONS) and time.perf_counter() < deadline:
            await asyncio.sleep(1.0)
            for name in PROJECTIONS:
                if name not in caught_up and (await operations.report(name)).lag_events == 0:
                    seconds = time.perf_counter() - started
                    caught_up[name] = {"seconds": seconds, "events_per_second": count / seconds}
        seconds = time.perf_counter() - started
        for name in PROJECTIONS:
            if name not in caught_up:
                applied = await _committed_events(settings, name)
                caught_up[name] = {"seconds": seconds, "events_per_second": applied / seconds}
        # Until every projection has applied it all: the slowest one's rate.
        return min(item["events_per_second"] for item in caught_up.values()), caught_up
    finally:
        stop.set()
        await task
        await client.close()


async def _committed_events(settings: Settings, name: str) -> int:
    """Events of the events topic the projection's live group has committed."""
    group = f"{settings.projector.group_id}.{PROJECTIONS[name].collection}"
    committed = await committed_offsets(settings.kafka, group)
    return sum(offset for tp, offset in committed.items() if tp.topic == settings.kafka.topic)


def main() -> int:
    """Measure, print, write JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.read_side", description=__doc__
    )
    parser.add_argument("--backlog", type=int, default=BACKLOG, help="events in the log")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="accounts they touch")
    options = parser.parse_args()
    backlog = options.backlog
    console = Console(width=120)
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "backlog": backlog}
    with isolated(Settings()) as settings:
        console.print(f"[dim]… loading {backlog:,} events with COPY[/dim]")
        synthetic_log.load(settings, backlog, options.accounts, mixed=True)
        result["raw_insert_docs_per_second"] = asyncio.run(raw_insert_rate(settings, backlog))
        console.print("[dim]… relay[/dim]")
        result["relay_events_per_second"] = asyncio.run(relay_backlog(settings, backlog))
        console.print("[dim]… projector (every projection)[/dim]")
        rate, caught_up = asyncio.run(project_backlog(settings, backlog))
        result["projector_events_per_second"] = rate
        result["projector_seconds_to_catch_up"] = caught_up
    table = Table(title="Read side")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row(
        "raw insert_many, docs/s (reference)", f"{result['raw_insert_docs_per_second']:,.0f}"
    )
    table.add_row("relay, events/s", f"{result['relay_events_per_second']:,.0f}")
    table.add_row(
        "projector, all 5 projections, events/s", f"{result['projector_events_per_second']:,.0f}"
    )
    for name, figures in sorted(result["projector_seconds_to_catch_up"].items()):
        done = figures["seconds"] < projector_deadline(backlog)
        table.add_row(
            f"  {name}, events/s ({'caught up' if done else 'at the deadline'})",
            f"{figures['events_per_second']:,.0f} ({figures['seconds']:,.0f} s)",
        )
    table.add_row(
        "projector / raw insert",
        f"{result['projector_events_per_second'] / result['raw_insert_docs_per_second']:.2f}",
    )
    console.print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"read-side-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    console.print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
