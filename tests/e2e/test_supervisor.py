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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from infra.settings import (
    PROJECT_ROOT,
    GatewaySettings,
    HttpServiceSettings,
    RedisSettings,
    Settings,
    StackSettings,
    settings_environment,
)
from infra.stack.processes import is_running, read_record, wait_until
from infra.stack.supervisor import UnitState, read_state
from tests.auth_fixtures import with_local_issuer
from tests.network import free_port

pytestmark = pytest.mark.e2e

UP_SECONDS = 420.0
RECOVERY_SECONDS = 90.0


@dataclass
class SupervisedStack:
    """A `ledger up --detach` of the test's own, and a way to run `ledger …` against it."""

    settings: Settings
    environment: dict[str, str]

    def ledger(self, *arguments: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infra.cli", *arguments],
            env=self.environment,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

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


def _own_stack_settings(module_settings: Settings, folder: Path) -> Settings:
    issuer_port = free_port()
    ports = {name: free_port() for name in ("command", "query", "relay", "projector", "transfers")}
    settings = module_settings.model_copy(
        update={
            "kafka": module_settings.kafka.model_copy(
                update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}
            ),
            "redis": RedisSettings(url=SecretStr(f"redis://127.0.0.1:{free_port()}/0")),
            "stack": StackSettings(
                dir=folder, kafka_controller_port=free_port(), ferretdb_debug_port=free_port()
            ),
            "command": HttpServiceSettings(port=ports["command"]),
            "query": module_settings.query.model_copy(update={"port": ports["query"]}),
            "relay": module_settings.relay.model_copy(update={"port": ports["relay"]}),
            "projector": module_settings.projector.model_copy(update={"port": ports["projector"]}),
            "transfers": module_settings.transfers.model_copy(update={"port": ports["transfers"]}),
            "gateway": GatewaySettings(
                http_port=free_port(),
                https_port=free_port(),
                command_upstreams=f"127.0.0.1:{ports['command']}",
                query_upstreams=f"127.0.0.1:{ports['query']}",
                issuer_upstreams=f"127.0.0.1:{issuer_port}",
            ),
        }
    )
    return with_local_issuer(settings, f"http://127.0.0.1:{issuer_port}", issuer_port=issuer_port)


@pytest.fixture(scope="module")
def supervised(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisedStack]:
    settings = _own_stack_settings(module_settings, tmp_path_factory.mktemp("stack"))
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
