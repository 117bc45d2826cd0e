"""Which servers the stack runs itself, and how soon the supervisor restarts one that died."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, StackSettings
from infra.stack.component import Component
from infra.stack.layout import Endpoint, StackPaths
from infra.stack.mongo_wire import MongoWire
from infra.stack.postgres_server import PostgreSQL
from infra.stack.supervisor import Supervisor


def _settings(folder: Path, managed: str = "") -> Settings:
    return Settings(stack=StackSettings(dir=folder, managed_servers=managed))


def test_a_server_named_by_its_url_variable_is_someone_elses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_POSTGRES_URL", "postgresql://ledger:ledger@127.0.0.1:1/ledger")
    settings = _settings(tmp_path)

    assert PostgreSQL(settings, StackPaths.create(tmp_path)).is_external()


def test_a_managed_server_is_ours_even_when_its_url_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_POSTGRES_URL", "postgresql://ledger:ledger@127.0.0.1:1/ledger")
    monkeypatch.setenv("LEDGER_MONGODB_URL", "mongodb://127.0.0.1:2/")
    settings = _settings(tmp_path, managed="postgres, mongodb")
    paths = StackPaths.create(tmp_path)

    assert not PostgreSQL(settings, paths).is_external()
    assert not MongoWire(settings, paths).is_external()


class _DeadServer(Component):
    """A server with no live process: it never answers, and `up` only counts the calls."""

    name = "dead"

    def __init__(self, settings: Settings, paths: StackPaths) -> None:
        super().__init__(settings, paths)
        self.starts = 0

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", 1)

    def install(self) -> bool:
        return False

    def command(self) -> list[str]:
        return ["true"]

    def health(self) -> bool:
        return False

    def up(self) -> object:  # type: ignore[override]
        self.starts += 1
        return None


def test_a_server_whose_process_is_gone_is_restarted_at_the_first_probe(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    supervisor = Supervisor(settings)
    dead = _DeadServer(settings, StackPaths.create(tmp_path))
    # One fake server in place of the real five: the probe logic is what is under test.
    supervisor._servers = [dead]
    supervisor._units = {"dead": supervisor._units["postgres"]}
    supervisor._restarts = {"dead": supervisor._restarts["postgres"]}
    supervisor._services = []

    supervisor.check_once(now=1_000.0)

    assert dead.starts == 1
