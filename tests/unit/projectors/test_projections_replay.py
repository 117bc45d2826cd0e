"""Every projection, fed a real workload's log twice and shuffled, ends where one pass does."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from domain.transfers import TransferStatus
from projectors.projections.registry import PROJECTIONS
from tests.unit.projectors.in_memory_read_models import InMemoryReadModels
from tests.unit.projectors.workload import Workload, build_workload, delivered_twice_shuffled


@pytest.fixture(scope="module")
def workload() -> Workload:
    return build_workload(commands=300, seed=11)


def project(events: Any) -> dict[str, dict[str, dict[str, Any]]]:
    read_models = InMemoryReadModels(PROJECTIONS.values())
    read_models.apply(events)
    return {
        collection: dict(documents) for collection, documents in read_models.collections.items()
    }


def test_the_workload_exercises_every_kind_of_event(workload: Workload) -> None:
    kinds = {envelope.event_type for envelope in workload.envelopes}

    assert kinds >= {
        "AccountOpened",
        "FundsDeposited",
        "FundsWithdrawn",
        "AccountFrozen",
        "AccountUnfrozen",
        "AccountClosed",
        "TransferRequested",
        "TransferDebited",
        "TransferCredited",
        "TransferCompleted",
        "TransferDebitReversed",
        "TransferFailed",
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicates_and_reordering_across_aggregates_change_nothing(
    workload: Workload, seed: int
) -> None:
    once = project(workload.envelopes)

    twice_shuffled = project(delivered_twice_shuffled(workload.envelopes, Random(seed)))

    assert twice_shuffled == once


def test_account_summaries_match_the_ledger(workload: Workload) -> None:
    accounts = project(workload.envelopes)["accounts_v1"]

    for account_id in workload.accounts:
        account = workload.ledger.get_account(account_id)
        document = accounts[str(account_id)]
        assert (document["balance"], document["status"], document["version"]) == (
            account.balance.amount,
            account.status.value,
            account.version,
        )


def test_transfers_end_in_the_ledgers_status(workload: Workload) -> None:
    transfers = project(workload.envelopes)["transfers_v1"]

    for transfer_id in workload.transfers:
        transfer = workload.ledger.get_transfer(transfer_id)
        assert transfer.status != TransferStatus.REQUESTED
        assert transfers[str(transfer_id)]["status"] == transfer.status.value


def test_statement_lines_and_daily_volume_count_the_same_movements(workload: Workload) -> None:
    read_models = project(workload.envelopes)
    deposits = [
        line for line in read_models["account_statements_v1"].values() if line["kind"] == "deposit"
    ]

    volumes = read_models["daily_volume_v1"].values()

    assert sum(volume["deposits"]["count"] for volume in volumes) == len(deposits)
    assert sum(volume["deposits"]["amount"] for volume in volumes) == sum(
        line["amount"] for line in deposits
    )
