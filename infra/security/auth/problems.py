"""Authentication and authorisation failures as problem details, with RFC 6750 challenges."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.problems import ProblemExample, problem_response
from infra.security.auth.errors import (
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

AUTH_PROBLEMS = (
    ProblemExample(
        401, "authentication-required", "Authentication required", "No bearer token was sent."
    ),
    ProblemExample(401, "invalid-token", "Invalid token", "The token has expired."),
    ProblemExample(
        403,
        "insufficient-scope",
        "Insufficient scope",
        "This operation requires the scope(s): ledger:write.",
    ),
    ProblemExample(
        403, "owner-forbidden", "Not permitted for this owner", "This token may not act for it."
    ),
    ProblemExample(
        503,
        "authentication-unavailable",
        "Authentication unavailable",
        "The token issuer's keys cannot be fetched; try again shortly.",
    ),
)


def install_auth_problems(app: FastAPI) -> None:
    """Answer every auth error with a problem document and the right challenge header."""

    @app.exception_handler(TokenRejectedError)
    async def token_rejected(request: Request, error: TokenRejectedError) -> JSONResponse:
        log.info("bearer token refused on %s %s: %s", request.method, request.url.path, error)
        if error.reason is RejectionReason.MISSING_TOKEN:
            # RFC 6750 §3.1: no error code when the request carried no credentials at all.
            return problem_response(
                401,
                "authentication-required",
                "Authentication required",
                error.detail,
                instance=request.url.path,
                headers={"WWW-Authenticate": _challenge()},
                reason=error.reason,
            )
        return problem_response(
            401,
            "invalid-token",
            "Invalid token",
            error.detail,
            instance=request.url.path,
            headers={"WWW-Authenticate": _challenge("invalid_token", error.detail)},
            reason=error.reason,
        )

    @app.exception_handler(InsufficientScopeError)
    async def insufficient_scope(request: Request, error: InsufficientScopeError) -> JSONResponse:
        needed = scope_text(error.required)
        return problem_response(
            403,
            "insufficient-scope",
            "Insufficient scope",
            f"This operation requires the scope(s): {needed}.",
            instance=request.url.path,
            headers={"WWW-Authenticate": _challenge("insufficient_scope", scope=needed)},
            required_scopes=sorted(error.required),
            missing_scopes=sorted(error.missing),
        )

    @app.exception_handler(OwnerAccessDeniedError)
    async def owner_forbidden(request: Request, error: OwnerAccessDeniedError) -> JSONResponse:
        return problem_response(
            403,
            "owner-forbidden",
            "Not permitted for this owner",
            f"This token may not act for owner {error.owner_id}.",
            instance=request.url.path,
            owner_id=str(error.owner_id),
        )

    @app.exception_handler(KeySetUnavailableError)
    async def keys_unavailable(request: Request, error: KeySetUnavailableError) -> JSONResponse:
        log.error("cannot verify bearer tokens: %s", error)
        return problem_response(
            503,
            "authentication-unavailable",
            "Authentication unavailable",
            "The token issuer's keys cannot be fetched; try again shortly.",
            instance=request.url.path,
            headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
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
