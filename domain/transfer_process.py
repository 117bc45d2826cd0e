"""The transfer process manager: reacts to events by issuing commands on the Ledger.

    TransferRequested     -> debit the source        (refused -> fail the transfer)
    TransferDebited       -> credit the target       (refused -> reverse the debit)
    TransferCredited      -> complete the transfer
    TransferDebitReversed -> fail the transfer, with the reason the reversal carries

Delivery is at least once (a worker follows the notification log and
checkpoints after ``handle`` returns), so every handler is idempotent: a leg
already applied (TransferLegAlreadyAppliedError) counts as done, finishing a
finished transfer is a no-op, and a handler first checks what already
happened, so a redelivered event never takes a different decision than the
first delivery did (e.g. a credit retried after its debit was reversed).
The handlers assume one worker process handles the log. It may handle the events
of different transfers at once (on the worker's lanes): each transfer's
own steps stay in order, since each step's event is written by the step before.

Transient errors (ConcurrencyConflictError, storage errors) propagate: the
worker retries the same event later.
"""

from __future__ import annotations

from collections.abc import Callable

from eventsourcing.domain import DomainEvent

from domain.accounts import Account
from domain.context import CommandContext
from domain.errors import (
    AccountClosedError,
    AccountFrozenError,
    AccountNotFoundError,
    CurrencyMismatchError,
    InsufficientFundsError,
    InvalidAmountError,
    LedgerError,
    TransferLegAlreadyAppliedError,
)
from domain.ledger import Ledger
from domain.transfers import Transfer

DEBIT_REFUSALS = (
    InsufficientFundsError,
    AccountFrozenError,
    AccountClosedError,
    CurrencyMismatchError,
    InvalidAmountError,
    AccountNotFoundError,
)
"""Why a source account may refuse a transfer debit: the transfer then fails."""

CREDIT_REFUSALS = (
    AccountClosedError,
    AccountFrozenError,
    CurrencyMismatchError,
    InvalidAmountError,
    AccountNotFoundError,
)
"""Why a target account may refuse a transfer credit: the debit is then reversed."""


def _caused_by(event: Account.Event | Transfer.Event) -> CommandContext:
    return CommandContext(correlation_id=event.correlation_id, causation_id=event.event_id)


class TransferProcess:
    """Drives each transfer from request to completion or failure."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def handle(self, event: DomainEvent) -> None:
        """React to one event of the ledger's log; ignores events it has no part in."""
        if isinstance(event, Transfer.TransferRequested):
            self._debit_source(event)
        elif isinstance(event, Account.TransferDebited):
            self._credit_target(event)
        elif isinstance(event, Account.TransferCredited):
            self._ledger.complete_transfer(event.transfer_id, context=_caused_by(event))
        elif isinstance(event, Account.TransferDebitReversed):
            self._ledger.fail_transfer(
                event.transfer_id, event.reason, debit_reversed=True, context=_caused_by(event)
            )

    def _debit_source(self, event: Transfer.TransferRequested) -> None:
        transfer = self._ledger.get_transfer(event.originator_id)
        if transfer.is_finished:
            return
        context = _caused_by(event)
        refusal = _apply_leg(
            lambda: self._ledger.debit_for_transfer(
                transfer.source_id, transfer.id, transfer.amount, context=context
            ),
            DEBIT_REFUSALS,
        )
        if refusal is not None:
            self._ledger.fail_transfer(transfer.id, refusal, debit_reversed=False, context=context)

    def _credit_target(self, event: Account.TransferDebited) -> None:
        transfer = self._ledger.get_transfer(event.transfer_id)
        if transfer.is_finished:
            return
        source = self._ledger.get_account(transfer.source_id)
        if source.has_reversed_transfer_debit(transfer.id):
            return
        context = _caused_by(event)
        refusal = _apply_leg(
            lambda: self._ledger.credit_for_transfer(
                transfer.target_id, transfer.id, transfer.amount, context=context
            ),
            CREDIT_REFUSALS,
        )
        if refusal is not None:
            _apply_leg(
                lambda: self._ledger.reverse_transfer_debit(
                    transfer.source_id, transfer.id, refusal, context=context
                )
            )


def _apply_leg(
    leg: Callable[[], object], refusals: tuple[type[LedgerError], ...] = ()
) -> str | None:
    """Apply one leg of a transfer: None once it is applied, else why the account refused it.

    A leg already applied (a redelivered event) counts as applied; a refusal that is not
    one of `refusals` propagates.
    """
    try:
        leg()
    except TransferLegAlreadyAppliedError:
        return None
    except refusals as refusal:
        return str(refusal)
    return None
