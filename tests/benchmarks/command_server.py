"""The command API under test, as a subprocess on a free loopback port of its own."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from infra.eventstore.library import prepare_event_store
from infra.settings import (
    PROJECT_ROOT,
    HttpServiceSettings,
    PostgresSettings,
    Settings,
    settings_environment,
)
from infra.stack.processes import read_record, start_process, stop_process, tail, wait_until

POOL_SIZE = 20
START_SECONDS = 30.0
STOP_SECONDS = 10.0
COMMIT_TIMINGS_ENVIRONMENT = "LEDGER_BENCH_COMMIT_TIMINGS_TO"
PROFILE_ENVIRONMENT = "LEDGER_BENCH_PROFILE_TO"
SWITCH_INTERVAL_ENVIRONMENT = "LEDGER_BENCH_SWITCH_INTERVAL"


@dataclass(frozen=True)
class Instrumentation:
    """Measurements taken inside the server, for investigations; none by default."""

    commit_timings: bool = False
    profile_to: Path | None = None
    switch_interval: float | None = None

    @property
    def wanted(self) -> bool:
        """Whether the instrumented server must run instead of the plain one."""
        return (
            self.commit_timings or self.profile_to is not None or self.switch_interval is not None
        )


@dataclass(frozen=True)
class CommandServer:
    """A running command API: where it answers, which process it is, where it reports."""

    url: str
    pid: int
    log_path: Path
    commit_timings_path: Path | None = None


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_settings(base: Settings, database_url: str, *, group_commit: bool) -> Settings:
    """The base settings on the run's database, with the recorder under test.

    The edge is off: a rate limit of its own (100 commands/s per client) would measure
    itself, and token checks are not what this benchmark is about.
    """
    return base.model_copy(
        update={
            "postgres": PostgresSettings(
                url=SecretStr(database_url), pool_size=POOL_SIZE, group_commit=group_commit
            ),
            "command": HttpServiceSettings(port=free_port()),
            "ratelimit": base.ratelimit.model_copy(update={"enabled": False}),
            "auth": base.auth.model_copy(update={"disabled_for_development": True}),
        }
    )


@contextmanager
def running_command_api(
    settings: Settings, run_dir: Path, instrumentation: Instrumentation | None = None
) -> Iterator[CommandServer]:
    """Create the schema, start the API, wait for /health; stop it afterwards, even on Ctrl-C."""
    # The schema exists before the server starts, as in production (see prepare_event_store).
    prepare_event_store(settings)
    name = "command-api-" + ("group" if settings.postgres.group_commit else "single")
    pid_path = run_dir / f"{name}.pid"
    log_path = run_dir / f"{name}.log"
    environment = {**os.environ, **settings_environment(settings), "PYTHONUNBUFFERED": "1"}
    module = "command_api"
    timings_path = None
    if instrumentation is not None and instrumentation.wanted:
        module = "tests.benchmarks.instrumented_command_api"
        if instrumentation.commit_timings:
            timings_path = run_dir / f"{name}-commits.json"
            environment[COMMIT_TIMINGS_ENVIRONMENT] = str(timings_path)
        if instrumentation.profile_to is not None:
            environment[PROFILE_ENVIRONMENT] = str(instrumentation.profile_to / name)
        if instrumentation.switch_interval is not None:
            environment[SWITCH_INTERVAL_ENVIRONMENT] = str(instrumentation.switch_interval)
    url = f"http://127.0.0.1:{settings.command.port}"
    try:
        start_process(
            name, [sys.executable, "-m", module], environment, log_path, pid_path, cwd=PROJECT_ROOT
        )
        record = read_record(pid_path)
        assert record is not None
        try:
            wait_until(lambda: _answers(url), START_SECONDS, f"{url}/health")
        except TimeoutError as error:
            raise RuntimeError(f"the command API did not start\n{tail(log_path)}") from error
        yield CommandServer(url, record.pid, log_path, timings_path)
    finally:
        stop_process(pid_path, STOP_SECONDS)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
