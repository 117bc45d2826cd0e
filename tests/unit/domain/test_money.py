from __future__ import annotations

import pytest

from domain.currencies import ACTIVE_CURRENCY_CODES
from domain.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError
from domain.money import Money


def test_money_adds_and_subtracts_within_one_currency() -> None:
    assert Money(150, "EUR") + Money(50, "EUR") == Money(200, "EUR")
    assert Money(150, "EUR") - Money(200, "EUR") == Money(-50, "EUR")


def test_money_negates() -> None:
    assert -Money(5, "USD") == Money(-5, "USD")


def test_money_compares_within_one_currency() -> None:
    assert Money(1, "EUR") < Money(2, "EUR")
    assert Money(2, "EUR") <= Money(2, "EUR")
    assert Money(3, "EUR") > Money(2, "EUR")
    assert Money(2, "EUR") >= Money(2, "EUR")


def test_zero_is_no_money_of_the_currency() -> None:
    assert Money.zero("JPY") == Money(0, "JPY")


def test_adding_money_of_different_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError) as raised:
        Money(1, "EUR") + Money(1, "USD")
    assert (raised.value.expected, raised.value.actual) == ("EUR", "USD")


def test_subtracting_money_of_different_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money(1, "EUR") - Money(1, "USD")


def test_comparing_money_of_different_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        _ = Money(1, "EUR") < Money(1, "USD")


def test_money_of_different_currencies_is_not_equal() -> None:
    assert Money(0, "EUR") != Money(0, "USD")


@pytest.mark.parametrize("amount", [1.5, 1.0, "1", True, None])
def test_money_refuses_anything_but_a_whole_number_of_minor_units(amount: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["eur", "XYZ", "HRK", "", "EURO", 978])
def test_money_refuses_a_currency_that_is_not_an_active_iso_4217_code(
    currency: object,
) -> None:
    with pytest.raises(UnknownCurrencyError) as raised:
        Money(1, currency)  # type: ignore[arg-type]
    assert raised.value.currency == currency


def test_money_is_immutable() -> None:
    money = Money(1, "EUR")
    with pytest.raises(AttributeError):
        money.amount = 2  # type: ignore[misc]


def test_the_currency_list_holds_only_three_letter_upper_case_codes() -> None:
    assert all(len(code) == 3 and code.isupper() for code in ACTIVE_CURRENCY_CODES)
    assert {"EUR", "USD", "GBP", "JPY", "CHF"} <= ACTIVE_CURRENCY_CODES
