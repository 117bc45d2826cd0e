"""What `ledger up`, `ledger down` and `ledger status` do: the stack and every process, supervised.

`ledger up` runs the supervisor in the foreground until SIGINT, SIGTERM or SIGHUP, then
stops everything it started. `ledger up --detach` runs that same command in the
background, in its own session, and returns once everything answers; `ledger down`
sends it SIGTERM and waits, then stops anything left over (a stack started without a
supervisor, or one whose supervisor was killed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from threading import Event
from types import FrameType

from rich.console import Console
from rich.table import Table

from infra.settings import PROJECT_ROOT, Settings
from infra.stack.errors import StackError
from infra.stack.lifecycle import stack_down, stack_up
from infra.stack.processes import (
    is_running,
    read_record,
    record_this_process,
    start_process,
    stop_process,
    tail,
)
from infra.stack.runner import start_services, stop_services
from infra.stack.supervisor import Supervisor, SupervisorState, read_state, state_path

console = Console(stderr=True)

DETACHED_START_DEADLINE_SECONDS = 900.0  # a cold first start installs every server
SUPERVISOR_STOP_SECONDS = 120.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def up(settings: Settings, *, detach: bool) -> None:
    """Start and supervise everything; detached, return once it all answers."""
    running = read_record(_pid_path(settings))
    if is_running(_pid_path(settings)) and running and running.pid != os.getpid():
        console.print("Ledger is already up (a supervisor runs); `ledger status` shows it")
        return
    if detach:
        _up_detached(settings)
        return
    stop = Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        console.print(f"{signal.Signals(signum).name}: stopping everything…")
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    # Probes over HTTP (Jaeger's, the processes') would log a line each, every two seconds.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    record_this_process(_pid_path(settings))
    try:
        stack_up(settings)
        start_services(settings)
        supervisor = Supervisor(settings)
        supervisor.mark_started()
        _print_banner(settings)
        supervisor.watch(stop)
    finally:
        stop_services(settings)
        stack_down(settings)
        state_path(settings).unlink(missing_ok=True)
        _pid_path(settings).unlink(missing_ok=True)


def down(settings: Settings) -> None:
    """Stop the supervisor (which stops what it started), then anything left running."""
    if stop_process(_pid_path(settings), SUPERVISOR_STOP_SECONDS):
        console.print("supervisor stopped")
    stop_services(settings)
    stack_down(settings)
    state_path(settings).unlink(missing_ok=True)


def status(settings: Settings) -> Table:
    """Each server and process with its pid, uptime, restarts and state."""
    state = read_state(settings) if is_running(_pid_path(settings)) else None
    if state is None:
        raise StackError("supervisor", "Ledger is not up (no supervisor runs): `ledger up`")
    return _status_table(state)


def _up_detached(settings: Settings) -> None:
    state_path(settings).unlink(missing_ok=True)
    log_path = settings.stack.dir / "logs" / "supervisor.log"
    argv = [sys.executable, "-m", "infra.cli", "up"]
    start_process("supervisor", argv, None, log_path, _pid_path(settings), cwd=PROJECT_ROOT)
    give_up_at = time.monotonic() + DETACHED_START_DEADLINE_SECONDS
    while not _all_up(read_state(settings)):
        if not is_running(_pid_path(settings)):
            raise StackError("supervisor", f"exited while starting\n{tail(log_path)}")
        if time.monotonic() >= give_up_at:
            raise StackError("supervisor", f"not up after {DETACHED_START_DEADLINE_SECONDS:.0f}s")
        time.sleep(0.5)
    _print_banner(settings)
    record = read_record(_pid_path(settings))
    console.print(f"  supervisor   pid {record.pid if record else '?'}, log {log_path}")
    console.print("  stop with: ledger down")


def _all_up(state: SupervisorState | None) -> bool:
    return state is not None and all(unit.state == "up" for unit in state.units)


def _status_table(state: SupervisorState) -> Table:
    table = Table(title=f"Ledger (supervisor pid {state.pid}, up {_age(state.started_at)})")
    for column in ("name", "kind", "pid", "uptime", "restarts", "state", "last restart"):
        table.add_column(column)
    for unit in state.units:
        alive = unit.started_at is not None and unit.state == "up"
        table.add_row(
            unit.name,
            unit.kind,
            str(unit.pid or "-"),
            _age(unit.started_at) if alive and unit.started_at else "-",
            str(unit.restarts),
            unit.state,
            unit.last_restart_reason or "",
        )
    return table


def _age(since: float) -> str:
    seconds = int(time.time() - since)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _pid_path(settings: Settings) -> Path:
    return settings.stack.dir / "run" / "supervisor.pid"


def _print_banner(settings: Settings) -> None:
    gateway = f"https://{settings.gateway.host}:{settings.gateway.https_port}"
    certificate = settings.stack.dir / "nginx" / "tls" / "gateway.crt"
    console.print("[bold green]Ledger is up[/]")
    console.print(f"  gateway      {gateway}  (certificate: {certificate})")
    console.print(f"  tokens       {gateway}/oauth/token  (clients: ledger auth create-client)")
    console.print(f"  command API  http://{settings.command.host}:{settings.command.port}/docs")
    console.print(f"  query API    http://{settings.query.host}:{settings.query.port}/docs")
