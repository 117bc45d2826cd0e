"""`python -m tests.benchmarks.export_history`: reading the history in bulk against COPY.

Loads a synthetic log of 500,000 events of the whole-system mix (deposits, withdrawals,
transfers) into a fresh database with COPY (the loader the history tests use), then
measures, each in a fresh process of its own so that its peak RSS is its own:

- PostgreSQL's `COPY (SELECT … the same rows …) TO STDOUT` into a file: the reference,
  measured before and after the exports (the faster of the two is the ceiling);
- the export to JSONL (one worker, and the default workers) and to typed Parquet through
  the code `ledger events export` runs;
- the history API's NDJSON stream (`GET /v1/events/stream`) as its route produces it, in
  process: the API's own cost, without HTTP, TLS or the gateway.

CPU s and peak RSS are the measuring process's own; an export's workers are its children
and their CPU is counted too.

Prints rows, seconds, events/s, MB written, the ratio to COPY and peak RSS; never asserts a
timing. Bounded: each measurement has a deadline; the database and files go afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType

import psycopg
import pyarrow.parquet as pq
from psycopg import sql
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from infra.cli import events as events_cli
from infra.eventstore.export import ExportFormat
from infra.eventstore.history import EventFilter, LogListener, open_history
from infra.eventstore.library import prepare_event_store
from infra.eventstore.ranges import DEFAULT_WORKERS
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import PostgresSettings, Settings
from query_api.routes import history as history_routes
from tests.benchmarks.databases import fresh_database
from tests.benchmarks.report import RESULTS_DIR
from tests.integration import synthetic_log

EVENTS = 500_000
ACCOUNTS = 5_000
PAGE_SIZE = 5_000  # `ledger events export --page-size` default
DEADLINE_SECONDS = 300.0  # per pass: a stuck pass is stopped, so a run ends within ~20 min
COPY_REFERENCE = "copy"
# (label, what): COPY before and after the exports shows how much the machine drifted.
API_STREAM = "api-stream"
PASSES = (
    ("COPY … TO STDOUT, before", COPY_REFERENCE, 1),
    ("export JSONL, 1 worker", ExportFormat.JSONL, 1),
    (f"export JSONL, {DEFAULT_WORKERS} workers", ExportFormat.JSONL, DEFAULT_WORKERS),
    (f"export Parquet (typed), {DEFAULT_WORKERS} workers", ExportFormat.PARQUET, DEFAULT_WORKERS),
    ("API NDJSON stream, in process", API_STREAM, 1),
    ("COPY … TO STDOUT, after", COPY_REFERENCE, 1),
)


@dataclass(frozen=True)
class Measurement:
    """One pass over the log, as seen from inside the process that made it."""

    label: str
    kind: str  # COPY_REFERENCE or an ExportFormat
    rows: int
    seconds: float
    bytes_written: int
    cpu_seconds: float
    rss_before_mb: float
    peak_rss_mb: float

    @property
    def events_per_second(self) -> float:
        """Rows per wall-clock second."""
        return self.rows / self.seconds


def main(argv: list[str] | None = None) -> int:
    """Load, measure, print, write JSON; exit 130 when interrupted, after cleaning up."""
    events = _parse(argv)
    console = Console() if sys.stdout.isatty() else Console(width=120)
    # SIGTERM unwinds like Ctrl-C, so the database is dropped and children are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    try:
        results = _run(events, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: children stopped, database dropped[/yellow]")
        return 130
    load_after = os.getloadavg()
    console.print(results_table(results, events))
    console.print(
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"on {os.cpu_count()} CPUs; runs of the same benchmark differ by ±10-20 %"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"export-history-{started_at:%Y%m%dT%H%M%SZ}.json"
    document = {
        "started_at": started_at.isoformat(),
        "events": events,
        "page_size": PAGE_SIZE,
        "load_average": [load_before[0], load_after[0]],
        "measurements": [asdict(m) | {"events_per_second": m.events_per_second} for m in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"JSON: {path}")
    return 0


def _run(events: int, console: Console) -> list[Measurement]:
    server_url = Settings().postgres.url.get_secret_value()
    with (
        fresh_database(server_url, "export") as url,
        tempfile.TemporaryDirectory(prefix="ledger-export-bench-") as directory,
    ):
        settings = Settings(postgres=PostgresSettings(url=SecretStr(url)))
        prepare_event_store(settings)
        console.print(f"[dim]… loading {events:,} events with COPY[/dim]")
        started = time.perf_counter()
        synthetic_log.load(settings, events, ACCOUNTS, mixed=True)
        _settle(url)
        console.print(f"[dim]… loaded in {time.perf_counter() - started:.1f} s[/dim]")
        results = []
        for number, (label, what, workers) in enumerate(PASSES):
            console.print(f"[dim]… {label}[/dim]")
            out = Path(directory) / f"{number}.{what}"
            result = _checked(_in_fresh_process(label, what, workers, url, out), out)
            out.unlink()  # hundreds of MB each: keep at most one on disk
            results.append(result)
        if len({r.rows for r in results}) != 1:
            raise RuntimeError(f"the passes wrote different numbers of events: {results}")
        return results


def _settle(url: str) -> None:
    """VACUUM after the bulk load, so no measured pass pays for setting hint bits."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(EVENTS_TABLE)))


