"""`python -m tests.benchmarks.read_side`: the read side's figures, printed and written as JSON.

1. Relay and projector throughput on a backlog of 200,000 events (loaded into a fresh
   store with COPY), with the raw bulk-insert rate of the same MongoDB-wire server as
   the reference.
2. End-to-end latency, command accepted → visible in the query API, at a steady
   open-loop load, through the gateway with tokens (every process running).

Bounded in count and time; loopback only; fresh databases, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

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
from tests.e2e.conftest import running
from tests.integration import synthetic_log

BACKLOG = 200_000
ACCOUNTS = 2_000
RAW_BATCH = 1_000
LATENCY_RATE = 300  # commands/s: about half of what the command API sustained in `make bench`
LATENCY_SECONDS = 15.0
LATENCY_SENDERS = 16
LATENCY_READERS = 64
PROJECTOR_DEADLINE_SECONDS = 240.0


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
    deadline = started + PROJECTOR_DEADLINE_SECONDS
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
        return count / max(item["seconds"] for item in caught_up.values()), caught_up
    finally:
        stop.set()
        await task
        await client.close()


async def _committed_events(settings: Settings, name: str) -> int:
    """Events of the events topic the projection's live group has committed."""
    group = f"{settings.projector.group_id}.{PROJECTIONS[name].collection}"
    committed = await committed_offsets(settings.kafka, group)
    return sum(offset for tp, offset in committed.items() if tp.topic == settings.kafka.topic)


def latency(base: Settings, rate: int = LATENCY_RATE) -> dict[str, float]:
    """p50/p95/p99 ms from a command's answer to the first fresh read of its version."""
    with isolated(base) as settings, running(settings, Path(tempfile.mkdtemp())) as system:
        with system.client(timeout=30) as client:
            accounts = []
            for _ in range(200):
                opened = client.post(
                    "/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"}
                )
                accounts.append(opened.json()["aggregate_id"])
        samples: list[float] = []
        sent: list[float] = []
        stale: list[int] = []
        lock = threading.Lock()
        total = int(rate * LATENCY_SECONDS)
        interval = 1 / rate
        schedule = iter(range(total))
        written: queue.Queue[tuple[str, int, float] | None] = queue.Queue()
        started = time.perf_counter()

        def sender() -> None:
            # Open loop: command i is due at started + i * interval, whoever sends it, on a
            # pool of kept-alive clients; the reads are others' job, so a slow view does
            # not slow the commands down.
            with system.client(timeout=30) as c:
                while True:
                    with lock:
                        index = next(schedule, None)
                    if index is None:
                        return
                    delay = started + index * interval - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    account = accounts[index % len(accounts)]
                    answer = c.post(
                        f"/v1/accounts/{account}/deposits", json={"amount": 1, "reference": "lat"}
                    )
                    written.put((account, answer.json()["version"], time.perf_counter()))
                    with lock:
                        sent.append(time.perf_counter())

        def reader() -> None:
            with system.client(timeout=30) as c:
                while (item := written.get()) is not None:
                    account, version, accepted = item
                    headers = {"X-Min-Version": str(version)}
                    read = c.get(f"/v1/accounts/{account}", headers=headers)
                    with lock:
                        if read.headers.get("x-consistency") == "fresh":
                            samples.append((time.perf_counter() - accepted) * 1000)
                        else:
                            stale.append(version)

        senders = [threading.Thread(target=sender) for _ in range(LATENCY_SENDERS)]
        readers = [threading.Thread(target=reader) for _ in range(LATENCY_READERS)]
        for thread in senders + readers:
            thread.start()
        for thread in senders:
            thread.join(timeout=LATENCY_SECONDS + 120)
        achieved = len(sent) / (max(sent, default=started) - started)
        for _ in readers:
            written.put(None)
        for thread in readers:
            thread.join(timeout=120)
    ordered = sorted(samples)
    return {
        "commands": len(sent),
        "achieved_rate_per_second": achieved,
        "stale_reads": len(stale),
        "fresh_reads": len(ordered),
        "p50_ms": statistics.quantiles(ordered, n=100)[49],
        "p95_ms": statistics.quantiles(ordered, n=100)[94],
        "p99_ms": statistics.quantiles(ordered, n=100)[98],
        "rate_per_second": rate,
    }


def main() -> int:
    """Measure, print, write JSON."""
    console = Console(width=120)
    stack = Settings()
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "backlog": BACKLOG}
    arguments = sys.argv[1:]
    with isolated(stack) as settings:
        if "--latency-only" in arguments:  # e.g. `--latency-only 100`: another rate
            chosen = int(arguments[-1]) if arguments[-1].isdigit() else LATENCY_RATE
            result["latency"] = latency(stack, chosen)
            console.print(result["latency"])
            return 0
        console.print(f"[dim]… loading {BACKLOG:,} events with COPY[/dim]")
        synthetic_log.load(settings, BACKLOG, ACCOUNTS)
        result["raw_insert_docs_per_second"] = asyncio.run(raw_insert_rate(settings, BACKLOG))
        console.print("[dim]… relay[/dim]")
        result["relay_events_per_second"] = asyncio.run(relay_backlog(settings, BACKLOG))
        console.print("[dim]… projector (every projection)[/dim]")
        rate, caught_up = asyncio.run(project_backlog(settings, BACKLOG))
        result["projector_events_per_second"] = rate
        result["projector_seconds_to_catch_up"] = caught_up
    console.print("[dim]… end-to-end latency[/dim]")
    result["latency"] = latency(stack)
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
        done = figures["seconds"] < PROJECTOR_DEADLINE_SECONDS
        table.add_row(
            f"  {name}, events/s ({'caught up' if done else 'at the deadline'})",
            f"{figures['events_per_second']:,.0f} ({figures['seconds']:,.0f} s)",
        )
    table.add_row(
        "projector / raw insert",
        f"{result['projector_events_per_second'] / result['raw_insert_docs_per_second']:.2f}",
    )
    lat = result["latency"]
    table.add_row(
        f"command → visible at {lat['rate_per_second']}/s"
        f" (achieved {lat['achieved_rate_per_second']:.0f}/s): p50 / p95 / p99 ms",
        f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['p99_ms']:.0f}",
    )
    console.print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"read-side-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    console.print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
