"""Daily volume per currency: the per-account parts of `daily_volume` summed per day.

Each day is read with its own equality filter, `{"day": ...}` (and the currency, if
asked), and the parts are summed here. A day range (`$gte`/`$lte`) is never passed on to
PostgreSQL by FerretDB v1, which then reads the whole collection, once per pipeline; an
equality on `day` is served by the index on `(day, currency)` on either server (ADR 0010).
Summing here also avoids FerretDB v1's `$group`, which computes only its first accumulator
(FerretDB issue #4616).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from pymongo.asynchronous.collection import AsyncCollection

from query_api.views.served import DAILY_VOLUME, Document, ReadStore

MEASURES = ("deposits", "withdrawals", "transfers", "reversals")
FIGURES = ("count", "amount")


@dataclass(frozen=True)
class Movement:
    """How many movements of one kind, and their total in minor units."""

    count: int = 0
    amount: int = 0


@dataclass(frozen=True)
class DailyTotals:
    """One currency's movements on one UTC day."""

    currency: str
    day: date
    deposits: Movement
    withdrawals: Movement
    transfers: Movement
    reversals: Movement

    @property
    def net_transfer_volume(self) -> int:
        """Money moved by transfers that stayed moved: transfers less reversed debits."""
        return self.transfers.amount - self.reversals.amount


MAX_CONCURRENT_DAYS = 8
"""Days read at once: hides round trips without taking all of the server's connections."""


async def daily_totals(
    store: ReadStore, currency: str | None, first: date, last: date
) -> list[DailyTotals]:
    """Totals for every (currency, day) with movements in `[first, last]`, by day then currency."""
    collection = await store.collection(DAILY_VOLUME)
    gate = asyncio.Semaphore(MAX_CONCURRENT_DAYS)

    async def one_day(day: date) -> list[DailyTotals]:
        async with gate:
            return await _day_totals(collection, currency, day)

    days = await asyncio.gather(*(one_day(day) for day in _days(first, last)))
    return [totals for day in days for totals in day]


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


async def _day_totals(
    collection: AsyncCollection[Document], currency: str | None, day: date
) -> list[DailyTotals]:
    """One day's totals per currency, by currency, summed over the accounts' parts."""
    query: Document = {"day": day.isoformat()}
    if currency is not None:
        query["currency"] = currency
    fields = {"_id": 0, "currency": 1, **{measure: 1 for measure in MEASURES}}
    sums: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    async for part in collection.find(query, fields):
        for measure in MEASURES:
            for figure in FIGURES:
                sums[part["currency"]][measure, figure] += int(part[measure][figure])
    return [
        DailyTotals(
            currency,
            day,
            *(
                Movement(totals[measure, "count"], totals[measure, "amount"])
                for measure in MEASURES
            ),
        )
        for currency, totals in sorted(sums.items())
    ]
