"""The operator endpoints' errors (`projectors.operations`): status, problem type, example."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import CommitFailedError, KafkaConnectionError
from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from infra.observability.traces import TraceBackendUnavailableError, TraceNotFoundError
from infra.problems import problem_responses
from projectors.engine.groups import GroupStillActiveError
from projectors.operations.operations import (
    NotRetryableError,
    OperationInProgressError,
    UnknownProjectionError,
)
from query_api.problems import PROBLEMS, ProblemMapping, examples, install_problems

ADMIN_PROBLEMS: dict[type[Exception], ProblemMapping] = {
    UnknownProjectionError: ProblemMapping(
        404,
        "projection-not-found",
        "Projection not found",
        "no projection named 'acounts' (known: account_statements, accounts, daily_volume, "
        "owner_portfolios, transfers)",
    ),
    OperationInProgressError: ProblemMapping(
        409,
        "operation-in-progress",
        "Operation in progress",
        "another operator command (a rebuild, a reset…) is running on accounts",
    ),
    GroupStillActiveError: ProblemMapping(
        409,
        "workers-still-consuming",
        "Workers still consuming",
        "1 consumer(s) still in group 'projector.accounts_v1' after 8 s",
    ),
    # A worker rejoined the group while the reset committed its offsets (found by the
    # contract test under load): nothing was committed, the operator may try again.
    CommitFailedError: ProblemMapping(
        409,
        "consumer-group-rebalanced",
        "Consumer group rebalanced",
        "the group rebalanced while the offsets were committed; nothing changed, try again",
    ),
    NotRetryableError: ProblemMapping(
        422,
        "dead-letter-not-retryable",
        "Dead letter not retryable",
        "not Ledger events, so nothing to apply: *:ledger.events:0:42 (discard them)",
    ),
    TraceNotFoundError: ProblemMapping(
        404,
        "trace-not-found",
        "Trace not found",
        "no trace 4bf92f3577b34da6a3ce929d0e0e4736 is known to the trace backend",
    ),
    # Its own detail says which backend and how it failed: the operator runs it (the
    # stack's Jaeger), so there is no secret to hide and much to gain.
    TraceBackendUnavailableError: ProblemMapping(
        503,
        "trace-backend-unavailable",
        "Trace backend unavailable",
        "the trace backend at http://127.0.0.1:16686 did not answer (ConnectError: "
        "All connection attempts failed)",
    ),
    KafkaConnectionError: ProblemMapping(
        503,
        "message-broker-unavailable",
        "Message broker unavailable",
        "Kafka did not answer; try again shortly.",
        detail="Kafka did not answer; try again shortly.",
    ),
}

# The read store's outage is the query API's own problem (`query_api.problems`), answered
# by the operator routes too.
ADMIN_CATALOGUE = examples((*ADMIN_PROBLEMS.values(), PROBLEMS[ConnectionFailure]))


def admin_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of an operator route: every problem it can answer, with examples."""
    return problem_responses(*statuses, 503, 500, catalogue=ADMIN_CATALOGUE)


def install_admin_problems(app: FastAPI) -> None:
    """Render every operator error as its problem (handlers are the whole app's)."""
    install_problems(app, ADMIN_PROBLEMS)
