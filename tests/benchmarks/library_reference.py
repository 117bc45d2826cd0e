"""The reference: the raw `eventsourcing` library saving one new aggregate per call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tests.benchmarks import cpu
from tests.benchmarks.databases import database_name


class Sample(Aggregate):
    """A tiny aggregate: one creation event with one field."""

    @event("Created")
    def __init__(self, number: int) -> None:
        self.number = number


class Samples(Application[UUID]):
    """A plain application on the library's default PostgreSQL application recorder."""

    name = "BenchSamples"

    def create(self, number: int) -> None:
        """Save one new aggregate: one transaction, one event."""
        self.save(Sample(number))


@dataclass(frozen=True)
class LibraryResult:
    """Saves per second of the library at one thread count, and the CPU they cost."""

    threads: int
    saves: int
    seconds: float
    saves_per_second: float
    cpu_ms_per_save_python: float
    cpu_ms_per_save_postgres: float
    others_cpu_percent: float


def library_environment(database_url: str, pool_size: int) -> dict[str, str]:
    """The library's own settings for a database URL; every other setting is its default."""
    url = urlsplit(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.strip("/")),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or ""),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
    }


def measure_library(
    database_url: str, thread_counts: tuple[int, ...], warmup: float, duration: float
) -> list[LibraryResult]:
    """Run `Samples.create` flat out on each thread count in turn, on one application."""
    app = Samples(env=library_environment(database_url, max(thread_counts)))
    try:
        database = database_name(database_url)
        return [_measure(app, database, threads, warmup, duration) for threads in thread_counts]
    finally:
        app.close()


def _measure(
    app: Samples, database: str, threads: int, warmup: float, duration: float
) -> LibraryResult:
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    counts = [0] * threads
    stop = threading.Event()

    def save_until_the_end(slot: int) -> None:
        number = 0
        while not stop.is_set():
            app.create(number)
            number += 1
            finished = time.perf_counter()
            if finished > window[1]:
                return
            if finished >= window[0]:
                counts[slot] += 1

    workers = [
        threading.Thread(target=save_until_the_end, args=(slot,), daemon=True)
        for slot in range(threads)
    ]
    for worker in workers:
        worker.start()
    time.sleep(warmup)
    before = cpu.snapshot(None, database)
    try:
        for worker in workers:
            worker.join()
    finally:
        stop.set()  # on Ctrl-C, the workers finish their current save and stop
    used = cpu.used_between(before, cpu.snapshot(None, database))
    saves = sum(counts)
    return LibraryResult(
        threads=threads,
        saves=saves,
        seconds=duration,
        saves_per_second=saves / duration,
        cpu_ms_per_save_python=1000 * used.load_generator / max(saves, 1),
        cpu_ms_per_save_postgres=1000 * used.postgres / max(saves, 1),
        others_cpu_percent=100 * used.others_fraction,
    )
