"""Token attacks through HTTP: an API protected by `require_scope`, trusting the real issuer.

Every refused token answers 401 with a problem document naming the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from infra.security.issuer.database import connector
from infra.security.issuer.signing_keys import SigningKeyStore
from infra.settings import Settings
from tests.auth_fixtures import (
    InProcessIssuer,
    LocalKey,
    b64url,
    bearer,
    create_client,
    fetch_token,
    generate_key,
    http_client,
    issuer_in_process,
    issuer_signing_key,
    mint,
    protected_app,
    unsigned_token,
    valid_claims,
    with_local_issuer,
)
from tests.conftest import isolated

pytestmark = pytest.mark.integration


class MovableClock:
    """The issuer's wall clock, which a test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def settings(stack: Settings) -> Iterator[Settings]:
    with isolated(stack) as base:
        yield with_local_issuer(base)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def issuer(settings: Settings, clock: MovableClock) -> AsyncIterator[InProcessIssuer]:
    async with issuer_in_process(settings, clock=clock) as running:
        yield running


@pytest.fixture
async def api(settings: Settings, issuer: InProcessIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(protected_app(settings.auth, transport=issuer.transport)) as client:
        yield client


@pytest.fixture
def trusted_key(settings: Settings, issuer: InProcessIssuer) -> LocalKey:
    """The issuer's own signing key, to forge tokens that only their claims give away."""
    return issuer_signing_key(settings)


async def real_token(
    settings: Settings, issuer: InProcessIssuer, scopes: str = "ledger:read"
) -> str:
    return await fetch_token(issuer.http, create_client(settings, scopes=scopes))


def claims_for(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return valid_claims(settings.auth.issuer, settings.auth.audience, **overrides)


async def refused(api: httpx.AsyncClient, token: str | None) -> str:
    """Call the API with `token`; check the 401 problem and return its reason."""
    response = await api.get("/protected", headers=bearer(token) if token is not None else {})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    if token:
        assert token not in response.text
    return str(body["reason"])


async def test_a_real_token_with_the_scope_is_200(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient
) -> None:
    response = await api.get("/protected", headers=bearer(await real_token(settings, issuer)))

    assert response.status_code == 200


async def test_a_real_token_without_the_scope_is_403(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient
) -> None:
    token = await real_token(settings, issuer, scopes="ledger:write")

    response = await api.get("/protected", headers=bearer(token))

    assert response.status_code == 403
    assert response.json()["type"].endswith("/insufficient-scope")


async def test_no_token(api: httpx.AsyncClient) -> None:
    assert await refused(api, None) == "missing_token"


async def test_garbage(api: httpx.AsyncClient) -> None:
    assert await refused(api, "eyJhbGciOi.garbage.token") == "malformed_token"


async def test_expired(settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey) -> None:
    now = int(time.time())
    token = mint(trusted_key, claims_for(settings, iat=now - 1000, exp=now - 100))

    assert await refused(api, token) == "expired"


async def test_not_yet_valid(
    settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey
) -> None:
    token = mint(trusted_key, claims_for(settings, nbf=int(time.time()) + 300))

    assert await refused(api, token) == "not_yet_valid"


async def test_wrong_issuer(
    settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey
) -> None:
    token = mint(trusted_key, valid_claims("https://other-issuer.test", settings.auth.audience))

    assert await refused(api, token) == "wrong_issuer"


async def test_wrong_audience(
    settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey
) -> None:
    token = mint(trusted_key, valid_claims(settings.auth.issuer, "another-api"))

    assert await refused(api, token) == "wrong_audience"


async def test_alg_none(settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey) -> None:
    token = unsigned_token(claims_for(settings), {"alg": "none", "kid": trusted_key.kid})

    assert await refused(api, token) == "algorithm_not_allowed"


async def test_hs256_signed_with_the_published_public_key(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient
) -> None:
    (published,) = (await issuer.http.get("/.well-known/jwks.json")).json()["keys"]
    public_pem = jwt.PyJWK(published).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": published["kid"]}).encode())
    payload = b64url(json.dumps(claims_for(settings, scope="projections:admin")).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()

    assert await refused(api, f"{header}.{payload}.{b64url(mac)}") == "algorithm_not_allowed"


async def test_tampered_payload(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient
) -> None:
    header, payload, signature = (await real_token(settings, issuer)).split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["scope"] = "ledger:read projections:admin ledger:all-owners"
    tampered = b64url(json.dumps(claims).encode())

    assert await refused(api, f"{header}.{tampered}.{signature}") == "bad_signature"


async def test_unknown_kid(settings: Settings, api: httpx.AsyncClient) -> None:
    token = mint(generate_key("ES256"), claims_for(settings))

    assert await refused(api, token) == "unknown_key"


async def test_a_key_still_in_its_grace_period_verifies(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient, clock: MovableClock
) -> None:
    token = await real_token(settings, issuer)
    store(settings, clock, grace_seconds=600).rotate()
    clock.offset = timedelta(seconds=300)

    response = await api.get("/protected", headers=bearer(token))

    assert response.status_code == 200


async def test_a_rotated_out_key_after_its_grace_period(
    settings: Settings, issuer: InProcessIssuer, api: httpx.AsyncClient, clock: MovableClock
) -> None:
    token = await real_token(settings, issuer)
    store(settings, clock, grace_seconds=600).rotate()
    clock.offset = timedelta(seconds=601)

    assert await refused(api, token) == "unknown_key"


async def test_missing_exp(
    settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey
) -> None:
    assert await refused(api, mint(trusted_key, claims_for(settings, exp=None))) == "missing_claim"


async def test_missing_sub(
    settings: Settings, api: httpx.AsyncClient, trusted_key: LocalKey
) -> None:
    assert await refused(api, mint(trusted_key, claims_for(settings, sub=None))) == "missing_claim"


def store(settings: Settings, clock: MovableClock, grace_seconds: int) -> SigningKeyStore:
    return SigningKeyStore(
        connector(settings.postgres.url.get_secret_value()),
        settings.auth.key_encryption_key.get_secret_value(),
        grace_seconds=grace_seconds,
        clock=clock,
    )
