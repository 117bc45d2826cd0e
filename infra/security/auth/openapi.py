"""The OAuth2 client-credentials scheme, and what every secured operation documents."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from infra.problems import PROBLEM_JSON, Problem
from infra.security.auth.problems import AUTH_PROBLEMS
from infra.security.auth.scopes import SCOPE_DESCRIPTIONS

SECURITY_SCHEME_NAME = "OAuth2"
PLACEHOLDER_TOKEN_URL = "/oauth/token"  # noqa: S105 (a path)
_RESPONSE_DESCRIPTIONS = {401: "Unauthorized", 403: "Forbidden", 503: "Service unavailable"}

# Reads the raw `Authorization` header (never a query parameter); the dependency parses it.
BEARER_SCHEME = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=PLACEHOLDER_TOKEN_URL, scopes=SCOPE_DESCRIPTIONS
        )
    ),
    scheme_name=SECURITY_SCHEME_NAME,
    description=(
        "OAuth2 bearer tokens (JWT) from the client-credentials grant. Each operation's "
        "`security` lists the scopes it requires."
    ),
    auto_error=False,
)


def document_authentication(app: FastAPI, token_url: str) -> None:
    """Name the real token URL and add the 401/403/503 problems to every secured operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe_authentication(generate(), token_url)
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


def describe_authentication(schema: dict[str, Any], token_url: str) -> None:
    """Edit a generated OpenAPI document in place."""
    components = schema.setdefault("components", {})
    scheme = components.get("securitySchemes", {}).get(SECURITY_SCHEME_NAME)
    if scheme is None:
        return
    scheme["flows"]["clientCredentials"]["tokenUrl"] = token_url
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and _is_secured(operation):
                _add_auth_responses(operation.setdefault("responses", {}))


def operation_scopes(operation: dict[str, Any]) -> frozenset[str]:
    """The scopes one OpenAPI operation requires (empty: the operation is not secured)."""
    scopes: set[str] = set()
    for requirement in operation.get("security", []):
        scopes.update(requirement.get(SECURITY_SCHEME_NAME, []))
    return frozenset(scopes)


def _is_secured(operation: dict[str, Any]) -> bool:
    return any(SECURITY_SCHEME_NAME in r for r in operation.get("security", []))


def _add_auth_responses(responses: dict[str, Any]) -> None:
    for status, description in _RESPONSE_DESCRIPTIONS.items():
        response = responses.setdefault(str(status), {"description": description})
        content = response.setdefault("content", {}).setdefault(
            PROBLEM_JSON, {"schema": {"$ref": "#/components/schemas/Problem"}}
        )
        examples = content.setdefault("examples", {})
        for problem in AUTH_PROBLEMS:
            if problem.status == status:
                examples.setdefault(
                    problem.slug, {"summary": problem.title, "value": problem.body()}
                )
