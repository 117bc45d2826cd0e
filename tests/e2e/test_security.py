"""Security at the edge, through the gateway: forged tokens, scopes, owners, hygiene.

Every request goes to the nginx gateway over HTTPS, as a client's would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from command_api.app import create_app as create_command_app
from infra.security.auth import KNOWN_SCOPES, Scope, operation_scopes
from infra.security.issuer.database import connector
from infra.security.issuer.signing_keys import SigningKeyStore
from query_api.app import create_app as create_query_app
from tests.auth_fixtures import (
    b64url,
    generate_key,
    issuer_signing_key,
    mint,
    unsigned_token,
    valid_claims,
)
from tests.e2e.conftest import SERVICE_SCOPES, RunningSystem
from tests.e2e.http_helpers import problem_slug

pytestmark = pytest.mark.e2e

OWNER_SCOPES = "ledger:read ledger:write events:read"


def claims(system: RunningSystem, **overrides: Any) -> dict[str, Any]:
    auth = system.settings.auth
    return valid_claims(auth.issuer, auth.audience, **overrides)


def forged(system: RunningSystem, attack: str) -> str:
    """A token crafted for one attack, signed by the issuer's real key where that matters."""
    key = issuer_signing_key(system.settings)
    now = int(time.time())
    if attack == "garbage":
        return "eyJhbGciOi.garbage.token"
    if attack == "expired":
        return mint(key, claims(system, iat=now - 1_000, exp=now - 100))
    if attack == "not-yet-valid":
        return mint(key, claims(system, nbf=now + 600))
    if attack == "wrong-issuer":
        return mint(key, valid_claims("https://elsewhere.test", system.settings.auth.audience))
    if attack == "wrong-audience":
        return mint(key, valid_claims(system.settings.auth.issuer, "another-api"))
    if attack == "alg-none":
        return unsigned_token(claims(system), {"alg": "none", "kid": key.kid})
    if attack == "hs256-with-public-key":
        return hs256_with_published_key(system)
    if attack == "tampered":
        header, payload, signature = system.token("ledger:read").split(".")
        body = json.loads(jwt.utils.base64url_decode(payload))
        body["scope"] = SERVICE_SCOPES
        return f"{header}.{b64url(json.dumps(body).encode())}.{signature}"
    if attack == "unknown-kid":
        return mint(generate_key("ES256"), claims(system))
    if attack == "missing-exp":
        return mint(key, claims(system, exp=None))
    raise AssertionError(attack)


