"""The benchmark's results: Rich tables on the terminal, and one JSON file per run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks.library_reference import LibraryResult
from tests.benchmarks.measurements import CellResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchResult:
    """Everything one run measured, and what it ran on."""

    started_at: str
    environment: dict[str, Any]
    plan: dict[str, Any]
    library: list[LibraryResult]
    load_generator_ceiling: CellResult | None
    cells: list[CellResult]


def library_table(results: list[LibraryResult]) -> Table:
    """The reference rows: the raw library's saves per second."""
    table = Table(title="Reference: eventsourcing app.save() of one new aggregate (no HTTP)")
    headings = ("threads", "saves/s", "CPU ms/save Python", "CPU ms/save PostgreSQL", "others %")
    for heading in headings:
        table.add_column(heading, justify="right")
    for row in results:
        table.add_row(
            str(row.threads),
            f"{row.saves_per_second:,.0f}",
            f"{row.cpu_ms_per_save_python:.2f}",
            f"{row.cpu_ms_per_save_postgres:.2f}",
            f"{row.others_cpu_percent:.0f}",
        )
    return table


def commands_table(cells: list[CellResult], library_one_thread: float | None) -> Table:
    """One row per recorder, workload and concurrency."""
    table = Table(
        title="Command API through HTTP: deposits (2xx only)",
        caption=(
            "CPU ms/cmd: CPU time per 2xx command of the server process, of PostgreSQL (its "
            "shared processes and this database's backends) and of this load generator. "
            "others %: share of the machine busy with anything else; rows where it is high "
            "were disturbed."
        ),
    )
    table.add_column("recorder")
    table.add_column("workload")
    for heading in (
        "clients",
        "commands\n/s",
        "p50\nms",
        "p99\nms",
        "errors",
        "vs library\n1 thread",
        "commits\n/command",
        "CPU ms/cmd\nserver",
        "CPU ms/cmd\nPostgreSQL",
        "CPU ms/cmd\nload gen",
        "machine\nbusy %",
        "others\n%",
    ):
        table.add_column(heading, justify="right")
    for cell in cells:
        table.add_row(
            cell.recorder,
            cell.workload,
            str(cell.concurrency),
            f"{cell.commands_per_second:,.0f}",
            f"{cell.p50_ms:.1f}",
            f"{cell.p99_ms:.1f}",
            _errors(cell.errors),
            f"{cell.commands_per_second / library_one_thread:.2f}" if library_one_thread else "-",
            f"{cell.commits_per_command:.2f}" if cell.commits_per_command is not None else "-",
            f"{cell.server_cpu_ms_per_command:.2f}",
            f"{cell.postgres_cpu_ms_per_command:.2f}",
            f"{cell.load_generator_cpu_ms_per_command:.2f}",
            f"{cell.machine_busy_percent:.0f}",
            f"{cell.others_cpu_percent:.0f}",
        )
    return table


def transactions_table(cells: list[CellResult]) -> Table | None:
    """What the instrumented server saw of its recorder's transactions; None if not measured."""
    measured = [cell for cell in cells if cell.recorder_transactions]
    if not measured:
        return None
    table = Table(title="Recorder transactions inside the server (--commit-timings)")
    table.add_column("recorder")
    table.add_column("workload")
    for heading in (
        "clients",
        "transactions\n/s",
        "commands\n/transaction",
        "ms until\nlocked",
        "ms lock held\nmean",
        "ms lock held\np99",
    ):
        table.add_column(heading, justify="right")
    for cell in measured:
        timings = cell.recorder_transactions or {}
        table.add_row(
            cell.recorder,
            cell.workload,
            str(cell.concurrency),
            f"{timings.get('transactions', 0) / cell.seconds:,.0f}",
            f"{timings.get('mean_batch', 0):.1f}",
            f"{timings.get('until_locked_mean_ms', 0):.2f}",
            f"{timings.get('lock_held_mean_ms', 0):.2f}",
            f"{timings.get('lock_held_p99_ms', 0):.2f}",
        )
    return table


def print_ceiling(console: Console, ceiling: CellResult) -> None:
    """One line: what the load generator can drive against a trivial endpoint."""
    console.print(
        f"Load generator ceiling: {ceiling.commands_per_second:,.0f} GET /health per second "
        f"at {ceiling.concurrency} clients (p50 {ceiling.p50_ms:.1f} ms, errors "
        f"{_errors(ceiling.errors)}); CPU ms per request: load generator "
        f"{ceiling.load_generator_cpu_ms_per_command:.2f}, server "
        f"{ceiling.server_cpu_ms_per_command:.2f}; machine busy "
        f"{ceiling.machine_busy_percent:.0f} %, others {ceiling.others_cpu_percent:.0f} %"
    )


def write_json(result: BenchResult, directory: Path = RESULTS_DIR) -> Path:
    """Write the run as `commands-<UTC timestamp>.json`; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(result.started_at).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"commands-{stamp}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return path


def _errors(errors: dict[str, int]) -> str:
    if not errors:
        return "0"
    return ", ".join(f"{label}: {count}" for label, count in sorted(errors.items()))
