"""`python -m tests.benchmarks`: command throughput, printed and written as JSON."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from rich.console import Console

from infra.settings import Settings
from tests.benchmarks.command_server import Instrumentation
from tests.benchmarks.report import (
    commands_table,
    library_table,
    print_ceiling,
    transactions_table,
    write_json,
)
from tests.benchmarks.runner import RECORDERS, Plan, run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 130 when interrupted, after cleaning up."""
    plan = _parse(argv)
    # Piped into a file or `make`'s log, Rich would fold the wide table into 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops servers and drops databases.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run(plan, Settings(), lambda text: console.print(f"[dim]… {text}[/dim]"))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped, databases dropped[/yellow]")
        return 130
    if result.library:
        console.print(library_table(result.library))
    if result.load_generator_ceiling is not None:
        print_ceiling(console, result.load_generator_ceiling)
    one_thread = next((r.saves_per_second for r in result.library if r.threads == 1), None)
    console.print(commands_table(result.cells, one_thread))
    transactions = transactions_table(result.cells)
    if transactions is not None:
        console.print(transactions)
    console.print(f"JSON: {write_json(result)}")
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parse(argv: list[str] | None) -> Plan:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds per cell")
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--library-duration", type=float, default=defaults.library_duration)
    parser.add_argument(
        "--library-threads",
        type=int,
        nargs="*",
        default=list(defaults.library_threads),
        help="thread counts of the library reference; none skips it",
    )
    parser.add_argument(
        "--recorders", nargs="+", choices=sorted(RECORDERS), default=list(defaults.recorders)
    )
    parser.add_argument(
        "--workloads", nargs="+", choices=("spread", "hot"), default=list(defaults.workloads)
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(defaults.concurrencies))
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=defaults.quiet_wait,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for other work to calm down",
    )
    parser.add_argument(
        "--commit-timings",
        action="store_true",
        help="time the recorder's transactions inside the server (instrumented server)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="cProfile every server thread; write DIR/command-api-*.pstats and .txt",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the server's sys.setswitchinterval (instrumented server), e.g. 0.0005",
    )
    arguments = parser.parse_args(argv)
    # Bounded whatever is asked: a cell never runs longer than a minute.
    for name in ("warmup", "duration", "library_duration"):
        if not 0 < getattr(arguments, name) <= 60:
            parser.error(f"--{name.replace('_', '-')} must be in (0, 60] seconds")
    if not all(0 < threads <= 64 for threads in arguments.library_threads):
        parser.error("--library-threads values must be in 1..64")
    if not all(0 < clients <= 256 for clients in arguments.concurrency):
        parser.error("--concurrency values must be in 1..256")
    if not 0 <= arguments.quiet_wait <= 120:
        parser.error("--quiet-wait must be in 0..120 seconds")
    if not 1 <= arguments.accounts <= 20_000:
        parser.error("--accounts must be in 1..20000")
    return Plan(
        warmup=arguments.warmup,
        duration=arguments.duration,
        library_threads=tuple(arguments.library_threads),
        library_duration=arguments.library_duration,
        recorders=tuple(arguments.recorders),
        workloads=tuple(arguments.workloads),
        concurrencies=tuple(arguments.concurrency),
        accounts=arguments.accounts,
        quiet_wait=arguments.quiet_wait,
        instrumentation=Instrumentation(
            arguments.commit_timings, arguments.profile, arguments.switch_interval
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
