"""`python -m tests.benchmarks.system`: the whole system, as its users meet it.

A Ledger of its own (`ledger up --detach` on free loopback ports, rate limits off), one
OAuth2 client, every request through the gateway with TLS and a bearer token. Accounts are
opened and funded; then, for each rate, an open-loop mix of 45 % deposits, 15 % withdrawals
and 40 % transfers for a fixed time. A quarter of the deposits and withdrawals are read back
with `X-Min-Version` until the answer is fresh.

One table per rate: command p50/p99; visible p50/p95/p99 (from the command's answer to the
first fresh read); the read side's lag when the window closes; CPU ms per command of every
process (each one's whole process tree, so PostgreSQL's backends and nginx's workers count);
read-store commands and rows scanned per command (FerretDB's `/debug/metrics` and
`pg_stat_user_tables` of its schemas). Then the list pages (an owner's accounts, a statement,
a portfolio, daily volume), read one at a time: p50/p99 each, at the store's size after
every rate (and the `--prefill-events`). Bounded in count and time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import signal
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from infra.readstore.client import make_client, read_models
from infra.settings import Settings
from infra.stack.processes import read_record
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS
from tests.auth_fixtures import create_client
from tests.benchmarks.cpu import CLOCK_TICKS, PROC
from tests.benchmarks.report import RESULTS_DIR
from tests.chaos.stack import SCOPES, ChaosStack, own_stack
from tests.chaos.workload import MIX, fetch_token, open_accounts
from tests.integration import synthetic_log

READ_BACK_SHARE = 0.25
REQUEST_TIMEOUT_SECONDS = 30.0
FRESH_READ_ATTEMPTS = 20
DRAIN_SECONDS = 60.0
# The slowest catch-up worth waiting for after a prefill.
PREFILL_EVENTS_PER_SECOND = 1_000
PAGE_READS = 200
"""Reads of each list page, one at a time, once every rate has run (the store at its largest)."""
PAGE_LIMIT = 50
# FerretDB counts every command it answers, by command name.
_FERRETDB_REQUESTS = re.compile(
    r'^ferretdb_client_requests_total\{[^}]*command="(\w+)"[^}]*\} (\S+)'
)


@dataclass
class Window:
    """What the clients saw while one rate ran."""

    rate: int
    seconds: float
    command_ms: list[float] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    never_fresh: int = 0
    settled: float = 0.0
    """Seconds from the first command until the last answer and read-back."""


@dataclass(frozen=True)
class Counters:
    """Cumulative counters of the whole system at one instant."""

    cpu_seconds: dict[str, float]
    read_store_commands: dict[str, float]
    rows_scanned: int
    sequential_scans: int
    rows_scanned_by_table: dict[str, int] = field(default_factory=dict)


@dataclass
class RateResult:
    """One rate's figures, as printed and written to JSON."""

    rate: int
    achieved_per_second: float
    commands: int
    failures: dict[str, int]
    command_p50_ms: float
    command_p99_ms: float
    visible_p50_ms: float
    visible_p95_ms: float
    visible_p99_ms: float
    reads_never_fresh: int
    lag_events_at_end: int
    counted_seconds: float
    seconds_to_drain: float
    cpu_ms_per_command: dict[str, float]
    read_store_commands_per_command: dict[str, float]
    rows_scanned_per_command: float
    sequential_scans_per_command: float
    statements: list[StatementCost] = field(default_factory=list)
    rows_scanned_per_command_by_table: dict[str, float] = field(default_factory=dict)


@dataclass
class StatementCost:
    """One statement's share of a command in PostgreSQL (`pg_stat_statements`)."""

    query: str
    calls_per_command: float
    exec_ms_per_command: float
    rows_per_command: float


@dataclass
class PageResult:
    """One list page's latency through the gateway, read one at a time."""

    page: str
    reads: int
    failures: dict[str, int]
    p50_ms: float
    p99_ms: float
    items_per_read: float


@dataclass
class Results:
    """Everything one run measured, as written to JSON."""

    rates: list[RateResult]
    pages: list[PageResult]


