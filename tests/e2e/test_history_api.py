"""The event-history API through the gateway: pages, a live NDJSON stream, and time travel."""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from infra.eventstore.schema import EVENTS_TABLE
from query_api.schemas.history import EventOut, EventPage
from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import open_account, problem_slug

pytestmark = pytest.mark.e2e


def deposit(client: httpx.Client, account: str, amount: int) -> dict[str, Any]:
    response = client.post(
        f"/v1/accounts/{account}/deposits", json={"amount": amount, "reference": "h"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_pages_of_the_log_continue_where_the_last_ended(shared_system: RunningSystem) -> None:
    with shared_system.client() as client:
        account = open_account(client, deposit=10)
        for amount in (1, 2, 3):
            deposit(client, account, amount)
        first = client.get("/v1/events", params={"aggregate_id": account, "limit": 2}).json()
        rest = client.get(
            "/v1/events",
            params={"aggregate_id": account, "limit": 10, "after": first["next_after"]},
        ).json()
        streamed = client.get("/v1/events/stream", params={"aggregate_id": account})

    versions = [e["aggregate_version"] for e in first["events"] + rest["events"]]
    assert versions == [1, 2, 3, 4, 5]
    assert first["events"][0]["event_type"] == "AccountOpened"
    # Pages are encoded without a model per event: they must still be what the schema says.
    assert EventPage.model_validate(first).events[0].data["currency"] == "EUR"
    assert set(first["events"][0]) == set(EventOut.model_fields)
    assert [json.loads(line) for line in streamed.text.splitlines()] == (
        first["events"] + rest["events"]
    )


def test_a_type_filter_and_an_unknown_type(shared_system: RunningSystem) -> None:
    with shared_system.client() as client:
        account = open_account(client, deposit=10)
        deposits = client.get(
            "/v1/events", params={"aggregate_id": account, "type": "FundsDeposited"}
        ).json()
        unknown = client.get("/v1/events", params={"type": "MoneyPrinted"})

    assert [e["event_type"] for e in deposits["events"]] == ["FundsDeposited"]
    assert (unknown.status_code, problem_slug(unknown)) == (422, "unknown-event-type")


def follow(
    system: RunningSystem, after: int, lines: queue.Queue[dict[str, Any]], stop: threading.Event
) -> None:
    """Read a following stream until told to stop; put each line on `lines`."""
    with (
        system.client(timeout=30) as client,
        client.stream(
            "GET", "/v1/events/stream", params={"after": after, "follow": "true"}
        ) as stream,
    ):
        for line in stream.iter_lines():
            if line:
                lines.put(json.loads(line))
            if stop.is_set():
                return


def followers(system: RunningSystem) -> float:
    text = httpx.get(f"{system.query_url}/metrics").text
    value = next(
        line.split()[-1]
        for line in text.splitlines()
        if line.startswith("ledger_history_followers ")
    )
    return float(value)


def test_a_follower_receives_new_events_in_order_and_is_released_on_disconnect(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client() as client:
        account = open_account(client)
        head = client.get("/v1/events", params={"limit": 1000, "after": 0}).json()["next_after"]
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=follow, args=(shared_system, head, lines, stop), daemon=True)
    reader.start()
    received: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 10
        while followers(shared_system) < 1:
            assert time.monotonic() < deadline, "the stream never opened"
            time.sleep(0.05)
        with shared_system.client() as client:
            positions = [deposit(client, account, amount)["position"] for amount in (5, 6, 7)]
        deadline = time.monotonic() + 15
        while len([e for e in received if "position" in e]) < 3:
            assert time.monotonic() < deadline, f"only got {received}"
            received.append(lines.get(timeout=15))
    finally:
        stop.set()
    events = [e for e in received if "position" in e and e["aggregate_id"] == account]
    assert [e["position"] for e in events] == positions
    assert [e["data"]["amount"] for e in events] == [5, 6, 7]
    reader.join(timeout=15)
    deadline = time.monotonic() + 15
    while followers(shared_system) != 0:
        assert time.monotonic() < deadline, "the server kept the stream after the client left"
        time.sleep(0.1)


def recorded_history(
    system: RunningSystem, account: str
) -> list[tuple[datetime, int, str, dict[str, Any]]]:
    """(recorded_at, version, topic, state) of the account, read straight from PostgreSQL."""
    with psycopg.connect(system.settings.postgres.url.get_secret_value()) as conn:
        rows = conn.execute(
            f"SELECT recorded_at, originator_version, topic, convert_from(state, 'UTF8') "
            f"FROM {EVENTS_TABLE} WHERE originator_id = %s ORDER BY originator_version",
            (account,),
        ).fetchall()
    return [(row[0], row[1], row[2], json.loads(row[3])) for row in rows]


def independent_state(
    history: list[tuple[datetime, int, str, dict[str, Any]]], moment: datetime
) -> tuple[int, int, str]:
    """(version, balance, status) at `moment`, from the raw stored events."""
    version, balance, status = 0, 0, "open"
    for recorded_at, event_version, topic, state in history:
        if recorded_at > moment:
            break
        version = event_version
        if "balance_after" in state:
            balance = state["balance_after"]
        kind = topic.rsplit(".", 1)[-1]
        status = {
            "AccountFrozen": "frozen",
            "AccountUnfrozen": "open",
            "AccountClosed": "closed",
        }.get(kind, status)
    return version, balance, status


def test_as_of_a_past_moment_matches_the_state_recomputed_from_the_store(
    shared_system: RunningSystem,
) -> None:
    chooser = random.Random(11)
    with shared_system.client() as client:
        accounts = [open_account(client) for _ in range(3)]
        for _ in range(12):
            account = chooser.choice(accounts)
            if chooser.random() < 0.15:
                client.post(f"/v1/accounts/{account}/freeze", json={"reason": "check"})
                client.post(f"/v1/accounts/{account}/unfreeze")
            else:
                deposit(client, account, chooser.randint(1, 900))
        for account in accounts:
            history = recorded_history(shared_system, account)
            start, end = history[0][0], history[-1][0]
            for _ in range(4):
                moment = start + (end - start) * chooser.random()
                response = client.get(
                    f"/v1/accounts/{account}/as-of", params={"at": moment.isoformat()}
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert (body["version"], body["balance"], body["status"]) == independent_state(
                    history, moment
                )


def test_as_of_a_version_and_before_the_account_existed(shared_system: RunningSystem) -> None:
    with shared_system.client() as client:
        account = open_account(client, deposit=40)
        deposit(client, account, 2)
        at_two = client.get(f"/v1/accounts/{account}/as-of", params={"version": 2})
        opened_at = recorded_history(shared_system, account)[0][0]
        before = client.get(
            f"/v1/accounts/{account}/as-of",
            params={"at": (opened_at - timedelta(seconds=1)).isoformat()},
        )
        both = client.get(
            f"/v1/accounts/{account}/as-of", params={"version": 1, "at": opened_at.isoformat()}
        )

    assert (at_two.json()["version"], at_two.json()["balance"]) == (2, 40)
    assert (before.status_code, problem_slug(before)) == (404, "history-not-found")
    assert both.status_code == 422


def test_an_owner_reads_only_its_own_accounts_history(shared_system: RunningSystem) -> None:
    owner, stranger = uuid4(), uuid4()
    own_token = shared_system.token("ledger:read ledger:write events:read", owner=owner)
    stranger_token = shared_system.token("ledger:read events:read", owner=stranger)
    with shared_system.client(token=own_token) as client:
        opened = client.post("/v1/accounts", json={"owner_id": str(owner), "currency": "EUR"})
        account = opened.json()["aggregate_id"]
        mine = client.get(f"/v1/accounts/{account}/history")
        log = client.get("/v1/events")
    with shared_system.client(token=stranger_token) as client:
        theirs = client.get(f"/v1/accounts/{account}/history")

    assert [e["event_type"] for e in mine.json()["events"]] == ["AccountOpened"]
    assert theirs.status_code == 404
    assert log.status_code == 403  # the global log spans every owner
