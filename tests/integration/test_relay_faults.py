"""The relay rides out a broker restart and a database restart without skipping an event.

These restart servers of the shared local stack, so they run in the normal (serial) suite
and take a few seconds each.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from infra.eventstore.library import open_ledger
from infra.messaging.cloudevents import from_record
from infra.relay.publisher import Relay
from infra.settings import Settings
from infra.stack.lifecycle import stack_components
from tests.integration.kafka_reading import read_topic
from tests.integration.test_relay import open_and_deposit

pytestmark = pytest.mark.integration


def restart(settings: Settings, component_name: str) -> None:
    component = next(c for c in stack_components(settings) if c.name == component_name)
    component.down()
    component.up()


async def wait_published(relay: Relay, position: int, seconds: float) -> None:
    """Until the broker has acknowledged everything up to `position` (re-sends don't count)."""
    deadline = time.monotonic() + seconds
    while relay.status.position < position:
        assert time.monotonic() < deadline, f"at {relay.status.position}, waiting for {position}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("component", ["kafka", "postgres"])
async def test_the_relay_publishes_everything_across_a_restart_of(
    component: str, isolated_settings: Settings, stack: Settings
) -> None:
    ledger = open_ledger(isolated_settings)
    before = open_and_deposit(ledger, accounts=2, deposits=2)
    relay = Relay(isolated_settings, ledger)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_published(relay, before, 30)
        await asyncio.to_thread(restart, stack, component)
        after = await asyncio.to_thread(open_and_deposit, ledger, 2, 2)
        await wait_published(relay, before + after, 90)
    finally:
        stop.set()
        await task
    records = await read_topic(isolated_settings.kafka, before + after)
    positions = {from_record(r.value, list(r.headers)).position for r in records}
    assert positions == set(range(1, before + after + 1))
    ledger.close()
