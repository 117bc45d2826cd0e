"""Authentication and authorisation failures as problem details, with RFC 6750 challenges.

One table says how each error is answered: the kind of problem (status, type, title), the
detail, the headers and the extensions, and how loudly it is logged; one handler answers
every error of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.problems import ProblemExample, problem_response
from infra.security.auth.errors import (
    AuthError,
    InsufficientScopeError,
    KeySetUnavailableError,
    OwnerAccessDeniedError,
    RejectionReason,
    TokenRejectedError,
)
from infra.security.auth.scopes import scope_text

log = logging.getLogger(__name__)

REALM = "ledger"
KEYS_RETRY_AFTER_SECONDS = 5

AUTHENTICATION_REQUIRED = ProblemExample(
    401, "authentication-required", "Authentication required", "No bearer token was sent."
)
INVALID_TOKEN = ProblemExample(401, "invalid-token", "Invalid token", "The token has expired.")
INSUFFICIENT_SCOPE = ProblemExample(
    403,
    "insufficient-scope",
    "Insufficient scope",
    "This operation requires the scope(s): ledger:write.",
)
OWNER_FORBIDDEN = ProblemExample(
    403, "owner-forbidden", "Not permitted for this owner", "This token may not act for it."
)
AUTHENTICATION_UNAVAILABLE = ProblemExample(
    503,
    "authentication-unavailable",
    "Authentication unavailable",
    "The token issuer's keys cannot be fetched; try again shortly.",
)

# What the OpenAPI document shows of every secured operation.
AUTH_PROBLEMS = (
    AUTHENTICATION_REQUIRED,
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    OWNER_FORBIDDEN,
    AUTHENTICATION_UNAVAILABLE,
)


@dataclass(frozen=True)
class AuthAnswer:
    """How one auth error is answered."""

    problem: ProblemExample
    detail: str
    headers: Mapping[str, str] | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    log_level: int | None = None
    """Logged at this level (with the error) when set."""


def _token_rejected(error: TokenRejectedError) -> AuthAnswer:
    if error.reason is RejectionReason.MISSING_TOKEN:
        # RFC 6750 §3.1: no error code when the request carried no credentials at all.
        challenge = _challenge()
        problem = AUTHENTICATION_REQUIRED
    else:
        challenge = _challenge("invalid_token", error.detail)
        problem = INVALID_TOKEN
    return AuthAnswer(
        problem,
        error.detail,
        headers={"WWW-Authenticate": challenge},
        extensions={"reason": error.reason},
        log_level=logging.INFO,
    )


def _insufficient_scope(error: InsufficientScopeError) -> AuthAnswer:
    needed = scope_text(error.required)
    return AuthAnswer(
        INSUFFICIENT_SCOPE,
        f"This operation requires the scope(s): {needed}.",
        headers={"WWW-Authenticate": _challenge("insufficient_scope", scope=needed)},
        extensions={
            "required_scopes": sorted(error.required),
            "missing_scopes": sorted(error.missing),
        },
    )


def _owner_forbidden(error: OwnerAccessDeniedError) -> AuthAnswer:
    return AuthAnswer(
        OWNER_FORBIDDEN,
        f"This token may not act for owner {error.owner_id}.",
        extensions={"owner_id": str(error.owner_id)},
    )


def _keys_unavailable(error: KeySetUnavailableError) -> AuthAnswer:
    return AuthAnswer(
        AUTHENTICATION_UNAVAILABLE,
        AUTHENTICATION_UNAVAILABLE.detail,
        headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
        log_level=logging.ERROR,
    )


# Each function takes the error type it is listed under.
ANSWERS: Mapping[type[AuthError], Callable[[Any], AuthAnswer]] = {
    TokenRejectedError: _token_rejected,
    InsufficientScopeError: _insufficient_scope,
    OwnerAccessDeniedError: _owner_forbidden,
    KeySetUnavailableError: _keys_unavailable,
}


def install_auth_problems(app: FastAPI) -> None:
    """Answer every auth error with a problem document and the right challenge header."""
    for error_type in ANSWERS:
        app.add_exception_handler(error_type, auth_problem)  # type: ignore[arg-type]


async def auth_problem(request: Request, error: AuthError) -> JSONResponse:
    """The problem document of an auth error of `ANSWERS`."""
    answer = next(ANSWERS[kind] for kind in type(error).__mro__ if kind in ANSWERS)(error)
    if answer.log_level is not None:
        log.log(
            answer.log_level,
            "%s on %s %s: %s",
            answer.problem.slug,
            request.method,
            request.url.path,
            error,
        )
    return problem_response(
        answer.problem.status,
        answer.problem.slug,
        answer.problem.title,
        answer.detail,
        instance=request.url.path,
        headers=answer.headers,
        **answer.extensions,
    )


def _challenge(error: str | None = None, description: str | None = None, **extra: str) -> str:
    parameters = {"realm": REALM}
    if error is not None:
        parameters["error"] = error
    if description is not None:
        parameters["error_description"] = description
    parameters.update(extra)
    # RFC 6750 §3: quoted values may contain neither `"` nor `\`.
    quoted = (f'{name}="{_quotable(value)}"' for name, value in parameters.items())
    return "Bearer " + ", ".join(quoted)


def _quotable(value: str) -> str:
    return "".join(c for c in value if c not in '"\\' and " " <= c <= "~")
