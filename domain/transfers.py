"""The Transfer aggregate: a request to move money between two accounts, and its outcome.

The money moves on the accounts (TransferDebited, TransferCredited,
TransferDebitReversed, each applied at most once per transfer id); the Transfer
records the request and how it ended. Which steps happened is therefore known
from the Transfer once it has finished: completed means debited and credited;
failed records whether a debit had been taken and given back
(``TransferFailed.debit_reversed``). While a transfer is in flight the account
events are the record of its progress.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from domain.accounts import validate_amount
from domain.aggregate import LedgerAggregate
from domain.errors import SameAccountTransferError, TransferAlreadyFinishedError
from domain.money import Money


class TransferStatus(StrEnum):
    """Lifecycle of a transfer."""

    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


class Transfer(LedgerAggregate):
    """Moving money from a source account to a target account of the ledger."""

    class Event(LedgerAggregate.Event):
        """Base of the Transfer's events."""

    class TransferRequested(Event, LedgerAggregate.Created):
        """A transfer was requested; the transfer process takes it from here."""

        source_id: UUID
        target_id: UUID
        amount: int
        currency: str
        reference: str

    class TransferCompleted(Event):
        """The target was credited: the money has arrived."""

        def apply(self, aggregate: Transfer) -> None:
            aggregate._status = TransferStatus.COMPLETED.value

    class TransferFailed(Event):
        """The transfer could not complete; any debit taken was given back."""

        reason: str
        debit_reversed: bool

        def apply(self, aggregate: Transfer) -> None:
            aggregate._status = TransferStatus.FAILED.value
            aggregate._failure_reason = self.reason
            aggregate._debit_reversed = self.debit_reversed

    def __init__(
        self, source_id: UUID, target_id: UUID, amount: int, currency: str, reference: str
    ) -> None:
        self._source_id = source_id
        self._target_id = target_id
        self._amount = amount
        self._currency = currency
        self._reference = reference
        self._status: str = TransferStatus.REQUESTED.value
        self._failure_reason: str | None = None
        self._debit_reversed = False

    @classmethod
    def request(cls, source_id: UUID, target_id: UUID, amount: Money, reference: str) -> Transfer:
        """Request moving ``amount`` from the source account to the target account."""
        if source_id == target_id:
            raise SameAccountTransferError(source_id)
        validate_amount(amount.amount)
        return cls._create(
            cls.TransferRequested,
            source_id=source_id,
            target_id=target_id,
            amount=amount.amount,
            currency=amount.currency,
            reference=reference,
        )

    # Queries.

    @property
    def source_id(self) -> UUID:
        """The account the money comes from."""
        return self._source_id

    @property
    def target_id(self) -> UUID:
        """The account the money goes to."""
        return self._target_id

    @property
    def amount(self) -> Money:
        """How much moves, in the source account's currency."""
        return Money(self._amount, self._currency)

    @property
    def reference(self) -> str:
        """The requester's reference."""
        return self._reference

    @property
    def status(self) -> TransferStatus:
        """Requested, completed or failed."""
        return TransferStatus(self._status)

    @property
    def is_finished(self) -> bool:
        """Whether the transfer has completed or failed."""
        return self._status != TransferStatus.REQUESTED

    @property
    def failure_reason(self) -> str | None:
        """Why the transfer failed, or None."""
        return self._failure_reason

    @property
    def debited(self) -> bool:
        """Whether the source was debited, as recorded when the transfer finished."""
        return self._status == TransferStatus.COMPLETED or self._debit_reversed

    @property
    def credited(self) -> bool:
        """Whether the target was credited, as recorded when the transfer finished."""
        return self._status == TransferStatus.COMPLETED

    @property
    def debit_reversed(self) -> bool:
        """Whether the source debit was given back, as recorded when the transfer failed."""
        return self._debit_reversed

    # Commands.

    def complete(self) -> None:
        """Record that the money arrived; completing a completed transfer does nothing."""
        if self._status == TransferStatus.COMPLETED:
            return
        if self._status == TransferStatus.FAILED:
            raise TransferAlreadyFinishedError(self.id, self._status)
        self.trigger_event(self.TransferCompleted)

    def fail(self, reason: str, *, debit_reversed: bool) -> None:
        """Record that the transfer failed; failing a failed transfer does nothing."""
        if self._status == TransferStatus.FAILED:
            return
        if self._status == TransferStatus.COMPLETED:
            raise TransferAlreadyFinishedError(self.id, self._status)
        self.trigger_event(self.TransferFailed, reason=reason, debit_reversed=debit_reversed)
