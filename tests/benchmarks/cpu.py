"""CPU time of the machine, the server under test, PostgreSQL and this load generator (/proc)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
QUIET_BELOW = 0.15
QUIET_SAMPLE_SECONDS = 1.0
# A PostgreSQL client backend's title: "postgres: USER DATABASE HOST(PORT) STATE".
_BACKEND_TITLE = re.compile(r"^postgres: \S+ (\S+) (?:\S+\(\d+\)|\[local\])")


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
    others_fraction: float


def snapshot(server_pid: int | None, database: str) -> CpuSnapshot:
    """Read the counters now; PostgreSQL counts its shared processes and `database`'s backends."""
    busy, total = _machine_ticks()
    times = os.times()
    return CpuSnapshot(
        machine_busy=busy / CLOCK_TICKS,
        machine_total=total / CLOCK_TICKS,
        server=_process_seconds(server_pid) if server_pid is not None else 0.0,
        postgres=sum(_process_seconds(pid) for pid in _postgres_pids(database)),
        load_generator=times.user + times.system,
    )


def used_between(before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
    """What was spent from `before` to `after`; "others" is the machine's busy time not ours."""
    total = after.machine_total - before.machine_total
    server = after.server - before.server
    # A backend that exits in between takes its CPU time with it: a slight undercount.
    postgres = max(0.0, after.postgres - before.postgres)
    load_generator = after.load_generator - before.load_generator
    busy = after.machine_busy - before.machine_busy
    return CpuUse(
        server=server,
        postgres=postgres,
        load_generator=load_generator,
        machine_busy_fraction=busy / total if total else 0.0,
        others_fraction=max(0.0, busy - server - postgres - load_generator) / total
        if total
        else 0.0,
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


def _postgres_pids(database: str) -> list[int]:
    """The server's own processes and the backends of `database`, not other databases' ones."""
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        backend = _BACKEND_TITLE.match(title)
        if backend is None or backend.group(1) == database:
            pids.append(int(entry.name))
    return pids


def wait_for_quiet(limit_seconds: float, busy_below: float = QUIET_BELOW) -> float:
    """Wait up to `limit_seconds` for a second in which the machine is less than `busy_below`
    busy (a shared machine: someone else's tests would skew a cell); returns the last reading.
    """
    deadline = time.monotonic() + limit_seconds
    while True:
        before = _machine_ticks()
        time.sleep(QUIET_SAMPLE_SECONDS)
        after = _machine_ticks()
        total = after[1] - before[1]
        busy = (after[0] - before[0]) / total if total else 0.0
        if busy < busy_below or time.monotonic() >= deadline:
            return busy
