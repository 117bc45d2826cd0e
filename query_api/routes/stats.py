"""Statistics over the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from query_api.deps import Consistent, OverallReader, ReadModels
from query_api.errors import ConsistencyTokenError, InvalidRangeError
from query_api.parameters import CurrencyCode, IsoDate
from query_api.problems import query_responses
from query_api.schemas.stats import DailyVolumeOut, DailyVolumeReport
from query_api.views.daily_volume import daily_totals
from query_api.views.served import DAILY_VOLUME

router = APIRouter(prefix="/v1/stats", tags=["stats"])

DEFAULT_DAYS = 30
MAX_DAYS = 366


@router.get(
    "/daily",
    response_model=DailyVolumeReport,
    responses=query_responses(422, refusals=(InvalidRangeError, ConsistencyTokenError)),
    summary="Daily volume per currency",
)
async def daily_volume(
    principal: OverallReader,
    store: ReadModels,
    consistency: Consistent,
    currency: Annotated[CurrencyCode | None, Query(description="ISO 4217; omit for all")] = None,
    first: Annotated[
        IsoDate | None, Query(alias="from", description="First UTC day, inclusive")
    ] = None,
    last: Annotated[
        IsoDate | None, Query(alias="to", description="Last UTC day, inclusive (default today)")
    ] = None,
) -> DailyVolumeReport:
    """Deposits, withdrawals, transfers and reversals per (currency, UTC day), both ends included.

    Defaults to the 30 days ending today; at most 366 days at once, so the report is
    bounded and needs no paging. Takes a position token (never a version).
    """
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRangeError(f"from ({first}) is after to ({last}).")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidRangeError(f"{first}..{last} spans more than {MAX_DAYS} days.")
    await consistency.projection(DAILY_VOLUME)
    totals = await daily_totals(store, currency, first, last)
    return DailyVolumeReport(
        first_day=first,
        last_day=last,
        currency=currency,
        items=[DailyVolumeOut.from_totals(day) for day in totals],
    )
