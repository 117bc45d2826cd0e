"""Ledger's own processes under the local stack: which they are, how to start and stop them."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.eventstore.library import prepare_event_store
from infra.messaging.kafka import ensure_topic
from infra.settings import PROJECT_ROOT, Settings
from infra.stack.processes import is_running, start_process, stop_process, wait_until

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


def service_paths(settings: Settings, service: Service) -> tuple[Path, Path]:
    """The service's log file and pid file under the stack folder."""
    run = settings.stack.dir / "run"
    logs = settings.stack.dir / "logs"
    run.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{service.name}.log", run / f"{service.name}.pid"


def start_services(settings: Settings) -> None:
    """Start every service that is not running yet, and wait until each answers."""
    prepare_event_store(settings)
    asyncio.run(ensure_topic(settings.kafka))
    for service in services(settings):
        if not is_running(service_paths(settings, service)[1]):
            start_service(settings, service)
    for service in services(settings):
        log_path, pid_path = service_paths(settings, service)
        wait_until(
            lambda s=service, p=pid_path: _is_up(s, p),  # type: ignore[misc]
            START_DEADLINE_SECONDS,
            f"{service.name} to answer (log: {log_path})",
        )


def start_service(settings: Settings, service: Service) -> None:
    """Start one service in the background (its output appended to its log)."""
    log_path, pid_path = service_paths(settings, service)
    environment = {**os.environ, **tracing_environment(settings), "PYTHONUNBUFFERED": "1"}
    start_process(service.name, service.argv(), environment, log_path, pid_path, cwd=PROJECT_ROOT)


def tracing_environment(settings: Settings) -> dict[str, str]:
    """Traces go to the stack's own backend (Jaeger), so that a person can open them,
    unless the environment already says where to send them, or not to (any `OTEL_*`)."""
    if any(name.startswith("OTEL_") for name in os.environ):
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{settings.stack.jaeger_otlp_port}"}


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
        _, pid_path = service_paths(settings, service)
        stop_process(pid_path, 10.0)