TOP_STATEMENTS = 15


def reset_statements(settings: Settings) -> None:
    """Start `pg_stat_statements` afresh (every database of the server)."""
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def top_statements(settings: Settings, accepted: int) -> list[StatementCost]:
    """The statements that took the most execution time since the reset, per command."""
    query = r"""
        SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, total_exec_time, rows
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT %s
    """
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        rows = conn.execute(query, (TOP_STATEMENTS,)).fetchall()
    per = max(1, accepted)
    return [
        StatementCost(str(text)[:160], calls / per, exec_ms / per, count / per)
        for text, calls, exec_ms, count in rows
    ]


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie; 0 with none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def process_tree_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process and its live descendants, plus what they reaped from the dead.

    Counting each process's own and reaped children's time makes the difference between two
    readings exact even when backends or workers come and go in between. A descendant that is
    itself one of `pids` (the supervisor's children) counts for itself only.
    """
    children: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        seconds[int(entry.name)] = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    named = set(pids.values())
    totals = {}
    for name, pid in pids.items():
        total, pending = 0.0, [pid]
        while pending:
            current = pending.pop()
            total += seconds.get(current, 0.0)
            pending.extend(child for child in children.get(current, []) if child not in named)
        totals[name] = total
    return totals


def stack_pids(settings: Settings) -> dict[str, int]:
    """Every server and process of the stack by name, from its pid records."""
    pids = {}
    for path in sorted((settings.stack.dir / "run").glob("*.pid")):
        record = read_record(path)
        if record is not None:
            pids[path.stem] = record.pid
    return pids


def ferretdb_commands(settings: Settings) -> dict[str, float]:
    """FerretDB's answered commands by name; empty when the read store is not FerretDB."""
    url = f"http://127.0.0.1:{settings.stack.ferretdb_debug_port}/debug/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        match = _FERRETDB_REQUESTS.match(line)
        if match:
            name = match.group(1)
            counts[name] = counts.get(name, 0.0) + float(match.group(2))
    return counts


def read_store_scans(settings: Settings) -> dict[str, tuple[int, int]]:
    """Per FerretDB table (not `public`): rows read by sequential scans, and their number."""
    query = """
        SELECT relname, coalesce(seq_tup_read, 0), coalesce(seq_scan, 0)
        FROM pg_stat_user_tables WHERE schemaname <> 'public'
    """
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(query).fetchall()
    return {str(name): (int(tuples), int(scans)) for name, tuples, scans in rows}


def read_counters(settings: Settings, pids: dict[str, int]) -> Counters:
    """Every counter the table divides by the commands accepted."""
    by_table = read_store_scans(settings)
    return Counters(
        cpu_seconds=process_tree_seconds(pids),
        read_store_commands=ferretdb_commands(settings),
        rows_scanned=sum(rows for rows, _ in by_table.values()),
        sequential_scans=sum(scans for _, scans in by_table.values()),
        rows_scanned_by_table={name: rows for name, (rows, _) in by_table.items()},
    )


class Traffic:
    """Open-loop commands at one rate through the gateway, with fresh read-backs."""

    def __init__(self, client: httpx.AsyncClient, accounts: list[str], seed: int) -> None:
        self._client = client
        self._accounts = accounts
        self._random = random.Random(seed)

    async def run(self, rate: int, seconds: float) -> Window:
        """Command i leaves at start + i / rate whatever happened to the ones before it."""
        window = Window(rate, seconds)
        tasks: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        for index in range(int(rate * seconds)):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(window))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        window.seconds = time.perf_counter() - started
        await asyncio.gather(*tasks)
        window.settled = time.perf_counter() - started
        return window

    async def _one(self, window: Window) -> None:
        kind = self._random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        read_back = kind != "transfer" and self._random.random() < READ_BACK_SHARE
        key, account = str(uuid4()), ""
        amount = self._random.randint(1, 2_000)
        if kind == "transfer":
            source, target = self._random.sample(self._accounts, 2)
            path = "/v1/transfers"
            body: dict[str, Any] = {
                "source_account_id": source,
                "target_account_id": target,
                "amount": amount,
                "reference": key,
            }
        else:
            account = self._random.choice(self._accounts)
            path = f"/v1/accounts/{account}/{kind}s"
            body = {"amount": amount, "reference": key}
        sent = time.perf_counter()
        try:
            answer = await self._client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as error:
            window.failures[type(error).__name__] += 1
            return
        answered = time.perf_counter()
        if not answer.is_success:
            window.failures[str(answer.status_code)] += 1
            return
        window.command_ms.append((answered - sent) * 1000)
        if read_back:
            await self._read_back(window, account, int(answer.json()["version"]), answered)

    async def _read_back(self, window: Window, account: str, version: int, since: float) -> None:
        headers = {"X-Min-Version": str(version)}
        for _ in range(FRESH_READ_ATTEMPTS):
            try:
                read = await self._client.get(f"/v1/accounts/{account}", headers=headers)
            except httpx.TransportError as error:
                window.failures[f"read {type(error).__name__}"] += 1
                return
            if read.headers.get("x-consistency") == "fresh":
                window.visible_ms.append((time.perf_counter() - since) * 1000)
                return
        window.never_fresh += 1


