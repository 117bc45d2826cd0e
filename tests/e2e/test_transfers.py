"""Transfers run to their end through the transfer process, even when it is killed midway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import UUID

import pytest

from domain.ledger import Ledger
from domain.transfers import TransferStatus
from infra.eventstore.library import open_ledger
from infra.stack.processes import is_running
from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import open_account

pytestmark = pytest.mark.e2e


@pytest.fixture
def ledger(system: RunningSystem) -> Iterator[Ledger]:
    application = open_ledger(system.settings)
    yield application
    application.close()


def request_transfer(system: RunningSystem, source: str, target: str, amount: int) -> UUID:
    with system.client() as commands:
        response = commands.post(
            "/v1/transfers",
            json={
                "source_account_id": source,
                "target_account_id": target,
                "amount": amount,
                "reference": "e2e",
            },
        )
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/transfers/{response.json()['aggregate_id']}"
    return UUID(response.json()["aggregate_id"])


def wait_for_transfer(
    ledger: Ledger, transfer_id: UUID, deadline_seconds: float = 20.0
) -> TransferStatus:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        transfer = ledger.get_transfer(transfer_id)
        if transfer.is_finished:
            return transfer.status
        time.sleep(0.05)
    raise AssertionError(f"transfer {transfer_id} did not finish")


def event_types(ledger: Ledger, aggregate_id: str) -> list[str]:
    return [type(event).__name__ for event in ledger.events.get(UUID(aggregate_id))]


def kill_transfer_process_after(system: RunningSystem, event_type: str) -> None:
    system.stop("transfers")
    system.start("transfers", LEDGER_FAILPOINTS=f"transfers.after_handle:{event_type}")


def wait_until_dead(system: RunningSystem, name: str) -> None:
    deadline = time.monotonic() + 20
    while is_running(system.pid_path(name)):
        assert time.monotonic() < deadline, f"{name} was not killed by its failpoint"
        time.sleep(0.05)


def test_a_transfer_moves_the_money_and_completes(system: RunningSystem, ledger: Ledger) -> None:
    with system.client() as commands:
        source, target = open_account(commands, deposit=1_000), open_account(commands)

    transfer_id = request_transfer(system, source, target, 400)

    assert wait_for_transfer(ledger, transfer_id) == TransferStatus.COMPLETED
    assert ledger.get_account(UUID(source)).balance.amount == 600
    assert ledger.get_account(UUID(target)).balance.amount == 400


def test_a_transfer_without_funds_fails_without_touching_either_account(
    system: RunningSystem, ledger: Ledger
) -> None:
    with system.client() as commands:
        source, target = open_account(commands, deposit=100), open_account(commands)

    transfer_id = request_transfer(system, source, target, 400)

    assert wait_for_transfer(ledger, transfer_id) == TransferStatus.FAILED
    assert event_types(ledger, source) == ["AccountOpened", "FundsDeposited"]
    assert event_types(ledger, target) == ["AccountOpened"]


def test_a_transfer_killed_between_debit_and_credit_completes_exactly_once(
    system: RunningSystem, ledger: Ledger
) -> None:
    with system.client() as commands:
        source, target = open_account(commands, deposit=1_000), open_account(commands)
    kill_transfer_process_after(system, "TransferRequested")

    transfer_id = request_transfer(system, source, target, 250)
    wait_until_dead(system, "transfers")
    debited_before_restart = event_types(ledger, source)
    system.start("transfers")

    assert debited_before_restart[-1] == "TransferDebited"
    assert wait_for_transfer(ledger, transfer_id) == TransferStatus.COMPLETED
    assert event_types(ledger, source) == ["AccountOpened", "FundsDeposited", "TransferDebited"]
    assert event_types(ledger, target) == ["AccountOpened", "TransferCredited"]
    assert ledger.get_account(UUID(target)).balance.amount == 250


def test_a_failed_credit_killed_after_the_reversal_reverses_exactly_once(
    system: RunningSystem, ledger: Ledger
) -> None:
    with system.client() as commands:
        source, target = open_account(commands, deposit=1_000), open_account(commands)
        assert commands.post(f"/v1/accounts/{target}/close").status_code == 200
    kill_transfer_process_after(system, "TransferDebited")

    transfer_id = request_transfer(system, source, target, 250)
    wait_until_dead(system, "transfers")
    system.start("transfers")

    assert wait_for_transfer(ledger, transfer_id) == TransferStatus.FAILED
    assert event_types(ledger, source) == [
        "AccountOpened",
        "FundsDeposited",
        "TransferDebited",
        "TransferDebitReversed",
    ]
    assert ledger.get_account(UUID(source)).balance.amount == 1_000
    assert ledger.get_transfer(transfer_id).failure_reason
