"""Every projection the projector workers run, by name."""

from __future__ import annotations

from projectors.projections import (
    account_statements,
    accounts,
    daily_volume,
    owner_portfolios,
    transfers,
)
from projectors.projections.projection import Projection

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection
    for projection in (
        accounts.PROJECTION,
        account_statements.PROJECTION,
        owner_portfolios.PROJECTION,
        transfers.PROJECTION,
        daily_volume.PROJECTION,
    )
}
