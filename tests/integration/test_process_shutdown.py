"""Every kind of Ledger process, run for real, stops promptly on SIGTERM and exits with 0.

They all start and stop through `infra.runtime.process.run_process`: the APIs and the
issuer serve uvicorn on its loop, the relay and the projector run async work, and the
transfer process runs its blocking worker on a thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.settings import PROJECT_ROOT, HttpServiceSettings, Settings, settings_environment
from tests.auth_fixtures import with_local_issuer
from tests.network import free_port

pytestmark = pytest.mark.integration

START_SECONDS = 30.0
STOP_SECONDS = 10.0


class Process:
    """One `python -m <module>` child with its output in a log file."""

    def __init__(self, module: str, settings: Settings, log_path: Path) -> None:
        self.module = module
        self.log_path = log_path
        environment = {**os.environ, **settings_environment(settings), "PYTHONUNBUFFERED": "1"}
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", module],
                env=environment,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_healthy(self, url: str) -> dict[str, object]:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.popen.poll() is None, f"{self.module} exited early:\n{self.log()}"
            try:
                response = httpx.get(url, timeout=1.0)
                if response.status_code == 200:
                    health: dict[str, object] = response.json()
                    return health
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.module} never answered {url}:\n{self.log()}")

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum`; the exit code and the seconds it took to exit."""
        started = time.monotonic()
        self.popen.send_signal(signum)
        try:
            code = self.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.module} ignored {signum.name}:\n{self.log()}") from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def settings(module_settings: Settings) -> Settings:
    """Every process on a free port of its own, trusting a local issuer."""
    issuer_port = free_port()
    settings = module_settings.model_copy(
        update={
            "command": HttpServiceSettings(port=free_port()),
            "query": module_settings.query.model_copy(update={"port": free_port()}),
            "relay": module_settings.relay.model_copy(update={"port": free_port()}),
            "projector": module_settings.projector.model_copy(update={"port": free_port()}),
            "transfers": module_settings.transfers.model_copy(update={"port": free_port()}),
        }
    )
    return with_local_issuer(settings, f"http://127.0.0.1:{issuer_port}", issuer_port=issuer_port)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[Process]]:
    """Processes started by the test; killed afterwards if a test left one running."""
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def health_url(settings: Settings, module: str) -> str:
    host_and_port = {
        "infra.security.issuer": (settings.auth.issuer_host, settings.auth.issuer_port),
        "infra.relay": (settings.relay.host, settings.relay.port),
        "infra.transfer_process": (settings.transfers.host, settings.transfers.port),
        "projectors": (settings.projector.host, settings.projector.port),
        "command_api": (settings.command.host, settings.command.port),
        "query_api": (settings.query.host, settings.query.port),
    }
    host, port = host_and_port[module]
    return f"http://{host}:{port}/health"


@pytest.mark.parametrize(
    "module",
    [
        "infra.security.issuer",
        "infra.relay",
        "infra.transfer_process",
        "projectors",
        "command_api",
        "query_api",
    ],
)
def test_sigterm_stops_the_process_promptly_with_exit_code_0(
    settings: Settings, spawn: list[Process], tmp_path: Path, module: str
) -> None:
    process = Process(module, settings, tmp_path / f"{module}.log")
    spawn.append(process)
    process.wait_until_healthy(health_url(settings, module))

    code, seconds = process.stop(signal.SIGTERM)

    assert code == 0, process.log()
    assert seconds < STOP_SECONDS
    assert '"message": "received SIGTERM; stopping"' in process.log()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_stop_the_transfer_process_too(
    settings: Settings, spawn: list[Process], tmp_path: Path, signum: signal.Signals
) -> None:
    process = Process("infra.transfer_process", settings, tmp_path / "transfers.log")
    spawn.append(process)
    process.wait_until_healthy(health_url(settings, "infra.transfer_process"))

    code, _ = process.stop(signum)

    assert code == 0, process.log()


def test_a_standby_transfer_process_stops_promptly_while_the_active_one_works_on(
    settings: Settings, spawn: list[Process], tmp_path: Path
) -> None:
    url = health_url(settings, "infra.transfer_process")
    active = Process("infra.transfer_process", settings, tmp_path / "active.log")
    spawn.append(active)
    deadline = time.monotonic() + START_SECONDS
    while active.wait_until_healthy(url)["role"] != "active":
        assert time.monotonic() < deadline, active.log()
        time.sleep(0.1)
    standby_port = free_port()
    standby_settings = settings.model_copy(
        update={"transfers": settings.transfers.model_copy(update={"port": standby_port})}
    )
    standby = Process("infra.transfer_process", standby_settings, tmp_path / "standby.log")
    spawn.append(standby)
    health = standby.wait_until_healthy(f"http://127.0.0.1:{standby_port}/health")
    assert health["role"] == "standby"

    standby_code, standby_seconds = standby.stop()

    assert standby_code == 0, standby.log()
    assert standby_seconds < STOP_SECONDS
    assert active.wait_until_healthy(url)["role"] == "active"
    assert active.stop()[0] == 0, active.log()
