"""Both APIs publish OpenAPI documents with examples for every body and every error."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from command_api.app import create_app as create_command_app
from infra.security.auth import KNOWN_SCOPES, operation_scopes
from infra.settings import AuthSettings, Settings
from query_api.app import create_app as create_query_app

APPS = {"command": create_command_app, "query": create_query_app}
SETTINGS = Settings(
    auth=AuthSettings(issuer="https://issuer.test", jwks_url="https://issuer.test/jwks.json")
)


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    spec = app.openapi()
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/")
    ]


def schema_of(app: FastAPI, reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = app.openapi()["components"]["schemas"][name]
    return schema


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_error_response_is_a_problem_with_an_example(name: str) -> None:
    app = APPS[name](SETTINGS)
    for method, path, operation in operations(app):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]["application/problem+json"]
            assert content["examples"], f"{method.upper()} {path} {status} has no example"


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_success_body_has_an_example(name: str) -> None:
    app = APPS[name](SETTINGS)
    for method, path, operation in operations(app):
        success = next(r for s, r in operation["responses"].items() if int(s) < 300)
        if "application/json" not in success["content"]:  # a stream: its own example
            assert all(c.get("example") for c in success["content"].values()), path
            continue
        schema = success["content"]["application/json"]["schema"]
        if "$ref" in schema:
            assert schema_of(app, schema).get("examples"), f"{method.upper()} {path} success"


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_request_body_has_an_example(name: str) -> None:
    app = APPS[name](SETTINGS)
    for method, path, operation in operations(app):
        body = operation.get("requestBody")
        if body is not None:
            schema = body["content"]["application/json"]["schema"]
            # An optional body is `anyOf: [{$ref}, {type: null}]`.
            models = [s for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]
            assert models, f"{method.upper()} {path} body has no schema"
            for model in models:
                assert schema_of(app, model).get("examples"), f"{method.upper()} {path} body"


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_v1_route_declares_the_scope_it_needs(name: str) -> None:
    app = APPS[name](SETTINGS)
    for method, path, operation in operations(app):
        scopes = operation_scopes(operation)
        assert scopes and scopes <= KNOWN_SCOPES, f"{method.upper()} {path} declares no scope"
