"""The conservation law, checked from the event log alone (DESIGN §4).

For every currency: the sum of the account balances (as recorded by each
account's latest ``balance_after``) plus the money in transit (debited by
transfers, not yet credited nor reversed) equals deposits minus withdrawals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

from domain.accounts import Account


@dataclass
class CurrencyAudit:
    """The money of one currency, as the event log tells it."""

    balances: int = 0
    in_transit: int = 0
    deposits: int = 0
    withdrawals: int = 0

    @property
    def holds(self) -> bool:
        """Whether no money was created or destroyed inside the ledger.

        Money in transit can never be negative: that would be a transfer
        credited (or reversed) for more than was debited.
        """
        return (
            self.balances + self.in_transit == self.deposits - self.withdrawals
            and self.in_transit >= 0
        )


class ConservationReport:
    """A running audit of the money of every currency seen in the log.

    Feed it the ledger's events in log order with ``observe``; it keeps each
    account's latest recorded balance and the flows in and out of the ledger.
    """

    def __init__(self) -> None:
        self._flows: dict[str, CurrencyAudit] = {}
        self._balances: dict[UUID, tuple[str, int]] = {}

    def observe(self, event: object) -> None:
        """Take one more event of the log into account; ignores non-money events."""
        if isinstance(event, Account.AccountOpened):
            self._balances[event.originator_id] = (event.currency, 0)
            self._flows.setdefault(event.currency, CurrencyAudit())
        if not isinstance(event, _BALANCE_EVENTS):
            return
        self._balances[event.originator_id] = (event.currency, event.balance_after)
        flows = self._flows.setdefault(event.currency, CurrencyAudit())
        if isinstance(event, Account.FundsDeposited):
            flows.deposits += event.amount
        elif isinstance(event, Account.FundsWithdrawn):
            flows.withdrawals += event.amount
        elif isinstance(event, Account.TransferDebited):
            flows.in_transit += event.amount
        else:
            flows.in_transit -= event.amount

    @property
    def currencies(self) -> dict[str, CurrencyAudit]:
        """The audit of each currency, balances included."""
        audits = {currency: replace(flows, balances=0) for currency, flows in self._flows.items()}
        for currency, balance in self._balances.values():
            audits[currency].balances += balance
        return audits

    @property
    def holds(self) -> bool:
        """Whether the law holds for every currency."""
        return all(audit.holds for audit in self.currencies.values())


_BALANCE_EVENTS = (
    Account.FundsDeposited,
    Account.FundsWithdrawn,
    Account.TransferDebited,
    Account.TransferCredited,
    Account.TransferDebitReversed,
)


def audit_events(events: Iterable[object]) -> ConservationReport:
    """Fold the ledger's events, in log order, into a conservation report."""
    report = ConservationReport()
    for event in events:
        report.observe(event)
    return report
