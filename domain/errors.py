"""Domain errors: each refused command raises one, carrying the data involved."""

from __future__ import annotations

from uuid import UUID


class LedgerError(Exception):
    """Base class of every error the Ledger domain raises on purpose."""


class InvalidAmountError(LedgerError):
    """An amount is not a whole number of minor units within the allowed range."""

    def __init__(self, amount: object, reason: str) -> None:
        self.amount = amount
        self.reason = reason
        super().__init__(f"Invalid amount {amount!r}: {reason}")


class InvalidOverdraftLimitError(LedgerError):
    """An overdraft limit is negative, not an integer, or absurdly large."""

    def __init__(self, overdraft_limit: object) -> None:
        self.overdraft_limit = overdraft_limit
        super().__init__(
            f"Invalid overdraft limit {overdraft_limit!r}: "
            "must be a non-negative integer number of minor units"
        )


class UnknownCurrencyError(LedgerError):
    """A currency code is not an active ISO 4217 code."""

    def __init__(self, currency: object) -> None:
        self.currency = currency
        super().__init__(f"Unknown currency {currency!r}: not an active ISO 4217 code")


class CurrencyMismatchError(LedgerError):
    """Money of one currency met money, or an account, of another."""

    def __init__(self, expected: str, actual: str, *, account_id: UUID | None = None) -> None:
        self.expected = expected
        self.actual = actual
        self.account_id = account_id
        where = f" for account {account_id}" if account_id is not None else ""
        super().__init__(f"Currency mismatch{where}: expected {expected}, got {actual}")


class InsufficientFundsError(LedgerError):
    """A debit would take the balance below minus the overdraft limit."""

    def __init__(
        self, account_id: UUID, *, amount: int, balance: int, overdraft_limit: int, currency: str
    ) -> None:
        self.account_id = account_id
        self.amount = amount
        self.balance = balance
        self.overdraft_limit = overdraft_limit
        self.currency = currency
        super().__init__(
            f"Insufficient funds in account {account_id}: debit of {amount} {currency} "
            f"with balance {balance} and overdraft limit {overdraft_limit}"
        )


class AccountFrozenError(LedgerError):
    """The account is frozen: it accepts no debits and no transfer credits."""

    def __init__(self, account_id: UUID, reason: str) -> None:
        self.account_id = account_id
        self.reason = reason
        super().__init__(f"Account {account_id} is frozen: {reason}")


class AccountNotFrozenError(LedgerError):
    """Unfreezing an account that is not frozen."""

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        super().__init__(f"Account {account_id} is not frozen")


class AccountClosedError(LedgerError):
    """The account is closed: it accepts nothing."""

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        super().__init__(f"Account {account_id} is closed")


class AccountNotEmptyError(LedgerError):
    """Closing an account whose balance is not zero."""

    def __init__(self, account_id: UUID, *, balance: int, currency: str) -> None:
        self.account_id = account_id
        self.balance = balance
        self.currency = currency
        super().__init__(
            f"Account {account_id} cannot close with a balance of {balance} {currency}"
        )


class AccountHasPendingTransfersError(LedgerError):
    """Closing an account while transfers debited from it are not yet settled."""

    def __init__(self, account_id: UUID, transfer_ids: tuple[UUID, ...]) -> None:
        self.account_id = account_id
        self.transfer_ids = transfer_ids
        listed = ", ".join(str(transfer_id) for transfer_id in transfer_ids)
        super().__init__(f"Account {account_id} has unsettled transfers: {listed}")


class AccountNotFoundError(LedgerError):
    """No account has this id."""

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        super().__init__(f"Account {account_id} not found")


class TransferNotFoundError(LedgerError):
    """No transfer has this id."""

    def __init__(self, transfer_id: UUID) -> None:
        self.transfer_id = transfer_id
        super().__init__(f"Transfer {transfer_id} not found")


class SameAccountTransferError(LedgerError):
    """A transfer whose source and target are the same account."""

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        super().__init__(f"Cannot transfer from account {account_id} to itself")


class TransferLegAlreadyAppliedError(LedgerError):
    """A transfer leg (debit, credit or reversal) was already applied to the account."""

    def __init__(self, account_id: UUID, transfer_id: UUID, leg: str) -> None:
        self.account_id = account_id
        self.transfer_id = transfer_id
        self.leg = leg
        super().__init__(
            f"The {leg} of transfer {transfer_id} was already applied to account {account_id}"
        )


class TransferDebitNotFoundError(LedgerError):
    """Reversing a transfer debit that the account never received."""

    def __init__(self, account_id: UUID, transfer_id: UUID) -> None:
        self.account_id = account_id
        self.transfer_id = transfer_id
        super().__init__(f"Account {account_id} has no debit for transfer {transfer_id}")


class TransferAlreadyFinishedError(LedgerError):
    """Completing a failed transfer, or failing a completed one."""

    def __init__(self, transfer_id: UUID, status: str) -> None:
        self.transfer_id = transfer_id
        self.status = status
        super().__init__(f"Transfer {transfer_id} is already {status}")


class VersionMismatchError(LedgerError):
    """The aggregate is not at the version the caller expected (HTTP 412)."""

    def __init__(self, aggregate_id: UUID, *, expected_version: int, actual_version: int) -> None:
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"Aggregate {aggregate_id} is at version {actual_version}, "
            f"expected version {expected_version}"
        )


class ConcurrencyConflictError(LedgerError):
    """Concurrent writers kept winning: the command gave up after its retries (HTTP 409)."""

    def __init__(self, aggregate_id: UUID, *, attempts: int) -> None:
        self.aggregate_id = aggregate_id
        self.attempts = attempts
        super().__init__(
            f"Aggregate {aggregate_id} was changed concurrently on each of {attempts} attempts"
        )
