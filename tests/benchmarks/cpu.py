"""CPU time of the machine, the server under test, PostgreSQL and this load generator (/proc)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds at one instant."""

    machine_busy: float
    machine_total: float
    server: float
    postgres: float
    load_generator: float


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent between two snapshots, and how busy the whole machine was."""

    server: float
    postgres: float
    load_generator: float
    machine_busy_fraction: float


def snapshot(server_pid: int | None) -> CpuSnapshot:
    """Read the counters now; `server_pid` None counts no server."""
    busy, total = _machine_ticks()
    times = os.times()
    return CpuSnapshot(
        machine_busy=busy / CLOCK_TICKS,
        machine_total=total / CLOCK_TICKS,
        server=_process_seconds(server_pid) if server_pid is not None else 0.0,
        postgres=sum(_process_seconds(pid) for pid in _pids_named("postgres")),
        load_generator=times.user + times.system,
    )


def used_between(before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
    """What was spent from `before` to `after`."""
    total = after.machine_total - before.machine_total
    return CpuUse(
        server=after.server - before.server,
        # A backend that exits in between takes its CPU time with it: a slight undercount.
        postgres=max(0.0, after.postgres - before.postgres),
        load_generator=after.load_generator - before.load_generator,
        machine_busy_fraction=(after.machine_busy - before.machine_busy) / total if total else 0.0,
    )


def _machine_ticks() -> tuple[int, int]:
    fields = [int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    # guest time is already counted in user time; the first 8 fields are the whole.
    total = sum(fields[:8])
    return total - idle, total


def _process_seconds(pid: int) -> float:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name may contain spaces and parentheses: split after its closing one.
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            pids.append(int(entry.name))
    return pids
