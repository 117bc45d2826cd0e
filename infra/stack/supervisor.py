"""`ledger up` as a supervisor: restart what dies, restart a server that stops answering.

What people already run locally does this (compose's `restart: unless-stopped`, systemd's
`Restart=on-failure`); we cannot use either here (no Docker engine, no systemd in a
sandbox or CI), so this small loop does the same for our six servers and six processes:

- a process whose pid is gone is started again, after a backoff that doubles from 1 s to
  30 s and resets once it has stayed up for a minute;
- a server is probed with a real client every two seconds (each probe has its own
  timeout, and one without an answer after five seconds has failed); after three failed
  probes in a row, or at the first probe that finds its pid gone, it is stopped (SIGKILL
  after a few seconds: a wedged server ignores SIGTERM) and started again;
- probes and server restarts run in threads, so the loop keeps watching everything else
  while one server takes its time to stop and start;
- every restart is logged and counted; the state is written to a JSON file that
  `ledger status` reads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from threading import Event
from typing import Literal

from infra.settings import Settings
from infra.stack.component import Component
from infra.stack.errors import StackError
from infra.stack.lifecycle import stack_components
from infra.stack.processes import is_running, read_record, stop_process, wait_until
from infra.stack.runner import Service, service_paths, services, start_service

log = logging.getLogger(__name__)

# A server is probed every PROBE_INTERVAL_SECONDS (or as soon as the last probe ends, when
# it took longer); a probe without an answer after PROBE_DEADLINE_SECONDS failed. Three
# failures in a row, about 6 to 15 s, and the server is restarted: long enough that a
# server merely slowed by load is left alone, short enough that a wedged read store
# (FerretDB v1 can hang forever on one client's bulk, see docs/operations.md) is back
# within half a minute.
PROBE_INTERVAL_SECONDS = 2.0
PROBE_DEADLINE_SECONDS = 5.0
FAILED_PROBES_BEFORE_RESTART = 3
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
WEDGED_STOP_SECONDS = 5.0
CHECK_EVERY_SECONDS = 0.5

Kind = Literal["server", "process"]


@dataclass
class UnitState:
    """What `ledger status` shows of one supervised server or process."""

    name: str
    kind: Kind
    pid: int | None = None
    started_at: float | None = None
    restarts: int = 0
    state: str = "starting"
    last_restart_reason: str | None = None
    failed_probes: int = 0  # in a row, for a server


@dataclass
class _Restarts:
    """When a unit may be started again, how long to wait after that, and, for a server,
    its probe and its restart in flight (both run in threads: the loop never waits)."""

    backoff: float = FIRST_BACKOFF_SECONDS
    not_before: float = 0.0
    failed_probes: int = 0
    next_probe: float = 0.0
    probe: Future[bool] | None = None
    probe_started: float = 0.0
    restart: Future[None] | None = None
    restart_reason: str = ""


@dataclass
class SupervisorState:
    """The supervisor's own pid and every unit, as written to the state file."""

    pid: int
    started_at: float
    units: list[UnitState] = field(default_factory=list)


def state_path(settings: Settings) -> Path:
    """Where the running supervisor writes its state."""
    return settings.stack.dir / "run" / "supervisor.json"


