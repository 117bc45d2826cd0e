"""The relay publishes what was appended, in per-aggregate order, and resumes after restarts."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from uuid import uuid4

import psycopg
import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from domain.context import CommandContext
from domain.ledger import Ledger
from infra.eventstore.library import open_ledger
from infra.messaging.cloudevents import from_record
from infra.relay.publisher import Relay
from infra.settings import Settings
from tests.integration.kafka_reading import read_topic

pytestmark = pytest.mark.integration


def open_and_deposit(ledger: Ledger, accounts: int, deposits: int) -> int:
    """Interleave deposits across accounts; return how many events were appended."""
    context = CommandContext(correlation_id=uuid4())
    ids = [
        ledger.open_account(uuid4(), "EUR", context=context).aggregate_id for _ in range(accounts)
    ]
    for round_number in range(deposits):
        for account_id in ids:
            ledger.deposit(account_id, 100 + round_number, f"round {round_number}", context=context)
    return accounts * (deposits + 1)


async def run_relay_until(relay: Relay, published: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with asyncio.timeout(30):
            while relay.status.published < published:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


def checkpoint(settings: Settings) -> int:
    with psycopg.connect(settings.postgres.url.get_secret_value()) as conn:
        row = conn.execute("SELECT position FROM relay_checkpoints").fetchone()
    assert row is not None
    return int(row[0])


async def test_every_appended_event_is_published_in_per_aggregate_order(
    isolated_settings: Settings,
) -> None:
    ledger = open_ledger(isolated_settings)
    appended = open_and_deposit(ledger, accounts=4, deposits=5)

    await run_relay_until(Relay(isolated_settings, ledger), appended)
    records = await read_topic(isolated_settings.kafka, appended)

    versions: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        versions[record.key].append(
            from_record(record.value, list(record.headers)).aggregate_version
        )
    assert len(records) == appended
    assert all(sequence == list(range(1, 7)) for sequence in versions.values())
    ledger.close()


async def test_the_checkpoint_follows_the_last_acknowledged_position(
    isolated_settings: Settings,
) -> None:
    ledger = open_ledger(isolated_settings)
    appended = open_and_deposit(ledger, accounts=2, deposits=2)

    await run_relay_until(Relay(isolated_settings, ledger), appended)

    assert checkpoint(isolated_settings) == ledger.recorder.max_notification_id()
    ledger.close()


async def test_a_restarted_relay_resumes_after_its_checkpoint_without_republishing(
    isolated_settings: Settings,
) -> None:
    ledger = open_ledger(isolated_settings)
    first = open_and_deposit(ledger, accounts=2, deposits=3)
    await run_relay_until(Relay(isolated_settings, ledger), first)

    second = open_and_deposit(ledger, accounts=3, deposits=1)
    restarted = Relay(isolated_settings, ledger)
    await run_relay_until(restarted, second)
    records = await read_topic(isolated_settings.kafka, first + second)

    event_ids = [from_record(r.value, list(r.headers)).event_id for r in records]
    assert restarted.status.published == second
    assert len(event_ids) == len(set(event_ids)) == first + second
    ledger.close()


async def test_the_cloudevents_sdk_parses_every_record_the_relay_publishes(
    isolated_settings: Settings,
) -> None:
    ledger = open_ledger(isolated_settings)
    appended = open_and_deposit(ledger, accounts=3, deposits=3)

    await run_relay_until(Relay(isolated_settings, ledger), appended)
    records = await read_topic(isolated_settings.kafka, appended)

    parsed = [
        ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=dict(r.headers), key=r.key, value=r.value)
        )
        for r in records
    ]
    assert len(parsed) == appended
    assert {event.get_attributes()["type"] for event in parsed} == {
        "ledger.AccountOpened",
        "ledger.FundsDeposited",
    }
    assert all(event.get_attributes()["source"] == "urn:ledger:event-store" for event in parsed)
    ledger.close()
