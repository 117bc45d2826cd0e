"""The one table mapping each domain error to an HTTP status and a problem type."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from domain import errors
from infra.problems import ProblemExample, problem_response, problem_responses

log = logging.getLogger(__name__)


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

# The library's errors for a database it cannot reach, or a connection the server dropped
# (a restart): the command may be retried with the same Idempotency-Key, never a 500.
STORE_UNREACHABLE = (OperationalError, InterfaceError)
STORE_RETRY_AFTER_SECONDS = "1"

EXAMPLE_DETAILS = {
    "account-not-found": "Account 3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b not found",
    "insufficient-funds": "Account 3f1c2b4e-… cannot pay 5000 EUR: balance 1200, overdraft 0",
    "account-frozen": "Account 3f1c2b4e-… is frozen: suspected fraud",
    "account-closed": "Account 3f1c2b4e-… is closed",
    "account-not-empty": "Account 3f1c2b4e-… still holds 1200 EUR",
    "version-mismatch": "Aggregate 3f1c2b4e-… is at version 7, If-Match expected 5",
    "currency-mismatch": "Currency mismatch for account 7a6b5c4d-…: expected USD, got EUR",
    "unknown-currency": "Unknown currency: 'XXY'",
    "same-account-transfer": "Cannot transfer from account 3f1c2b4e-… to itself",
}

# What each problem looks like in the OpenAPI document.
CATALOGUE = (
    *(
        ProblemExample(m.status, m.slug, m.title, EXAMPLE_DETAILS.get(m.slug, m.title))
        for m in PROBLEMS.values()
    ),
    ProblemExample(
        422,
        "idempotency-key-reused",
        "Idempotency key reused with a different request",
        "This Idempotency-Key was first used with another method, path or body.",
    ),
    # Domain rules without a problem type of their own (unfreezing an account that is not
    # frozen, closing one with transfers pending) answer with the fallback: document it.
    ProblemExample(
        FALLBACK.status,
        FALLBACK.slug,
        FALLBACK.title,
        "Account 3f1c2b4e-… is not frozen",
    ),
)


def command_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for a command route: every problem it can answer with."""
    return problem_responses(*statuses, 413, 500, 503, catalogue=CATALOGUE)


def mapping_for(error: errors.LedgerError) -> ProblemMapping:
    """The mapping of the most specific registered class of `error`."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return FALLBACK


def install_domain_problems(app: FastAPI) -> None:
    """Render every LedgerError through the table above, and an unreachable store as a 503."""

    @app.exception_handler(errors.LedgerError)
    async def ledger_error(request: Request, error: errors.LedgerError) -> JSONResponse:
        mapping = mapping_for(error)
        return problem_response(
            mapping.status, mapping.slug, mapping.title, str(error), instance=request.url.path
        )

    for error_type in STORE_UNREACHABLE:
        app.add_exception_handler(error_type, store_unreachable)


async def store_unreachable(request: Request, error: Exception) -> JSONResponse:
    """A 503 with Retry-After: the store is down or restarting, and the command retryable."""
    log.warning("event store unreachable on %s: %s", request.url.path, error)
    return problem_response(
        503,
        "event-store-unavailable",
        "Event store unavailable",
        "The event store did not answer; retry with the same Idempotency-Key.",
        instance=request.url.path,
        headers={"Retry-After": STORE_RETRY_AFTER_SECONDS},
    )
