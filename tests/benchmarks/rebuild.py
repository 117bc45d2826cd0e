"""`python -m tests.benchmarks.rebuild`: rebuild throughput and how long the switch blocks readers.

Loads a synthetic log of the whole-system mix (500,000 events over 5,000 accounts by
default: deposits, withdrawals and transfers) into a fresh PostgreSQL database with COPY,
then rebuilds `accounts` from it into a fresh MongoDB database with the code `ledger
projections rebuild` runs, while a reader reads random accounts through the query API's
`ReadStore` (the catalog lookup included) as fast as it can; then every other projection
in turn (`--projections`), routed ones included. Prints each rebuild's events/s and how
long the projection's workers were held for the switch, the reader's latency before,
during and around the accounts switch, and the raw `insert_many` rate of the same server
for the same number of documents as a reference.
Never asserts a timing. Bounded by a deadline; the databases go afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from infra.eventstore.history import open_history
from infra.eventstore.library import prepare_event_store
from infra.readstore.client import make_client, read_models
from infra.settings import KafkaSettings, MongodbSettings, PostgresSettings, Settings
from projectors.operations.catalog import Build, CachedCatalog, ProjectionCatalog
from projectors.operations.indexes import SERVING_INDEXES
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS
from query_api.views.served import ACCOUNTS, ReadStore
from tests.benchmarks.databases import fresh_database
from tests.integration import synthetic_log

EVENTS = 500_000
ACCOUNTS_COUNT = 5_000
DEADLINE_SECONDS = 900.0
WINDOW_READS = 300
"""Reads taken before the rebuild and after its switch, to compare with."""


PHASES = ("before", "building", "switch", "after")


@dataclass
class Reads:
    """Each read's start (wall clock), latency and outcome, from the reader process."""

    samples: list[tuple[float, float, bool]] = field(default_factory=list)

    def by_phase(self, building: float, holding: float, switched: float) -> dict[str, list[float]]:
        """Latencies of successful reads by the phase they started in."""
        phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
        for started, latency, ok in self.samples:
            if not ok:
                continue
            if started < building:
                phases["before"].append(latency)
            elif started < holding:
                phases["building"].append(latency)
            elif started <= switched:
                phases["switch"].append(latency)
            else:
                phases["after"].append(latency)
        return phases

    @property
    def failures(self) -> int:
        return sum(1 for *_, ok in self.samples if not ok)


def main(argv: list[str] | None = None) -> int:
    """Load, rebuild while reading, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS_COUNT)
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument(
        "--projections", nargs="+", choices=sorted(PROJECTIONS), default=sorted(PROJECTIONS)
    )
    options = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=120)
    try:
        asyncio.run(asyncio.wait_for(_run(options, console), DEADLINE_SECONDS))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: databases dropped[/yellow]")
        return 130
    return 0


async def _run(options: argparse.Namespace, console: Console) -> None:
    base = Settings()
    suffix = uuid.uuid4().hex[:8]
    with fresh_database(base.postgres.url.get_secret_value(), "rebuild") as url:
        settings = Settings(
            postgres=PostgresSettings(url=SecretStr(url)),
            mongodb=MongodbSettings(url=base.mongodb.url, database=f"bench_rebuild_{suffix}"),
            kafka=KafkaSettings(
                bootstrap_servers=base.kafka.bootstrap_servers, topic=f"bench.rebuild.{suffix}"
            ),
        )
        prepare_event_store(settings)
        console.print(f"[dim]… loading {options.events:,} events with COPY[/dim]")
        synthetic_log.load(settings, options.events, options.accounts, mixed=True)
        client = make_client(settings.mongodb)
        database = read_models(client, settings.mongodb)
        try:
            insert_rate = await _insert_many_rate(database, options.accounts)
            if "accounts" in options.projections:
                await _rebuild_while_reading(settings, database, options, console, insert_rate)
            others = [name for name in options.projections if name != "accounts"]
            if others:
                console.print(await _rebuild_others(settings, database, options, others))
        finally:
            await client.drop_database(settings.mongodb.database)
            await client.close()


async def _insert_many_rate(database: object, documents: int) -> float:
    """Documents/s of one `insert_many` of account-shaped documents: the server's ceiling."""
    collection = database["bench_insert_reference"]  # type: ignore[index]
    rows = [
        {"_id": str(uuid.uuid4()), "owner_id": str(uuid.uuid4()), "currency": "EUR",
         "balance": index, "status": "open", "version": 100, "position": index}
        for index in range(documents)
    ]  # fmt: skip
    started = time.perf_counter()
    await collection.insert_many(rows, ordered=False)
    return documents / (time.perf_counter() - started)


