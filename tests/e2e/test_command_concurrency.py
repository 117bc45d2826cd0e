"""No lost update, no double spend, no double-applied retry, under concurrency through HTTP."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID, uuid4

import httpx
import pytest

from infra.eventstore.library import open_ledger
from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import open_account

pytestmark = pytest.mark.e2e


def test_fifty_concurrent_withdrawals_never_overdraw_the_account(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client(timeout=30) as commands:
        account = open_account(commands, deposit=10_000, overdraft_limit=500)

    def withdraw(_: int) -> httpx.Response:
        with shared_system.client(timeout=30) as client:
            return client.post(
                f"/v1/accounts/{account}/withdrawals", json={"amount": 300, "reference": "atm"}
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(withdraw, range(50)))

    statuses = Counter(r.status_code for r in responses)
    succeeded = statuses[200]
    ledger = open_ledger(shared_system.settings)
    balance = ledger.get_account(UUID(account)).balance.amount
    ledger.close()
    assert set(statuses) <= {200, 409, 412}
    assert balance >= -500
    assert balance == 10_000 - 300 * succeeded
    assert succeeded == 35  # 10,500 available: exactly 35 withdrawals of 300 fit


def test_twenty_concurrent_retries_with_one_key_append_once_and_answer_alike(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client(timeout=30) as commands:
        account = open_account(commands, deposit=1_000)
    key = str(uuid4())

    def retry(_: int) -> httpx.Response:
        with shared_system.client(timeout=30) as client:
            return client.post(
                f"/v1/accounts/{account}/withdrawals",
                json={"amount": 100, "reference": "once"},
                headers={"Idempotency-Key": key},
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(retry, range(20)))

    ledger = open_ledger(shared_system.settings)
    state = ledger.get_account(UUID(account))
    ledger.close()
    assert {(r.status_code, r.content) for r in responses} == {(200, responses[0].content)}
    assert (state.version, state.balance.amount) == (3, 900)


def test_a_key_reused_with_another_body_is_refused(shared_system: RunningSystem) -> None:
    with shared_system.client(timeout=30) as commands:
        account = open_account(commands, deposit=1_000)
        key = str(uuid4())
        first = commands.post(
            f"/v1/accounts/{account}/withdrawals",
            json={"amount": 1, "reference": "a"},
            headers={"Idempotency-Key": key},
        )
        second = commands.post(
            f"/v1/accounts/{account}/withdrawals",
            json={"amount": 2, "reference": "a"},
            headers={"Idempotency-Key": key},
        )

    assert first.status_code == 200
    assert second.status_code == 422
    assert second.json()["type"].endswith("/idempotency-key-reused")


def test_a_refused_command_replays_its_refusal_even_once_it_would_succeed(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client(timeout=30) as commands:
        account = open_account(commands, deposit=10)
        key = str(uuid4())
        request = {
            "json": {"amount": 50, "reference": "too much"},
            "headers": {"Idempotency-Key": key},
        }
        refused = commands.post(f"/v1/accounts/{account}/withdrawals", **request)  # type: ignore[arg-type]
        commands.post(
            f"/v1/accounts/{account}/deposits", json={"amount": 100, "reference": "top up"}
        )
        retried = commands.post(f"/v1/accounts/{account}/withdrawals", **request)  # type: ignore[arg-type]

    assert refused.status_code == retried.status_code == 409
    assert refused.json() == retried.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
