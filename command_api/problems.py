"""The one table mapping each domain error to an HTTP status and a problem type."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from domain import errors
from infra.http_problems import problem_response


@dataclass(frozen=True)
class ProblemMapping:
    """How one error type is shown to clients."""

    status: int
    slug: str
    title: str


PROBLEMS: dict[type[errors.LedgerError], ProblemMapping] = {
    errors.AccountNotFoundError: ProblemMapping(404, "account-not-found", "Account not found"),
    errors.TransferNotFoundError: ProblemMapping(404, "transfer-not-found", "Transfer not found"),
    errors.InsufficientFundsError: ProblemMapping(409, "insufficient-funds", "Insufficient funds"),
    errors.AccountFrozenError: ProblemMapping(409, "account-frozen", "Account is frozen"),
    errors.AccountClosedError: ProblemMapping(409, "account-closed", "Account is closed"),
    errors.AccountNotEmptyError: ProblemMapping(
        409, "account-not-empty", "Account balance is not zero"
    ),
    errors.ConcurrencyConflictError: ProblemMapping(
        409, "concurrency-conflict", "Concurrent update conflict"
    ),
    errors.VersionMismatchError: ProblemMapping(
        412, "version-mismatch", "Version does not match If-Match"
    ),
    errors.CurrencyMismatchError: ProblemMapping(
        422, "currency-mismatch", "Currency does not match the account"
    ),
    errors.UnknownCurrencyError: ProblemMapping(422, "unknown-currency", "Unknown currency"),
    errors.InvalidAmountError: ProblemMapping(422, "invalid-amount", "Invalid amount"),
    errors.SameAccountTransferError: ProblemMapping(
        422, "same-account-transfer", "Source and target are the same account"
    ),
}
FALLBACK = ProblemMapping(422, "rule-violated", "Business rule violated")


def mapping_for(error: errors.LedgerError) -> ProblemMapping:
    """The mapping of the most specific registered class of `error`."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return FALLBACK


def install_domain_problems(app: FastAPI) -> None:
    """Render every LedgerError through the table above."""

    @app.exception_handler(errors.LedgerError)
    async def ledger_error(request: Request, error: errors.LedgerError) -> JSONResponse:
        mapping = mapping_for(error)
        return problem_response(
            mapping.status, mapping.slug, mapping.title, str(error), instance=request.url.path
        )
