"""The Account aggregate's commands and invariants, without an application."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.accounts import MAX_AMOUNT, Account, AccountStatus
from domain.context import EventMetadata
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
    UnknownCurrencyError,
)
from domain.money import Money

pytestmark = pytest.mark.usefixtures("in_command")


def open_account(balance: int = 0, overdraft_limit: int = 0, currency: str = "EUR") -> Account:
    account = Account.open(uuid4(), currency, overdraft_limit)
    if balance:
        account.deposit(balance, "initial")
    return account


def new_event_types(account: Account) -> list[str]:
    return [type(event).__name__ for event in account.collect_events()]


def test_an_opened_account_is_open_with_zero_balance_in_its_currency() -> None:
    owner_id = uuid4()
    account = Account.open(owner_id, "GBP", overdraft_limit=500)
    assert account.owner_id == owner_id
    assert account.balance == Money(0, "GBP")
    assert account.overdraft_limit == 500
    assert account.status is AccountStatus.OPEN
    assert account.version == 1
    assert new_event_types(account) == ["AccountOpened"]


def test_opening_in_an_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrencyError):
        Account.open(uuid4(), "ABC")


@pytest.mark.parametrize("limit", [-1, 1.5, True])
def test_opening_with_an_invalid_overdraft_limit_is_refused(limit: object) -> None:
    with pytest.raises(InvalidOverdraftLimitError):
        Account.open(uuid4(), "EUR", limit)  # type: ignore[arg-type]


def test_account_ids_are_random_uuids() -> None:
    assert open_account().id.version == 4


def test_a_deposit_increases_the_balance() -> None:
    account = open_account()
    account.deposit(250, "salary", channel="batch")
    assert account.balance == Money(250, "EUR")
    (event,) = account.collect_events()[1:]
    assert isinstance(event, Account.FundsDeposited)
    assert (event.amount, event.currency, event.reference, event.channel, event.balance_after) == (
        250,
        "EUR",
        "salary",
        "batch",
        250,
    )


def test_a_deposit_channel_defaults_to_api() -> None:
    account = open_account()
    account.deposit(1, "ref")
    event = account.collect_events()[-1]
    assert isinstance(event, Account.FundsDeposited)
    assert event.channel == "api"


@pytest.mark.parametrize("amount", [0, -5, MAX_AMOUNT + 1, 2.5, "10", True])
def test_a_deposit_of_an_invalid_amount_is_refused(amount: object) -> None:
    account = open_account()
    with pytest.raises(InvalidAmountError):
        account.deposit(amount, "ref")  # type: ignore[arg-type]


def test_a_deposit_of_the_maximum_amount_is_accepted() -> None:
    account = open_account()
    account.deposit(MAX_AMOUNT, "large")
    assert account.balance.amount == MAX_AMOUNT


def test_a_withdrawal_decreases_the_balance() -> None:
    account = open_account(balance=100)
    account.withdraw(30, "atm")
    assert account.balance == Money(70, "EUR")
    event = account.collect_events()[-1]
    assert isinstance(event, Account.FundsWithdrawn)
    assert (event.amount, event.reference, event.balance_after) == (30, "atm", 70)


def test_a_withdrawal_may_use_the_overdraft() -> None:
    account = open_account(balance=10, overdraft_limit=50)
    account.withdraw(60, "rent")
    assert account.balance == Money(-50, "EUR")


def test_withdrawal_is_refused_when_it_would_exceed_the_overdraft() -> None:
    account = open_account(balance=10, overdraft_limit=50)
    with pytest.raises(InsufficientFundsError) as raised:
        account.withdraw(61, "rent")
    assert raised.value.account_id == account.id
    assert (raised.value.amount, raised.value.balance, raised.value.overdraft_limit) == (61, 10, 50)
    assert account.balance == Money(10, "EUR")


def test_a_refused_command_records_no_event() -> None:
    account = open_account(balance=10)
    account.collect_events()
    with pytest.raises(InsufficientFundsError):
        account.withdraw(11, "too much")
    assert account.collect_events() == []
    assert account.version == 2


def test_a_withdrawal_of_an_invalid_amount_is_refused() -> None:
    account = open_account(balance=100)
    with pytest.raises(InvalidAmountError):
        account.withdraw(0, "nothing")


def test_a_frozen_account_refuses_withdrawals() -> None:
    account = open_account(balance=100)
    account.freeze("suspicious activity")
    with pytest.raises(AccountFrozenError) as raised:
        account.withdraw(10, "atm")
    assert raised.value.reason == "suspicious activity"


def test_a_frozen_account_still_accepts_deposits() -> None:
    account = open_account()
    account.freeze("investigation")
    account.deposit(10, "salary")
    assert account.balance == Money(10, "EUR")


def test_freezing_records_the_reason() -> None:
    account = open_account()
    account.freeze("court order")
    assert account.status is AccountStatus.FROZEN
    assert account.frozen_reason == "court order"
    event = account.collect_events()[-1]
    assert isinstance(event, Account.AccountFrozen)
    assert event.reason == "court order"


def test_freezing_a_frozen_account_is_refused() -> None:
    account = open_account()
    account.freeze("once")
    with pytest.raises(AccountFrozenError):
        account.freeze("twice")


def test_unfreezing_reopens_the_account() -> None:
    account = open_account(balance=100)
    account.freeze("check")
    account.unfreeze()
    assert account.status is AccountStatus.OPEN
    assert account.frozen_reason is None
    account.withdraw(10, "atm")
    assert new_event_types(account)[-2:] == ["AccountUnfrozen", "FundsWithdrawn"]


def test_unfreezing_an_open_account_is_refused() -> None:
    with pytest.raises(AccountNotFrozenError):
        open_account().unfreeze()


def test_closing_an_empty_account_closes_it() -> None:
    account = open_account()
    account.close()
    assert account.status is AccountStatus.CLOSED
    assert new_event_types(account)[-1] == "AccountClosed"


def test_closing_an_account_with_a_balance_is_refused() -> None:
    account = open_account(balance=5)
    with pytest.raises(AccountNotEmptyError) as raised:
        account.close()
    assert (raised.value.account_id, raised.value.balance) == (account.id, 5)


def test_closing_an_overdrawn_account_is_refused() -> None:
    account = open_account(overdraft_limit=10)
    account.withdraw(5, "atm")
    with pytest.raises(AccountNotEmptyError):
        account.close()


def test_closing_a_frozen_account_is_refused() -> None:
    account = open_account()
    account.freeze("check")
    with pytest.raises(AccountFrozenError):
        account.close()


@pytest.mark.parametrize(
    "command",
    [
        lambda a: a.deposit(1, "x"),
        lambda a: a.withdraw(1, "x"),
        lambda a: a.freeze("x"),
        lambda a: a.unfreeze(),
        lambda a: a.close(),
        lambda a: a.debit_for_transfer(uuid4(), Money(1, "EUR")),
        lambda a: a.credit_for_transfer(uuid4(), Money(1, "EUR")),
    ],
    ids=["deposit", "withdraw", "freeze", "unfreeze", "close", "debit", "credit"],
)
def test_a_closed_account_accepts_nothing(command: object) -> None:
    account = open_account()
    account.close()
    with pytest.raises(AccountClosedError) as raised:
        command(account)  # type: ignore[operator]
    assert raised.value.account_id == account.id


def test_a_transfer_debit_takes_money_out() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    assert account.balance == Money(60, "EUR")
    assert account.has_transfer_debit(transfer_id)
    event = account.collect_events()[-1]
    assert isinstance(event, Account.TransferDebited)
    assert (event.transfer_id, event.amount, event.currency, event.balance_after) == (
        transfer_id,
        40,
        "EUR",
        60,
    )


def test_a_transfer_debit_is_applied_at_most_once() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    with pytest.raises(TransferLegAlreadyAppliedError) as raised:
        account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    assert (raised.value.transfer_id, raised.value.leg) == (transfer_id, "debit")
    assert account.balance == Money(60, "EUR")


def test_a_transfer_debit_beyond_the_overdraft_is_refused() -> None:
    account = open_account(balance=10)
    with pytest.raises(InsufficientFundsError):
        account.debit_for_transfer(uuid4(), Money(11, "EUR"))


def test_a_frozen_account_refuses_transfer_debits() -> None:
    account = open_account(balance=100)
    account.freeze("check")
    with pytest.raises(AccountFrozenError):
        account.debit_for_transfer(uuid4(), Money(1, "EUR"))


def test_a_transfer_debit_in_another_currency_is_refused() -> None:
    account = open_account(balance=100)
    with pytest.raises(CurrencyMismatchError) as raised:
        account.debit_for_transfer(uuid4(), Money(1, "USD"))
    assert raised.value.account_id == account.id


def test_a_transfer_credit_puts_money_in() -> None:
    account = open_account()
    transfer_id = uuid4()
    account.credit_for_transfer(transfer_id, Money(40, "EUR"))
    assert account.balance == Money(40, "EUR")
    assert account.has_transfer_credit(transfer_id)


def test_a_transfer_credit_is_applied_at_most_once() -> None:
    account = open_account()
    transfer_id = uuid4()
    account.credit_for_transfer(transfer_id, Money(40, "EUR"))
    with pytest.raises(TransferLegAlreadyAppliedError) as raised:
        account.credit_for_transfer(transfer_id, Money(40, "EUR"))
    assert raised.value.leg == "credit"


def test_a_frozen_account_refuses_transfer_credits() -> None:
    account = open_account()
    account.freeze("check")
    with pytest.raises(AccountFrozenError):
        account.credit_for_transfer(uuid4(), Money(1, "EUR"))


def test_a_transfer_credit_in_another_currency_is_refused() -> None:
    account = open_account(currency="USD")
    with pytest.raises(CurrencyMismatchError) as raised:
        account.credit_for_transfer(uuid4(), Money(1, "EUR"))
    assert (raised.value.expected, raised.value.actual) == ("USD", "EUR")


def test_a_reversal_gives_the_debit_back_with_the_reason() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    account.reverse_transfer_debit(transfer_id, "target closed")
    assert account.balance == Money(100, "EUR")
    event = account.collect_events()[-1]
    assert isinstance(event, Account.TransferDebitReversed)
    assert (event.transfer_id, event.amount, event.balance_after, event.reason) == (
        transfer_id,
        40,
        100,
        "target closed",
    )


def test_a_reversal_happens_at_most_once() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    account.reverse_transfer_debit(transfer_id, "target closed")
    with pytest.raises(TransferLegAlreadyAppliedError) as raised:
        account.reverse_transfer_debit(transfer_id, "target closed")
    assert raised.value.leg == "reversal"
    assert account.balance == Money(100, "EUR")


def test_a_reversal_without_a_prior_debit_is_refused() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    with pytest.raises(TransferDebitNotFoundError) as raised:
        account.reverse_transfer_debit(transfer_id, "no debit")
    assert raised.value.transfer_id == transfer_id


def test_a_reversal_lands_on_a_frozen_account() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    account.freeze("check")
    account.reverse_transfer_debit(transfer_id, "target closed")
    assert account.balance == Money(100, "EUR")


def test_a_debit_after_its_reversal_is_still_refused_as_already_applied() -> None:
    account = open_account(balance=100)
    transfer_id = uuid4()
    account.debit_for_transfer(transfer_id, Money(40, "EUR"))
    account.reverse_transfer_debit(transfer_id, "target frozen")
    with pytest.raises(TransferLegAlreadyAppliedError):
        account.debit_for_transfer(transfer_id, Money(40, "EUR"))


def test_a_leg_already_applied_is_reported_before_the_account_status() -> None:
    account = open_account()
    transfer_id = uuid4()
    account.credit_for_transfer(transfer_id, Money(40, "EUR"))
    account.withdraw(40, "out")
    account.close()
    with pytest.raises(TransferLegAlreadyAppliedError):
        account.credit_for_transfer(transfer_id, Money(40, "EUR"))


def test_events_carry_metadata_of_the_command(in_command: EventMetadata) -> None:
    account = open_account()
    account.deposit(5, "ref")
    events = account.collect_events()
    assert all(isinstance(event, Account.Event) for event in events)
    for event in events:
        assert isinstance(event, Account.Event)
        assert event.correlation_id == in_command.correlation_id
        assert event.causation_id == in_command.causation_id
        assert isinstance(event.event_id, UUID)
        assert event.timestamp.utcoffset() is not None
    assert len({event.event_id for event in events if isinstance(event, Account.Event)}) == 2


def test_event_class_names_are_the_published_event_types() -> None:
    names = {
        cls.__name__
        for cls in (
            Account.AccountOpened,
            Account.FundsDeposited,
            Account.FundsWithdrawn,
            Account.AccountFrozen,
            Account.AccountUnfrozen,
            Account.AccountClosed,
            Account.TransferDebited,
            Account.TransferCredited,
            Account.TransferDebitReversed,
        )
    }
    assert names == {
        "AccountOpened",
        "FundsDeposited",
        "FundsWithdrawn",
        "AccountFrozen",
        "AccountUnfrozen",
        "AccountClosed",
        "TransferDebited",
        "TransferCredited",
        "TransferDebitReversed",
    }
