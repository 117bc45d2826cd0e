"""Which servers the stack runs itself, and how soon the supervisor restarts one that died."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.settings import Settings, StackSettings
from infra.stack.component import Component
from infra.stack.errors import StackError
from infra.stack.layout import Endpoint, StackPaths
from infra.stack.mongo_wire import MongoWire
from infra.stack.postgres_server import PostgreSQL
from infra.stack.processes import start_process, stop_process, wait_until
from infra.stack.supervisor import (
    MAX_BACKOFF_SECONDS,
    PROBE_DEADLINE_SECONDS,
    PROBE_INTERVAL_SECONDS,
    Supervisor,
    UnitState,
    read_state,
)


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


class _FakeServer(Component):
    """A server whose process is a real `sleep`, whose health is as told until `up` restarts
    it, and whose `up` counts the calls and, when told to, blocks until released."""

    name = "fake"

    def __init__(self, settings: Settings, paths: StackPaths, name: str = "fake") -> None:
        super().__init__(settings, paths)
        self.name = name  # type: ignore[misc]
        self.answers = False
        self.probes = 0
        self.starts = 0
        self.hold_up = threading.Event()
        self.hold_up.set()
        self.in_up = threading.Event()
        self.health_released = threading.Event()
        self.health_released.set()
        self.failing_ups = 0  # `up` fails this many times first, as when its port is taken

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", 1)

    def install(self) -> bool:
        return False

    def command(self) -> list[str]:
        return ["sleep", "600"]

    def health(self) -> bool:
        self.probes += 1
        assert self.health_released.wait(30), "the test never released the health check"
        return self.answers

    def live(self) -> None:
        """Start its process, as `up` would (without waiting for health)."""
        start_process(self.name, self.command(), None, self.log_path, self.pid_path)

    def up(self) -> object:  # type: ignore[override]
        self.in_up.set()
        assert self.hold_up.wait(30), "the test never released `up`"
        if self.failing_ups:
            self.failing_ups -= 1
            raise StackError(self.name, "port 127.0.0.1:1 is taken by a process that is not ours")
        self.starts += 1
        self.live()
        self.answers = True  # a restart cures it
        return None


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Settings, list[_FakeServer]]]:
    settings = _settings(tmp_path)
    paths = StackPaths.create(tmp_path)
    made = [_FakeServer(settings, paths, name) for name in ("first", "second")]
    yield settings, made
    for server in made:
        server.hold_up.set()
        server.health_released.set()
        stop_process(server.pid_path, 5)


def _supervisor(settings: Settings, servers: list[_FakeServer]) -> Supervisor:
    # Fake servers in place of the real five: the probe logic is what is under test.
    return Supervisor(settings, servers=list(servers), processes=[])


def _until(supervisor: Supervisor, now: float, condition: Callable[[], bool], what: str) -> None:
    """Run rounds at time `now` until `condition` holds (probes and restarts run in threads)."""

    def round_then_check() -> bool:
        supervisor.check_once(now)
        return condition()

    wait_until(round_then_check, 10, what)


def _unit(settings: Settings, name: str) -> UnitState:
    state = read_state(settings)
    assert state is not None
    return next(unit for unit in state.units if unit.name == name)


def _failed(settings: Settings) -> int:
    return _unit(settings, "first").failed_probes


def test_a_server_whose_process_is_gone_is_restarted_at_the_first_probe(
    servers: tuple[Settings, list[_FakeServer]],
) -> None:
    settings, (dead, _) = servers
    supervisor = _supervisor(settings, [dead])

    # All at one instant: no second probe is due, so the first one decided.
    _until(supervisor, 1_000.0, lambda: _unit(settings, "first").restarts == 1, "a restart")

    assert (dead.starts, _unit(settings, "first").last_restart_reason) == (1, "exited")
    supervisor.close()


def test_a_live_server_that_stops_answering_is_restarted_after_three_failed_probes(
    servers: tuple[Settings, list[_FakeServer]],
) -> None:
    settings, (silent, _) = servers
    silent.live()
    supervisor = _supervisor(settings, [silent])
    now = 1_000.0

    for failed in (1, 2):
        _until(supervisor, now, lambda f=failed: _failed(settings) == f, "a failed probe")  # type: ignore[misc]
        now += PROBE_INTERVAL_SECONDS
        assert silent.starts == 0
    _until(supervisor, now, lambda: _unit(settings, "first").restarts == 1, "restart")

    unit = _unit(settings, "first")
    assert (silent.starts, unit.last_restart_reason, unit.state) == (1, "stopped answering", "up")
    supervisor.close()


def test_a_restart_that_failed_is_tried_again_for_the_reason_it_began(
    servers: tuple[Settings, list[_FakeServer]],
) -> None:
    settings, (silent, _) = servers
    silent.live()
    silent.failing_ups = 1
    supervisor = _supervisor(settings, [silent])
    now = 1_000.0
    for failed in (1, 2):
        _until(supervisor, now, lambda f=failed: _failed(settings) == f, "a failed probe")  # type: ignore[misc]
        now += PROBE_INTERVAL_SECONDS
    _until(supervisor, now, lambda: silent.failing_ups == 0, "a restart that fails")

    # The failed attempt stopped the server, so the next probe finds its pid gone: that
    # is still the server that stopped answering, not one that exited.
    later = now + MAX_BACKOFF_SECONDS
    _until(supervisor, later, lambda: _unit(settings, "first").restarts == 1, "a second try")

    unit = _unit(settings, "first")
    assert (silent.starts, unit.last_restart_reason, unit.state) == (1, "stopped answering", "up")
    supervisor.close()


def test_other_servers_are_still_probed_while_one_restarts(
    servers: tuple[Settings, list[_FakeServer]],
) -> None:
    settings, (slow, other) = servers
    other.live()
    other.answers = True
    slow.hold_up.clear()  # its restart blocks until the test says
    supervisor = _supervisor(settings, [slow, other])
    _until(supervisor, 1_000.0, slow.in_up.is_set, "the restart to begin")
    probes_before = other.probes

    _until(
        supervisor,
        1_000.0 + PROBE_INTERVAL_SECONDS,
        lambda: other.probes > probes_before,
        "a probe of the other server",
    )

    assert not slow.hold_up.is_set() and slow.starts == 0  # the restart is still under way
    slow.hold_up.set()
    _until(supervisor, 1_010.0, lambda: slow.starts == 1, "the restart to end")
    supervisor.close()


def test_a_probe_that_hangs_fails_at_each_deadline_and_is_never_sent_twice(
    servers: tuple[Settings, list[_FakeServer]],
) -> None:
    settings, (hung, _) = servers
    hung.live()
    hung.health_released.clear()  # a health check that never returns (until the test ends)
    supervisor = _supervisor(settings, [hung])
    now = 1_000.0
    _until(supervisor, now, lambda: hung.probes == 1, "the first probe")

    for failed in (1, 2):
        now += PROBE_DEADLINE_SECONDS
        _until(supervisor, now, lambda f=failed: _failed(settings) == f, "a late probe")  # type: ignore[misc]
    now += PROBE_DEADLINE_SECONDS
    _until(supervisor, now, lambda: hung.starts == 1, "the restart")

    assert hung.probes == 1
    hung.health_released.set()
    supervisor.close()
