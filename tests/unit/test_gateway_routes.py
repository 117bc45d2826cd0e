"""The gateway's routing maps agree with the routes both APIs declare.

The maps are read from the nginx template and evaluated here the way nginx does (regexes
in order, first match wins); nginx itself answers them in tests/e2e (schemathesis's
`unsupported_method` check, through the gateway).
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache

import pytest

from command_api.app import create_app as create_command_app
from infra.stack.gateway.config import TEMPLATE
from query_api.app import create_app as create_query_app
from tests.unit.test_openapi import SETTINGS

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
PROBES = {"/health", "/ready"}


def nginx_map(name: str) -> list[tuple[re.Pattern[str], str]]:
    """The regex lines of the template's `map … $name { … }`, in order."""
    text = TEMPLATE.read_text()
    body = re.search(r"map [^{]*\$" + name + r" \{(.*?)\n    \}", text, re.S)
    assert body is not None, f"no map sets ${name}"
    lines = re.findall(r'"~([^"]+)"\s+("?)([^";]*)\2;', body.group(1))
    return [(re.compile(pattern), value) for pattern, _, value in lines]


def evaluate(name: str, subject: str) -> str:
    for pattern, value in nginx_map(name):
        if pattern.search(subject):
            return value
    return ""


@cache
def declared() -> dict[str, dict[str, str]]:
    """Every concrete /v1/ path (parameters filled in) → method → the API that serves it."""
    routes: dict[str, dict[str, str]] = defaultdict(dict)
    for api, create in (("command_api", create_command_app), ("query_api", create_query_app)):
        for template, operations in create(SETTINGS).openapi()["paths"].items():
            if template in PROBES:
                continue
            path = re.sub(r"\{[^}]+\}", "some-id", template)
            for method in operations:
                routes[path][method.upper()] = api
    return routes


def cases() -> list[tuple[str, str]]:
    return [(path, method) for path in sorted(declared()) for method in METHODS]


@pytest.mark.parametrize(("path", "method"), cases())
def test_each_declared_route_reaches_its_api_and_no_other_does(path: str, method: str) -> None:
    methods = declared()[path]
    expected = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
    if path.startswith("/v1/admin/"):
        expected = "query_api"  # the admin API answers every method itself, 405s included

    assert evaluate("ledger_api", f"{method} {path}") == (expected or "")


@pytest.mark.parametrize("path", sorted(declared()))
def test_a_path_allows_exactly_the_methods_its_apis_declare(path: str) -> None:
    allowed = sorted(declared()[path])

    assert evaluate("ledger_allow", path) == ", ".join(allowed)


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/accounts/some-id/nope", "/v1/transfers/a/b"])
def test_an_unknown_path_allows_nothing(path: str) -> None:
    assert evaluate("ledger_allow", path) == ""
    assert all(evaluate("ledger_api", f"{m} {path}") == "" for m in METHODS)