def read_state(settings: Settings) -> SupervisorState | None:
    """The state the supervisor last wrote, or None when there is none to read."""
    try:
        raw = json.loads(state_path(settings).read_text())
        units = [UnitState(**unit) for unit in raw["units"]]
        return SupervisorState(int(raw["pid"]), float(raw["started_at"]), units)
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Supervisor:
    """Keeps the stack's servers and Ledger's processes running until told to stop.

    The loop only looks: probes and server restarts run in threads, so a server that takes
    half a minute to stop and start again never delays noticing that a process died.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        servers: list[Component] | None = None,
        processes: list[Service] | None = None,
    ) -> None:
        self._settings = settings
        self._servers = (
            [c for c in stack_components(settings) if not c.is_external()]
            if servers is None
            else servers
        )
        self._services = services(settings) if processes is None else processes
        self._units = {
            **{c.name: UnitState(c.name, "server") for c in self._servers},
            **{s.name: UnitState(s.name, "process") for s in self._services},
        }
        self._restarts = {name: _Restarts() for name in self._units}
        self._started_at = time.time()
        # One probe per server at a time, and room for one still ending after a restart.
        self._probes = ThreadPoolExecutor(2 * len(self._servers) or 1, "probe")
        self._restarters = ThreadPoolExecutor(len(self._servers) or 1, "restart")

    def mark_started(self) -> None:
        """Record every unit as up (called once the stack and processes have started)."""
        for server in self._servers:
            self._mark_up(server.name, server.pid_path)
        for service in self._services:
            self._mark_up(service.name, service_paths(self._settings, service)[1])
        self.write_state()

    def watch(self, stop: Event) -> None:
        """Check every unit about twice a second until `stop` is set."""
        try:
            while not stop.is_set():
                self.check_once(time.monotonic())
                stop.wait(CHECK_EVERY_SECONDS)
        finally:
            self.close()

    def close(self) -> None:
        """Stop probing; let a restart under way finish, so that the servers it starts are
        recorded (and stopped by `ledger down`) rather than started behind its back."""
        self._probes.shutdown(wait=False, cancel_futures=True)
        self._restarters.shutdown(wait=True)

    def check_once(self, now: float) -> None:
        """One round: restart dead processes; probe servers, restart those that fail."""
        for service in self._services:
            pid_path = service_paths(self._settings, service)[1]
            if read_record(pid_path) is None or not _alive(pid_path):
                self._restart_process(service, now)
        for server in self._servers:
            self._watch_server(server, now)
        self._forgive_stable(now)
        self.write_state()

    def write_state(self) -> None:
        """Write the state file atomically, so a reader never sees half of it."""
        path = state_path(self._settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = SupervisorState(os.getpid(), self._started_at, list(self._units.values()))
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(state)))
        temporary.replace(path)

    def _restart_process(self, service: Service, now: float) -> None:
        unit, restarts = self._units[service.name], self._restarts[service.name]
        if unit.state == "up":
            log.warning("%s exited; restarting in %.0f s", service.name, restarts.backoff)
            unit.state, unit.pid = "restarting", None
            restarts.not_before = now + restarts.backoff
        if now < restarts.not_before:
            return
        restarts.backoff = min(restarts.backoff * 2, MAX_BACKOFF_SECONDS)
        try:
            start_service(self._settings, service)  # only spawns: returns at once
        except (StackError, OSError) as error:
            log.error("could not restart %s: %s", service.name, error)
            restarts.not_before = now + restarts.backoff
            return
        self._count_restart(service.name, "exited")
        self._mark_up(service.name, service_paths(self._settings, service)[1])

    def _watch_server(self, server: Component, now: float) -> None:
        """Start a probe when one is due, read it when it is over, restart when it is time."""
        restarts = self._restarts[server.name]
        if restarts.restart is not None:
            if restarts.restart.done():
                self._restart_finished(server, restarts.restart, now)
            return
        if restarts.probe is None:
            if now >= restarts.next_probe:
                restarts.probe = self._probes.submit(_answers, server)
                restarts.probe_started = now
                restarts.next_probe = now + PROBE_INTERVAL_SECONDS
            return
        if restarts.probe.done():
            healthy = restarts.probe.exception() is None and restarts.probe.result()
            restarts.probe = None
        elif now - restarts.probe_started >= PROBE_DEADLINE_SECONDS:
            # Late: a failure now, and another each deadline it stays late. It is never
            # sent again meanwhile, so a health check that hangs holds one thread, not all.
            healthy, restarts.probe_started = False, now
        else:
            return
        restarts.failed_probes = 0 if healthy else restarts.failed_probes + 1
        self._units[server.name].failed_probes = restarts.failed_probes
        # A server whose process is gone will not come back by waiting: only a live
        # but silent one earns the benefit of three probes.
        gone = not healthy and not _alive(server.pid_path)
        due = now >= restarts.not_before
        if (gone or restarts.failed_probes >= FAILED_PROBES_BEFORE_RESTART) and due:
            # A restart that failed stopped the server (its pid is gone now): trying again is
            # the same incident, with the same reason.
            retrying = self._units[server.name].state == "restarting"
            reason = "exited" if gone else "stopped answering"
            self._start_restart(server, now, restarts.restart_reason if retrying else reason)

    def _start_restart(self, server: Component, now: float, reason: str) -> None:
        unit, restarts = self._units[server.name], self._restarts[server.name]
        log.warning("%s %s; restarting it", server.name, reason)
        unit.state, unit.pid = "restarting", None
        restarts.not_before = now + restarts.backoff
        restarts.backoff = min(restarts.backoff * 2, MAX_BACKOFF_SECONDS)
        restarts.restart_reason = reason
        restarts.probe = None  # a late one ends with the server it waits on
        restarts.restart = self._restarters.submit(_restart, server)

    def _restart_finished(self, server: Component, restart: Future[None], now: float) -> None:
        restarts = self._restarts[server.name]
        restarts.restart = None
        restarts.next_probe = now  # probe again at once, whatever happened
        error = restart.exception()
        if error is not None:
            # Still "restarting": the next probe finds it silent or gone and tries again
            # once the backoff allows.
            log.error("could not restart %s: %s", server.name, error)
            return
        restarts.failed_probes = self._units[server.name].failed_probes = 0
        self._count_restart(server.name, restarts.restart_reason)
        self._mark_up(server.name, server.pid_path)

    def _count_restart(self, name: str, reason: str) -> None:
        unit = self._units[name]
        unit.restarts += 1
        unit.last_restart_reason = reason
        log.warning("restarted %s (%s); %d restart(s) so far", name, reason, unit.restarts)

    def _mark_up(self, name: str, pid_path: Path) -> None:
        record = read_record(pid_path)
        unit = self._units[name]
        unit.pid = record.pid if record else None
        unit.started_at = time.time()
        unit.state = "up"

    def _forgive_stable(self, now: float) -> None:
        """A unit that stayed up a minute starts again from the shortest backoff."""
        for name, unit in self._units.items():
            stable = unit.started_at is not None and time.time() - unit.started_at
            if unit.state == "up" and stable and stable >= STABLE_AFTER_SECONDS:
                self._restarts[name].backoff = FIRST_BACKOFF_SECONDS


def _restart(server: Component) -> None:
    """Stop the server (SIGKILL after a few seconds: a wedged server may ignore SIGTERM),
    then start it and wait until it answers. Runs in a thread of its own."""
    stop_process(server.pid_path, WEDGED_STOP_SECONDS, stop_signal=server.stop_signal)
    # The killed server's listening sockets can outlive its pid for a moment; starting
    # before they close fails with "port taken by a process that is not ours".
    ports = [server.endpoint, *server.extra_ports()]
    with contextlib.suppress(TimeoutError):  # up() then says which port is still taken
        wait_until(
            lambda: not any(port.accepts_connections(0.2) for port in ports),
            WEDGED_STOP_SECONDS,
            f"{server.name}'s ports to close",
        )
    server.up()


def _answers(server: Component) -> bool:
    """A server answers a real client, and its recorded process is alive."""
    return _alive(server.pid_path) and server.health()


def _alive(pid_path: Path) -> bool:
    return is_running(pid_path)
