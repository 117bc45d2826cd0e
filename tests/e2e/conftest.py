"""The whole system as separate processes, behind the nginx gateway, isolated per test.

Every process runs for real: the token issuer, the relay, the transfer process, the
projector, the command and query APIs (one or more replicas each), and an nginx gateway
of the test's own on free ports. Tests talk to the gateway over HTTPS with bearer tokens
from the issuer, as a client would.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from infra.settings import (
    PROJECT_ROOT,
    GatewaySettings,
    HttpServiceSettings,
    RateLimitSettings,
    Settings,
    settings_environment,
)
from infra.stack.layout import StackPaths
from infra.stack.nginx_gateway import NginxGateway
from infra.stack.processes import is_running, start_process, stop_process, wait_until
from tests.auth_fixtures import create_client, with_local_issuer
from tests.network import free_port

MODULES = {
    "issuer": "infra.security.issuer",
    "relay": "infra.relay",
    "transfers": "infra.transfer_process",
    "projector": "projectors",
    "command-api": "command_api",
    "query-api": "query_api",
}
SERVICE_SCOPES = "ledger:read ledger:write events:read projections:admin ledger:all-owners"
# Generous: tests that are not about rate limiting must never meet one.
UNLIMITED = RateLimitSettings(
    commands="100000/second",
    queries="100000/second",
    history="100000/second",
    admin="100000/second",
)


@dataclass
class RunningSystem:
    """The running system: its settings, its gateway, tokens, and control over each process."""

    settings: Settings
    run_dir: Path
    environment: dict[str, str]
    gateway: NginxGateway | None = None
    service_token: str = ""
    started: list[str] = field(default_factory=list)
    replica_ports: dict[str, int] = field(default_factory=dict)

    @property
    def command_url(self) -> str:
        """The first command API replica, directly (health checks, not client traffic)."""
        return f"http://127.0.0.1:{self.settings.command.port}"

    @property
    def query_url(self) -> str:
        """The first query API replica, directly (health checks, not client traffic)."""
        return f"http://127.0.0.1:{self.settings.query.port}"

    @property
    def issuer_url(self) -> str:
        return self.settings.auth.local_issuer_url()

    @property
    def gateway_url(self) -> str:
        return f"https://127.0.0.1:{self.settings.gateway.https_port}"

    def tls(self) -> ssl.SSLContext:
        assert self.gateway is not None
        return ssl.create_default_context(cafile=str(self.gateway.files.certificate))

    def client(self, timeout: float = 10.0, token: str | None = "service") -> httpx.Client:
        """An HTTPS client of the gateway, with the all-owners service token by default."""
        bearer = self.service_token if token == "service" else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(
            base_url=self.gateway_url, verify=self.tls(), timeout=timeout, headers=headers
        )

    def token(self, scopes: str, owner: UUID | None = None) -> str:
        """A fresh client of the issuer with these scopes (and owner), and a token for it."""
        issued = create_client(self.settings, scopes=scopes, owner=owner)
        response = httpx.post(
            f"{self.issuer_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(issued.client.client_id, issued.secret),
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(self, name: str, **extra_environment: str) -> None:
        module = MODULES[name.split("#")[0]]
        environment = {**self.environment, **extra_environment}
        log_path = self.run_dir / f"{name}.log"
        argv = [sys.executable, "-m", module]
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


def _settings_for(isolated_settings: Settings, ratelimit: RateLimitSettings) -> Settings:
    issuer_port = free_port()
    settings = isolated_settings.model_copy(
        update={
            "command": HttpServiceSettings(port=free_port()),
            "query": isolated_settings.query.model_copy(update={"port": free_port()}),
            "relay": isolated_settings.relay.model_copy(update={"port": free_port()}),
            "projector": isolated_settings.projector.model_copy(update={"port": free_port()}),
            "transfers": isolated_settings.transfers.model_copy(update={"port": free_port()}),
            "ratelimit": ratelimit,
        }
    )
    return with_local_issuer(settings, f"http://127.0.0.1:{issuer_port}", issuer_port=issuer_port)


@contextmanager
def running(
    isolated_settings: Settings,
    tmp_path: Path,
    *,
    replicas: int = 1,
    ratelimit: RateLimitSettings = UNLIMITED,
) -> Iterator[RunningSystem]:
    """Start every process and the gateway; stop them all afterwards."""
    settings = _settings_for(isolated_settings, ratelimit)
    ports = {"command-api": [settings.command.port], "query-api": [settings.query.port]}
    for name in ports:
        ports[name] += [free_port() for _ in range(replicas - 1)]
    settings = settings.model_copy(
        update={
            "gateway": GatewaySettings(
                http_port=free_port(),
                https_port=free_port(),
                command_upstreams=",".join(f"127.0.0.1:{p}" for p in ports["command-api"]),
                query_upstreams=",".join(f"127.0.0.1:{p}" for p in ports["query-api"]),
                issuer_upstreams=f"127.0.0.1:{settings.auth.issuer_port}",
            )
        }
    )
    environment = {**os.environ, **settings_environment(settings), "PYTHONUNBUFFERED": "1"}
    system = RunningSystem(settings, tmp_path, environment)
    try:
        system.start("issuer")
        wait_until(lambda: _answers(system.issuer_url), 30, "the token issuer")
        for name in ("relay", "transfers", "projector"):
            system.start(name)
        _start_api_replicas(system, ports)
        system.gateway = NginxGateway(settings, StackPaths.create(tmp_path / "gateway"))
        system.gateway.up()
        system.service_token = system.token(SERVICE_SCOPES)
        yield system
    finally:
        for name in reversed(system.started):
            if is_running(system.pid_path(name)):
                system.stop(name)
        if system.gateway is not None:
            system.gateway.down()


def _start_api_replicas(system: RunningSystem, ports: dict[str, list[int]]) -> None:
    variable = {"command-api": "LEDGER_COMMAND_PORT", "query-api": "LEDGER_QUERY_PORT"}
    for name, replica_ports in ports.items():
        for index, port in enumerate(replica_ports):
            replica = name if index == 0 else f"{name}#{index + 1}"
            system.start(replica, **{variable[name]: str(port)})
            system.replica_ports[replica] = port
    for replica, port in system.replica_ports.items():
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda u=url: _answers(u), 30, f"{replica} at {url}")  # type: ignore[misc]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
