"""Daily volume per currency: the per-account parts of `daily_volume` summed per day.

FerretDB v1 computes only the first accumulator of a `$group` stage and returns 0 for
the others (FerretDB issue #4616), so each figure is its own `$match` + `$group` with one
`$sum`; the eight pipelines run concurrently. That is correct on MongoDB as well.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

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


async def daily_totals(
    store: ReadStore, currency: str | None, first: date, last: date
) -> list[DailyTotals]:
    """Totals for every (currency, day) with movements in `[first, last]`, by day then currency."""
    match: Document = {"day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
    if currency is not None:
        match["currency"] = currency
    figures = [(measure, figure) for measure in MEASURES for figure in FIGURES]
    collection = await store.collection(DAILY_VOLUME)
    sums = await asyncio.gather(
        *(_sum(collection, match, f"${measure}.{figure}") for measure, figure in figures)
    )
    by_figure = dict(zip(figures, sums, strict=True))
    groups = sorted({group for totals in sums for group in totals}, key=lambda g: (g[1], g[0]))
    return [
        DailyTotals(
            currency,
            date.fromisoformat(day),
            *(
                Movement(
                    by_figure[measure, "count"].get((currency, day), 0),
                    by_figure[measure, "amount"].get((currency, day), 0),
                )
                for measure in MEASURES
            ),
        )
        for currency, day in groups
    ]


async def _sum(
    collection: AsyncCollection[Document], match: Document, path: str
) -> dict[tuple[str, str], int]:
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": {"currency": "$currency", "day": "$day"}, "total": {"$sum": path}}},
    ]
    cursor = await collection.aggregate(pipeline)
    return {
        (group["_id"]["currency"], group["_id"]["day"]): int(group["total"])
        async for group in cursor
    }
