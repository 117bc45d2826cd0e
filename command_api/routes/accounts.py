"""Account commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from command_api.deps import AccountCommand, NewCommand
from command_api.problems import command_problems
from command_api.schemas import (
    CommandAccepted,
    DepositIn,
    FreezeIn,
    OpenAccountIn,
    WithdrawalIn,
)

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

CHANGE_RESPONSES = command_problems(404, 409, 412, 422)
Route = TypeVar("Route", bound=Callable[..., Any])


def account_location(account_id: str) -> str:
    """Where the account's view lives (on the query API, behind the same gateway)."""
    return f"/v1/accounts/{account_id}"


def account_change(path: str, summary: str) -> Callable[[Route], Route]:
    """Register a command on an existing account: 200 with its new version, or a problem."""
    return router.post(
        path, response_model=CommandAccepted, responses=CHANGE_RESPONSES, summary=summary
    )


@router.post(
    "",
    status_code=201,
    response_model=CommandAccepted,
    responses=command_problems(422),
    summary="Open an account",
)
def open_account(body: OpenAccountIn, command: NewCommand) -> JSONResponse:
    """Open an account for an owner in one currency, with an optional overdraft limit."""
    ledger = command.for_owner(body.owner_id)
    return command.run(
        body,
        lambda context: ledger.open_account(
            body.owner_id, body.currency, body.overdraft_limit, context=context
        ),
        status=201,
        location=account_location,
    )


@account_change("/{account_id}/deposits", "Deposit money")
def deposit(account_id: UUID, body: DepositIn, command: AccountCommand) -> JSONResponse:
    """Pay an amount in the account's currency into the account."""
    ledger, version = command.on_account(account_id), command.expected_version
    return command.run(
        body,
        lambda context: ledger.deposit(
            account_id,
            body.amount,
            body.reference,
            body.channel,
            context=context,
            expected_version=version,
        ),
    )


@account_change("/{account_id}/withdrawals", "Withdraw money")
def withdraw(account_id: UUID, body: WithdrawalIn, command: AccountCommand) -> JSONResponse:
    """Pay an amount out of the account, down to at most its overdraft limit."""
    ledger, version = command.on_account(account_id), command.expected_version
    return command.run(
        body,
        lambda context: ledger.withdraw(
            account_id, body.amount, body.reference, context=context, expected_version=version
        ),
    )


@account_change("/{account_id}/freeze", "Freeze an account")
def freeze(account_id: UUID, body: FreezeIn, command: AccountCommand) -> JSONResponse:
    """Stop all debits and incoming transfers; deposits are still accepted."""
    ledger, version = command.on_account(account_id), command.expected_version
    return command.run(
        body,
        lambda context: ledger.freeze(
            account_id, body.reason, context=context, expected_version=version
        ),
    )


@account_change("/{account_id}/unfreeze", "Unfreeze an account")
def unfreeze(account_id: UUID, command: AccountCommand) -> JSONResponse:
    """Lift a freeze."""
    ledger, version = command.on_account(account_id), command.expected_version
    return command.run(
        None,
        lambda context: ledger.unfreeze(account_id, context=context, expected_version=version),
    )


@account_change("/{account_id}/close", "Close an account")
def close(account_id: UUID, command: AccountCommand) -> JSONResponse:
    """Close an account whose balance is zero and whose outgoing transfers are settled."""
    ledger, version = command.on_account(account_id), command.expected_version
    return command.run(
        None,
        lambda context: ledger.close_account(account_id, context=context, expected_version=version),
    )
