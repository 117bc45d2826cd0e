"""RFC 9457 problem details: one response shape for every error either API returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://problems.ledger.example/"


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_type(slug: str) -> str:
    """The stable URI of one kind of problem."""
    return PROBLEM_BASE + slug


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


@dataclass(frozen=True)
class ProblemExample:
    """One kind of problem, as documented in OpenAPI."""

    status: int
    slug: str
    title: str
    detail: str

    def body(self) -> dict[str, Any]:
        """An example problem document."""
        return {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": "/v1/...",
        }


COMMON_PROBLEMS = (
    ProblemExample(404, "not-found", "Not found", "No route matches this path."),
    ProblemExample(
        422,
        "validation-error",
        "The request is not valid",
        "body.amount: Input should be greater than 0",
    ),
    ProblemExample(413, "content-too-large", "Content too large", "Request bodies are limited."),
    ProblemExample(
        500, "internal-error", "Internal server error", "The server failed; it has been logged."
    ),
)


def problem_responses(
    *statuses: int, catalogue: Sequence[ProblemExample] = ()
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: a problem schema and an example of every problem type."""
    known = (*catalogue, *COMMON_PROBLEMS)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        examples = {
            e.slug: {"summary": e.title, "value": e.body()} for e in known if e.status == status
        }
        responses[status] = {
            "model": Problem,
            "content": {PROBLEM_JSON: {"examples": examples}},
            "description": _TITLES.get(status, "Error"),
        }
    return responses


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def unreadable_body(request: Request) -> JSONResponse:
    """A body FastAPI could not even decode (not UTF-8): the same problem as malformed JSON.

    FastAPI answers a JSON syntax error with a validation error (422) but bytes that are
    not UTF-8 with a bare 400; to a client both are "the body is not JSON" (RFC 8259 JSON
    is UTF-8), so both get the documented 422 `validation-error`. Our routes raise no 400.
    """
    errors = [{"location": ["body"], "message": "Body is not UTF-8 JSON", "type": "json_invalid"}]
    return problem_response(
        422,
        "validation-error",
        "The request is not valid",
        "body: Body is not UTF-8 JSON",
        instance=request.url.path,
        errors=errors,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render validation errors, HTTP errors and unexpected failures as problem details."""

    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": list(e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in error.errors()
        ]
        return problem_response(
            422,
            "validation-error",
            "The request is not valid",
            "; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors),
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:
            return unreadable_body(request)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem_response(
            error.status_code,
            slug,
            _TITLES.get(error.status_code, "HTTP error"),
            str(error.detail),
            instance=request.url.path,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem_response(
            500,
            "internal-error",
            "Internal server error",
            "The server failed to handle this request; it has been logged.",
            instance=request.url.path,
        )
