"""Transfer views."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from infra.security.auth import Principal
from query_api.deps import Consistent, Reader, ReadModels, visible_to
from query_api.errors import ConsistencyTokenError, TransferNotFoundError
from query_api.problems import query_responses
from query_api.schemas.transfers import TransferOut
from query_api.views.accounts import find_account
from query_api.views.documents import find_transfer
from query_api.views.served import ReadStore

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])


@router.get(
    "/{transfer_id}",
    response_model=TransferOut,
    responses=query_responses(404, 422, refusals=(ConsistencyTokenError,)),
    summary="Read a transfer's status",
)
async def get_transfer(
    transfer_id: UUID, store: ReadModels, consistency: Consistent, principal: Reader
) -> TransferOut:
    """The transfer's amount, accounts, status and timeline as far as the read model has them.

    A version or position token from a transfer command waits for that transfer event.
    An owner-bound caller sees only transfers out of its owner's accounts: crediting
    someone's account does not let the payer read that account, nor the payee the transfer.
    """
    await consistency.transfer(transfer_id)
    document = await find_transfer(store, transfer_id)
    if document is None or not await _visible(store, principal, document):
        raise TransferNotFoundError(transfer_id)
    return TransferOut.from_document(document)


async def _visible(store: ReadStore, principal: Principal, document: dict[str, Any]) -> bool:
    if principal.acts_for_any_owner:
        return True
    source = document.get("source_account_id")
    account = await find_account(store, UUID(source)) if source else None
    return account is not None and visible_to(principal, account.get("owner_id"))
