"""Daily volume per currency."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from query_api.views.daily_volume import DailyTotals, Movement


class MovementOut(BaseModel):
    """How many movements of one kind, and their total."""

    count: int
    amount: int = Field(description="Minor units")

    @classmethod
    def from_movement(cls, movement: Movement) -> MovementOut:
        """Build from the read-model layer's figure."""
        return cls(count=movement.count, amount=movement.amount)


class DailyVolumeOut(BaseModel):
    """One currency's movements on one UTC day."""

    currency: str
    day: date
    deposits: MovementOut
    withdrawals: MovementOut
    transfers: MovementOut = Field(description="Counted once each, on the debit")
    reversals: MovementOut = Field(description="Debits reversed after a failed transfer")
    net_transfer_volume: int = Field(description="transfers.amount - reversals.amount")

    @classmethod
    def from_totals(cls, totals: DailyTotals) -> DailyVolumeOut:
        """Build from the read-model layer's totals."""
        return cls(
            currency=totals.currency,
            day=totals.day,
            deposits=MovementOut.from_movement(totals.deposits),
            withdrawals=MovementOut.from_movement(totals.withdrawals),
            transfers=MovementOut.from_movement(totals.transfers),
            reversals=MovementOut.from_movement(totals.reversals),
            net_transfer_volume=totals.net_transfer_volume,
        )


class DailyVolumeReport(BaseModel):
    """Every (currency, day) with movements in the range, by day then currency."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "first_day": "2026-11-01",
                    "last_day": "2026-11-30",
                    "currency": "EUR",
                    "items": [
                        {
                            "currency": "EUR",
                            "day": "2026-11-28",
                            "deposits": {"count": 12, "amount": 250000},
                            "withdrawals": {"count": 3, "amount": 42000},
                            "transfers": {"count": 5, "amount": 61000},
                            "reversals": {"count": 1, "amount": 5000},
                            "net_transfer_volume": 56000,
                        }
                    ],
                }
            ]
        },
    )

    first_day: date = Field(description="The range's first UTC day (`from`)")
    last_day: date = Field(description="The range's last UTC day (`to`)")
    currency: str | None = Field(description="The currency filter; null: every currency")
    items: list[DailyVolumeOut]
