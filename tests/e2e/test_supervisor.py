"""`ledger up` supervises: what dies comes back, a server that stops answering is restarted,
and `ledger down` stops everything the supervisor started.

The test runs `ledger up --detach` for real, as a user would, on a stack of its own: its
own Kafka, Redis and nginx gateway on free ports in a temporary stack folder, and every
Ledger process on free ports. PostgreSQL and the read store are the shared stack's
(named by URL, so the supervisor treats them as someone else's and never stops them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.settings import (
    Settings,
    settings_environment,
)
from infra.stack.processes import is_running, read_record, wait_until
from infra.stack.supervisor import UnitState, read_state
from tests.own_stack import own_stack_settings, run_ledger

pytestmark = pytest.mark.e2e

UP_SECONDS = 420.0
RECOVERY_SECONDS = 90.0


@dataclass
class SupervisedStack:
    """A `ledger up --detach` of the test's own, and a way to run `ledger …` against it."""

    settings: Settings
    environment: dict[str, str]

    def ledger(self, *arguments: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run `ledger …` against this stack."""
        return run_ledger(self.environment, *arguments, timeout=timeout)

    def pid_path(self, name: str) -> Path:
        return self.settings.stack.dir / "run" / f"{name}.pid"

    def pid(self, name: str) -> int:
        record = read_record(self.pid_path(name))
        assert record is not None, f"no pid file for {name}"
        return record.pid

    def unit(self, name: str) -> UnitState:
        state = read_state(self.settings)
        assert state is not None, "the supervisor wrote no state"
        return next(unit for unit in state.units if unit.name == name)


@pytest.fixture(scope="module")
def supervised(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisedStack]:
    settings = own_stack_settings(module_settings, tmp_path_factory.mktemp("stack"))
    environment = {**os.environ, **settings_environment(settings)}
    stack = SupervisedStack(settings, environment)
    try:
        started = stack.ledger("up", "--detach", timeout=UP_SECONDS)
        assert started.returncode == 0, started.stdout + started.stderr
        yield stack
    finally:
        stack.ledger("down")


def _health_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _redis_answers(settings: Settings) -> bool:
    port = int(settings.redis.url.get_secret_value().rsplit(":", 1)[1].split("/")[0])
    try:
        with socket.create_connection(("127.0.0.1", port), 1) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def test_status_shows_every_server_and_process_with_its_pid(supervised: SupervisedStack) -> None:
    shown = supervised.ledger("status", timeout=30)

    assert shown.returncode == 0, shown.stderr
    for name in ("kafka", "redis", "nginx", "command-api", "query-api", "relay", "projector"):
        assert name in shown.stdout, shown.stdout
    assert str(supervised.pid("command-api")) in shown.stdout


def test_a_killed_process_is_started_again_and_counted(supervised: SupervisedStack) -> None:
    killed = supervised.pid("command-api")
    health = f"http://127.0.0.1:{supervised.settings.command.port}/health"

    os.kill(killed, signal.SIGKILL)

    wait_until(
        lambda: (
            supervised.unit("command-api").restarts == 1
            and supervised.pid("command-api") != killed
            and _health_answers(health)
        ),
        RECOVERY_SECONDS,
        "the command API to be restarted",
    )
    assert supervised.unit("command-api").last_restart_reason == "exited"


def test_a_server_that_stops_answering_is_restarted(supervised: SupervisedStack) -> None:
    wedged = supervised.pid("redis")

    os.kill(wedged, signal.SIGSTOP)  # alive, holding its port, answering nobody

    try:
        wait_until(
            lambda: (
                supervised.unit("redis").restarts == 1
                and supervised.pid("redis") != wedged
                and _redis_answers(supervised.settings)
            ),
            RECOVERY_SECONDS,
            "the wedged Redis to be restarted",
        )
    finally:
        if is_running(supervised.pid_path("redis")) and supervised.pid("redis") == wedged:
            os.kill(wedged, signal.SIGKILL)
    assert supervised.unit("redis").last_restart_reason == "stopped answering"


def test_down_stops_the_supervisor_and_everything_it_started(
    supervised: SupervisedStack,
) -> None:
    names = ["supervisor", "kafka", "redis", "nginx", "command-api", "query-api", "relay"]
    names += ["projector", "transfer-process", "token-issuer"]
    pid_files = {name: supervised.pid_path(name) for name in names}
    assert all(is_running(path) for path in pid_files.values())

    stopped = supervised.ledger("down")

    assert stopped.returncode == 0, stopped.stderr
    assert [name for name, path in pid_files.items() if is_running(path)] == []
