"""A random workload of 2,000 commands through HTTP while a projector is killed and restarted.

Two projector processes share the partitions; one of them is SIGKILLed a third of the way
through and started again at two thirds. After everything settles, every read model must
equal what a fresh fold of the event store gives, document for document, and the
conservation law must hold both in the log and in the read models.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from infra.eventstore import open_ledger
from infra.history import EventFilter, open_history
from infra.mongo import make_client, read_models
from infra.stack.processes import stop_process
from projectors.registry import PROJECTIONS
from tests.e2e.conftest import RunningSystem
from tests.network import free_port
from tests.unit.projectors.in_memory_read_models import InMemoryReadModels

pytestmark = pytest.mark.e2e

COMMANDS = 2_000
ACCOUNTS = 40
CLIENTS = 8


class Workload:
    """Random commands over a fixed set of accounts, in two currencies."""

    def __init__(self, client: httpx.Client, seed: int = 7) -> None:
        self._client = client
        self._random = random.Random(seed)
        self.accounts: dict[str, str] = {}
        self.statuses: dict[int, int] = defaultdict(int)

    def open_accounts(self) -> None:
        for index in range(ACCOUNTS):
            currency = "EUR" if index % 4 else "USD"
            opened = self._client.post(
                "/v1/accounts",
                json={"owner_id": str(uuid4()), "currency": currency, "overdraft_limit": 500},
            )
            assert opened.status_code == 201, opened.text
            self.accounts[opened.json()["aggregate_id"]] = currency

    def one(self, _: int) -> None:
        """One random command; refusals (409/422) are part of the workload, 5xx never."""
        account = self._random.choice(list(self.accounts))
        roll = self._random.random()
        amount = self._random.randint(1, 400)
        if roll < 0.35:
            response = self._post(f"/v1/accounts/{account}/deposits", amount=amount)
        elif roll < 0.6:
            response = self._post(f"/v1/accounts/{account}/withdrawals", amount=amount)
        elif roll < 0.9:
            response = self._transfer(account, amount)
        elif roll < 0.95:
            response = self._client.post(f"/v1/accounts/{account}/freeze", json={"reason": "r"})
        elif roll < 0.995:
            response = self._client.post(f"/v1/accounts/{account}/unfreeze")
        else:
            response = self._client.post(f"/v1/accounts/{account}/close")
        assert response.status_code < 500, response.text
        self.statuses[response.status_code] += 1

    def _post(self, path: str, amount: int) -> httpx.Response:
        return self._client.post(path, json={"amount": amount, "reference": "load"})

    def _transfer(self, source: str, amount: int) -> httpx.Response:
        same = [a for a, c in self.accounts.items() if c == self.accounts[source] and a != source]
        target = self._random.choice(same)
        return self._client.post(
            "/v1/transfers",
            json={"source_account_id": source, "target_account_id": target, "amount": amount,
                  "reference": "load"},
        )


def wait_until_settled(system: RunningSystem, deadline_seconds: float = 60) -> None:
    """Until every transfer has finished: the transfer process has nothing left to do."""
    ledger = open_ledger(system.settings)
    deadline = time.monotonic() + deadline_seconds
    try:
        while time.monotonic() < deadline:
            report = ledger.conservation_report()
            if all(audit.in_transit == 0 for audit in report.currencies.values()):
                return
            time.sleep(0.5)
    finally:
        ledger.close()
    raise AssertionError("transfers were still in flight at the deadline")


def expected_read_models(system: RunningSystem) -> dict[str, dict[str, Any]]:
    """Every read model folded afresh, in memory, from the whole event store."""

    async def fold() -> dict[str, dict[str, Any]]:
        models = InMemoryReadModels(PROJECTIONS.values())
        async with open_history(system.settings) as history:
            models.apply([e async for e in history.stream(EventFilter(), page_size=5_000)])
        return {name: dict(documents) for name, documents in models.collections.items()}

    return asyncio.run(fold())


def stored_read_models(system: RunningSystem, names: list[str]) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        client = make_client(system.settings.mongodb)
        try:
            database = read_models(client, system.settings.mongodb)
            return {
                name: {d["_id"]: d async for d in database[name].find({})} for name in names
            }
        finally:
            await client.close()

    return asyncio.run(read())


def comparable(value: Any) -> Any:
    """MongoDB keeps milliseconds; compare times at that precision, everything else as is."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    return value


@pytest.mark.xfail(
    strict=False,
    reason="known race, under investigation: in about one run in five, one or two transfers_v1 "
    "documents differ from a fresh fold after a projector is SIGKILLed mid-run (routed "
    "projections); balances, statements, portfolios and the conservation law held every time",
)
def test_read_models_equal_a_fresh_fold_after_a_projector_is_killed_mid_run(
    system: RunningSystem,
) -> None:
    second = f"projector#{2}"
    system.start(second, LEDGER_PROJECTOR_PORT=str(free_port()))
    with system.client(timeout=30) as client:
        workload = Workload(client)
        workload.open_accounts()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(workload.one, range(COMMANDS // 3)))
            stop_process(system.pid_path(second), 5.0, stop_signal=signal.SIGKILL)
            list(pool.map(workload.one, range(COMMANDS // 3)))
            system.start(second, LEDGER_PROJECTOR_PORT=str(free_port()))
            list(pool.map(workload.one, range(COMMANDS - 2 * (COMMANDS // 3))))
    wait_until_settled(system)
    expected = {name: comparable(docs) for name, docs in expected_read_models(system).items()}

    deadline = time.monotonic() + 60
    while True:
        stored = {
            name: comparable(docs)
            for name, docs in stored_read_models(system, sorted(expected)).items()
        }
        if stored == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    for name in sorted(expected):
        assert stored[name] == expected[name], f"{name} differs from a fresh fold"
    assert workload.statuses[200] + workload.statuses[202] > COMMANDS // 2
    ledger = open_ledger(system.settings)
    report = ledger.conservation_report()
    ledger.close()
    assert report.holds
    balances: dict[str, int] = defaultdict(int)
    for account in stored["accounts_v1"].values():
        balances[account["currency"]] += account["balance"]
    for currency, audit in report.currencies.items():
        assert balances[currency] == audit.deposits - audit.withdrawals
