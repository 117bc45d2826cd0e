"""Every read model of the contract is registered once, with its name and version."""

from __future__ import annotations

from projectors.projections.registry import PROJECTIONS


def test_every_read_model_of_the_contract_is_registered_at_version_1() -> None:
    assert {name: projection.version for name, projection in PROJECTIONS.items()} == {
        "accounts": 1,
        "account_statements": 1,
        "owner_portfolios": 1,
        "transfers": 1,
        "daily_volume": 1,
    }


def test_each_version_writes_to_its_own_collection() -> None:
    assert sorted(projection.collection for projection in PROJECTIONS.values()) == [
        "account_statements_v1",
        "accounts_v1",
        "daily_volume_v1",
        "owner_portfolios_v1",
        "transfers_v1",
    ]
