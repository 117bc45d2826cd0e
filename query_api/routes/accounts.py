"""Account views: one account, lists of accounts, an account's statement."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from query_api.deps import Consistent, Page, Reader, ReadModels, visible_to
from query_api.errors import (
    AccountNotFoundError,
    ConsistencyTokenError,
    InvalidCursorError,
    InvalidRangeError,
    PageSizeError,
)
from query_api.parameters import CurrencyCode, StatusFilter, Timestamp
from query_api.problems import query_responses
from query_api.schemas.accounts import AccountOut, AccountPage, StatementLineOut, StatementPage
from query_api.views import accounts
from query_api.views.served import ACCOUNTS

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

PAGING = (InvalidCursorError, PageSizeError)


@router.get(
    "",
    response_model=AccountPage,
    responses=query_responses(422, refusals=(*PAGING, ConsistencyTokenError)),
    summary="List accounts",
)
async def list_accounts(
    principal: Reader,
    store: ReadModels,
    page: Page,
    consistency: Consistent,
    owner_id: Annotated[UUID | None, Query(description="Only this owner's accounts")] = None,
    status: Annotated[
        StatusFilter | None, Query(description="Only accounts in this status")
    ] = None,
    currency: Annotated[CurrencyCode | None, Query(description="ISO 4217 code")] = None,
) -> AccountPage:
    """Accounts matching every filter given, ordered by account id, a page at a time.

    A position token waits until the accounts projection has applied every event up to it.
    """
    if not principal.acts_for_any_owner:
        if owner_id is not None and not visible_to(principal, owner_id):
            return AccountPage(items=[], next_cursor=None)  # another owner's: nothing to see
        owner_id = principal.owner_id
        if owner_id is None:
            return AccountPage(items=[], next_cursor=None)  # acts for no owner at all
    filters = accounts.AccountFilters(owner_id=owner_id, status=status, currency=currency)
    listing = accounts.account_list(filters, page)
    await consistency.projection(ACCOUNTS)
    found = await listing.read(store)
    return AccountPage(
        items=[AccountOut.from_document(document) for document in found.documents],
        next_cursor=found.next_cursor,
    )


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    responses=query_responses(404, 422, refusals=(ConsistencyTokenError,)),
    summary="Read an account's summary",
)
async def get_account(
    account_id: UUID, store: ReadModels, consistency: Consistent, principal: Reader
) -> AccountOut:
    """The account's balance, status and version as the read model has it.

    With a version or position token from a command, waits (bounded) until the summary
    reflects it; `X-Consistency` says whether it did (`fresh`) or the wait ran out (`stale`).
    """
    await consistency.account(account_id)
    document = await accounts.find_account(store, account_id)
    if document is None or not visible_to(principal, document.get("owner_id")):
        raise AccountNotFoundError(account_id)  # another owner's account is "not found" too
    return AccountOut.from_document(document)


@router.get(
    "/{account_id}/statement",
    response_model=StatementPage,
    responses=query_responses(
        404, 422, refusals=(*PAGING, InvalidRangeError, ConsistencyTokenError)
    ),
    summary="Read an account's statement",
)
async def get_statement(
    account_id: UUID,
    store: ReadModels,
    page: Page,
    consistency: Consistent,
    principal: Reader,
    start: Annotated[
        Timestamp | None,
        Query(alias="from", description="RFC 3339; lines at or after this instant"),
    ] = None,
    end: Annotated[
        Timestamp | None, Query(alias="to", description="RFC 3339; lines before this instant")
    ] = None,
) -> StatementPage:
    """The account's money movements in `[from, to)`, **newest first**, a page at a time.

    Each line carries the running balance after it. Ties on the instant are broken by the
    account version, so the order is total and pages are stable while lines are added.
    """
    if start is not None and end is not None and start > end:
        raise InvalidRangeError(f"from ({start.isoformat()}) is after to ({end.isoformat()}).")
    lines = accounts.statement(account_id, accounts.Period(start=start, end=end), page)
    await consistency.statement(account_id)
    account = await accounts.find_account(store, account_id)
    if account is None or not visible_to(principal, account.get("owner_id")):
        raise AccountNotFoundError(account_id)
    found = await lines.read(store)
    return StatementPage(
        account_id=account_id,
        items=[StatementLineOut.from_document(document) for document in found.documents],
        next_cursor=found.next_cursor,
    )
