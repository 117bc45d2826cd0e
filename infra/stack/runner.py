"""`ledger up` / `ledger down`: the local stack plus every Ledger process."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from infra.eventstore.library import prepare_event_store
from infra.messaging.kafka import ensure_topic
from infra.settings import PROJECT_ROOT, Settings
from infra.stack.lifecycle import stack_down, stack_up
from infra.stack.processes import is_running, start_process, stop_process, wait_until

console = Console(stderr=True)
START_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Service:
    """One Ledger process and how to tell it is up."""

    name: str
    module: str
    health_url: str | None = None

    def argv(self) -> list[str]:
        """The command line that runs it with this interpreter."""
        return [sys.executable, "-m", self.module]


def services(settings: Settings) -> list[Service]:
    """Every process `ledger up` runs, in start order."""
    return [
        Service(
            "token-issuer",
            "infra.security.issuer",
            _url(settings.auth.issuer_host, settings.auth.issuer_port),
        ),
        Service("relay", "infra.relay", _url(settings.relay.host, settings.relay.port)),
        Service(
            "projector",
            "projectors",
            _url(settings.projector.host, settings.projector.port),
        ),
        Service(
            "transfer-process",
            "infra.transfer_process",
            _url(settings.transfers.host, settings.transfers.port),
        ),
        Service(
            "command-api",
            "command_api",
            f"http://{settings.command.host}:{settings.command.port}/health",
        ),
        Service(
            "query-api", "query_api", f"http://{settings.query.host}:{settings.query.port}/health"
        ),
    ]


def _url(host: str, port: int) -> str:
    return f"http://{host}:{port}/health"


def _paths(settings: Settings, service: Service) -> tuple[Path, Path]:
    run = settings.stack.dir / "run"
    logs = settings.stack.dir / "logs"
    run.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{service.name}.log", run / f"{service.name}.pid"


def start_services(settings: Settings) -> None:
    """Start every service that is not running yet, and wait until each answers."""
    prepare_event_store(settings)
    asyncio.run(ensure_topic(settings.kafka))
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for service in services(settings):
        log_path, pid_path = _paths(settings, service)
        if is_running(pid_path):
            continue
        start_process(
            service.name, service.argv(), environment, log_path, pid_path, cwd=PROJECT_ROOT
        )
    for service in services(settings):
        log_path, pid_path = _paths(settings, service)
        wait_until(
            lambda s=service, p=pid_path: _is_up(s, p),  # type: ignore[misc]
            START_DEADLINE_SECONDS,
            f"{service.name} to answer (log: {log_path})",
        )


def _is_up(service: Service, pid_path: Path) -> bool:
    if not is_running(pid_path):
        raise RuntimeError(f"{service.name} exited during start-up")
    if service.health_url is None:
        return True
    try:
        return httpx.get(service.health_url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop_services(settings: Settings) -> None:
    """Stop every service we started (by pid file), API first so no command is cut short."""
    for service in reversed(services(settings)):
        _, pid_path = _paths(settings, service)
        stop_process(pid_path, 10.0)


def up(settings: Settings, *, detach: bool) -> None:
    """Bring up the stack and the services; in the foreground, stop all on Ctrl-C."""
    stack_up(settings)
    start_services(settings)
    gateway = f"https://{settings.gateway.host}:{settings.gateway.https_port}"
    certificate = settings.stack.dir / "nginx" / "tls" / "gateway.crt"
    console.print("[bold green]Ledger is up[/]")
    console.print(f"  gateway      {gateway}  (certificate: {certificate})")
    console.print(f"  tokens       {gateway}/oauth/token  (clients: ledger auth create-client)")
    console.print(f"  command API  http://{settings.command.host}:{settings.command.port}/docs")
    console.print(f"  query API    http://{settings.query.host}:{settings.query.port}/docs")
    if detach:
        console.print("  stop with: ledger down")
        return
    console.print("  press Ctrl-C to stop")
    try:
        while all(is_running(_paths(settings, s)[1]) for s in services(settings)):
            time.sleep(1.0)
        console.print("[red]a service exited; stopping everything[/]")
    except KeyboardInterrupt:
        console.print("stopping…")
    down(settings)


def down(settings: Settings) -> None:
    """Stop the services and the stack."""
    stop_services(settings)
    stack_down(settings)
