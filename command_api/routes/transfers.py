"""Transfer commands."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from command_api.deps import NewCommand
from command_api.problems import command_problems
from command_api.schemas import CommandAccepted, TransferIn

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])


def transfer_location(transfer_id: str) -> str:
    """Where the transfer's status view lives."""
    return f"/v1/transfers/{transfer_id}"


@router.post(
    "",
    status_code=202,
    response_model=CommandAccepted,
    responses=command_problems(404, 409, 422),
    summary="Request a transfer",
)
def request_transfer(body: TransferIn, command: NewCommand) -> JSONResponse:
    """Request a transfer between two accounts in the source's currency.

    Accepted (202): the transfer process then debits the source and credits the target,
    or fails the transfer (reversing the debit if needed). Follow it at `Location`.
    The caller must act for the source account's owner; the target may be anyone's.
    """
    ledger = command.on_account(body.source_account_id)
    return command.run(
        body,
        lambda context: ledger.request_transfer(
            body.source_account_id,
            body.target_account_id,
            body.amount,
            body.reference,
            context=context,
        ),
        status=202,
        location=transfer_location,
    )
