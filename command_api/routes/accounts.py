"""Account commands."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from command_api.deps import ExpectedVersion, LedgerApp, Writer, owned_account
from command_api.execution import Describe, Runner
from command_api.problems import command_problems
from command_api.schemas import (
    CommandAccepted,
    DepositIn,
    FreezeIn,
    OpenAccountIn,
    WithdrawalIn,
)
from infra.security.auth import require_owner_access

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

CHANGE_RESPONSES = command_problems(404, 409, 412, 422)


def account_location(account_id: str) -> str:
    """Where the account's view lives (on the query API, behind the same gateway)."""
    return f"/v1/accounts/{account_id}"


@router.post(
    "",
    status_code=201,
    response_model=CommandAccepted,
    responses=command_problems(422),
    summary="Open an account",
)
def open_account(
    body: OpenAccountIn,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    principal: Writer,
) -> JSONResponse:
    """Open an account for an owner in one currency, with an optional overdraft limit."""
    require_owner_access(principal, body.owner_id)
    return runner.run(
        describe(body),
        lambda context: ledger.open_account(
            body.owner_id, body.currency, body.overdraft_limit, context=context
        ),
        status=201,
        location=account_location,
    )


@router.post(
    "/{account_id}/deposits",
    response_model=CommandAccepted,
    responses=CHANGE_RESPONSES,
    summary="Deposit money",
)
def deposit(
    account_id: UUID,
    body: DepositIn,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    version: ExpectedVersion,
    principal: Writer,
) -> JSONResponse:
    """Pay an amount in the account's currency into the account."""
    owned_account(ledger, principal, account_id)
    return runner.run(
        describe(body),
        lambda context: ledger.deposit(
            account_id,
            body.amount,
            body.reference,
            body.channel,
            context=context,
            expected_version=version,
        ),
    )


@router.post(
    "/{account_id}/withdrawals",
    response_model=CommandAccepted,
    responses=CHANGE_RESPONSES,
    summary="Withdraw money",
)
def withdraw(
    account_id: UUID,
    body: WithdrawalIn,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    version: ExpectedVersion,
    principal: Writer,
) -> JSONResponse:
    """Pay an amount out of the account, down to at most its overdraft limit."""
    owned_account(ledger, principal, account_id)
    return runner.run(
        describe(body),
        lambda context: ledger.withdraw(
            account_id, body.amount, body.reference, context=context, expected_version=version
        ),
    )


@router.post(
    "/{account_id}/freeze",
    response_model=CommandAccepted,
    responses=CHANGE_RESPONSES,
    summary="Freeze an account",
)
def freeze(
    account_id: UUID,
    body: FreezeIn,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    version: ExpectedVersion,
    principal: Writer,
) -> JSONResponse:
    """Stop all debits and incoming transfers; deposits are still accepted."""
    owned_account(ledger, principal, account_id)
    return runner.run(
        describe(body),
        lambda context: ledger.freeze(
            account_id, body.reason, context=context, expected_version=version
        ),
    )


@router.post(
    "/{account_id}/unfreeze",
    response_model=CommandAccepted,
    responses=CHANGE_RESPONSES,
    summary="Unfreeze an account",
)
def unfreeze(
    account_id: UUID,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    version: ExpectedVersion,
    principal: Writer,
) -> JSONResponse:
    """Lift a freeze."""
    owned_account(ledger, principal, account_id)
    return runner.run(
        describe(None),
        lambda context: ledger.unfreeze(account_id, context=context, expected_version=version),
    )


@router.post(
    "/{account_id}/close",
    response_model=CommandAccepted,
    responses=CHANGE_RESPONSES,
    summary="Close an account",
)
def close(
    account_id: UUID,
    ledger: LedgerApp,
    runner: Runner,
    describe: Describe,
    version: ExpectedVersion,
    principal: Writer,
) -> JSONResponse:
    """Close an account whose balance is zero and whose outgoing transfers are settled."""
    owned_account(ledger, principal, account_id)
    return runner.run(
        describe(None),
        lambda context: ledger.close_account(account_id, context=context, expected_version=version),
    )
