"""What every stack component does: install once, start, wait until it answers, report, stop."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from infra.settings import Settings, split_list
from infra.stack.errors import StackError
from infra.stack.layout import Endpoint, StackPaths
from infra.stack.processes import (
    is_running,
    read_record,
    start_process,
    stop_process,
    tail,
    wait_until,
)

State = Literal["up", "down", "external", "unhealthy"]
Outcome = Literal["already up", "started", "external"]


@dataclass(frozen=True)
class ComponentStatus:
    """One row of `ledger stack status`."""

    name: str
    address: str
    state: State
    detail: str = ""


@dataclass(frozen=True)
class UpReport:
    """What `up` did for one component, and how long installing and starting took."""

    name: str
    outcome: Outcome
    installed: bool = False
    install_seconds: float = 0.0
    start_seconds: float = 0.0


class Component(ABC):
    """One server of the stack, supervised through its pid file."""

    name: ClassVar[str]
    start_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 20.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: Settings, paths: StackPaths) -> None:
        self.settings = settings
        self.paths = paths

    @property
    @abstractmethod
    def endpoint(self) -> Endpoint:
        """Where clients reach it."""

    @abstractmethod
    def install(self) -> bool:
        """Install whatever is missing; True when there was something to do."""

    @abstractmethod
    def command(self) -> list[str]:
        """The foreground server command line."""

    @abstractmethod
    def health(self) -> bool:
        """Whether a real client gets an answer right now (never raises)."""

    def is_external(self) -> bool:
        """Whether the settings point at a server that is not ours to run."""
        return False

    def extra_ports(self) -> list[Endpoint]:
        """Other ports it listens on, which must be free before it starts."""
        return []

    def prepare(self) -> None:
        """Write config and initialise data before a start."""
        return None  # Optional hook: most servers need nothing.

    def ready(self) -> bool:
        """Cheap readiness probe polled while it starts; defaults to `health`."""
        return self.health()

    def ensure(self) -> None:
        """Idempotent setup once it answers (roles, databases, topics)."""
        return None  # Optional hook: most servers need nothing.

    def environment(self) -> dict[str, str] | None:
        """Environment for the server process; None inherits ours."""
        return None

    def workdir(self) -> Path | None:
        """Working directory for the server process."""
        return None

    def run_as(self) -> str | None:
        """System user to run the server as; None runs it as us."""
        return None

    def diagnostic_logs(self) -> list[Path]:
        """Logs whose last lines explain a failed start."""
        return [self.log_path]

    @property
    def log_path(self) -> Path:
        """The server's own output."""
        return self.paths.log(self.name)

    @property
    def pid_path(self) -> Path:
        """The pid file that says the server is ours."""
        return self.paths.pid(self.name)

    def up(self) -> UpReport:
        """Install if needed, start unless already up, wait until it answers, run `ensure`."""
        if self.is_external():
            return UpReport(self.name, "external")
        began = time.monotonic()
        installed = self.install()
        install_seconds = time.monotonic() - began
        if is_running(self.pid_path) and self.health():
            self.ensure()
            return UpReport(self.name, "already up", installed, install_seconds)
        starting = time.monotonic()
        process = None if is_running(self.pid_path) else self._start()
        self._wait_ready(process)
        self.ensure()
        if not self.health():
            raise StackError(self.name, f"started, but no client gets an answer on {self.endpoint}")
        return UpReport(
            self.name, "started", installed, install_seconds, time.monotonic() - starting
        )

    def down(self) -> bool:
        """Stop our server if it runs; True when there was one."""
        if self.is_external():
            return False
        return stop_process(self.pid_path, self.stop_timeout, stop_signal=self.stop_signal)

    def status(self) -> ComponentStatus:
        """Whether it runs and answers."""
        address = str(self.endpoint)
        if self.is_external():
            answers = "answers" if self.health() else "does not answer"
            return ComponentStatus(self.name, address, "external", answers)
        record = read_record(self.pid_path)
        if record is None or not is_running(self.pid_path):
            return ComponentStatus(self.name, address, "down")
        state: State = "up" if self.health() else "unhealthy"
        return ComponentStatus(self.name, address, state, f"pid {record.pid}")

    def _start(self) -> subprocess.Popen[bytes]:
        for endpoint in (self.endpoint, *self.extra_ports()):
            if endpoint.accepts_connections():
                raise StackError(
                    self.name,
                    f"port {endpoint} is taken by a process that is not ours "
                    f"(no live pid file at {self.pid_path}); stop it or change the port",
                )
        self.prepare()
        return start_process(
            self.name,
            self.command(),
            self.environment(),
            self.log_path,
            self.pid_path,
            cwd=self.workdir(),
            user=self.run_as(),
        )

    def _wait_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        def ready() -> bool:
            if not is_running(self.pid_path):
                code = None if process is None else process.wait(timeout=5)
                raise StackError(
                    self.name,
                    f"`{shlex.join(self.command())}` exited with code {code} while starting\n"
                    f"{self._log_tails()}",
                )
            return self.ready()

        try:
            wait_until(ready, self.start_timeout, f"{self.name} on {self.endpoint}")
        except TimeoutError as timeout:
            # Do not leave a half-started server holding the ports for the next attempt.
            stop_process(self.pid_path, self.stop_timeout, stop_signal=self.stop_signal)
            raise StackError(
                self.name,
                f"{timeout}; ran `{shlex.join(self.command())}`\n{self._log_tails()}",
            ) from None

    def _log_tails(self) -> str:
        return "\n".join(tail(path) for path in self.diagnostic_logs() if path.exists())


class UrlServer(Component):
    """A server the settings name by a client URL: it listens where the URL points.

    When the URL's environment variable is set, the server is someone else's: the stack
    neither starts nor stops it, and only checks that it answers; unless
    `stack.managed_servers` names it (a stack of one's own on non-default ports).
    """

    url_variable: ClassVar[str]
    default_port: ClassVar[int]

    @property
    @abstractmethod
    def url(self) -> str:
        """The client URL from the settings."""

    @property
    def endpoint(self) -> Endpoint:
        """Host and port from the URL."""
        return Endpoint.from_url(self.url, self.default_port)

    def is_external(self) -> bool:
        """The URL's variable names a server someone else runs, and we were not told to run it."""
        managed = self.name in split_list(self.settings.stack.managed_servers)
        return self.url_variable in os.environ and not managed