async def read_pages(client: httpx.AsyncClient, accounts: list[str], seed: int) -> list[PageResult]:
    """Each list page `PAGE_READS` times for random accounts (and their owners), in turn."""
    owners = {}
    for account in accounts:
        answer = await client.get(f"/v1/accounts/{account}")
        answer.raise_for_status()
        owners[account] = answer.json()["owner_id"]
    choose = random.Random(seed).choice
    pages: dict[str, Callable[[str], str]] = {
        "an owner's accounts": lambda account: (
            f"/v1/accounts?owner_id={owners[account]}&limit={PAGE_LIMIT}"
        ),
        "an account's statement": lambda account: (
            f"/v1/accounts/{account}/statement?limit={PAGE_LIMIT}"
        ),
        "an owner's portfolio": lambda account: f"/v1/owners/{owners[account]}/portfolio",
        "daily volume, 30 days": lambda account: "/v1/stats/daily",
    }
    results = []
    for page, path_of in pages.items():
        took: list[float] = []
        failures: Counter[str] = Counter()
        items = 0
        for _ in range(PAGE_READS):
            sent = time.perf_counter()
            try:
                answer = await client.get(path_of(choose(accounts)))
            except httpx.TransportError as error:
                failures[type(error).__name__] += 1
                continue
            if not answer.is_success:
                failures[str(answer.status_code)] += 1
                continue
            took.append((time.perf_counter() - sent) * 1000)
            items += len(answer.json().get("items", []))
        results.append(
            PageResult(
                page=page,
                reads=len(took),
                failures=dict(failures),
                p50_ms=percentile(took, 0.50),
                p99_ms=percentile(took, 0.99),
                items_per_read=items / max(1, len(took)),
            )
        )
    return results


async def lag_events(settings: Settings) -> int:
    """Events the projections have yet to apply, summed over every projection."""
    client = make_client(settings.mongodb)
    try:
        operations = ProjectionOperations(
            settings, read_models(client, settings.mongodb), PROJECTIONS
        )
        return sum([(await operations.report(name)).lag_events or 0 for name in PROJECTIONS])
    finally:
        await client.close()