async def _rebuild_while_reading(
    settings: Settings,
    database: object,
    options: argparse.Namespace,
    console: Console,
    insert_rate: float,
) -> None:
    ops = ProjectionOperations(settings, database, PROJECTIONS)  # type: ignore[arg-type]
    catalog = ProjectionCatalog(database)  # type: ignore[arg-type]
    await catalog.ensure(PROJECTIONS["accounts"])
    ids = await _account_ids(settings)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    stop_reading = multiprocessing.Event()
    done = multiprocessing.Value("i", 0)
    reader = multiprocessing.Process(
        target=_reader_process,
        args=(
            settings.mongodb.url.get_secret_value(),
            settings.mongodb.database,
            ids,
            stop_reading,
            done,
            sender,
        ),
    )
    reader.start()
    try:
        await _reads_done(done, WINDOW_READS)  # a baseline before the rebuild
        building = time.time()
        async with open_history(settings) as history:
            report = await ops.rebuild(
                "accounts",
                history,
                serving_indexes=SERVING_INDEXES["accounts"],
                grace=timedelta(0),
                page_size=options.page_size,
            )
        await _reads_done(done, done.value + WINDOW_READS)  # and after the switch
    finally:
        stop_reading.set()
        reads = Reads(receiver.recv() if receiver.poll(30) else [])
        reader.join(10)
        if reader.is_alive():
            reader.kill()
    holding = report.switched_at - report.hold_seconds
    phases = reads.by_phase(building, holding, report.switched_at)
    console.print(_table(report, phases, insert_rate, options))
    console.print(
        f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs;"
        f" read failures: {reads.failures}"
    )


async def _rebuild_others(
    settings: Settings, database: object, options: argparse.Namespace, names: list[str]
) -> Table:
    """Rebuild each projection in turn, without readers: its rate and its hold."""
    ops = ProjectionOperations(settings, database, PROJECTIONS)  # type: ignore[arg-type]
    catalog = ProjectionCatalog(database)  # type: ignore[arg-type]
    table = Table(title=f"rebuilds over {options.events:,} events")
    for heading in ("projection", "events/s", "seconds", "workers held"):
        table.add_column(heading, justify="right")
    for name in names:
        await catalog.ensure(PROJECTIONS[name])
        async with open_history(settings) as history:
            report = await ops.rebuild(
                name,
                history,
                serving_indexes=SERVING_INDEXES.get(name, []),
                grace=timedelta(0),
                page_size=options.page_size,
            )
        table.add_row(
            name,
            f"{report.events_per_second:,.0f}",
            f"{report.seconds:.1f}",
            f"{report.hold_seconds * 1000:,.0f} ms",
        )
    return table


async def _account_ids(settings: Settings) -> list[str]:
    import psycopg

    from infra.eventstore.schema import EVENTS_TABLE

    url = settings.postgres.url.get_secret_value()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            f"SELECT originator_id FROM {EVENTS_TABLE} WHERE originator_version = 1 LIMIT 2000"
        )
        return [str(row[0]) for row in await cursor.fetchall()]


async def _reads_done(done: Any, count: int, seconds: float = 60.0) -> None:
    """Wait until the reader has made `count` reads in all (or `seconds` passed)."""
    deadline = time.monotonic() + seconds
    while done.value < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _reader_process(
    url: str, database: str, ids: list[str], stop: Any, done: Any, sender: Connection
) -> None:
    """Read random accounts through the query API's `ReadStore` until told to stop."""
    settings = MongodbSettings(url=SecretStr(url), database=database)
    sender.send(asyncio.run(_read(settings, ids, stop, done)))


async def _read(
    settings: MongodbSettings, ids: list[str], stop: Any, done: Any
) -> list[tuple[float, float, bool]]:
    client = make_client(settings)
    database = read_models(client, settings)
    store = ReadStore(
        database, CachedCatalog(ProjectionCatalog(database), {"accounts": Build("accounts", 1)})
    )
    chance = random.Random(3)
    samples = []
    try:
        while not stop.is_set():
            started, clock = time.time(), time.perf_counter()
            try:
                collection = await store.collection(ACCOUNTS)
                await collection.find_one({"_id": chance.choice(ids)})
                ok = True
            except Exception:  # counted, never raised: the figure is what readers saw
                ok = False
            samples.append((started, time.perf_counter() - clock, ok))
            done.value += 1
            await asyncio.sleep(0.005)
    finally:
        await client.close()
    return samples


def _table(
    report: object, phases: dict[str, list[float]], insert_rate: float, options: argparse.Namespace
) -> Table:
    table = Table(title=f"rebuild accounts over {options.events:,} events")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events applied", f"{report.applied:,}")  # type: ignore[attr-defined]
    table.add_row("seconds", f"{report.seconds:.1f}")  # type: ignore[attr-defined]
    table.add_row("events/s", f"{report.events_per_second:,.0f}")  # type: ignore[attr-defined]
    table.add_row(
        "workers held for the switch",
        f"{report.hold_seconds * 1000:,.0f} ms",  # type: ignore[attr-defined]
    )
    table.add_row("insert_many reference (documents/s)", f"{insert_rate:,.0f}")
    for phase in PHASES:
        latencies = sorted(phases[phase])
        if latencies:
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if len(latencies) > 1 else p50
            table.add_row(
                f"read latency {phase} (n={len(latencies)})",
                f"p50 {p50:.1f} ms · p99 {p99:.1f} ms · max {latencies[-1] * 1000:.1f} ms",
            )
    return table


if __name__ == "__main__":
    sys.exit(main())
