"""The conservation law, computed from the event log alone."""

from __future__ import annotations

from uuid import uuid4

from domain.accounts import Account
from domain.conservation import audit_events
from domain.context import CommandContext, command_scope
from domain.ledger import Ledger
from domain.money import Money
from tests.unit.domain.process_runner import ProcessRunner


def test_money_in_transit_counts_until_the_credit_lands(
    ledger: Ledger, context: CommandContext, process: ProcessRunner
) -> None:
    source = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    target = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(source, 100, "funds", context=context)
    transfer_id = ledger.request_transfer(source, target, 30, "ref", context=context).aggregate_id
    while not ledger.get_account(source).has_transfer_debit(transfer_id):
        assert process.step()
    in_flight = ledger.conservation_report()
    assert (in_flight.currencies["EUR"].balances, in_flight.currencies["EUR"].in_transit) == (
        70,
        30,
    )
    assert in_flight.holds
    process.run()
    settled = ledger.conservation_report().currencies["EUR"]
    assert (settled.balances, settled.in_transit, settled.deposits) == (100, 0, 100)


def test_each_currency_is_audited_on_its_own(ledger: Ledger, context: CommandContext) -> None:
    euros = ledger.open_account(uuid4(), "EUR", overdraft_limit=50, context=context).aggregate_id
    dollars = ledger.open_account(uuid4(), "USD", context=context).aggregate_id
    ledger.withdraw(euros, 20, "atm", context=context)
    ledger.deposit(dollars, 5, "cash", context=context)
    report = ledger.conservation_report()
    assert report.currencies["EUR"].balances == -20
    assert report.currencies["EUR"].withdrawals == 20
    assert report.currencies["USD"].deposits == 5
    assert report.holds


def test_a_credit_without_a_debit_breaks_the_law(context: CommandContext) -> None:
    with command_scope(context):
        account = Account.open(uuid4(), "EUR")
        account.credit_for_transfer(uuid4(), Money(10, "EUR"))
    report = audit_events(account.collect_events())
    assert not report.holds
    assert report.currencies["EUR"].in_transit == -10


def test_a_balance_that_does_not_follow_from_the_flows_breaks_the_law(
    context: CommandContext,
) -> None:
    with command_scope(context):
        account = Account.open(uuid4(), "EUR")
    (opened,) = account.collect_events()
    forged = Account.FundsDeposited(  # type: ignore[call-arg]
        originator_id=account.id,
        originator_version=2,
        timestamp=opened.timestamp,
        event_id=uuid4(),
        correlation_id=context.correlation_id,
        causation_id=uuid4(),
        traceparent=None,
        amount=10,
        currency="EUR",
        reference="forged",
        channel="api",
        balance_after=15,
    )
    report = audit_events([opened, forged])
    assert not report.holds
    assert (report.currencies["EUR"].balances, report.currencies["EUR"].deposits) == (15, 10)
