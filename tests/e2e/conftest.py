"""The whole system as separate processes, on the real stack, isolated per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from infra.settings import PROJECT_ROOT, HttpServiceSettings, Settings, settings_environment
from infra.stack.processes import is_running, start_process, stop_process, wait_until
from tests.network import free_port

MODULES = {
    "relay": "infra.relay",
    "transfers": "infra.transfer_worker",
    "projector": "infra.projector_worker",
    "command-api": "command_api",
    "query-api": "query_api",
}


@dataclass
class RunningSystem:
    """Base URLs of the running APIs, and a way to start, kill and restart any process."""

    settings: Settings
    run_dir: Path
    environment: dict[str, str]
    started: list[str] = field(default_factory=list)

    @property
    def command_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.command.port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.query.port}"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(self, name: str, **extra_environment: str) -> None:
        argv = [sys.executable, "-m", MODULES[name]]
        environment = {**self.environment, **extra_environment}
        log_path = self.run_dir / f"{name}.log"
        start_process(name, argv, environment, log_path, self.pid_path(name), cwd=PROJECT_ROOT)
        if name not in self.started:
            self.started.append(name)

    def stop(self, name: str) -> None:
        stop_process(self.pid_path(name), 10.0)

    def log(self, name: str) -> str:
        path = self.run_dir / f"{name}.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def system(isolated_settings: Settings, tmp_path: Path) -> Iterator[RunningSystem]:
    """Every process running against this test's own stores."""
    with running(isolated_settings, tmp_path) as started:
        yield started


@pytest.fixture(scope="module")
def shared_system(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """Every process running against stores shared by one module's tests."""
    with running(module_settings, tmp_path_factory.mktemp("system")) as started:
        yield started


@contextmanager
def running(isolated_settings: Settings, tmp_path: Path) -> Iterator[RunningSystem]:
    """Start every process, wait until both APIs answer, stop them all afterwards."""
    settings = isolated_settings.model_copy(
        update={
            "command": HttpServiceSettings(port=free_port()),
            "query": isolated_settings.query.model_copy(update={"port": free_port()}),
            "relay": isolated_settings.relay.model_copy(update={"port": free_port()}),
            "projector": isolated_settings.projector.model_copy(update={"port": free_port()}),
            "transfers": isolated_settings.transfers.model_copy(update={"port": free_port()}),
        }
    )
    environment = {**os.environ, **settings_environment(settings), "PYTHONUNBUFFERED": "1"}
    started = RunningSystem(settings, tmp_path, environment)
    try:
        for name in MODULES:
            started.start(name)
        for url in (started.command_url, started.query_url):
            wait_until(lambda u=url: _answers(u), 30, f"{url}/health")  # type: ignore[misc]
        yield started
    finally:
        for name in reversed(started.started):
            if is_running(started.pid_path(name)):
                started.stop(name)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
