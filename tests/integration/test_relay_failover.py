"""Two relays, one active: killing the active one mid-stream loses nothing and keeps order."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import ConsumerRecord

from domain.context import CommandContext
from infra.eventstore.library import open_ledger
from infra.messaging.cloudevents import from_record
from infra.settings import PROJECT_ROOT, Settings, settings_environment
from infra.stack.processes import is_running, start_process, stop_process, wait_until
from tests.integration.kafka_reading import read_topic
from tests.network import free_port

pytestmark = pytest.mark.integration


class RelayProcess:
    """One relay process with its own probe port."""

    def __init__(self, name: str, settings: Settings, run_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.pid_path = run_dir / f"{name}.pid"
        environment = {
            **os.environ,
            **settings_environment(settings),
            "LEDGER_RELAY_PORT": str(self.port),
            "LEDGER_RELAY_BATCH_SIZE": "20",
        }
        start_process(
            name,
            [sys.executable, "-m", "infra.relay"],
            environment,
            run_dir / f"{name}.log",
            self.pid_path,
            cwd=PROJECT_ROOT,
        )

    def role(self) -> str | None:
        try:
            role: str = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).json()["role"]
        except httpx.HTTPError:
            return None
        return role


def test_the_standby_takes_over_when_the_active_relay_is_killed(
    isolated_settings: Settings, tmp_path: Path
) -> None:
    ledger = open_ledger(isolated_settings)
    context = CommandContext(correlation_id=uuid4())
    accounts = [ledger.open_account(uuid4(), "EUR", context=context).aggregate_id for _ in range(8)]
    relays = [RelayProcess(f"relay-{n}", isolated_settings, tmp_path) for n in (1, 2)]
    stop_writing = threading.Event()

    def write() -> None:
        round_number = 0
        while not stop_writing.is_set() and round_number < 400:
            ledger.deposit(accounts[round_number % len(accounts)], 1, "load", context=context)
            round_number += 1

    try:
        wait_until(lambda: {r.role() for r in relays} == {"active", "standby"}, 30, "roles")
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # let the active relay publish part of the stream before the kill
        active = next(r for r in relays if r.role() == "active")
        standby = next(r for r in relays if r is not active)
        stop_process(active.pid_path, 5.0, stop_signal=signal.SIGKILL)
        wait_until(lambda: standby.role() == "active", 30, "the standby to take over")
        stop_writing.set()
        writer.join()
        appended = ledger.recorder.max_notification_id() or 0
        records = read_topic_until_complete(isolated_settings, appended)
    finally:
        stop_writing.set()
        for relay in relays:
            if is_running(relay.pid_path):
                stop_process(relay.pid_path, 5.0)
        ledger.close()

    envelopes = [
        from_record(r.value, list(r.headers))
        for r in sorted(records, key=lambda r: (r.partition, r.offset))
    ]
    assert {e.position for e in envelopes} == set(range(1, appended + 1))
    first_seen: dict[UUID, list[int]] = defaultdict(list)
    for envelope in envelopes:
        versions = first_seen[envelope.aggregate_id]
        if envelope.aggregate_version not in versions:
            versions.append(envelope.aggregate_version)
    assert all(versions == sorted(versions) for versions in first_seen.values())


def read_topic_until_complete(
    settings: Settings, appended: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read the topic again until every position has arrived, or a minute passed."""
    deadline = time.monotonic() + 60
    while True:
        records = asyncio.run(read_topic(settings.kafka, appended, deadline_seconds=10))
        positions = {from_record(r.value, list(r.headers)).position for r in records}
        if len(positions) >= appended or time.monotonic() > deadline:
            return records
