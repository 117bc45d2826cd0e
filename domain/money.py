"""Money: a whole number of minor units of one ISO 4217 currency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from domain.currencies import ACTIVE_CURRENCY_CODES
from domain.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError


def validate_currency(currency: object) -> str:
    """Return the currency code if it is an active ISO 4217 code, else raise."""
    if not isinstance(currency, str) or currency not in ACTIVE_CURRENCY_CODES:
        raise UnknownCurrencyError(currency)
    return currency


def is_whole_number(value: object) -> TypeGuard[int]:
    """True for ints, false for bools, floats and everything else."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Money:
    """An amount of minor units (cents, pence...) of one currency; may be negative."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not is_whole_number(self.amount):
            raise InvalidAmountError(self.amount, "money is a whole number of minor units")
        validate_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """No money of the given currency."""
        return cls(0, currency)

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same_currency(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same_currency(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same_currency(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same_currency(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same_currency(other).amount

    def _same_currency(self, other: Money) -> Money:
        if not isinstance(other, Money):
            msg = f"Cannot combine Money with {type(other).__name__}"
            raise TypeError(msg)
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)
        return other