def hs256_with_published_key(system: RunningSystem) -> str:
    jwks = httpx.get(f"{system.issuer_url}/.well-known/jwks.json").json()["keys"]
    public = jwt.PyJWK(jwks[0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": jwks[0]["kid"]}).encode())
    payload = b64url(json.dumps(claims(system, scope=SERVICE_SCOPES)).encode())
    mac = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def assert_unauthorized(response: httpx.Response, token: str | None) -> None:
    assert response.status_code == 401, response.text
    assert problem_slug(response) in {"authentication-required", "invalid-token"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    if token:
        assert token not in response.text


ATTACKS = [
    "garbage",
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "alg-none",
    "hs256-with-public-key",
    "tampered",
    "unknown-kid",
    "missing-exp",
]


def test_a_request_without_a_token_is_401(shared_system: RunningSystem) -> None:
    with shared_system.client(token=None) as anonymous:
        assert_unauthorized(anonymous.get("/v1/accounts"), None)
        assert_unauthorized(anonymous.post("/v1/transfers", json={}), None)


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_forged_or_misused_token_is_401(shared_system: RunningSystem, attack: str) -> None:
    token = forged(shared_system, attack)

    with shared_system.client(token=token) as attacker:
        response = attacker.get("/v1/accounts")

    assert_unauthorized(response, token)


def test_a_token_in_the_url_is_never_accepted(shared_system: RunningSystem) -> None:
    with shared_system.client(token=None) as client:
        response = client.get("/v1/accounts", params={"access_token": shared_system.service_token})

    assert response.status_code == 401


def test_a_token_signed_by_a_rotated_out_key_is_refused_after_its_grace(
    shared_system: RunningSystem,
) -> None:
    old = shared_system.token("ledger:read")
    store = SigningKeyStore(
        connector(shared_system.settings.postgres.url.get_secret_value()),
        shared_system.settings.auth.key_encryption_key.get_secret_value(),
        grace_seconds=0,
    )
    try:
        store.rotate(grace_seconds=0)
        with shared_system.client(token=old) as client:
            response = client.get("/v1/accounts")
        assert_unauthorized(response, old)
        assert response.json()["reason"] == "unknown_key"
    finally:
        shared_system.service_token = shared_system.token(SERVICE_SCOPES)


def route_table() -> list[tuple[str, str, frozenset[str]]]:
    """Every /v1 operation of both APIs and the scopes it declares (from their OpenAPI)."""
    from tests.unit.test_openapi import SETTINGS

    routes = []
    for build in (create_command_app, create_query_app):
        spec = build(SETTINGS).openapi()
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if path.startswith("/v1/"):
                    routes.append((method.upper(), path, operation_scopes(operation)))
    return routes


@pytest.mark.parametrize(("method", "path", "scopes"), route_table())
def test_a_token_without_a_routes_scope_is_403(
    shared_system: RunningSystem, method: str, path: str, scopes: frozenset[str]
) -> None:
    others = " ".join(sorted((KNOWN_SCOPES - scopes) | {Scope.ALL_OWNERS} - scopes))
    concrete = path.replace("{", "").replace("}", "")
    for name in ("account_id", "owner_id", "transfer_id", "aggregate_id"):
        concrete = concrete.replace(name, str(uuid4()))

    with shared_system.client(token=shared_system.token(others)) as client:
        response = client.request(method, concrete, json={} if method == "POST" else None)

    assert response.status_code == 403, f"{method} {path}: {response.text}"
    assert problem_slug(response) == "insufficient-scope"


@pytest.fixture(scope="module")
def owners(shared_system: RunningSystem) -> dict[str, Any]:
    """Two owners, A and B, each with an account holding money, and a token each."""
    a, b = uuid4(), uuid4()
    tokens = {
        "a": shared_system.token(OWNER_SCOPES, owner=a),
        "b": shared_system.token(OWNER_SCOPES, owner=b),
    }
    accounts = {}
    for name, owner in (("a", a), ("b", b)):
        with shared_system.client(token=tokens[name]) as client:
            opened = client.post("/v1/accounts", json={"owner_id": str(owner), "currency": "EUR"})
            assert opened.status_code == 201, opened.text
            account = opened.json()["aggregate_id"]
            funded = client.post(
                f"/v1/accounts/{account}/deposits", json={"amount": 1_000, "reference": "seed"}
            )
            assert funded.status_code == 200
            accounts[name] = account
    return {"ids": {"a": a, "b": b}, "tokens": tokens, "accounts": accounts}


def as_owner(system: RunningSystem, owners: dict[str, Any], name: str) -> httpx.Client:
    return system.client(token=owners["tokens"][name])


def test_an_owner_reads_its_own_account(
    shared_system: RunningSystem, owners: dict[str, Any]
) -> None:
    with as_owner(shared_system, owners, "a") as client:
        response = client.get(
            f"/v1/accounts/{owners['accounts']['a']}", headers={"X-Min-Version": "2"}
        )

    assert response.status_code == 200
    assert response.json()["balance"] == 1_000


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/{b}",
        "/v1/accounts/{b}/statement",
        "/v1/owners/{owner_b}/portfolio",
    ],
)
def test_another_owners_data_is_not_found(
    shared_system: RunningSystem, owners: dict[str, Any], path: str
) -> None:
    concrete = path.format(b=owners["accounts"]["b"], owner_b=owners["ids"]["b"])

    with as_owner(shared_system, owners, "a") as client:
        response = client.get(concrete)

    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        ("deposits", {"amount": 1, "reference": "x"}),
        ("withdrawals", {"amount": 1, "reference": "x"}),
        ("freeze", {"reason": "x"}),
        ("unfreeze", None),
        ("close", None),
    ],
)
def test_commands_on_another_owners_account_are_not_found(
    shared_system: RunningSystem, owners: dict[str, Any], suffix: str, body: Any
) -> None:
    with as_owner(shared_system, owners, "a") as client:
        response = client.post(f"/v1/accounts/{owners['accounts']['b']}/{suffix}", json=body)

    assert (response.status_code, problem_slug(response)) == (404, "account-not-found")


