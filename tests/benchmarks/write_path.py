"""`python -m tests.benchmarks.write_path`: deposits through the gateway, as the write-path
issue measures them.

A Ledger of its own (`ledger up --detach` on free loopback ports; every process runs, the
read side included), rate limiting on with a large per-client limit, one OAuth2 client,
TLS and a bearer token on every request. `--accounts` accounts are opened through the API;
then `wrk` (Debian's package, installed on first use) sends deposits to random accounts
over `--connections` keep-alive connections for `--duration` seconds, closed loop.

Printed per recorder (group commit as shipped, and off): commands/s, p50/p99/max, non-2xx
answers, the relay's lag when the window closed and after it, and CPU ms per command of
every process (each one's whole process tree: PostgreSQL's backends and nginx's workers
count; `wrk` itself is not in the table). Then PostgreSQL's raw ceiling for the same
durability: 1-row INSERTs, autocommit, `synchronous_commit` on, at 16 clients (pgbench).
Bounded in count and time; loopback only; never asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from uuid import uuid4

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from infra.settings import Settings
from infra.stack.debian import apt_install
from tests.auth_fixtures import create_client
from tests.benchmarks.report import RESULTS_DIR
from tests.benchmarks.system import process_tree_seconds, stack_pids
from tests.chaos.stack import SCOPES, ChaosStack, own_stack
from tests.chaos.workload import fetch_token

OPENING_CONCURRENCY = 32
REQUEST_TIMEOUT_SECONDS = 30.0
RELAY_DRAIN_SECONDS = 60.0
PGBENCH_CLIENTS = 16
WRK_SCRIPT = """
local accounts = {}
local token = os.getenv("LEDGER_BENCH_TOKEN")
function init(args)
  for line in io.lines(os.getenv("LEDGER_BENCH_ACCOUNTS")) do accounts[#accounts + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
function request()
  local account = accounts[math.random(#accounts)]
  return wrk.format("POST", "/v1/accounts/" .. account .. "/deposits", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"amount": 1, "reference": "bench"}')
end
"""
_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_MAX = re.compile(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", re.MULTILINE)
_WRK_REQUESTS = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class RecorderResult:
    """One recorder's window."""

    recorder: str
    seconds: float
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    relay_lag_at_end: int
    relay_drain_seconds: float
    cpu_ms_per_command: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        """Answers that were 2xx."""
        return self.requests - self.non_2xx


def ensure_wrk(log: Path) -> str:
    """The `wrk` binary, installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found is None:
        apt_install("wrk", "wrk", log)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed and `apt-get install wrk` did not install it")
    return found


async def open_accounts(stack: ChaosStack, token: str, count: int) -> list[str]:
    """`count` accounts opened through the gateway, `OPENING_CONCURRENCY` at a time."""
    ids: list[str] = []
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        verify=stack.tls_context(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    ) as client:

        async def one() -> None:
            async with gate:
                body = {"owner_id": str(uuid4()), "currency": "EUR", "overdraft_limit": 0}
                answer = await client.post(
                    "/v1/accounts", json=body, headers={"Idempotency-Key": str(uuid4())}
                )
                answer.raise_for_status()
                ids.append(answer.json()["aggregate_id"])

        await asyncio.gather(*(one() for _ in range(count)))
    return ids


def relay_lag(settings: Settings) -> int:
    """Events recorded but not yet published by the relay (its checkpoint in PostgreSQL)."""
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events")
        published = conn.execute("SELECT coalesce(max(position), 0) FROM relay_checkpoints")
        head_row, published_row = head.fetchone(), published.fetchone()
    return int(head_row[0] if head_row else 0) - int(published_row[0] if published_row else 0)


def run_wrk(
    wrk: str, stack: ChaosStack, token: str, accounts: Path, options: argparse.Namespace
) -> str:
    """wrk's report of one closed-loop window."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        completed = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{options.connections}",
                f"-d{options.duration}s",
                "--latency",
                "--timeout",
                f"{REQUEST_TIMEOUT_SECONDS:.0f}s",
                "-s",
                script.name,
                stack.gateway_url,
            ],
            env={"LEDGER_BENCH_TOKEN": token, "LEDGER_BENCH_ACCOUNTS": str(accounts)},
            capture_output=True,
            text=True,
            timeout=options.duration + 60,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    return completed.stdout


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def measure(
    recorder: str, options: argparse.Namespace, say: Console, wrk: str, *, ceiling: bool
) -> tuple[RecorderResult, float | None]:
    """Start a Ledger with this recorder, open the accounts, run one window, and with
    `ceiling` measure its PostgreSQL's raw INSERT rate afterwards; stop it all."""

    def with_recorder(settings: Settings) -> Settings:
        postgres = settings.postgres.model_copy(update={"group_commit": recorder == "group"})
        return settings.model_copy(update={"postgres": postgres})

    with own_stack(with_recorder) as stack:
        settings = stack.settings
        issued = create_client(settings, scopes=SCOPES, name="write-path bench")
        token = asyncio.run(_token(stack, issued.client.client_id, issued.secret))
        say.print(f"[dim]… {recorder}: opening {options.accounts:,} accounts[/dim]")
        ids = asyncio.run(open_accounts(stack, token, options.accounts))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
            listing.write("\n".join(ids) + "\n")
        pids = stack_pids(settings)
        say.print(f"[dim]… {recorder}: deposits for {options.duration} s[/dim]")
        before = process_tree_seconds(pids)
        started = time.perf_counter()
        report = run_wrk(wrk, stack, token, Path(listing.name), options)
        seconds = time.perf_counter() - started
        after = process_tree_seconds(pids)
        lag_at_end = relay_lag(settings)
        drained = time.perf_counter()
        while relay_lag(settings) > 0 and time.perf_counter() - drained < RELAY_DRAIN_SECONDS:
            time.sleep(0.1)
        drain_seconds = time.perf_counter() - drained
        Path(listing.name).unlink()
        raw = pgbench_ceiling(settings, min(options.duration, 20), say) if ceiling else None
    latencies = {int(p): _ms(v, u) for p, v, u in _WRK_LATENCY.findall(report)}
    maximum = _WRK_MAX.search(report)
    requests = _WRK_REQUESTS.search(report)
    non_2xx = _WRK_NON_2XX.search(report)
    if requests is None or 50 not in latencies or 99 not in latencies:
        raise RuntimeError(f"could not read wrk's report:\n{report}")
    result = RecorderResult(
        recorder=recorder,
        seconds=seconds,
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p50_ms=latencies[50],
        p99_ms=latencies[99],
        max_ms=_ms(*maximum.groups()) if maximum else float("nan"),
        relay_lag_at_end=lag_at_end,
        relay_drain_seconds=drain_seconds,
    )
    accepted = max(result.accepted, 1)
    result.cpu_ms_per_command = {
        name: (after[name] - before.get(name, 0.0)) * 1000 / accepted
        for name in sorted(after)
        if after[name] - before.get(name, 0.0) > 0
    }
    return result, raw


async def _token(stack: ChaosStack, client_id: str, secret: str) -> str:
    async with httpx.AsyncClient(base_url=stack.gateway_url, verify=stack.tls_context()) as http:
        return await fetch_token(http, client_id, secret)


def pgbench_ceiling(settings: Settings, seconds: int, say: Console) -> float | None:
    """tps of 1-row INSERTs, autocommit, at 16 clients, on the stack's PostgreSQL."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    if not binaries:
        say.print("[yellow]pgbench not found: no raw ceiling[/yellow]")
        return None
    url = settings.postgres.url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ceiling")
        conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, payload text)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_ceiling (payload) VALUES (repeat('x', 300));\n")
    try:
        completed = subprocess.run(
            [
                str(binaries[-1]),
                "-n",
                "-M",
                "prepared",
                "-c",
                str(PGBENCH_CLIENTS),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        Path(script.name).unlink()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_ceiling")
    match = re.search(r"tps = ([\d.]+)", completed.stdout)
    return float(match.group(1)) if match else None


def results_table(results: list[RecorderResult], ceiling: float | None) -> Table:
    """One column per recorder, then the raw ceiling."""
    table = Table(title="Deposits through the gateway (TLS, JWT, rate limiting on)")
    table.add_column("")
    for result in results:
        table.add_column(f"recorder: {result.recorder}", justify="right")
    table.add_column("raw 1-row INSERT\n(pgbench, 16 clients)", justify="right")
    rows: list[tuple[str, list[str], str]] = [
        ("commands/s", [f"{r.accepted / r.seconds:,.0f}" for r in results], _ceiling(ceiling)),
        (
            "p50 / p99 / max ms",
            [f"{r.p50_ms:.1f} / {r.p99_ms:.1f} / {r.max_ms:.0f}" for r in results],
            "",
        ),
        ("non-2xx", [f"{r.non_2xx:,}" for r in results], ""),
        ("relay lag at end (events)", [f"{r.relay_lag_at_end:,}" for r in results], ""),
        ("relay drained in s", [f"{r.relay_drain_seconds:.1f}" for r in results], ""),
    ]
    names = sorted({name for r in results for name in r.cpu_ms_per_command})
    for name in names:
        values = [f"{r.cpu_ms_per_command.get(name, 0.0):.3f}" for r in results]
        rows.append((f"CPU ms/command: {name}", values, ""))
    rows.append(
        (
            "CPU ms/command: all",
            [f"{sum(r.cpu_ms_per_command.values()):.3f}" for r in results],
            "",
        )
    )
    for label, values, last in rows:
        table.add_row(label, *values, last)
    return table


def _ceiling(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "-"


def main(argv: list[str] | None = None) -> int:
    """Measure each recorder, then the ceiling; print, write JSON; 130 when interrupted."""
    options = _parse(argv)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    signal.signal(signal.SIGTERM, _interrupt)
    started_at = datetime.now(UTC)
    try:
        wrk = ensure_wrk(Path(tempfile.gettempdir()) / "ledger-wrk-install.log")
        measured = [
            measure(recorder, options, console, wrk, ceiling=number == 0)
            for number, recorder in enumerate(options.recorders)
        ]
        results = [result for result, _ in measured]
        ceiling = measured[0][1]
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stacks stopped[/yellow]")
        return 130
    console.print(results_table(results, ceiling))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"write-path-{started_at:%Y%m%dT%H%M%SZ}.json"
    document = {
        "started_at": started_at.isoformat(),
        "options": vars(options),
        "results": [asdict(r) | {"accepted": r.accepted} for r in results],
        "pgbench_insert_tps": ceiling,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"JSON: {path}")
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.write_path", description=__doc__
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=20, help="seconds per recorder")
    parser.add_argument(
        "--recorders", nargs="+", choices=("group", "single"), default=["group", "single"]
    )
    options = parser.parse_args(argv)
    if not 1 <= options.accounts <= 100_000:
        parser.error("--accounts must be in 1..100,000")
    if not 1 <= options.connections <= 512 or not 1 <= options.duration <= 300:
        parser.error("--connections must be in 1..512 and --duration in 1..300")
    return options


if __name__ == "__main__":
    sys.exit(main())
