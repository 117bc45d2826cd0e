"""`python -m tests.benchmarks.write_path`: commands through the gateway, as the write-path
issue measures them, for each design side by side in one run.

Each design gets a Ledger of its own (`ledger up --detach` on free loopback ports; every
process runs, the read side included), rate limiting on with a large per-client limit, one
OAuth2 client, TLS and a bearer token on every request. `--accounts` accounts are opened
through the API; then `wrk` (Debian's package, installed on first use) sends commands to
random accounts over `--connections` keep-alive connections for `--duration` seconds,
closed loop, one window per workload:

- `deposits`: deposits only;
- `mixed`: 45 % deposits, 15 % withdrawals, 40 % transfers between random accounts.

The designs:

- `naive`: `tests.benchmarks.naive_api`, a FastAPI `def` endpoint with one library `save()`
  per request, on its own port with nothing in front (no gateway, TLS, token or rate limit),
  deposits only;
- `single`: ours with group commit off;
- `group`: ours as shipped.

Printed per window: commands/s, p50/p99/max, non-2xx answers, the relay's lag when the
window closed and how long it took to drain, the transfers left unfinished and how long
the transfer process took to finish them, and CPU ms per command of every process (each
one's whole process tree: PostgreSQL's backends and nginx's workers count; `wrk` itself
is not in the table), and the transfer process's CPU per transfer until every transfer of
the window finished. Then PostgreSQL's raw ceiling for the same durability: 1-row
INSERTs, autocommit, `synchronous_commit` on, at 16 clients (pgbench). Bounded in count
and time; loopback only; never asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from uuid import uuid4

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from infra.settings import PROJECT_ROOT, Settings
from infra.stack.debian import apt_install
from infra.stack.layout import Endpoint
from infra.stack.processes import start_process, stop_process, tail, wait_until
from tests.auth_fixtures import create_client
from tests.benchmarks.report import RESULTS_DIR
from tests.benchmarks.system import process_tree_seconds, stack_pids
from tests.chaos.stack import SCOPES, ChaosStack, own_stack
from tests.chaos.workload import fetch_token
from tests.network import free_port

OPENING_CONCURRENCY = 32
REQUEST_TIMEOUT_SECONDS = 30.0
DRAIN_SECONDS = 60.0
NAIVE_START_SECONDS = 30.0
PGBENCH_CLIENTS = 16
# Large enough that no withdrawal or transfer of the window is refused for want of funds.
OVERDRAFT_LIMIT = 10**12
DESIGNS = ("naive", "single", "group")
TRANSFER_STEPS = ("requested", "completed", "failed")
WORKLOADS = ("deposits", "mixed")
WRK_COMMON = """
local accounts = {}
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("LEDGER_BENCH_TOKEN"),
  ["Content-Type"] = "application/json",
}
local amount = '{"amount": 1, "reference": "bench"}'
function init(args)
  for line in io.lines(os.getenv("LEDGER_BENCH_ACCOUNTS")) do accounts[#accounts + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
function account_command(account, command)
  return wrk.format("POST", "/v1/accounts/" .. account .. "/" .. command, headers, amount)
end
"""
WRK_REQUESTS = {
    "deposits": """
function request()
  return account_command(accounts[math.random(#accounts)], "deposits")
end
""",
    "mixed": """
function request()
  local draw = math.random(100)
  local source = accounts[math.random(#accounts)]
  if draw <= 45 then return account_command(source, "deposits") end
  if draw <= 60 then return account_command(source, "withdrawals") end
  local target = source
  while target == source do target = accounts[math.random(#accounts)] end
  return wrk.format("POST", "/v1/transfers", headers, string.format(
    '{"source_account_id": "%s", "target_account_id": "%s", "amount": 1, "reference": "bench"}',
    source, target))
end
""",
}
_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_MAX = re.compile(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", re.MULTILINE)
_WRK_REQUESTS = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WindowResult:
    """One design's window of one workload."""

    design: str
    workload: str
    seconds: float
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    relay_lag_at_end: int
    relay_drain_seconds: float
    transfers: int
    transfers_unfinished_at_end: int
    transfers_drain_seconds: float
    transfer_cpu_ms: float
    """The transfer process's CPU from the window's start until every transfer finished."""
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
                body = {
                    "owner_id": str(uuid4()),
                    "currency": "EUR",
                    "overdraft_limit": OVERDRAFT_LIMIT,
                }
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


def log_head(settings: Settings) -> int:
    """The last position of the event log."""
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events").fetchone()
    return int(row[0]) if row else 0


def transfer_counts(settings: Settings, after: int) -> tuple[int, int]:
    """Transfers requested after log position `after`, and those still neither completed nor
    failed (the transfer process's backlog)."""
    query = """
        SELECT count(*) FILTER (WHERE topic LIKE %(requested)s),
               count(*) FILTER (WHERE topic LIKE %(completed)s OR topic LIKE %(failed)s)
        FROM ledger_events WHERE notification_id > %(after)s
    """
    patterns = {name: f"%.Transfer{name.capitalize()}" for name in TRANSFER_STEPS}
    with psycopg.connect(settings.postgres.url.get_secret_value(), autocommit=True) as conn:
        row = conn.execute(query, {**patterns, "after": after}).fetchone()
    requested, finished = (int(row[0]), int(row[1])) if row else (0, 0)
    return requested, requested - finished


def drain(backlog: Callable[[], int]) -> tuple[int, float]:
    """The backlog when called, and the seconds until it reached zero (or the cap)."""
    at_end = backlog()
    started = time.perf_counter()
    while backlog() > 0 and time.perf_counter() - started < DRAIN_SECONDS:
        time.sleep(0.1)
    return at_end, time.perf_counter() - started


def run_wrk(wrk: str, url: str, token: str, accounts: Path, workload: str, options: Options) -> str:
    """wrk's report of one closed-loop window."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_COMMON + WRK_REQUESTS[workload])
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
                url,
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


@contextmanager
def naive_server(stack: ChaosStack) -> Iterator[tuple[str, int]]:
    """The naive design's server on a free port, against the stack's event store: its URL and
    pid, until the block ends."""
    port = free_port()
    run = stack.settings.stack.dir / "run"
    log_path = stack.settings.stack.dir / "logs" / "naive-api.log"
    pid_path = run / "bench-naive-api.pid"
    process = start_process(
        "naive-api",
        [sys.executable, "-m", "tests.benchmarks.naive_api", "--port", str(port)],
        stack.environment,
        log_path,
        pid_path,
        cwd=PROJECT_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            Endpoint("127.0.0.1", port).accepts_connections,
            NAIVE_START_SECONDS,
            f"the naive API on {url}",
        )
    except TimeoutError as error:
        stop_process(pid_path, 10)
        raise RuntimeError(f"the naive API did not start\n{tail(log_path)}") from error
    try:
        yield url, process.pid
    finally:
        stop_process(pid_path, 10)


def window(
    design: str,
    workload: str,
    stack: ChaosStack,
    token: str,
    accounts: Path,
    wrk: str,
    options: Options,
) -> WindowResult:
    """One closed-loop window of `workload` against `design`, and what it cost every process."""
    settings = stack.settings
    pids = stack_pids(settings)
    with contextlib.ExitStack() as running:
        url = stack.gateway_url
        if design == "naive":
            url, pid = running.enter_context(naive_server(stack))
            pids["naive-api"] = pid
        head = log_head(settings)
        before = process_tree_seconds(pids)
        started = time.perf_counter()
        report = run_wrk(wrk, url, token, accounts, workload, options)
        seconds = time.perf_counter() - started
        after = process_tree_seconds(pids)
    relay_at_end, relay_seconds = drain(lambda: relay_lag(settings))
    transfers, _ = transfer_counts(settings, head)
    unfinished, transfer_seconds = drain(lambda: transfer_counts(settings, head)[1])
    # The transfer process's share is counted until its backlog is gone: transfers left
    # unfinished when the window closes are work the window caused.
    transfer_process = "transfer-process"
    finished = process_tree_seconds({transfer_process: pids[transfer_process]})
    transfer_cpu = finished[transfer_process] - before.get(transfer_process, 0.0)
    latencies = {int(p): _ms(v, u) for p, v, u in _WRK_LATENCY.findall(report)}
    maximum = _WRK_MAX.search(report)
    requests = _WRK_REQUESTS.search(report)
    non_2xx = _WRK_NON_2XX.search(report)
    if requests is None or 50 not in latencies or 99 not in latencies:
        raise RuntimeError(f"could not read wrk's report:\n{report}")
    result = WindowResult(
        design=design,
        workload=workload,
        seconds=seconds,
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p50_ms=latencies[50],
        p99_ms=latencies[99],
        max_ms=_ms(*maximum.groups()) if maximum else float("nan"),
        relay_lag_at_end=relay_at_end,
        relay_drain_seconds=relay_seconds,
        transfers=transfers,
        transfers_unfinished_at_end=unfinished,
        transfers_drain_seconds=transfer_seconds,
        transfer_cpu_ms=transfer_cpu * 1000 if transfers else 0.0,
    )
    accepted = max(result.accepted, 1)
    result.cpu_ms_per_command = {
        name: (after[name] - before.get(name, 0.0)) * 1000 / accepted
        for name in sorted(after)
        if after[name] - before.get(name, 0.0) > 0
    }
    return result


def measure(
    design: str, options: Options, say: Console, wrk: str, *, ceiling: bool
) -> tuple[list[WindowResult], float | None]:
    """Start a Ledger for this design, open the accounts, run its windows, and with `ceiling`
    measure its PostgreSQL's raw INSERT rate afterwards; stop it all."""

    def for_design(settings: Settings) -> Settings:
        postgres = settings.postgres.model_copy(update={"group_commit": design != "single"})
        return settings.model_copy(update={"postgres": postgres})

    workloads = ["deposits"] if design == "naive" else options.workloads
    results = []
    with own_stack(for_design) as stack, tempfile.TemporaryDirectory() as scratch:
        settings = stack.settings
        issued = create_client(settings, scopes=SCOPES, name="write-path bench")
        token = asyncio.run(_token(stack, issued.client.client_id, issued.secret))
        say.print(f"[dim]… {design}: opening {options.accounts:,} accounts[/dim]")
        ids = asyncio.run(open_accounts(stack, token, options.accounts))
        listing = Path(scratch) / "accounts.txt"
        listing.write_text("\n".join(ids) + "\n")
        for workload in workloads:
            say.print(f"[dim]… {design}: {workload} for {options.duration} s[/dim]")
            results.append(window(design, workload, stack, token, listing, wrk, options))
        raw = pgbench_ceiling(settings, min(options.duration, 20), say) if ceiling else None
    return results, raw


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


def results_table(results: list[WindowResult], ceiling: float | None) -> Table:
    """One column per window, then the raw ceiling."""
    table = Table(title="Commands through the gateway (TLS, JWT, rate limiting on; naive: direct)")
    table.add_column("")
    for result in results:
        table.add_column(f"{result.design}\n{result.workload}", justify="right")
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
        ("transfers requested", [f"{r.transfers:,}" for r in results], ""),
        (
            "transfers unfinished at end",
            [f"{r.transfers_unfinished_at_end:,}" for r in results],
            "",
        ),
        ("transfers finished in s", [f"{r.transfers_drain_seconds:.1f}" for r in results], ""),
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
    rows.append(
        (
            "CPU ms/transfer: transfer-process\n(until all finished)",
            [_per_transfer(r) for r in results],
            "",
        )
    )
    for label, values, last in rows:
        table.add_row(label, *values, last)
    return table


def _per_transfer(result: WindowResult) -> str:
    return f"{result.transfer_cpu_ms / result.transfers:.3f}" if result.transfers else "-"


def _ceiling(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "-"


def main(argv: list[str] | None = None) -> int:
    """Measure each design, then the ceiling; print, write JSON; 130 when interrupted."""
    options = _parse(argv)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    signal.signal(signal.SIGTERM, _interrupt)
    started_at = datetime.now(UTC)
    try:
        wrk = ensure_wrk(Path(tempfile.gettempdir()) / "ledger-wrk-install.log")
        results: list[WindowResult] = []
        ceiling = None
        for number, design in enumerate(options.designs):
            windows, raw = measure(design, options, console, wrk, ceiling=number == 0)
            results += windows
            ceiling = raw if number == 0 else ceiling
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


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.write_path",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=20, help="seconds per window")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    options = parser.parse_args(argv)
    if not 2 <= options.accounts <= 100_000:
        parser.error("--accounts must be in 2..100,000")
    if not 1 <= options.connections <= 512 or not 1 <= options.duration <= 300:
        parser.error("--connections must be in 1..512 and --duration in 1..300")
    return Options(**vars(options))


@dataclass(frozen=True)
class Options:
    """The run's parameters."""

    accounts: int
    connections: int
    duration: int
    designs: list[str]
    workloads: list[str]


if __name__ == "__main__":
    sys.exit(main())
