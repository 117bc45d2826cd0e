"""Owner views."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from query_api.deps import Consistent, Reader, ReadModels, visible_to
from query_api.errors import ConsistencyTokenError, OwnerNotFoundError
from query_api.problems import query_responses
from query_api.schemas.owners import PortfolioOut
from query_api.views.documents import find_portfolio
from query_api.views.served import PORTFOLIOS

router = APIRouter(prefix="/v1/owners", tags=["owners"])


@router.get(
    "/{owner_id}/portfolio",
    response_model=PortfolioOut,
    responses=query_responses(404, 422, refusals=(ConsistencyTokenError,)),
    summary="Read an owner's portfolio",
)
async def get_portfolio(
    owner_id: UUID, store: ReadModels, consistency: Consistent, principal: Reader
) -> PortfolioOut:
    """The owner's accounts and totals per currency (closed accounts excluded from totals).

    A portfolio gathers many accounts, so it takes a position token only: it waits until
    the portfolio projection has applied every event up to that position.
    """
    if not visible_to(principal, owner_id):
        raise OwnerNotFoundError(owner_id)
    await consistency.projection(PORTFOLIOS)
    document = await find_portfolio(store, owner_id)
    if document is None:
        raise OwnerNotFoundError(owner_id)
    return PortfolioOut.from_document(document)
