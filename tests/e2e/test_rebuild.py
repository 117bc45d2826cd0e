"""Zero-downtime rebuilds: under load, readers never fail nor go back; a killed rebuild resumes.

`ledger projections rebuild` runs as an operator would run it, in its own process, while
the whole system runs (two query API replicas behind the gateway).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pymongo import MongoClient

from infra.settings import Settings
from projectors.projections.registry import PROJECTIONS
from tests.e2e.conftest import RunningSystem, running
from tests.e2e.reference import (
    comparable,
    differences,
    expected_read_models,
    listing,
    stored_read_models,
)

pytestmark = pytest.mark.e2e

ACCOUNTS = 24
SEED_DEPOSITS = 12


def open_accounts(client: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        opened = client.post(
            "/v1/accounts",
            json={"owner_id": str(uuid4()), "currency": "EUR", "overdraft_limit": 0},
        )
        assert opened.status_code == 201, opened.text
        ids.append(opened.json()["aggregate_id"])
    return ids


def deposit(client: httpx.Client, account_id: str, amount: int) -> None:
    response = client.post(
        f"/v1/accounts/{account_id}/deposits",
        json={"amount": amount, "reference": "load"},
    )
    assert response.status_code in (200, 201), response.text


def seed(system: RunningSystem) -> list[str]:
    with system.client() as client:
        accounts = open_accounts(client, ACCOUNTS)
        for round_ in range(SEED_DEPOSITS):
            for account_id in accounts:
                deposit(client, account_id, 100 + round_)
    return accounts


@dataclass
class Load:
    """Commands and reads through the gateway until stopped, recording what readers saw."""

    system: RunningSystem
    accounts: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    commands: int = 0
    reads: int = 0
    failures: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    seen_versions: dict[str, list[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """Per account, (when the read answered, the version it showed), for every read."""
    seen_lines: dict[str, list[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, commands: int, reads: int, seconds: float = 60.0) -> None:
        """Return once the load has sent `commands` and read `reads` times in all."""
        deadline = time.monotonic() + seconds
        while self.commands < commands or self.reads < reads:
            assert time.monotonic() < deadline, (self.commands, self.reads, self.failures[:3])
            time.sleep(0.05)

    def write(self) -> None:
        chance = random.Random(1)
        with self.system.client() as client:
            while not self.stop.is_set():
                account_id = chance.choice(self.accounts)
                if chance.random() < 0.7:
                    deposit(client, account_id, chance.randint(1, 500))
                else:
                    response = client.post(
                        f"/v1/accounts/{account_id}/withdrawals",
                        json={"amount": chance.randint(1, 300), "reference": "load"},
                    )
                    assert response.status_code in (200, 201, 409, 422), response.text
                self.commands += 1

    def read(self, seed: int) -> None:
        chance = random.Random(seed)
        with self.system.client() as client:
            while not self.stop.is_set():
                account_id = chance.choice(self.accounts)
                self._read_account(client, account_id)
                self._read_statement(client, account_id)

    def _read_account(self, client: httpx.Client, account_id: str) -> None:
        started = time.monotonic()
        response = client.get(f"/v1/accounts/{account_id}")
        if response.status_code != 200:
            self.failures.append(f"GET account {response.status_code}: {response.text[:200]}")
            return
        version = int(response.json()["version"])
        self._observe(self.seen_versions, account_id, started, version, "account")

    def _read_statement(self, client: httpx.Client, account_id: str) -> None:
        started = time.monotonic()
        response = client.get(f"/v1/accounts/{account_id}/statement", params={"limit": 3})
        if response.status_code != 200:
            self.failures.append(f"GET statement {response.status_code}: {response.text[:200]}")
            return
        items = response.json()["items"]
        newest = max((int(item["version"]) for item in items), default=0)
        self._observe(self.seen_lines, account_id, started, newest, "statement")

    def _observe(
        self,
        seen: dict[str, list[tuple[float, int]]],
        account_id: str,
        started: float,
        version: int,
        what: str,
    ) -> None:
        """A read must not show less than any read that had answered before it began.

        Reads that overlap (of different reader threads) may answer in either order: one
        that began before the switch may answer from the old build after another, begun
        later, answered from the new one. That is no view going backwards.
        """
        with self._lock:
            self.reads += 1
            earlier = [shown for answered, shown in seen[account_id] if answered < started]
            if earlier and version < max(earlier):
                self.regressions.append(
                    f"{what} {account_id}: read version {version} after {max(earlier)}"
                )
            seen[account_id].append((time.monotonic(), version))


def ledger(system: RunningSystem, *arguments: str, timeout: float = 240) -> str:
    """Run `ledger …` against the system's stores, as an operator would; its stderr."""
    finished = subprocess.run(
        [sys.executable, "-m", "infra.cli", *arguments],
        env={**system.environment, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stderr


def catalog_entry(settings: Settings, name: str) -> dict[str, Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb.url.get_secret_value())
    try:
        entry = client[settings.mongodb.database]["projection_catalog"].find_one({"_id": name})
        assert entry is not None
        return entry
    finally:
        client.close()


def collection_names(settings: Settings) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb.url.get_secret_value())
    try:
        return set(client[settings.mongodb.database].list_collection_names())
    finally:
        client.close()


def assert_equals_reference(settings: Settings, names: list[str], generation: int) -> None:
    """After catch-up the live builds equal a fresh fold of the whole event store."""
    builds = [PROJECTIONS[name].build(generation) for name in names]
    collections = [build.collection for build in builds]
    deadline = time.monotonic() + 90
    while True:
        expected = comparable(expected_read_models(settings, builds))
        stored = comparable(stored_read_models(settings, collections))
        expected = {name: expected.get(name, {}) for name in collections}
        if stored == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    found = differences(expected, stored)
    assert not found, f"{len(found)} documents differ from a fresh fold:\n{listing(found)}"


def test_rebuild_under_load_never_fails_a_read_nor_goes_back(
    isolated_settings: Settings, tmp_path: Any
) -> None:
    with running(isolated_settings, tmp_path, replicas=2) as system:
        accounts = seed(system)
        load = Load(system, accounts)
        threads = [threading.Thread(target=load.write)] + [
            threading.Thread(target=load.read, args=(seed_,)) for seed_ in range(3)
        ]
        for thread in threads:
            thread.start()
        try:
            load.wait_for(commands=20, reads=40)  # the load is on before the rebuilds start
            outputs = [
                ledger(system, "projections", "rebuild", name, "--grace", "2", "--page-size", "100")
                for name in ("accounts", "account_statements")
            ]
            # Reads and writes go on against the new builds.
            load.wait_for(commands=load.commands + 20, reads=load.reads + 40)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(30)
        assert load.commands > 50 and load.reads > 100, (load.commands, load.reads)
        assert not load.failures, load.failures[:5]
        assert not load.regressions, load.regressions[:5]
        for name, output in zip(("accounts", "account_statements"), outputs, strict=True):
            print(output)
            assert f"{name}_v1_g2 is live" in output, output
            assert f"dropped {name}_v1" in output, output
            entry = catalog_entry(system.settings, name)
            assert (entry["version"], entry["generation"], entry["rebuild"]) == (1, 2, None)
        remaining = collection_names(system.settings)
        assert "accounts_v1" not in remaining and "account_statements_v1" not in remaining
        assert_equals_reference(system.settings, ["accounts", "account_statements"], 2)


def test_a_killed_rebuild_resumes_where_it_stopped(system: RunningSystem) -> None:
    seed(system)
    argv = [sys.executable, "-m", "infra.cli", "projections", "rebuild", "accounts"]
    options = ["--grace", "0", "--page-size", "100", "--checkpoint-every", "100"]
    first = subprocess.Popen(
        argv + options,
        env={**system.environment, "COLUMNS": "200"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            rebuild = catalog_entry(system.settings, "accounts").get("rebuild") or {}
            if rebuild.get("position", 0) >= 100 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    stopped_at = catalog_entry(system.settings, "accounts")["rebuild"]
    assert stopped_at is not None and stopped_at["position"] >= 100, stopped_at
    assert stopped_at["stage"] == "building"

    output = ledger(system, "projections", "rebuild", "accounts", *options)

    assert f"continued from position {stopped_at['position']:,}" in output, output
    assert "accounts_v1_g2 is live" in output, output
    assert_equals_reference(system.settings, ["accounts"], 2)
