"""`python -m tests.benchmarks.instrumented_command_api`: the command API with measurements inside.

For investigating figures, never for the headline run. Each is switched on by a variable:
- LEDGER_BENCH_COMMIT_TIMINGS_TO=PATH: time every recorder transaction (until the table lock
  is granted, then until it commits). SIGUSR1 starts a window; SIGUSR2 writes its summary
  to PATH as JSON. Costs two clock reads per transaction.
- LEDGER_BENCH_PROFILE_TO=PREFIX: cProfile every thread on its own CPU clock (time spent
  waiting is not counted) and write PREFIX.pstats and a PREFIX.txt summary on exit.
  Slows Python calls several times over: read the shares, not the rates.
- LEDGER_BENCH_SWITCH_INTERVAL=SECONDS: sys.setswitchinterval, to see how much of a
  transaction's time is spent waiting for the GIL (CPython's default is 0.005).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from command_api.__main__ import main as serve
from infra.eventstore import group_commit
from tests.benchmarks.command_server import (
    COMMIT_TIMINGS_ENVIRONMENT,
    PROFILE_ENVIRONMENT,
    SWITCH_INTERVAL_ENVIRONMENT,
)

TOP_FUNCTIONS = 60


class CommitTimer:
    """Times each recorder transaction: until the table lock is granted, then until commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[tuple[float, float, int]] = []
        self._granted = threading.local()

    def install(self) -> None:
        """Wrap the recorder's transaction and its lock statement, in this process only."""
        recorder = group_commit.GroupCommitRecorder
        commit: Callable[..., None] = recorder._commit
        lock_table: Callable[..., None] = recorder._lock_table
        timer = self

        def timed_lock_table(self: Any, cursor: Any) -> None:
            lock_table(self, cursor)
            timer._granted.at = time.perf_counter()

        def timed_commit(self: Any, batch: list[group_commit.PendingWrite]) -> None:
            started = time.perf_counter()
            commit(self, batch)
            granted = getattr(timer._granted, "at", started)
            timer.records.append((granted - started, time.perf_counter() - granted, len(batch)))

        recorder._lock_table = timed_lock_table  # type: ignore[method-assign,assignment]
        recorder._commit = timed_commit  # type: ignore[method-assign]
        signal.signal(signal.SIGUSR1, self._start_window)
        signal.signal(signal.SIGUSR2, self._write_window)

    def summary(self) -> dict[str, float]:
        """Means and 99th percentiles in milliseconds, and the mean batch size."""
        records = list(self.records)
        count = len(records)
        if not count:
            return {"transactions": 0}
        before = sorted(wait for wait, _, _ in records)
        held = sorted(hold for _, hold, _ in records)
        return {
            "transactions": count,
            "mean_batch": sum(size for _, _, size in records) / count,
            "until_locked_mean_ms": 1000 * sum(before) / count,
            "lock_held_mean_ms": 1000 * sum(held) / count,
            "lock_held_p99_ms": 1000 * held[int(0.99 * (count - 1))],
        }

    def _start_window(self, signum: int, frame: FrameType | None) -> None:
        self.records = []

    def _write_window(self, signum: int, frame: FrameType | None) -> None:
        # Renamed into place, so the reader never sees half a file.
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.summary()))
        partial.replace(self.path)


def main() -> None:
    """Serve with the measurements the environment asks for."""
    switch_interval = os.environ.get(SWITCH_INTERVAL_ENVIRONMENT)
    if switch_interval:
        sys.setswitchinterval(float(switch_interval))
    timings = os.environ.get(COMMIT_TIMINGS_ENVIRONMENT)
    if timings:
        CommitTimer(Path(timings)).install()
    prefix = os.environ.get(PROFILE_ENVIRONMENT)
    if not prefix:
        serve()
        return
    profiles = _profile_every_thread()
    # uvicorn re-raises the SIGTERM it caught once it has shut down; ignored here, so that
    # the profile is written instead of the process dying of it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        serve()
    finally:
        profiles[0].disable()
        threading.setprofile(None)
        _write_profile(Path(prefix), profiles)


def _profile_every_thread() -> list[cProfile.Profile]:
    # Each thread's CPU clock: wall time would charge every wait (locks, sockets, the GIL).
    profiles = [cProfile.Profile(time.thread_time)]
    guard = threading.Lock()

    def profile_this_thread(*_: object) -> None:
        # Runs once, at a new thread's first call: enable() replaces this hook with cProfile.
        profile = cProfile.Profile(time.thread_time)
        with guard:
            profiles.append(profile)
        profile.enable()

    threading.setprofile(profile_this_thread)
    profiles[0].enable()
    return profiles


def _write_profile(prefix: Path, profiles: list[cProfile.Profile]) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    stats.dump_stats(f"{prefix}.pstats")
    text = io.StringIO()
    for order in ("tottime", "cumulative"):
        pstats.Stats(f"{prefix}.pstats", stream=text).sort_stats(order).print_stats(TOP_FUNCTIONS)
    Path(f"{prefix}.txt").write_text(text.getvalue())


if __name__ == "__main__":
    main()