async def drain(settings: Settings, limit_seconds: float) -> float:
    """Seconds until the projections have applied everything (the limit when they have not)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_seconds:
        if await lag_events(settings) == 0:
            break
        await asyncio.sleep(0.25)
    return time.perf_counter() - started


def summarise(
    window: Window, before: Counters, after: Counters, lag: int, drained: float
) -> RateResult:
    """Divide every counter by the commands accepted."""
    accepted = max(1, len(window.command_ms))
    cpu = {
        name: (after.cpu_seconds.get(name, 0.0) - seconds) * 1000 / accepted
        for name, seconds in before.cpu_seconds.items()
    }
    cpu["total"] = sum(cpu.values())
    commands = {
        name: (count - before.read_store_commands.get(name, 0.0)) / accepted
        for name, count in after.read_store_commands.items()
        if count > before.read_store_commands.get(name, 0.0)
    }
    return RateResult(
        rate=window.rate,
        achieved_per_second=len(window.command_ms) / window.seconds,
        commands=len(window.command_ms),
        failures=dict(window.failures),
        command_p50_ms=percentile(window.command_ms, 0.50),
        command_p99_ms=percentile(window.command_ms, 0.99),
        visible_p50_ms=percentile(window.visible_ms, 0.50),
        visible_p95_ms=percentile(window.visible_ms, 0.95),
        visible_p99_ms=percentile(window.visible_ms, 0.99),
        reads_never_fresh=window.never_fresh,
        lag_events_at_end=lag,
        counted_seconds=window.settled,
        seconds_to_drain=drained,
        cpu_ms_per_command=cpu,
        read_store_commands_per_command=commands,
        rows_scanned_per_command=(after.rows_scanned - before.rows_scanned) / accepted,
        sequential_scans_per_command=(after.sequential_scans - before.sequential_scans) / accepted,
        rows_scanned_per_command_by_table={
            name: (rows - before.rows_scanned_by_table.get(name, 0)) / accepted
            for name, rows in after.rows_scanned_by_table.items()
            if rows > before.rows_scanned_by_table.get(name, 0)
        },
    )


async def measure(stack: ChaosStack, options: argparse.Namespace, log: Console) -> Results:
    """Open the accounts, run each rate (draining the read side between rates), then read
    the list pages."""
    settings = stack.settings
    issued = await asyncio.to_thread(create_client, settings, scopes=SCOPES, name="bench")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        verify=stack.tls_context(),
        timeout=REQUEST_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_connections=options.connections),
    ) as client:
        token = await fetch_token(client, issued.client.client_id, issued.secret)
        client.headers["authorization"] = f"Bearer {token}"
        if options.prefill_events:
            log.print(
                f"[dim]… storing {options.prefill_events:,} events over"
                f" {options.prefill_accounts:,} accounts, then waiting for the read side[/dim]"
            )
            await asyncio.to_thread(
                synthetic_log.load,
                settings,
                options.prefill_events,
                options.prefill_accounts,
                mixed=True,
                seed=options.seed + 1,
            )
            waited = await drain(settings, options.prefill_events / PREFILL_EVENTS_PER_SECOND)
            log.print(f"[dim]… the read side took {waited:,.0f} s to apply them[/dim]")
        log.print(f"[dim]… opening {options.accounts} accounts[/dim]")
        deadline = time.monotonic() + 600
        accounts, _ = await open_accounts(client, options.accounts, deadline)
        await drain(settings, DRAIN_SECONDS)
        traffic = Traffic(client, accounts, options.seed)
        results = []
        for rate in options.rates:
            log.print(f"[dim]… {rate} commands/s for {options.duration:.0f} s[/dim]")
            pids = stack_pids(settings)
            await asyncio.to_thread(reset_statements, settings)
            before = await asyncio.to_thread(read_counters, settings, pids)
            window = await traffic.run(rate, options.duration)
            lag = await lag_events(settings)
            after = await asyncio.to_thread(read_counters, settings, pids)
            statements = await asyncio.to_thread(top_statements, settings, len(window.command_ms))
            drained = await drain(settings, DRAIN_SECONDS)
            results.append(summarise(window, before, after, lag, drained))
            results[-1].statements = statements
            log.print(rate_table(results[-1]))
            log.print(statements_table(results[-1]))
        log.print(f"[dim]… list pages, {PAGE_READS} reads each, one at a time[/dim]")
        pages = await read_pages(client, accounts, options.seed)
        log.print(pages_table(pages))
        return Results(results, pages)


def rate_table(result: RateResult) -> Table:
    """The figures of one rate."""
    table = Table(
        title=f"Whole system at {result.rate} commands/s (open loop, through the gateway)"
    )
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row(
        "achieved, commands/s", f"{result.achieved_per_second:,.0f} ({result.commands:,} accepted)"
    )
    if result.failures:
        table.add_row(
            "failures", ", ".join(f"{k}: {v}" for k, v in sorted(result.failures.items()))
        )
    table.add_row(
        "command p50 / p99, ms", f"{result.command_p50_ms:.1f} / {result.command_p99_ms:.1f}"
    )
    table.add_row(
        "visible p50 / p95 / p99, ms",
        f"{result.visible_p50_ms:.1f} / {result.visible_p95_ms:.1f} / {result.visible_p99_ms:.1f}",
    )
    if result.reads_never_fresh:
        table.add_row("reads never fresh", str(result.reads_never_fresh))
    table.add_row(
        "lag at the end, events (then drained in)",
        f"{result.lag_events_at_end:,} ({result.seconds_to_drain:.1f} s)",
    )
    table.add_row(
        "counters read over, s (sending, then the last answers)", f"{result.counted_seconds:.1f}"
    )
    for name, ms in sorted(result.cpu_ms_per_command.items(), key=lambda item: -item[1]):
        table.add_row(f"CPU ms per command: {name}", f"{ms:.2f}")
    for name, count in sorted(result.read_store_commands_per_command.items()):
        table.add_row(f"read-store `{name}` per command", f"{count:.2f}")
    table.add_row("read-store rows scanned per command", f"{result.rows_scanned_per_command:,.1f}")
    table.add_row(
        "read-store sequential scans per command", f"{result.sequential_scans_per_command:.2f}"
    )
    scanned = sorted(result.rows_scanned_per_command_by_table.items(), key=lambda item: -item[1])
    for name, rows in scanned[:5]:
        table.add_row(f"  rows scanned per command in {name}", f"{rows:,.1f}")
    return table


def statements_table(result: RateResult) -> Table:
    """Where PostgreSQL's execution time went, per command (`pg_stat_statements`)."""
    table = Table(title=f"PostgreSQL at {result.rate} commands/s: top statements by time")
    for column in ("calls / cmd", "exec ms / cmd", "rows / cmd"):
        table.add_column(column, justify="right")
    table.add_column("statement", overflow="fold")
    for cost in result.statements:
        table.add_row(
            f"{cost.calls_per_command:.2f}",
            f"{cost.exec_ms_per_command:.3f}",
            f"{cost.rows_per_command:.1f}",
            cost.query,
        )
    return table


