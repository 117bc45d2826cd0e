"""The whole benchmark run: the library reference, then each recorder behind the command API."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from infra.settings import PROJECT_ROOT, Settings
from tests.benchmarks import cpu
from tests.benchmarks.command_server import (
    POOL_SIZE,
    CommandServer,
    Instrumentation,
    running_command_api,
    server_settings,
)
from tests.benchmarks.databases import fresh_database
from tests.benchmarks.library_reference import LibraryResult, measure_library
from tests.benchmarks.measurements import CellPlan, CellResult, measure_ceiling, measure_cell
from tests.benchmarks.report import BenchResult
from tests.benchmarks.workloads import Workload, hot, open_funded_accounts, spread

RECORDERS = {"single": False, "group": True}
"""Recorder name → LEDGER_POSTGRES_GROUP_COMMIT."""

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """What to run and for how long: about 2.5 minutes by default, 4 if it waits for quiet."""

    warmup: float = 1.0
    duration: float = 6.0
    library_threads: tuple[int, ...] = (1, 8)
    library_duration: float = 5.0
    recorders: tuple[str, ...] = ("single", "group")
    workloads: tuple[str, ...] = ("spread", "hot")
    concurrencies: tuple[int, ...] = (1, 16, 64)
    accounts: int = 2_000
    quiet_wait: float = 15.0
    instrumentation: Instrumentation = field(default_factory=Instrumentation)


def run(plan: Plan, base: Settings, say: Say) -> BenchResult:
    """Measure everything in the plan on fresh databases, which are dropped afterwards."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    server_url = base.postgres.url.get_secret_value()
    library: list[LibraryResult] = []
    if plan.library_threads:
        say(f"library reference: threads {plan.library_threads}, {plan.library_duration:g} s each")
        with fresh_database(server_url, "library") as database_url:
            _wait_for_quiet(plan, say)
            library = measure_library(
                database_url, plan.library_threads, plan.warmup, plan.library_duration
            )
    ceiling: CellResult | None = None
    cells: list[CellResult] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as run_dir:
        for recorder in plan.recorders:
            with fresh_database(server_url, recorder) as database_url:
                settings = server_settings(base, database_url, group_commit=RECORDERS[recorder])
                with running_command_api(settings, Path(run_dir), plan.instrumentation) as server:
                    if ceiling is None:
                        ceiling = _measure_ceiling(plan, server, database_url, say)
                    cells += _measure_recorder(plan, recorder, server, database_url, say)
    return BenchResult(
        started_at=started_at,
        environment=_environment(),
        plan={key: str(value) for key, value in asdict(plan).items()},
        library=library,
        load_generator_ceiling=ceiling,
        cells=cells,
    )


def _measure_ceiling(plan: Plan, server: CommandServer, database_url: str, say: Say) -> CellResult:
    clients = max(plan.concurrencies)
    say(f"load generator ceiling: GET /health, {clients} clients")
    _wait_for_quiet(plan, say)
    return measure_ceiling(server, database_url, clients, _cell_plan(plan))


def _measure_recorder(
    plan: Plan, recorder: str, server: CommandServer, database_url: str, say: Say
) -> list[CellResult]:
    say(f"{recorder} commit: opening and funding {plan.accounts:,} accounts")
    workloads: dict[str, Workload] = {}
    if "spread" in plan.workloads:
        workloads["spread"] = spread(open_funded_accounts(server.url, plan.accounts))
    if "hot" in plan.workloads:
        workloads["hot"] = hot(open_funded_accounts(server.url, 1)[0])
    cells = []
    for name, workload in workloads.items():
        for concurrency in plan.concurrencies:
            say(f"{recorder} commit: {name}, {concurrency} clients")
            _wait_for_quiet(plan, say)
            cells.append(
                measure_cell(
                    recorder,
                    workload,
                    concurrency,
                    server=server,
                    database_url=database_url,
                    plan=_cell_plan(plan),
                )
            )
    return cells


def _wait_for_quiet(plan: Plan, say: Say) -> None:
    if plan.quiet_wait <= 0:
        return
    busy = cpu.wait_for_quiet(plan.quiet_wait)
    if busy >= cpu.QUIET_BELOW:
        say(f"[yellow]the machine is {busy:.0%} busy with other work; measuring anyway[/yellow]")


def _cell_plan(plan: Plan) -> CellPlan:
    return CellPlan(warmup=plan.warmup, duration=plan.duration)


def _environment() -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": str(bool(_git("status", "--porcelain"))),
        "command_api_pool_size": str(POOL_SIZE),
        "command_api_edge": "authentication and rate limiting off",
    }


def _git(*arguments: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return completed.stdout.strip()
