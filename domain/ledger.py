"""The Ledger application: the use cases, each one load → decide → save.

Concurrency: every command runs under optimistic concurrency on the aggregate
version. With ``expected_version`` the caller owns the conflict: a different
loaded version, or a concurrent write detected at save time, raises
VersionMismatchError. Without it, the command is re-run on a fresh load up to
MAX_ATTEMPTS times before ConcurrencyConflictError.

Snapshots: ``snapshotting_intervals`` (class level) turns snapshotting on with
DEFAULT_SNAPSHOT_INTERVAL; each instance then replaces the intervals with the
value of ``LEDGER_SNAPSHOT_INTERVAL`` read through the application's
environment (the ``env`` argument, then ``os.environ``; the library looks up
``<APP NAME>_SNAPSHOT_INTERVAL`` before ``SNAPSHOT_INTERVAL``). 0 turns
snapshots off.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import Environment, EnvType

from domain.accounts import Account
from domain.aggregate import LedgerAggregate
from domain.conservation import ConservationReport, audit_events
from domain.context import CommandContext, command_scope
from domain.errors import (
    AccountHasPendingTransfersError,
    AccountNotFoundError,
    ConcurrencyConflictError,
    CurrencyMismatchError,
    LedgerError,
    SameAccountTransferError,
    TransferNotFoundError,
    VersionMismatchError,
)
from domain.money import Money
from domain.transfers import Transfer

MAX_ATTEMPTS = 5
"""How many times a command without expected_version runs before giving up."""

LOCK_STRIPES = 1024
"""Commands on one aggregate queue up within a process instead of racing (see _change)."""

DEFAULT_SNAPSHOT_INTERVAL = 50
SNAPSHOT_INTERVAL_SETTING = "SNAPSHOT_INTERVAL"
"""Read as LEDGER_SNAPSHOT_INTERVAL: the library prefixes the application name."""

AggregateT = TypeVar("AggregateT", bound=LedgerAggregate)


@dataclass(frozen=True)
class Outcome:
    """What a command did: the aggregate, its new version, the log position reached.

    ``position`` is the largest notification id recorded by the command, or 0
    when the command recorded nothing (an idempotent no-op).
    """

    aggregate_id: UUID
    version: int
    position: int


def snapshot_interval(env: Environment) -> int:
    """The snapshot interval configured in the environment, or the default."""
    configured = env.get(SNAPSHOT_INTERVAL_SETTING)
    if configured is None or configured.strip() == "":
        return DEFAULT_SNAPSHOT_INTERVAL
    try:
        interval = int(configured)
    except ValueError:
        msg = f"LEDGER_SNAPSHOT_INTERVAL must be an integer, not {configured!r}"
        raise ValueError(msg) from None
    if interval < 0:
        msg = f"LEDGER_SNAPSHOT_INTERVAL must be 0 (off) or positive, not {interval}"
        raise ValueError(msg)
    return interval


class Ledger(Application[UUID]):
    """Accounts and transfers: the command side of the money ledger."""

    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        Account: DEFAULT_SNAPSHOT_INTERVAL,
        Transfer: DEFAULT_SNAPSHOT_INTERVAL,
    }

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self._stripes = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        interval = snapshot_interval(Environment(self.name, self.env))
        # The library reads the intervals through the instance, so an instance
        # attribute configures this application without touching the class.
        self.snapshotting_intervals = (  # type: ignore[misc]
            {Account: interval, Transfer: interval} if interval else {}
        )

    # Accounts.

    def open_account(
        self,
        owner_id: UUID,
        currency: str,
        overdraft_limit: int = 0,
        *,
        context: CommandContext,
    ) -> Outcome:
        """Open an account; returns its id."""
        with command_scope(context):
            account = Account.open(owner_id, currency, overdraft_limit)
            return self._save(account, context)

    def deposit(
        self,
        account_id: UUID,
        amount: int,
        reference: str,
        channel: str = "api",
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Pay money into an account."""
        return self._change_account(
            account_id,
            lambda account: account.deposit(amount, reference, channel),
            context=context,
            expected_version=expected_version,
        )

    def withdraw(
        self,
        account_id: UUID,
        amount: int,
        reference: str,
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Pay money out of an account."""
        return self._change_account(
            account_id,
            lambda account: account.withdraw(amount, reference),
            context=context,
            expected_version=expected_version,
        )

    def freeze(
        self,
        account_id: UUID,
        reason: str,
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Freeze an account."""
        return self._change_account(
            account_id,
            lambda account: account.freeze(reason),
            context=context,
            expected_version=expected_version,
        )

    def unfreeze(
        self,
        account_id: UUID,
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Unfreeze an account."""
        return self._change_account(
            account_id, Account.unfreeze, context=context, expected_version=expected_version
        )

    def close_account(
        self,
        account_id: UUID,
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Close an account at zero balance with no unsettled outgoing transfer."""
        return self._change_account(
            account_id,
            self._close,
            context=context,
            expected_version=expected_version,
        )

    def get_account(self, account_id: UUID) -> Account:
        """The current state of an account."""
        return self._load(Account, account_id)

    # Transfers.

    def request_transfer(
        self,
        source_id: UUID,
        target_id: UUID,
        amount: int,
        reference: str,
        *,
        context: CommandContext,
    ) -> Outcome:
        """Request a transfer in the source's currency; returns the transfer id.

        Checks that both accounts exist, differ and share a currency, so a client
        learns of these mistakes at once. Everything else (funds, freezes,
        closures) is decided by the accounts when the transfer process applies
        the legs, so such a transfer is recorded and then fails with a reason.
        """
        if source_id == target_id:
            raise SameAccountTransferError(source_id)
        currency = self.get_account(source_id).currency
        target_currency = self.get_account(target_id).currency
        if target_currency != currency:
            raise CurrencyMismatchError(target_currency, currency, account_id=target_id)
        with command_scope(context):
            transfer = Transfer.request(source_id, target_id, Money(amount, currency), reference)
            return self._save(transfer, context)

    def get_transfer(self, transfer_id: UUID) -> Transfer:
        """The current state of a transfer."""
        return self._load(Transfer, transfer_id)

    # Transfer legs, issued by the transfer process.

    def debit_for_transfer(
        self, account_id: UUID, transfer_id: UUID, amount: Money, *, context: CommandContext
    ) -> Outcome:
        """Apply the debit leg of a transfer to its source account."""
        return self._change_account(
            account_id,
            lambda account: account.debit_for_transfer(transfer_id, amount),
            context=context,
        )

    def credit_for_transfer(
        self, account_id: UUID, transfer_id: UUID, amount: Money, *, context: CommandContext
    ) -> Outcome:
        """Apply the credit leg of a transfer to its target account."""
        return self._change_account(
            account_id,
            lambda account: account.credit_for_transfer(transfer_id, amount),
            context=context,
        )

    def reverse_transfer_debit(
        self, account_id: UUID, transfer_id: UUID, reason: str, *, context: CommandContext
    ) -> Outcome:
        """Give a transfer's debit back to its source account."""
        return self._change_account(
            account_id,
            lambda account: account.reverse_transfer_debit(transfer_id, reason),
            context=context,
        )

    def complete_transfer(self, transfer_id: UUID, *, context: CommandContext) -> Outcome:
        """Mark a transfer completed (no-op when already completed)."""
        return self._change(Transfer, transfer_id, Transfer.complete, context=context)

    def fail_transfer(
        self,
        transfer_id: UUID,
        reason: str,
        *,
        debit_reversed: bool,
        context: CommandContext,
    ) -> Outcome:
        """Mark a transfer failed (no-op when already failed)."""
        return self._change(
            Transfer,
            transfer_id,
            lambda transfer: transfer.fail(reason, debit_reversed=debit_reversed),
            context=context,
        )

    # Audit.

    def conservation_report(self) -> ConservationReport:
        """Per currency: balances + in transit vs deposits - withdrawals, from the log."""
        return audit_events(self._all_events())

    # Machinery.

    def _close(self, account: Account) -> None:
        unsettled = tuple(
            transfer_id
            for transfer_id in account.unreversed_transfer_debits
            if not self.get_transfer(transfer_id).is_finished
        )
        if unsettled:
            raise AccountHasPendingTransfersError(account.id, unsettled)
        account.close()

    def _change_account(
        self,
        account_id: UUID,
        decide: Callable[[Account], None],
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        return self._change(
            Account, account_id, decide, context=context, expected_version=expected_version
        )

    def _change(
        self,
        aggregate_type: type[AggregateT],
        aggregate_id: UUID,
        decide: Callable[[AggregateT], None],
        *,
        context: CommandContext,
        expected_version: int | None = None,
    ) -> Outcome:
        """Load, decide, save; retry on a concurrent write unless a version was expected.

        Commands on the same aggregate in this process take turns (a striped lock), so a
        hot account does not burn its retries on conflicts with its own neighbours;
        other processes are still kept honest by the event store's version check.
        """
        with command_scope(context), self._stripes[aggregate_id.int % LOCK_STRIPES]:
            for _attempt in range(MAX_ATTEMPTS):
                aggregate = self._load(aggregate_type, aggregate_id)
                if expected_version is not None and aggregate.version != expected_version:
                    raise VersionMismatchError(
                        aggregate_id,
                        expected_version=expected_version,
                        actual_version=aggregate.version,
                    )
                decide(aggregate)
                try:
                    return self._save(aggregate, context)
                except IntegrityError:
                    self._forget_cached(aggregate_id)
                    if expected_version is not None:
                        actual = self._load(aggregate_type, aggregate_id).version
                        raise VersionMismatchError(
                            aggregate_id,
                            expected_version=expected_version,
                            actual_version=actual,
                        ) from None
        raise ConcurrencyConflictError(aggregate_id, attempts=MAX_ATTEMPTS)

    def _load(self, aggregate_type: type[AggregateT], aggregate_id: UUID) -> AggregateT:
        not_found: LedgerError = (
            TransferNotFoundError(aggregate_id)
            if issubclass(aggregate_type, Transfer)
            else AccountNotFoundError(aggregate_id)
        )
        try:
            aggregate: MutableOrImmutableAggregate[UUID] = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise not_found from None
        if not isinstance(aggregate, aggregate_type):
            raise not_found
        return aggregate

    def _forget_cached(self, aggregate_id: UUID) -> None:
        """Make the next load read the event store, not a possibly stale cache."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _save(self, aggregate: LedgerAggregate, context: CommandContext) -> Outcome:
        options: dict[str, object] = {}
        if context.idempotency is not None:
            options["idempotency"] = context.idempotency
        recordings: list[Recording[UUID]] = self.save(aggregate, **options)
        return Outcome(
            aggregate_id=aggregate.id,
            version=aggregate.version,
            position=max((r.notification.id for r in recordings), default=0),
        )

    def _all_events(self) -> list[object]:
        events: list[object] = []
        start = 1
        while page := self.notification_log.select(start, self.log_section_size):
            events.extend(self.mapper.to_domain_event(n) for n in page)
            start = page[-1].id + 1
        return events