def _in_fresh_process(label: str, what: str, workers: int, url: str, out: Path) -> Measurement:
    """Run one pass in a spawned process, within the deadline; stop it whatever happens."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measure, args=(label, what, workers, url, str(out), sender))
    process.start()
    sender.close()
    try:
        if not receiver.poll(DEADLINE_SECONDS):
            raise RuntimeError(f"{label}: no result within {DEADLINE_SECONDS:.0f} s")
        try:
            result: Measurement = receiver.recv()
        except EOFError:
            raise RuntimeError(f"{label}: the measuring process failed (see above)") from None
        return result
    finally:
        if process.is_alive():
            process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join()
        receiver.close()


def _measure(label: str, what: str, workers: int, url: str, out: str, sender: Connection) -> None:
    """In the child: time one pass over the log and report it with this process's peak RSS."""
    path = Path(out)
    rss_before = _peak_rss_mb()
    cpu_before = time.process_time()
    started = time.perf_counter()
    if what == COPY_REFERENCE:
        rows = _copy_out(url, path)
    elif what == API_STREAM:
        asyncio.run(_stream(url, path))
        rows = -1
    else:
        asyncio.run(_export(url, path, ExportFormat(what), workers))
        rows = -1  # counted afterwards from the file, outside the timing
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    sender.send(
        Measurement(
            label=label,
            kind=what,
            rows=rows,
            seconds=seconds,
            bytes_written=path.stat().st_size,
            cpu_seconds=time.process_time() - cpu_before + children.ru_utime + children.ru_stime,
            rss_before_mb=rss_before,
            peak_rss_mb=_peak_rss_mb(),
        )
    )
    sender.close()


async def _export(url: str, out: Path, export_format: ExportFormat, workers: int) -> None:
    """What `ledger events export --out OUT --format F --workers W` does once its options are
    parsed."""
    settings = Settings(postgres=PostgresSettings(url=SecretStr(url)))
    async with open_history(settings) as history:
        await events_cli._export(
            history, EventFilter(), out, export_format, False, PAGE_SIZE, workers
        )


async def _stream(url: str, out: Path) -> None:
    """Every line `GET /v1/events/stream` sends for the whole log, written to a file."""
    settings = Settings(postgres=PostgresSettings(url=SecretStr(url)))
    async with open_history(settings) as history:
        listener = LogListener(url)  # not started: the stream does not follow
        with out.open("wb") as file:
            async for block in history_routes._lines(history, listener, EventFilter(), False):
                file.write(block)


def _copy_out(url: str, out: Path) -> int:
    """The rows and columns the export's pages select, in log order, as one COPY."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                sql.Identifier(EVENTS_TABLE)
            )
        ).fetchone()
        head = int(row[0]) if row else 0
        query = sql.SQL(
            "COPY (SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id > 0 AND notification_id <= {} "
            "ORDER BY notification_id) TO STDOUT"
        ).format(sql.Identifier(EVENTS_TABLE), sql.Literal(head))
        rows = 0
        with out.open("wb") as file, conn.cursor().copy(query) as copy:
            for block in copy:
                file.write(block)
                rows += bytes(block).count(b"\n")  # text format: one line per row
    return rows


def _checked(result: Measurement, out: Path) -> Measurement:
    """The pass with its rows counted from what it wrote, outside the timing."""
    if result.rows < 0:
        if out.suffix == ".parquet":
            written = pq.ParquetFile(out).metadata.num_rows
        else:
            with out.open("rb") as file:
                written = sum(1 for _ in file)
        result = replace(result, rows=written)
    return result


def results_table(results: list[Measurement], events: int) -> Table:
    """One row per pass; the ratio is to the faster COPY pass."""
    reference = max((r.events_per_second for r in results if r.kind == COPY_REFERENCE), default=0.0)
    table = Table(
        title=f"Exporting a log of {events:,} events (page size {PAGE_SIZE:,})",
        caption=(
            "vs COPY: events/s ÷ the faster COPY pass. Peak RSS: the measuring process's "
            "high-water mark (before: after its imports). CPU s: that process only."
        ),
    )
    table.add_column("what")
    for heading in (
        "rows",
        "seconds",
        "events/s",
        "MB written",
        "vs COPY",
        "CPU s",
        "RSS before\nMB",
        "peak RSS\nMB",
    ):
        table.add_column(heading, justify="right")
    for r in results:
        table.add_row(
            r.label,
            f"{r.rows:,}",
            f"{r.seconds:.1f}",
            f"{r.events_per_second:,.0f}",
            f"{r.bytes_written / 1e6:,.0f}",
            f"{r.events_per_second / reference:.3f}" if reference else "-",
            f"{r.cpu_seconds:.1f}",
            f"{r.rss_before_mb:,.0f}",
            f"{r.peak_rss_mb:,.0f}",
        )
    return table


def _peak_rss_mb() -> float:
    # ru_maxrss is in kB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parse(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.export_history", description=__doc__
    )
    parser.add_argument(
        "--events", type=int, default=EVENTS, help=f"size of the log (default {EVENTS:,})"
    )
    arguments = parser.parse_args(argv)
    if not 10_000 <= arguments.events <= 2_000_000:
        parser.error("--events must be in 10,000..2,000,000")
    return int(arguments.events)


if __name__ == "__main__":
    sys.exit(main())
