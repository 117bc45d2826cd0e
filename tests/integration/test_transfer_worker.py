"""The transfer worker's checkpoint, and its watchdog: a worker stuck with transfer events
waiting is restarted.

The worker is not run here: a test sets its state as handling (or a stuck worker) would
leave it, against a real event store. The default reaction (log every thread's stack,
`os._exit`) is replaced by one that records the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from domain.accounts import Account
from domain.context import CommandContext
from domain.ledger import Ledger
from domain.transfers import TransferStatus
from infra.eventstore.library import open_ledger
from infra.settings import Settings
from infra.transfer_process.worker import (
    TRACKING_NAME,
    TransferWorker,
    thread_stacks,
    watch_for_stalls,
)

pytestmark = pytest.mark.integration

FINISH_SECONDS = 60.0


@pytest.fixture
def ledger(isolated_settings: Settings) -> Iterator[Ledger]:
    application = open_ledger(isolated_settings)
    yield application
    application.close()


def request_a_transfer(ledger: Ledger) -> int:
    """A transfer the process has to drive; returns its position in the log."""
    context = CommandContext(correlation_id=uuid4())
    owner = uuid4()
    source = ledger.open_account(owner, "EUR", context=context).aggregate_id
    target = ledger.open_account(owner, "EUR", context=context).aggregate_id
    ledger.deposit(source, 100, "seed", context=context)
    return ledger.request_transfer(source, target, 40, "t-1", context=context).position


async def watch(worker: TransferWorker, seconds: float) -> list[TransferWorker]:
    """Run the watchdog (stalls after 0.2 s, checked every 0.05 s) until it reports a
    stall, or for `seconds` if it reports none."""
    stalled: list[TransferWorker] = []
    reported = asyncio.Event()

    def on_stall(stuck: TransferWorker) -> None:
        stalled.append(stuck)
        reported.set()

    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_for_stalls(worker, stop, stall_seconds=0.2, check_seconds=0.05, on_stall=on_stall)
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reported.wait(), seconds)
    stop.set()
    await task
    return stalled


async def test_an_active_worker_stuck_with_a_transfer_waiting_is_restarted(
    isolated_settings: Settings, ledger: Ledger
) -> None:
    request_a_transfer(ledger)
    worker = TransferWorker(isolated_settings, ledger)
    worker.active = True  # holds the lock, handled nothing since: stuck

    assert await watch(worker, 30.0) == [worker]


async def test_a_worker_with_nothing_waiting_is_left_alone(
    isolated_settings: Settings, ledger: Ledger
) -> None:
    worker = TransferWorker(isolated_settings, ledger)
    worker.active = True
    worker.position = request_a_transfer(ledger)  # the transfer request, handled

    assert await watch(worker, 1.0) == []


async def test_a_standby_worker_is_never_stuck(isolated_settings: Settings, ledger: Ledger) -> None:
    request_a_transfer(ledger)
    worker = TransferWorker(isolated_settings, ledger)  # not active: another holds the lock

    assert await watch(worker, 1.0) == []


def test_the_stacks_name_every_thread() -> None:
    assert "MainThread:" in thread_stacks()


def test_the_checkpoint_records_the_last_position_handled(
    isolated_settings: Settings, ledger: Ledger
) -> None:
    worker = TransferWorker(isolated_settings, ledger)
    tracking = worker._tracking

    worker.checkpoint()  # nothing handled yet: nothing written
    first = tracking.max_tracking_id(TRACKING_NAME)
    worker.position = request_a_transfer(ledger)
    worker.checkpoint()

    assert first is None
    assert tracking.max_tracking_id(TRACKING_NAME) == worker.position == worker.checkpointed


def test_a_worker_drives_many_transfers_between_few_accounts_to_their_end(
    isolated_settings: Settings, ledger: Ledger
) -> None:
    context = CommandContext(correlation_id=uuid4())
    owner = uuid4()
    accounts = [ledger.open_account(owner, "EUR", context=context).aggregate_id for _ in range(4)]
    for account in accounts:
        ledger.deposit(account, 1_000, "seed", context=context)
    requested: dict[UUID, list[UUID]] = {account: [] for account in accounts}
    for number in range(60):
        source, target = accounts[number % 4], accounts[(number + 1 + number // 4 % 3) % 4]
        transfer = ledger.request_transfer(
            source, target, 1 + number, f"t-{number}", context=context
        )
        requested[source].append(transfer.aggregate_id)
    worker = TransferWorker(isolated_settings, ledger)
    thread = threading.Thread(target=worker.run)

    thread.start()
    try:
        deadline = time.monotonic() + FINISH_SECONDS
        while not all(ledger.get_transfer(t).is_finished for ts in requested.values() for t in ts):
            assert time.monotonic() < deadline, "the transfers did not finish"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(FINISH_SECONDS)

    statuses = {ledger.get_transfer(t).status for ts in requested.values() for t in ts}
    assert statuses == {TransferStatus.COMPLETED}
    assert sum(ledger.get_account(a).balance.amount for a in accounts) == 4_000
    for source, transfers in requested.items():  # each account's debits in request order
        debited = [
            event.transfer_id
            for event in ledger.events.get(source)
            if isinstance(event, Account.TransferDebited)
        ]
        assert debited == transfers