def test_an_owner_cannot_open_an_account_for_another(
    shared_system: RunningSystem, owners: dict[str, Any]
) -> None:
    with as_owner(shared_system, owners, "a") as client:
        response = client.post(
            "/v1/accounts", json={"owner_id": str(owners["ids"]["b"]), "currency": "EUR"}
        )

    assert response.status_code == 403


def test_listing_shows_only_the_callers_accounts(
    shared_system: RunningSystem, owners: dict[str, Any]
) -> None:
    with as_owner(shared_system, owners, "a") as client:
        own = client.get("/v1/accounts").json()["items"]
        foreign = client.get("/v1/accounts", params={"owner_id": str(owners["ids"]["b"])})

    assert {item["owner_id"] for item in own} <= {str(owners["ids"]["a"])}
    assert foreign.json()["items"] == []


def test_a_transfer_may_credit_another_owner_but_only_the_payer_reads_it(
    shared_system: RunningSystem, owners: dict[str, Any]
) -> None:
    source, target = owners["accounts"]["a"], owners["accounts"]["b"]
    with as_owner(shared_system, owners, "a") as payer:
        sent = payer.post(
            "/v1/transfers",
            json={
                "source_account_id": source,
                "target_account_id": target,
                "amount": 5,
                "reference": "gift",
            },
        )
        assert sent.status_code == 202, sent.text
        transfer = sent.json()["aggregate_id"]
        seen_by_payer = payer.get(f"/v1/transfers/{transfer}", headers={"X-Min-Version": "1"})
    with as_owner(shared_system, owners, "b") as payee:
        seen_by_payee = payee.get(f"/v1/transfers/{transfer}")
        stolen = payee.post(
            "/v1/transfers",
            json={
                "source_account_id": source,
                "target_account_id": target,
                "amount": 5,
                "reference": "theft",
            },
        )

    assert seen_by_payer.status_code == 200
    assert seen_by_payee.status_code == 404
    assert (stolen.status_code, problem_slug(stolen)) == (404, "account-not-found")


def test_statistics_across_owners_need_the_all_owners_scope(
    shared_system: RunningSystem, owners: dict[str, Any]
) -> None:
    with as_owner(shared_system, owners, "a") as client:
        response = client.get("/v1/stats/daily")

    assert response.status_code == 403


def test_responses_carry_security_headers_and_no_cors_by_default(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client() as client:
        response = client.get("/v1/accounts", headers={"Origin": "https://evil.example"})
        preflight = client.options(
            "/v1/accounts",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )

    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    assert "strict-transport-security" in response.headers
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert len(response.headers["x-request-id"]) >= 16


def test_an_oversized_body_is_refused_by_the_gateway_with_a_problem(
    shared_system: RunningSystem,
) -> None:
    with shared_system.client() as client:
        response = client.post(
            "/v1/accounts",
            content=b"{" + b" " * (shared_system.settings.gateway.max_body_bytes + 1) + b"}",
            headers={"content-type": "application/json"},
        )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_plain_http_is_redirected_to_https(shared_system: RunningSystem) -> None:
    http_port = shared_system.settings.gateway.http_port

    response = httpx.get(f"http://127.0.0.1:{http_port}/v1/accounts", follow_redirects=False)

    assert response.status_code in (301, 308)
    assert response.headers["location"].startswith("https://")
