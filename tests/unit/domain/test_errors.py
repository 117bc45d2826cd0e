from __future__ import annotations

import inspect
from uuid import uuid4

from domain import errors
from domain.errors import LedgerError

REQUIRED = [
    "InvalidAmountError",
    "UnknownCurrencyError",
    "CurrencyMismatchError",
    "InsufficientFundsError",
    "AccountFrozenError",
    "AccountClosedError",
    "AccountNotEmptyError",
    "AccountNotFoundError",
    "TransferNotFoundError",
    "TransferLegAlreadyAppliedError",
    "VersionMismatchError",
    "ConcurrencyConflictError",
    "SameAccountTransferError",
]


def _error_classes() -> list[type[LedgerError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, LedgerError) and cls is not LedgerError
    ]


def test_every_required_error_exists_and_derives_from_ledger_error() -> None:
    names = {cls.__name__ for cls in _error_classes()}
    assert set(REQUIRED) <= names


def test_no_error_class_derives_from_another_so_each_maps_on_its_own() -> None:
    classes = _error_classes()
    for cls in classes:
        assert cls.__bases__ == (LedgerError,), cls


def test_a_version_mismatch_carries_the_expected_and_actual_versions() -> None:
    aggregate_id = uuid4()
    error = errors.VersionMismatchError(aggregate_id, expected_version=3, actual_version=5)
    assert (error.aggregate_id, error.expected_version, error.actual_version) == (
        aggregate_id,
        3,
        5,
    )
    assert "version 5" in str(error) and "expected version 3" in str(error)


def test_a_leg_already_applied_carries_the_account_and_transfer_ids() -> None:
    account_id, transfer_id = uuid4(), uuid4()
    error = errors.TransferLegAlreadyAppliedError(account_id, transfer_id, "debit")
    assert (error.account_id, error.transfer_id, error.leg) == (account_id, transfer_id, "debit")
    assert str(transfer_id) in str(error)
