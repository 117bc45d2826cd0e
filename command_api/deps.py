"""Dependencies of the command API's routes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request

from domain.errors import AccountNotFoundError
from domain.ledger import Ledger
from infra.security.auth import Principal, Scope, require_scope


# Dependencies that do no I/O are `async def`: FastAPI runs them on the event loop instead
# of handing each to the thread pool (a hop that cost ~60 µs of CPU per dependency).
async def ledger(request: Request) -> Ledger:
    """The Ledger application built by the app's lifespan."""
    application: Ledger = request.app.state.ledger
    return application


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The aggregate version the client last saw, as its ETag (`"3"`)'),
    ] = None,
) -> int | None:
    """The version named by `If-Match`; -1 (matches nothing) when it names none we issue."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() else -1


LedgerApp = Annotated[Ledger, Depends(ledger)]
ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def owned_account(ledger: Ledger, principal: Principal, account_id: UUID) -> None:
    """Refuse, as "not found", a command on an account the caller may not act for.

    404 rather than 403: a caller must not learn that another owner's account exists.
    """
    if principal.acts_for_any_owner:
        return
    if not principal.may_act_for(ledger.get_account(account_id).owner_id):
        raise AccountNotFoundError(account_id)


Writer = Annotated[Principal, require_scope(Scope.LEDGER_WRITE)]
