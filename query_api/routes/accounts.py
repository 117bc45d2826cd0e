"""Account views."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from infra.http_problems import ProblemExample, problem_response, problem_responses
from projectors import accounts
from projectors.projection import as_text
from query_api.deps import ReadModels
from query_api.schemas import AccountOut

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
COLLECTION = accounts.PROJECTION.collection
QUERY_PROBLEMS = (
    ProblemExample(404, "account-not-found", "Account not found", "No account 3f1c… is known."),
)


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    responses=problem_responses(404, 422, catalogue=QUERY_PROBLEMS),
    summary="Read an account's summary",
)
async def get_account(
    account_id: UUID, database: ReadModels, request: Request
) -> AccountOut | JSONResponse:
    """The account's balance, status and version as the read model has it."""
    document = await database[COLLECTION].find_one({"_id": as_text(account_id)})
    if document is None:
        return problem_response(
            404,
            "account-not-found",
            "Account not found",
            f"No account {account_id} is known to the read model.",
            instance=request.url.path,
        )
    return AccountOut.from_document(document)
