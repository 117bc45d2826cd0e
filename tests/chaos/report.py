"""The chaos table: per fault window what was sent, lost, applied twice, the 5xx seen and
the time to recover; then totals and every check's verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.chaos.faults import FaultRun
from tests.chaos.store_checks import StoreAudit
from tests.chaos.workload import Command

GRACE_SECONDS = 5.0  # answers already in flight when the unit came back


@dataclass
class Row:
    """One line of the table."""

    label: str
    sent: int = 0
    acknowledged: int = 0
    lost: int = 0
    twice: int = 0
    unanswered: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    unit_seconds: float | None = None
    command_seconds: float | None = None


def _window_of(moment: float, runs: list[FaultRun]) -> int:
    """Index of the fault whose window `moment` fell in; -1 before any."""
    index = -1
    for position, run in enumerate(runs):
        if moment >= run.injected:
            index = position
    return index


def _seconds(run: FaultRun, moment: float | None) -> float | None:
    return None if moment is None else moment - run.injected


def build_rows(commands: list[Command], runs: list[FaultRun], audit: StoreAudit) -> list[Row]:
    """A row before the first fault, one per fault window, and the totals."""
    rows = [Row("no fault (warm-up)")]
    rows += [
        Row(
            run.fault.label,
            unit_seconds=_seconds(run, run.unit_back),
            command_seconds=_seconds(run, run.command_back),
        )
        for run in runs
    ]
    total = Row("total")
    for command in commands:
        applied = audit.applied(command)
        for row in (rows[_window_of(command.first_sent, runs) + 1], total):
            row.sent += 1
            row.acknowledged += command.acknowledged
            row.lost += command.acknowledged and applied == 0
            row.twice += applied > 1
            row.unanswered += command.final_status is None
        # A 5xx belongs to the window it was answered in, whenever its command was first sent.
        for attempt in command.attempts:
            if (attempt.status or 0) >= 500:
                rows[_window_of(attempt.answered, runs) + 1].errors[attempt.status or 0] += 1
                total.errors[attempt.status or 0] += 1
    return [*rows, total]


def unexpected_5xx(commands: list[Command], runs: list[FaultRun]) -> list[str]:
    """Any 5xx but a 503, and any 503 outside a fault's window of unavailability."""
    problems = []
    for command in commands:
        for attempt in command.attempts:
            if attempt.status is None or attempt.status < 500:
                continue
            during = any(
                run.injected <= attempt.answered
                and attempt.sent <= (run.recovered or run.ended or 0) + GRACE_SECONDS
                for run in runs
            )
            if attempt.status != 503 or not during:
                problems.append(f"{command.kind} {command.key}: {attempt.status} at {attempt.sent}")
    return problems


def _format_errors(errors: Counter[int]) -> str:
    return " ".join(f"{s}x{n}" for s, n in sorted(errors.items())) or "-"


def _format_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: list[Row], checks: dict[str, list[str]]) -> str:
    """The table and the checks, as plain text."""
    header = (
        "window",
        "sent",
        "acked",
        "lost",
        "twice",
        "unanswered",
        "5xx seen",
        "unit s",
        "cmd s",
    )
    lines = [
        (
            row.label,
            str(row.sent),
            str(row.acknowledged),
            str(row.lost),
            str(row.twice),
            str(row.unanswered),
            _format_errors(row.errors),
            _format_seconds(row.unit_seconds),
            _format_seconds(row.command_seconds),
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in (header, *lines)) for i in range(len(header))]
    text = [
        " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in (header, *lines)
    ]
    text.insert(1, "-+-".join("-" * width for width in widths))
    text.append("")
    for name, problems in checks.items():
        verdict = "PASS" if not problems else f"FAIL ({len(problems)})"
        text.append(f"{name:<58} {verdict}")
        text += [f"    {problem}" for problem in problems[:10]]
    return "\n".join(text)
