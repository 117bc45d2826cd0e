"""A whole Ledger of the suite's own, started with `ledger up --detach` on free loopback ports."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.settings import (
    Settings,
    settings_environment,
)
from infra.stack.component import Component
from infra.stack.lifecycle import stack_components
from infra.stack.processes import read_record
from infra.stack.supervisor import UnitState, read_state
from tests.own_stack import own_stack_settings, run_ledger

UP_SECONDS = 600.0
DOWN_SECONDS = 180.0
SCOPES = "ledger:read ledger:write ledger:all-owners"
LAST_LOGS = Path(tempfile.gettempdir()) / "ledger-chaos-logs"


@dataclass
class ChaosStack:
    """The running stack: its settings, the environment its `ledger` commands need, its units."""

    settings: Settings
    environment: dict[str, str]

    def ledger(self, *arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run `ledger …` against this stack."""
        return run_ledger(self.environment, *arguments, timeout=timeout)

    def pid(self, name: str) -> int | None:
        """The recorded pid of a server or process, None when it has none."""
        record = read_record(self.settings.stack.dir / "run" / f"{name}.pid")
        return record.pid if record else None

    def unit(self, name: str) -> UnitState | None:
        """What the supervisor last wrote about one unit."""
        state = read_state(self.settings)
        return next((u for u in state.units if u.name == name), None) if state else None

    def component(self, name: str) -> Component:
        """The stack component of that name, to stop it the way `ledger down` would."""
        return next(c for c in stack_components(self.settings) if c.name == name)

    @property
    def gateway_url(self) -> str:
        """The gateway's HTTPS base URL."""
        return f"https://{self.settings.gateway.host}:{self.settings.gateway.https_port}"

    def tls_context(self) -> ssl.SSLContext:
        """Trusts the certificate the stack generated for its gateway, and nothing else."""
        certificate = self.settings.stack.dir / "nginx" / "tls" / "gateway.crt"
        return ssl.create_default_context(cafile=str(certificate))


def chaos_settings(folder: Path) -> Settings:
    """Settings on free ports for every server and process, with the stack folder `folder`."""
    return own_stack_settings(Settings(), folder, own_stores=True, token_lifetime_seconds=7_200)


def seed_installs(folder: Path) -> None:
    """Copy the default stack's FerretDB and Jaeger builds and Kafka jars, when it has them:
    building and resolving them again takes minutes; their markers still let `up` check them."""
    source = Settings().stack.dir
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("ferretdb", ".ferretdb-version", "jaeger", ".jaeger-version"):
        if (source / "bin" / name).exists():
            shutil.copy2(source / "bin" / name, folder / "bin" / name)
    if (source / "kafka" / "libs" / ".pom-sha256").exists():
        shutil.copytree(source / "kafka" / "libs", folder / "kafka" / "libs")


@contextmanager
def own_stack(
    adjust: Callable[[Settings], Settings] | None = None, *, traced: bool = False
) -> Iterator[ChaosStack]:
    """Start a stack in a fresh temporary folder (its settings changed by `adjust`, if
    given); always stop it and delete the folder. Its processes record no spans unless
    `traced` (then they export to the stack's own Jaeger, as `ledger up` does by default):
    tracing is off by default in production, and so it is in what is measured."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-chaos-"))
    folder.chmod(0o755)  # the postgres user must reach its data dir inside
    seed_installs(folder)
    settings = chaos_settings(folder)
    if adjust is not None:
        settings = adjust(settings)
    environment = {**os.environ, **settings_environment(settings)}
    if not traced:
        environment["OTEL_SDK_DISABLED"] = "true"
    stack = ChaosStack(settings, environment)
    try:
        started = stack.ledger("up", "--detach", timeout=UP_SECONDS)
        if started.returncode != 0:
            raise RuntimeError(f"`ledger up --detach` failed:\n{started.stdout}{started.stderr}")
        yield stack
    finally:
        stack.ledger("down", timeout=DOWN_SECONDS)
        # The logs outlive the stack: they explain a failed check.
        shutil.rmtree(LAST_LOGS, ignore_errors=True)
        shutil.copytree(folder / "logs", LAST_LOGS, dirs_exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
