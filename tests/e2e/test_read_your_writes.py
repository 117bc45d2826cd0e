"""Read your writes: the first read with a command's token already shows the command.

No polling and no sleeping in the client: each deposit is read back once, immediately,
with the version or position its answer carried, and must be there, marked fresh.
"""

from __future__ import annotations

import time
from uuid import uuid4

import httpx
import pytest

from infra.stack.processes import wait_until
from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import open_account

pytestmark = pytest.mark.e2e

ROUNDS = 100
SHORT_TIMEOUT_SECONDS = 0.5


def deposit_then_read(
    commands: httpx.Client, queries: httpx.Client, account_id: str, token: str
) -> None:
    """Deposit, then read the account once with the answer's token; check the deposit shows."""
    balance_before = None
    for round_number in range(1, ROUNDS + 1):
        deposited = commands.post(
            f"/v1/accounts/{account_id}/deposits",
            json={"amount": round_number, "reference": f"round {round_number}"},
        )
        assert deposited.status_code == 200, deposited.text
        answer = deposited.json()
        header = {"version": "X-Min-Version", "position": "X-Min-Position"}[token]

        read = queries.get(f"/v1/accounts/{account_id}", headers={header: str(answer[token])})

        assert read.status_code == 200, f"round {round_number}: {read.text}"
        assert read.headers["x-consistency"] == "fresh", f"round {round_number} was stale"
        view = read.json()
        assert view["version"] >= answer["version"], f"round {round_number}: {view}"
        if balance_before is not None:
            assert view["balance"] == balance_before + round_number, f"round {round_number}"
        balance_before = view["balance"]


@pytest.mark.parametrize("token", ["version", "position"])
def test_a_deposit_is_visible_in_the_first_read_with_its_token(
    system: RunningSystem, token: str
) -> None:
    with (
        system.client(timeout=10) as commands,
        system.client(timeout=10) as queries,
    ):
        account_id = open_account(commands)

        deposit_then_read(commands, queries, account_id, token)


def test_a_new_account_shows_in_its_owners_list_with_the_position_token(
    system: RunningSystem,
) -> None:
    owner_id = str(uuid4())
    with (
        system.client(timeout=10) as commands,
        system.client(timeout=10) as queries,
    ):
        opened = commands.post("/v1/accounts", json={"owner_id": owner_id, "currency": "EUR"})
        assert opened.status_code == 201, opened.text

        listed = queries.get(
            "/v1/accounts",
            params={"owner_id": owner_id, "min_position": opened.json()["position"]},
        )

    assert listed.headers["x-consistency"] == "fresh"
    assert [a["account_id"] for a in listed.json()["items"]] == [opened.json()["aggregate_id"]]


def test_a_token_from_the_future_answers_after_the_timeout_as_stale(
    system: RunningSystem,
) -> None:
    restart_query_api_with_timeout(system, SHORT_TIMEOUT_SECONDS)
    with system.client(timeout=10) as commands:
        account_id = open_account(commands, deposit=100)

    with system.client(timeout=10) as queries:
        fresh = queries.get(f"/v1/accounts/{account_id}", headers={"X-Min-Version": "2"})
        started = time.monotonic()
        stale = queries.get(f"/v1/accounts/{account_id}", headers={"X-Min-Version": "999999"})
        waited = time.monotonic() - started

    assert fresh.headers["x-consistency"] == "fresh"
    assert stale.status_code == 200
    assert stale.headers["x-consistency"] == "stale"
    assert stale.json()["balance"] == 100
    assert SHORT_TIMEOUT_SECONDS <= waited < SHORT_TIMEOUT_SECONDS + 1.5


def restart_query_api_with_timeout(system: RunningSystem, seconds: float) -> None:
    system.stop("query-api")
    system.start("query-api", LEDGER_QUERY_CONSISTENCY_TIMEOUT_SECONDS=str(seconds))
    wait_until(lambda: _answers(system.query_url), 30, "the restarted query API")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
