"""The OpenAPI documents describe the rules the code enforces beyond JSON Schema.

Each rule below once answered a schema-valid request with a status its operation did not
document; a client generated from the document could not expect it.
"""

from __future__ import annotations

from typing import Any

import pytest

from command_api.app import create_app as create_command_app
from infra.problems import problem_type
from query_api.app import create_app as create_query_app
from tests.unit.test_openapi import SETTINGS

QUERY = create_query_app(SETTINGS).openapi()
COMMAND = create_command_app(SETTINGS).openapi()


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def parameter(op: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in op["parameters"] if p["name"] == name)


def documented_problems(op: dict[str, Any], status: int) -> set[str]:
    response = op["responses"].get(str(status), {})
    examples = response.get("content", {}).get("application/problem+json", {})
    return {e["value"]["type"] for e in examples.get("examples", {}).values()}


def with_consistency_tokens(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, item["get"])
        for path, item in spec["paths"].items()
        if "get" in item
        and any(p["name"] == "X-Min-Position" for p in item["get"].get("parameters", []))
    ]


@pytest.mark.parametrize(("path", "op"), with_consistency_tokens(QUERY))
def test_views_document_that_two_consistency_tokens_are_refused(
    path: str, op: dict[str, Any]
) -> None:
    assert problem_type("invalid-consistency-token") in documented_problems(op, 422), path
    for name in ("X-Min-Version", "min_version", "X-Min-Position", "min_position"):
        assert "invalid-consistency-token" in parameter(op, name)["description"], (path, name)


def test_as_of_documents_that_version_and_at_exclude_each_other() -> None:
    op = operation(QUERY, "get", "/v1/accounts/{account_id}/as-of")

    assert problem_type("invalid-as-of-point") in documented_problems(op, 422)
    assert "not both" in parameter(op, "version")["description"]
    assert "not both" in parameter(op, "at")["description"]


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/stream"])
def test_an_event_type_filter_names_a_known_type_never_an_empty_one(path: str) -> None:
    schema = parameter(operation(QUERY, "get", path), "type")["schema"]
    items = schema["items"]

    assert items["minLength"] == 1
    assert "" not in items["enum"]
    assert "FundsDeposited" in items["enum"]


def test_views_list_only_the_refusals_they_can_answer() -> None:
    history = operation(QUERY, "get", "/v1/accounts/{account_id}/history")
    events = operation(QUERY, "get", "/v1/events")

    assert documented_problems(history, 422) == {problem_type("validation-error")}
    assert problem_type("invalid-consistency-token") not in documented_problems(events, 422)
    assert problem_type("unknown-event-type") in documented_problems(events, 422)


def commands(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, item["post"]) for path, item in spec["paths"].items() if "post" in item]


@pytest.mark.parametrize(("path", "op"), commands(COMMAND))
def test_commands_document_that_a_reused_idempotency_key_is_refused(
    path: str, op: dict[str, Any]
) -> None:
    assert problem_type("idempotency-key-reused") in documented_problems(op, 422), path
    assert "idempotency-key-reused" in parameter(op, "Idempotency-Key")["description"], path
