"""How `ledger projections` shows things: the status table, the rebuild's progress bar and
the countdown to dropping an old build."""

from __future__ import annotations

import asyncio
import contextlib
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from infra.cli.support import errors
from projectors.operations.operations import ProjectionReport
from projectors.operations.rebuild import RebuildProgress


def status_table(reports: list[ProjectionReport]) -> Table:
    """The status of every projection, one row each."""
    table = Table(
        "projection", "version", "state", "position", "lag", "lag s", "events/s", "workers",
        "dead letters", "build", title="projections",
    )  # fmt: skip
    for report in reports:
        version = str(report.version)
        if report.code_version != report.version:
            version += f" (code {report.code_version})"
        state = report.state
        if report.rebuild:
            rebuild = report.rebuild
            state += f" {rebuild['stage']} {rebuild['position']:,}/{rebuild['head'] or 0:,}"
        table.add_row(
            report.name,
            version,
            _coloured(state),
            _number(report.position),
            _number(report.lag_events),
            f"{report.lag_seconds:.1f}" if report.lag_seconds is not None else "-",
            f"{report.events_per_second:,.1f}",
            str(report.workers),
            str(report.dead_letters) if not report.dead_letters else f"[red]{report.dead_letters}",
            report.collection,
        )
    return table


def _number(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _coloured(state: str) -> str:
    colour = {"running": "green", "failed": "red", "paused": "yellow"}.get(state.split()[0], "cyan")
    return f"[{colour}]{state}[/]"


async def countdown(seconds: float, stop: asyncio.Event, label: str) -> None:
    """Show `label` and the seconds left until `seconds` pass or `stop` is set."""
    deadline = time.monotonic() + seconds
    with Progress(TextColumn(f"{label} {{task.fields[left]}} s"), console=errors) as bar:
        task = bar.add_task("grace", left=f"{seconds:.0f}")
        while (left := deadline - time.monotonic()) > 0 and not stop.is_set():
            bar.update(task, left=f"{left:.0f}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(left, 1.0))


class RebuildBar:
    """A progress bar over the log's positions, with events applied, rate and ETA."""

    def __init__(self, name: str) -> None:
        self._progress = Progress(
            TextColumn(f"[bold]rebuild {name}"),
            TextColumn("{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("positions · {task.fields[applied]:,} events · {task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=errors,
        )
        self._task = self._progress.add_task("rebuild", total=None, stage="", applied=0, rate="")
        self._started = time.monotonic()

    def __enter__(self) -> RebuildBar:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def update(self, progress: RebuildProgress) -> None:
        """Show where the rebuild is."""
        elapsed = time.monotonic() - self._started
        rate = f"{progress.applied / elapsed:,.0f} events/s" if elapsed > 0 else ""
        self._progress.update(
            self._task,
            total=progress.head,
            completed=min(progress.position, progress.head),
            stage=progress.stage,
            applied=progress.applied,
            rate=rate,
        )
