"""The one table mapping each query error to an HTTP status and a problem type."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure

from infra.eventstore.reader import EventStoreUnavailableError
from infra.problems import ProblemExample, problem_response, problem_responses
from query_api import errors
from query_api.consistency.tokens import CONSISTENCY_HEADER

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "1"


@dataclass(frozen=True)
class ProblemMapping:
    """How one error type is shown to clients; `detail` replaces the error's own text."""

    status: int
    slug: str
    title: str
    example: str
    detail: str | None = None


PROBLEMS: dict[type[Exception], ProblemMapping] = {
    errors.AccountNotFoundError: ProblemMapping(
        404, "account-not-found", "Account not found", "No account 3f1c… is known."
    ),
    errors.OwnerNotFoundError: ProblemMapping(
        404, "owner-not-found", "Owner not found", "No portfolio of owner 0b9a… is known."
    ),
    errors.TransferNotFoundError: ProblemMapping(
        404, "transfer-not-found", "Transfer not found", "No transfer 5d4c… is known."
    ),
    errors.InvalidCursorError: ProblemMapping(
        422,
        "invalid-cursor",
        "Invalid cursor",
        "The cursor is not valid: it was issued for a different query.",
    ),
    errors.InvalidRangeError: ProblemMapping(
        422, "invalid-range", "Invalid range", "from (2026-12-01) is after to (2026-11-01)."
    ),
    errors.PageSizeError: ProblemMapping(
        422, "page-too-large", "Page too large", "limit is 1000; at most 500 items fit on a page."
    ),
    errors.ConsistencyTokenError: ProblemMapping(
        422,
        "invalid-consistency-token",
        "Invalid consistency token",
        "This view spans many aggregates: give a position token, not a version.",
    ),
    errors.AsOfPointError: ProblemMapping(
        422,
        "invalid-as-of-point",
        "Invalid point in time",
        "Give exactly one of version and at: each alone names the point in time.",
    ),
    errors.UnknownEventTypeFilterError: ProblemMapping(
        422, "unknown-event-type", "Unknown event type", "unknown event type(s): MoneyPrinted"
    ),
    errors.HistoryNotFoundError: ProblemMapping(
        404,
        "history-not-found",
        "No history",
        "Account 3f1c… has no recorded history at that point.",
    ),
    ConnectionFailure: ProblemMapping(
        503,
        "read-store-unavailable",
        "Read store unavailable",
        "The read store did not answer; try again shortly.",
        detail="The read store did not answer; try again shortly.",
    ),
    EventStoreUnavailableError: ProblemMapping(
        503,
        "event-store-unavailable",
        "Event store unavailable",
        "The event store, needed for this consistency token, did not answer; try again.",
        detail="The event store, needed for this consistency token, did not answer; try again.",
    ),
}


def examples(mappings: Iterable[ProblemMapping]) -> tuple[ProblemExample, ...]:
    """The OpenAPI examples of these problems."""
    return tuple(ProblemExample(m.status, m.slug, m.title, m.example) for m in mappings)


CONSISTENCY_HEADER_DOC = {
    CONSISTENCY_HEADER: {
        "description": "`fresh`: the view reflects the request's consistency token (or there "
        "was none); `stale`: the wait ran out and this is what the view had.",
        "schema": {"type": "string", "enum": ["fresh", "stale"]},
    }
}


def query_responses(
    *statuses: int, refusals: Iterable[type[errors.QueryError]] = ()
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a query route: `X-Consistency`, and every problem it can answer.

    `refusals` are the route's 422s beyond schema validation: rules JSON Schema cannot
    express (two tokens at once, a cursor we did not issue...). Only those are listed, so
    a client (and the contract test) can tell a documented refusal from a broken promise.
    """
    wanted = set(refusals)
    catalogue = examples(
        mapping
        for error_type, mapping in PROBLEMS.items()
        if mapping.status != 422 or error_type in wanted
    )
    responses = problem_responses(*statuses, 503, 500, catalogue=catalogue)
    if 404 in responses:  # a view missing after the wait says whether the wait ran out
        responses[404]["headers"] = CONSISTENCY_HEADER_DOC
    return {200: {"headers": CONSISTENCY_HEADER_DOC}, **responses}


def install_query_problems(app: FastAPI) -> None:
    """Render every query error as its problem."""
    install_problems(app, PROBLEMS)


def install_problems(app: FastAPI, table: dict[type[Exception], ProblemMapping]) -> None:
    """Render every error of `table` as its problem."""
    for error_type, mapping in table.items():
        app.add_exception_handler(error_type, _handler(mapping))


def _handler(mapping: ProblemMapping) -> Any:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        if mapping.status >= 500:
            log.warning("%s on %s: %s", mapping.slug, request.url.path, error)
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if mapping.status == 503 else None
        return problem_response(
            mapping.status,
            mapping.slug,
            mapping.title,
            mapping.detail or str(error),
            instance=request.url.path,
            headers=headers,
        )

    return handle
