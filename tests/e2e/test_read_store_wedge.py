"""A read store wedged by an outside client is seen, restarted, and nothing is lost.

FerretDB v1.24.2 never answers again, nor anyone after, once a client sends it a bulk of
50 `ReplaceOne` by `_id`. The test runs `ledger up --detach` on a stack of its own (its own
Kafka, Redis, gateway and read store on free ports, over the module's own PostgreSQL
database), sends that bulk from a plain PyMongo client, and then, with nobody stepping in:
the projector's `/health` says the read store is unavailable, the supervisor restarts it,
`/ready` and `/health` come back, and every command, from before, during and after the
wedge, shows in the read models exactly once.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from infra.settings import Settings, settings_environment
from infra.stack.processes import wait_until
from infra.stack.supervisor import UnitState, read_state
from tests.auth_fixtures import create_client
from tests.chaos.stack import seed_installs
from tests.own_read_store import own_read_store_settings, send_wedging_bulk
from tests.own_stack import own_stack_settings, run_ledger

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

UP_SECONDS = 420.0
SEEN_SECONDS = 30.0  # the probe's ping deadline and cache are 3 s; generous for CI load
RECOVERED_SECONDS = 180.0  # three failed probes, a stop, a start, the projector catching up
SCOPES = "ledger:read ledger:write ledger:all-owners"
DEPOSIT = 100


@dataclass
class OwnStack:
    """A `ledger up --detach` of the test's own, and HTTP clients of its parts."""

    settings: Settings
    environment: dict[str, str]
    token: str = ""

    def ledger(self, *arguments: str, timeout: float) -> None:
        done = run_ledger(self.environment, *arguments, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr

    def gateway(self) -> httpx.Client:
        certificate = self.settings.stack.dir / "nginx" / "tls" / "gateway.crt"
        gateway = self.settings.gateway
        return httpx.Client(
            base_url=f"https://{gateway.host}:{gateway.https_port}",
            verify=ssl.create_default_context(cafile=str(certificate)),
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
        )

    def read_store_status(self) -> str:
        """What the projector's `/health` says of the read store ("" when it does not answer)."""
        url = f"http://127.0.0.1:{self.settings.projector.port}/health"
        try:
            body: dict[str, Any] = httpx.get(url, timeout=10).json()
        except httpx.HTTPError:
            return ""
        return str(body.get("read_store", ""))

    def ready(self) -> bool:
        """The query API and the projector both say they are ready."""
        ports = (self.settings.query.port, self.settings.projector.port)
        try:
            return all(
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 200
                for port in ports
            )
        except httpx.HTTPError:
            return False

    def read_store_unit(self) -> UnitState:
        state = read_state(self.settings)
        assert state is not None, "the supervisor wrote no state"
        return next(unit for unit in state.units if unit.name == "mongodb")


@pytest.fixture(scope="module")
def stack(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OwnStack]:
    folder = tmp_path_factory.mktemp("stack")
    seed_installs(folder)
    settings = own_read_store_settings(own_stack_settings(module_settings, folder), folder)
    started = OwnStack(settings, {**os.environ, **settings_environment(settings)})
    try:
        started.ledger("up", "--detach", timeout=UP_SECONDS)
        issued = create_client(settings, scopes=SCOPES, name="wedge test")
        with started.gateway() as anonymous:
            token = anonymous.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(issued.client.client_id, issued.secret),
            )
        token.raise_for_status()
        started.token = str(token.json()["access_token"])
        yield started
    finally:
        run_ledger(started.environment, "down", timeout=180)


def _open(client: httpx.Client) -> str:
    opened = client.post("/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["aggregate_id"])


def _deposit(client: httpx.Client, account: str, deposits: dict[str, int]) -> None:
    done = client.post(
        f"/v1/accounts/{account}/deposits", json={"amount": DEPOSIT, "reference": "wedge"}
    )
    assert done.status_code == 200, done.text
    deposits[account] = deposits.get(account, 0) + 1


def _shows(client: httpx.Client, deposits: dict[str, int]) -> Callable[[], bool]:
    """Each account's view has every deposit exactly once (a duplicate would show too)."""

    def check() -> bool:
        for account, count in deposits.items():
            view = client.get(f"/v1/accounts/{account}")
            if view.status_code != 200:
                return False
            body = view.json()
            if (body["version"], body["balance"]) != (1 + count, DEPOSIT * count):
                return False
        return True

    return check


def test_a_read_store_wedged_by_an_outside_bulk_is_seen_restarted_and_nothing_is_lost(
    stack: OwnStack,
) -> None:
    deposits: dict[str, int] = {}
    with stack.gateway() as client:
        before = [_open(client) for _ in range(3)]
        for account in before:
            _deposit(client, account, deposits)
        wait_until(_shows(client, deposits), RECOVERED_SECONDS, "the first deposits to show")
        restarts = stack.read_store_unit().restarts

        wedged = threading.Event()
        outside = threading.Thread(
            target=lambda: (
                wedged.set()
                if send_wedging_bulk(stack.settings.mongodb.url.get_secret_value())
                else None
            ),
            name="outside client",
        )
        outside.start()
        sent = time.monotonic()
        # Commands keep coming while the read store is wedged: the event store takes them.
        for account in before:
            _deposit(client, account, deposits)
        wait_until(
            lambda: stack.read_store_status().startswith("unavailable"),
            SEEN_SECONDS,
            "the projector's /health to say the read store is unavailable",
        )
        seen = time.monotonic() - sent
        outside.join(90)
        assert wedged.is_set(), "the outside bulk was answered: the read store did not wedge"

        wait_until(
            lambda: stack.read_store_unit().restarts > restarts and stack.ready(),
            RECOVERED_SECONDS,
            "the supervisor to restart the read store and everything to be ready again",
        )
        ready = time.monotonic() - sent
        after = _open(client)
        _deposit(client, after, deposits)
        for account in before:
            _deposit(client, account, deposits)
        wait_until(_shows(client, deposits), RECOVERED_SECONDS, "every deposit to show")
        shown = time.monotonic() - sent
    # Figures for docs/operations.md (run with -s), never asserted.
    print(f"\nwedge: seen {seen:.1f} s, ready {ready:.1f} s, all shown {shown:.1f} s after")

    assert stack.read_store_status() == "ok"
    assert stack.read_store_unit().last_restart_reason == "stopped answering"
