"""`require_scope` and `install_authentication` on a FastAPI app, with an in-memory JWKS."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI

from infra.problems import install_problem_handlers
from infra.security.auth import (
    SECURITY_SCHEME_NAME,
    AuthConfigurationError,
    Principal,
    install_authentication,
    operation_scopes,
    require_scope,
)
from infra.settings import AuthSettings
from tests.auth_fixtures import (
    ISSUER,
    StaticKeySource,
    bearer,
    generate_key,
    http_client,
    local_verifier,
    mint,
    protected_app,
    valid_claims,
)

KEY = generate_key()
SETTINGS = AuthSettings(issuer=ISSUER, jwks_url=f"{ISSUER}/jwks")


def app_with_key(scope: str = "ledger:read") -> FastAPI:
    return protected_app(SETTINGS, verifier=local_verifier(StaticKeySource(KEY)), scope=scope)


async def get(
    app: FastAPI, headers: dict[str, str] | None = None, path: str = "/protected"
) -> httpx.Response:
    async with http_client(app) as client:
        return await client.get(path, headers=headers or {})


async def test_a_valid_token_with_the_scope_gets_through() -> None:
    response = await get(app_with_key(), bearer(mint(KEY, valid_claims())))

    assert response.status_code == 200
    assert response.json()["subject"] == "client-1"


async def test_no_token_is_401_with_a_bare_bearer_challenge() -> None:
    response = await get(app_with_key())

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="ledger"'
    assert response.json()["reason"] == "missing_token"


async def test_an_invalid_token_is_401_invalid_token_with_the_reason() -> None:
    response = await get(app_with_key(), bearer("garbage"))

    body = response.json()
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="ledger", error="invalid_token"'
    )
    assert body["type"].endswith("/invalid-token")
    assert body["reason"] == "malformed_token"
    assert "garbage" not in response.text


async def test_a_token_in_the_query_string_is_ignored() -> None:
    token = mint(KEY, valid_claims())

    response = await get(app_with_key(), path=f"/protected?access_token={token}")

    assert response.status_code == 401


async def test_another_authorization_scheme_counts_as_no_token() -> None:
    response = await get(app_with_key(), {"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.json()["reason"] == "missing_token"


async def test_a_missing_scope_is_403_insufficient_scope() -> None:
    response = await get(app_with_key("ledger:write"), bearer(mint(KEY, valid_claims())))

    body = response.json()
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="ledger:write"' in response.headers["www-authenticate"]
    assert body["type"].endswith("/insufficient-scope")
    assert body["missing_scopes"] == ["ledger:write"]


def test_each_operation_lists_its_scopes_in_the_openapi() -> None:
    app = app_with_key()

    @app.post("/both")
    async def both(
        principal: Annotated[Principal, require_scope("ledger:write", "events:read")],
    ) -> None: ...

    @app.get("/open")
    async def open_route() -> None: ...

    paths = app.openapi()["paths"]
    assert operation_scopes(paths["/protected"]["get"]) == {"ledger:read"}
    assert paths["/both"]["post"]["security"] == [
        {SECURITY_SCHEME_NAME: ["ledger:write", "events:read"]}
    ]
    assert operation_scopes(paths["/open"]["get"]) == frozenset()


def test_the_openapi_describes_client_credentials_with_the_token_url() -> None:
    settings = AuthSettings(issuer=ISSUER, jwks_url=f"{ISSUER}/jwks", token_url=f"{ISSUER}/token")
    app = protected_app(settings, verifier=local_verifier(StaticKeySource(KEY)))

    scheme = app.openapi()["components"]["securitySchemes"][SECURITY_SCHEME_NAME]

    flow = scheme["flows"]["clientCredentials"]
    assert scheme["type"] == "oauth2"
    assert flow["tokenUrl"] == f"{ISSUER}/token"
    assert {"ledger:read", "ledger:write", "events:read", "projections:admin"} <= set(
        flow["scopes"]
    )


def test_secured_operations_document_their_auth_problems_with_examples() -> None:
    responses = app_with_key().openapi()["paths"]["/protected"]["get"]["responses"]

    for status in ("401", "403"):
        examples = responses[status]["content"]["application/problem+json"]["examples"]
        assert examples, status
    assert "invalid-token" in responses["401"]["content"]["application/problem+json"]["examples"]


def test_unknown_scopes_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="ledger:raed"):
        require_scope("ledger:raed")


def test_an_app_without_issuer_or_jwks_refuses_to_build() -> None:
    with pytest.raises(AuthConfigurationError, match="LEDGER_AUTH_DISABLED_FOR_DEVELOPMENT"):
        install_authentication(FastAPI(), AuthSettings())


async def test_the_development_flag_lets_everyone_in_and_says_so_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        app = protected_app(AuthSettings(disabled_for_development=True), scope="projections:admin")

    response = await get(app)

    assert response.status_code == 200
    assert response.json()["subject"] == "development"
    assert "AUTHENTICATION IS DISABLED" in caplog.text


async def test_a_route_requiring_a_scope_on_an_app_without_auth_fails_closed() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/protected")
    async def protected(principal: Annotated[Principal, require_scope("ledger:read")]) -> Any:
        return {"subject": principal.subject}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        response = await client.get("/protected", headers=bearer(mint(KEY, valid_claims())))

    assert response.status_code == 500
