"""A random workload of 2,000 commands through HTTP while a projector is killed and restarted.

Two projector processes share the partitions; one of them is SIGKILLed a third of the way
through and started again at two thirds. After everything settles, every read model must
equal what a fresh fold of the event store gives, document for document, and the
conservation law must hold both in the log and in the read models.
"""

from __future__ import annotations

import random
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import httpx
import pytest

from infra.eventstore.library import open_ledger
from infra.stack.processes import stop_process
from projectors.projections.registry import PROJECTIONS
from projectors.projections.transfers import PROJECTION as TRANSFERS
from tests.e2e.conftest import RunningSystem
from tests.e2e.reference import (
    Models,
    comparable,
    differences,
    expected_read_models,
    listing,
    stored_read_models,
)
from tests.network import free_port

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
            json={
                "source_account_id": source,
                "target_account_id": target,
                "amount": amount,
                "reference": "load",
            },
        )


FINISHED = frozenset({"completed", "failed"})
SETTLE_SECONDS = 120


def unfinished_transfers(expected: Models) -> list[str]:
    """Transfers of the fold not yet completed nor failed: the transfer process has work left."""
    transfers = expected.get(TRANSFERS.collection, {})
    return sorted(
        str(key) for key, document in transfers.items() if document["status"] not in FINISHED
    )


def settled_read_models(system: RunningSystem) -> tuple[Models, Models]:
    """The read models folded afresh and as stored, once they agree or at the deadline.

    The event store is folded again at every poll: the transfer process writes a transfer's
    TransferCompleted (or TransferFailed) after its legs, so an expectation folded once can
    fall behind the stored views. Stored views are read once every transfer in the fold has
    finished: from then on the log no longer changes, so only the projectors can catch up.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        expected = {
            name: comparable(docs)
            for name, docs in expected_read_models(system.settings, PROJECTIONS.values()).items()
        }
        out_of_time = time.monotonic() > deadline
        if out_of_time or not unfinished_transfers(expected):
            stored = {
                name: comparable(docs)
                for name, docs in stored_read_models(system.settings, sorted(expected)).items()
            }
            if out_of_time or stored == expected:
                return expected, stored
        time.sleep(0.5)


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
    expected, stored = settled_read_models(system)

    pending = unfinished_transfers(expected)
    assert not pending, f"{len(pending)} transfers never finished, e.g. {pending[:5]}"
    found = differences(expected, stored)
    assert not found, (
        f"{len(found)} read-model documents differ from a fresh fold:\n{listing(found)}"
    )
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
