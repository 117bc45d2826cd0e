"""The Account aggregate: a balance in one currency, guarded by the ledger's rules.

Rules:
- the balance never goes below ``-overdraft_limit``;
- amounts are whole minor units, 0 < amount <= MAX_AMOUNT, in the account's currency;
- a frozen account accepts no debits (withdrawals, transfer debits) and no transfer
  credits, so a transfer to a frozen account fails and is reversed; it still
  accepts deposits (money paid in from outside, e.g. a salary) and the reversal
  of its own transfer debits (money coming back must always be able to land);
- a closed account accepts nothing; it closes only from "open", at zero balance;
- each leg of a transfer (debit, credit, reversal) applies at most once per
  transfer id, and a reversal needs the debit it reverses.

State is kept in JSON-friendly types (ints, strs, dicts keyed by str) so that
snapshots serialise with the library's transcoder.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate

from domain.aggregate import LedgerAggregate
from domain.errors import (
    AccountClosedError,
    AccountFrozenError,
    AccountNotEmptyError,
    AccountNotFrozenError,
    CurrencyMismatchError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidOverdraftLimitError,
    TransferDebitNotFoundError,
    TransferLegAlreadyAppliedError,
)
from domain.money import Money, is_whole_number, validate_currency

MAX_AMOUNT = 10**15
"""Largest amount of one movement, in minor units (10 trillion of a 2-decimal currency)."""

MAX_BALANCE = 10**18
"""Largest balance (and overdraft), in minor units: keeps every figure within int64."""


class AccountStatus(StrEnum):
    """Lifecycle of an account."""

    OPEN = "open"
    FROZEN = "frozen"
    CLOSED = "closed"


def validate_amount(amount: object) -> int:
    """Return the amount if it is a valid movement of minor units, else raise."""
    if not is_whole_number(amount):
        raise InvalidAmountError(amount, "must be a whole number of minor units")
    if amount <= 0:
        raise InvalidAmountError(amount, "must be greater than zero")
    if amount > MAX_AMOUNT:
        raise InvalidAmountError(amount, f"must not exceed {MAX_AMOUNT}")
    return amount


class Account(LedgerAggregate):
    """A customer account holding money of one currency."""

    class Event(LedgerAggregate.Event):
        """Base of the Account's events."""

    class AccountOpened(Event, LedgerAggregate.Created):
        """An account was opened."""

        owner_id: UUID
        currency: str
        overdraft_limit: int

    class FundsDeposited(Event):
        """Money was paid into the account from outside the ledger.

        Version 2 added ``channel``; version 1 events read as channel "unknown".
        """

        class_version = 2

        amount: int
        currency: str
        reference: str
        channel: str
        balance_after: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 did not record the channel."""
            state["channel"] = "unknown"

        def apply(self, aggregate: Account) -> None:
            aggregate._balance = self.balance_after

    class FundsWithdrawn(Event):
        """Money was paid out of the account to outside the ledger."""

        amount: int
        currency: str
        reference: str
        balance_after: int

        def apply(self, aggregate: Account) -> None:
            aggregate._balance = self.balance_after

    class AccountFrozen(Event):
        """The account was frozen."""

        reason: str

        def apply(self, aggregate: Account) -> None:
            aggregate._status = AccountStatus.FROZEN.value
            aggregate._frozen_reason = self.reason

    class AccountUnfrozen(Event):
        """The account was unfrozen."""

        def apply(self, aggregate: Account) -> None:
            aggregate._status = AccountStatus.OPEN.value
            aggregate._frozen_reason = None

    class AccountClosed(Event):
        """The account was closed for good."""

        def apply(self, aggregate: Account) -> None:
            aggregate._status = AccountStatus.CLOSED.value

    class TransferDebited(Event):
        """The source leg of a transfer took money out of the account."""

        transfer_id: UUID
        amount: int
        currency: str
        balance_after: int

        def apply(self, aggregate: Account) -> None:
            aggregate._balance = self.balance_after
            aggregate._transfer_debits[str(self.transfer_id)] = self.amount

    class TransferCredited(Event):
        """The target leg of a transfer put money into the account."""

        transfer_id: UUID
        amount: int
        currency: str
        balance_after: int

        def apply(self, aggregate: Account) -> None:
            aggregate._balance = self.balance_after
            aggregate._transfer_credits[str(self.transfer_id)] = self.amount

    class TransferDebitReversed(Event):
        """A transfer debit was given back because the transfer could not complete."""

        transfer_id: UUID
        amount: int
        currency: str
        balance_after: int
        reason: str

        def apply(self, aggregate: Account) -> None:
            aggregate._balance = self.balance_after
            aggregate._reversed_debits[str(self.transfer_id)] = self.amount

    def __init__(self, owner_id: UUID, currency: str, overdraft_limit: int) -> None:
        self._owner_id = owner_id
        self._currency = currency
        self._overdraft_limit = overdraft_limit
        self._balance = 0
        self._status: str = AccountStatus.OPEN.value
        self._frozen_reason: str | None = None
        self._transfer_debits: dict[str, int] = {}
        self._transfer_credits: dict[str, int] = {}
        self._reversed_debits: dict[str, int] = {}

    @classmethod
    def open(cls, owner_id: UUID, currency: str, overdraft_limit: int = 0) -> Account:
        """Open an account for an owner, in one currency, with an optional overdraft."""
        if not isinstance(owner_id, UUID):
            msg = f"owner_id must be a UUID, not {type(owner_id).__name__}"
            raise TypeError(msg)
        validate_currency(currency)
        if not is_whole_number(overdraft_limit) or not 0 <= overdraft_limit <= MAX_BALANCE:
            raise InvalidOverdraftLimitError(overdraft_limit)
        return cls._create(
            cls.AccountOpened,
            owner_id=owner_id,
            currency=currency,
            overdraft_limit=overdraft_limit,
        )

    # Queries.

    @property
    def owner_id(self) -> UUID:
        """Who owns the account."""
        return self._owner_id

    @property
    def currency(self) -> str:
        """The ISO 4217 code of every amount on the account."""
        return self._currency

    @property
    def balance(self) -> Money:
        """The current balance; negative when overdrawn."""
        return Money(self._balance, self._currency)

    @property
    def overdraft_limit(self) -> int:
        """How far below zero the balance may go, in minor units."""
        return self._overdraft_limit

    @property
    def status(self) -> AccountStatus:
        """Open, frozen or closed."""
        return AccountStatus(self._status)

    @property
    def frozen_reason(self) -> str | None:
        """Why the account is frozen, or None when it is not."""
        return self._frozen_reason

    def has_transfer_debit(self, transfer_id: UUID) -> bool:
        """Whether the debit leg of this transfer was applied to the account."""
        return str(transfer_id) in self._transfer_debits

    def has_transfer_credit(self, transfer_id: UUID) -> bool:
        """Whether the credit leg of this transfer was applied to the account."""
        return str(transfer_id) in self._transfer_credits

    def has_reversed_transfer_debit(self, transfer_id: UUID) -> bool:
        """Whether the debit of this transfer was given back to the account."""
        return str(transfer_id) in self._reversed_debits

    @property
    def unreversed_transfer_debits(self) -> tuple[UUID, ...]:
        """Transfers debited from the account and not reversed (settled or in transit)."""
        return tuple(
            UUID(transfer_id)
            for transfer_id in self._transfer_debits
            if transfer_id not in self._reversed_debits
        )

    # Commands.

    def deposit(self, amount: int, reference: str, channel: str = "api") -> None:
        """Pay money in from outside the ledger (accepted while frozen)."""
        self._refuse_if_closed()
        balance_after = self._balance_plus(validate_amount(amount))
        self.trigger_event(
            self.FundsDeposited,
            amount=amount,
            currency=self._currency,
            reference=reference,
            channel=channel,
            balance_after=balance_after,
        )

    def withdraw(self, amount: int, reference: str) -> None:
        """Pay money out to outside the ledger, within the overdraft limit."""
        self._refuse_unless_open()
        balance_after = self._balance_minus(validate_amount(amount))
        self.trigger_event(
            self.FundsWithdrawn,
            amount=amount,
            currency=self._currency,
            reference=reference,
            balance_after=balance_after,
        )

    def freeze(self, reason: str) -> None:
        """Stop debits and transfer credits until unfrozen."""
        self._refuse_unless_open()
        self.trigger_event(self.AccountFrozen, reason=reason)

    def unfreeze(self) -> None:
        """Lift a freeze."""
        self._refuse_if_closed()
        if self._status != AccountStatus.FROZEN:
            raise AccountNotFrozenError(self.id)
        self.trigger_event(self.AccountUnfrozen)

    def close(self) -> None:
        """Close the account for good; only an open account at zero balance closes.

        The Ledger also refuses while transfers debited from the account are
        unsettled, since a reversal could not land on a closed account.
        """
        self._refuse_unless_open()
        if self._balance != 0:
            raise AccountNotEmptyError(self.id, balance=self._balance, currency=self._currency)
        self.trigger_event(self.AccountClosed)

    def debit_for_transfer(self, transfer_id: UUID, amount: Money) -> None:
        """Take the source leg of a transfer, once per transfer."""
        if self.has_transfer_debit(transfer_id):
            raise TransferLegAlreadyAppliedError(self.id, transfer_id, "debit")
        self._refuse_unless_open()
        balance_after = self._balance_minus(self._validate_money(amount))
        self._record_leg(self.TransferDebited, transfer_id, amount.amount, balance_after)

    def credit_for_transfer(self, transfer_id: UUID, amount: Money) -> None:
        """Take the target leg of a transfer, once per transfer; refused while frozen."""
        if self.has_transfer_credit(transfer_id):
            raise TransferLegAlreadyAppliedError(self.id, transfer_id, "credit")
        self._refuse_unless_open()
        balance_after = self._balance_plus(self._validate_money(amount))
        self._record_leg(self.TransferCredited, transfer_id, amount.amount, balance_after)

    def reverse_transfer_debit(self, transfer_id: UUID, reason: str) -> None:
        """Give back a transfer debit, once, recording why the transfer failed."""
        if self.has_reversed_transfer_debit(transfer_id):
            raise TransferLegAlreadyAppliedError(self.id, transfer_id, "reversal")
        if not self.has_transfer_debit(transfer_id):
            raise TransferDebitNotFoundError(self.id, transfer_id)
        self._refuse_if_closed()
        amount = self._transfer_debits[str(transfer_id)]
        self._record_leg(
            self.TransferDebitReversed, transfer_id, amount, self._balance + amount, reason=reason
        )

    # Guards.

    def _refuse_if_closed(self) -> None:
        if self._status == AccountStatus.CLOSED:
            raise AccountClosedError(self.id)

    def _refuse_unless_open(self) -> None:
        """Closed and frozen accounts refuse debits, transfer credits, freezes and closing."""
        self._refuse_if_closed()
        if self._status == AccountStatus.FROZEN:
            raise AccountFrozenError(self.id, self._frozen_reason or "")

    def _validate_money(self, amount: Money) -> int:
        if amount.currency != self._currency:
            raise CurrencyMismatchError(self._currency, amount.currency, account_id=self.id)
        return validate_amount(amount.amount)

    def _balance_plus(self, amount: int) -> int:
        balance_after = self._balance + amount
        if balance_after > MAX_BALANCE:
            raise InvalidAmountError(amount, f"the balance would exceed {MAX_BALANCE}")
        return balance_after

    def _balance_minus(self, amount: int) -> int:
        balance_after = self._balance - amount
        if balance_after < -self._overdraft_limit:
            raise InsufficientFundsError(
                self.id,
                amount=amount,
                balance=self._balance,
                overdraft_limit=self._overdraft_limit,
                currency=self._currency,
            )
        return balance_after

    def _record_leg(
        self,
        event_class: type[CanMutateAggregate[UUID]],
        transfer_id: UUID,
        amount: int,
        balance_after: int,
        **fields: str,
    ) -> None:
        """Record a leg of a transfer: the money it moved and the balance it left."""
        self.trigger_event(
            event_class,
            transfer_id=transfer_id,
            amount=amount,
            currency=self._currency,
            balance_after=balance_after,
            **fields,
        )
