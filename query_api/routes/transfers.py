"""Transfer views."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from query_api.deps import Consistent, ReadModels
from query_api.errors import TransferNotFoundError
from query_api.problems import query_responses
from query_api.schemas.transfers import TransferOut
from query_api.views.documents import find_transfer

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])


@router.get(
    "/{transfer_id}",
    response_model=TransferOut,
    responses=query_responses(404, 422),
    summary="Read a transfer's status",
)
async def get_transfer(
    transfer_id: UUID, database: ReadModels, consistency: Consistent
) -> TransferOut:
    """The transfer's amount, accounts, status and timeline as far as the read model has them.

    A version or position token from a transfer command waits for that transfer event.
    """
    await consistency.transfer(transfer_id)
    document = await find_transfer(database, transfer_id)
    if document is None:
        raise TransferNotFoundError(transfer_id)
    return TransferOut.from_document(document)