def pages_table(pages: list[PageResult]) -> Table:
    """The list pages' latency, one read at a time."""
    table = Table(title=f"List pages through the gateway ({PAGE_LIMIT} items at most)")
    table.add_column("page")
    for column in ("reads", "p50 ms", "p99 ms", "items / read", "failures"):
        table.add_column(column, justify="right")
    for page in pages:
        table.add_row(
            page.page,
            f"{page.reads:,}",
            f"{page.p50_ms:.1f}",
            f"{page.p99_ms:.1f}",
            f"{page.items_per_read:.1f}",
            ", ".join(f"{k}: {v}" for k, v in sorted(page.failures.items())) or "none",
        )
    return table


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.system", description=__doc__)
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 200, 400])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--connections", type=int, default=256, help="the clients' pool")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--traced",
        action="store_true",
        help="every process records spans and exports them to the stack's Jaeger",
    )
    parser.add_argument(
        "--prefill-events",
        type=int,
        default=0,
        help="events of the same mix stored (and projected) before measuring, e.g. 1000000",
    )
    parser.add_argument("--prefill-accounts", type=int, default=100_000)
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start a stack of its own, measure every rate, print, write JSON; always stop the stack."""
    options = _parse(argv)
    console = Console() if sys.stdout.isatty() else Console(width=120)
    signal.signal(signal.SIGTERM, _interrupt)
    console.print("[dim]… starting a Ledger of its own (`ledger up --detach`)[/dim]")
    try:
        with own_stack(traced=options.traced) as stack:
            results = asyncio.run(measure(stack, options, console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the stack was stopped[/yellow]")
        return 130
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"system-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(results), indent=2))
    console.print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
