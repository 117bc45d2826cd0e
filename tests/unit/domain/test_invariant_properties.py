"""Property tests: random command sequences never break an invariant of the ledger.

Accounts in a few currencies take random deposits, withdrawals, freezes, unfreezes,
closes and transfers; the transfer process advances by random steps, delivers
events twice, and crashes (restarts from an earlier checkpoint). After every
step: no balance below its overdraft, closed accounts unchanged, each transfer
leg applied at most once, and the conservation law holds. At the end the
process drains and every transfer is settled with nothing left in transit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.accounts import Account, AccountStatus
from domain.conservation import ConservationReport
from domain.context import CommandContext
from domain.errors import LedgerError
from domain.transfer_process import TransferProcess
from domain.transfers import Transfer, TransferStatus
from tests.unit.domain.conftest import in_memory_ledger
from tests.unit.domain.process_runner import ProcessRunner

CURRENCIES = st.sampled_from(["EUR", "EUR", "EUR", "USD"])
AMOUNTS = st.integers(min_value=1, max_value=300)
FUNDING = st.integers(min_value=0, max_value=1_000)
OVERDRAFTS = st.integers(min_value=0, max_value=200)
PICK = st.integers(min_value=0, max_value=1_000)
LEGS = (Account.TransferDebited, Account.TransferCredited, Account.TransferDebitReversed)


class LedgerMachine(RuleBasedStateMachine):
    """A ledger, its transfer process, and what the invariants need to remember."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = in_memory_ledger(LEDGER_SNAPSHOT_INTERVAL="4")
        self.context = CommandContext(correlation_id=uuid4())
        self.process = ProcessRunner(self.ledger, TransferProcess(self.ledger))
        self.accounts: list[UUID] = []
        self.transfers: list[UUID] = []
        self.audit = ConservationReport()
        self.audited_to = 0
        self.legs: Counter[tuple[UUID, str]] = Counter()
        self.closed: dict[UUID, tuple[int, int]] = {}

    # Commands.

    @initialize(
        accounts=st.lists(st.tuples(CURRENCIES, OVERDRAFTS, FUNDING), min_size=2, max_size=3),
    )
    def open_accounts(self, accounts: list[tuple[str, int, int]]) -> None:
        for currency, overdraft, funding in accounts:
            self.open_account(currency, overdraft)
            if funding:
                self.deposit(len(self.accounts) - 1, funding)

    @rule(currency=CURRENCIES, overdraft=OVERDRAFTS)
    def open_account(self, currency: str, overdraft: int) -> None:
        outcome = self.ledger.open_account(uuid4(), currency, overdraft, context=self.context)
        self.accounts.append(outcome.aggregate_id)

    @rule(pick=PICK, amount=AMOUNTS)
    def deposit(self, pick: int, amount: int) -> None:
        account_id = self._account(pick)
        self._attempt(lambda: self.ledger.deposit(account_id, amount, "in", context=self.context))

    @rule(pick=PICK, amount=AMOUNTS)
    def withdraw(self, pick: int, amount: int) -> None:
        account_id = self._account(pick)
        self._attempt(lambda: self.ledger.withdraw(account_id, amount, "out", context=self.context))

    @rule(pick=PICK, beyond=st.integers(min_value=0, max_value=1))
    def withdraw_all_that_is_available(self, pick: int, beyond: int) -> None:
        account = self.ledger.get_account(self._account(pick))
        available = account.balance.amount + account.overdraft_limit + beyond
        if available > 0:
            self.withdraw(pick, available)

    @rule(pick=PICK)
    def freeze(self, pick: int) -> None:
        account_id = self._account(pick)
        self._attempt(lambda: self.ledger.freeze(account_id, "check", context=self.context))

    @rule(pick=PICK)
    def unfreeze(self, pick: int) -> None:
        account_id = self._account(pick)
        self._attempt(lambda: self.ledger.unfreeze(account_id, context=self.context))

    @rule(pick=PICK)
    def close(self, pick: int) -> None:
        account_id = self._account(pick)
        self._attempt(lambda: self.ledger.close_account(account_id, context=self.context))

    @rule(source=PICK, destination=PICK, amount=AMOUNTS)
    def request_transfer(self, source: int, destination: int, amount: int) -> None:
        source_id = self._account(source)
        others = [account_id for account_id in self.accounts if account_id != source_id]
        target_id = others[destination % len(others)]

        def request() -> None:
            outcome = self.ledger.request_transfer(
                source_id, target_id, amount, "move", context=self.context
            )
            self.transfers.append(outcome.aggregate_id)

        self._attempt(request)

    @rule(source=PICK, destination=PICK, amount=st.integers(min_value=1, max_value=30))
    def request_small_transfer(self, source: int, destination: int, amount: int) -> None:
        self.request_transfer(source, destination, amount)

    @rule(steps=st.integers(min_value=1, max_value=4), duplicate=st.booleans())
    def advance_the_process(self, steps: int, duplicate: bool) -> None:
        for _ in range(steps):
            if not self.process.step(duplicate=duplicate):
                return

    @rule(rewind=st.integers(min_value=1, max_value=8))
    def crash_and_restart_the_process(self, rewind: int) -> None:
        checkpoint = max(0, self.process.position - rewind)
        self.process = ProcessRunner(self.ledger, TransferProcess(self.ledger))
        self.process.rewind_to(checkpoint)

    # Invariants.

    @invariant()
    def no_balance_goes_below_its_overdraft(self) -> None:
        for account_id in self.accounts:
            account = self.ledger.get_account(account_id)
            assert account.balance.amount >= -account.overdraft_limit, account

    @invariant()
    def closed_accounts_never_change(self) -> None:
        for account_id in self.accounts:
            account = self.ledger.get_account(account_id)
            if account.status is AccountStatus.CLOSED:
                state = (account.version, account.balance.amount)
                assert self.closed.setdefault(account_id, state) == state
                assert account.balance.amount == 0

    @invariant()
    def each_leg_applies_at_most_once_and_money_is_conserved(self) -> None:
        while page := self.ledger.notification_log.select(self.audited_to + 1, 10):
            for notification in page:
                event = self.ledger.mapper.to_domain_event(notification)
                self.audit.observe(event)
                if isinstance(event, LEGS):
                    leg = (event.transfer_id, type(event).__name__)
                    self.legs[leg] += 1
                    assert self.legs[leg] == 1, leg
                self.audited_to = notification.id
        assert self.audit.holds, self.audit.currencies

    def teardown(self) -> None:
        self.process.run()
        for transfer_id in self.transfers:
            transfer = self.ledger.get_transfer(transfer_id)
            assert transfer.is_finished, transfer
            self._assert_settled(transfer)
        report = self.ledger.conservation_report()
        assert report.holds, report.currencies
        assert all(audit.in_transit == 0 for audit in report.currencies.values())

    # Machinery.

    def _account(self, pick: int) -> UUID:
        return self.accounts[pick % len(self.accounts)]

    def _attempt(self, command: Callable[[], object]) -> None:
        """Run a command; a refused one must leave the log untouched."""
        before = self.ledger.recorder.max_notification_id()
        try:
            command()
        except LedgerError:
            assert self.ledger.recorder.max_notification_id() == before

    def _assert_settled(self, transfer: Transfer) -> None:
        source = self.ledger.get_account(transfer.source_id)
        target = self.ledger.get_account(transfer.target_id)
        debited = source.has_transfer_debit(transfer.id)
        reversed_ = source.has_reversed_transfer_debit(transfer.id)
        credited = target.has_transfer_credit(transfer.id)
        if transfer.status is TransferStatus.COMPLETED:
            assert (debited, credited, reversed_) == (True, True, False)
        else:
            assert not credited
            assert reversed_ == debited == transfer.debit_reversed


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerInvariants = LedgerMachine.TestCase
