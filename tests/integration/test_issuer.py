"""The local token issuer on real PostgreSQL: client-credentials grant, JWKS, key rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import jwt
import psycopg
import pytest

from infra.security.auth import Principal, TokenVerifier
from infra.security.issuer.app import create_app
from infra.security.issuer.clients import ClientRegistry
from infra.security.issuer.database import connector
from infra.security.issuer.errors import KeyEncryptionError
from infra.security.issuer.signing_keys import SigningKeyStore
from infra.settings import Settings
from tests.auth_fixtures import (
    InProcessIssuer,
    create_client,
    fetch_token,
    issuer_in_process,
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


@pytest.fixture
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


def verifier_for(settings: Settings, issuer: InProcessIssuer) -> TokenVerifier:
    return TokenVerifier.from_settings(settings.auth, transport=issuer.transport)


async def request_token(
    issuer: InProcessIssuer, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await issuer.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
    )


async def test_client_credentials_yield_a_token_the_verifier_accepts(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings, scopes="ledger:read ledger:write")

    response = await request_token(issuer, client.client.client_id, client.secret)

    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["scope"] == "ledger:read ledger:write"
    principal = await verifier_for(settings, issuer).verify(body["access_token"])
    assert principal == Principal(
        subject=client.client.client_id,
        client_id=client.client.client_id,
        scopes=frozenset({"ledger:read", "ledger:write"}),
        token_id=principal.token_id,
        expires_at=principal.expires_at,
    )


async def test_the_token_carries_the_registered_claims(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings)

    token = await fetch_token(issuer.http, client)

    header, claims = (
        jwt.get_unverified_header(token),
        jwt.decode(token, options={"verify_signature": False}),
    )
    assert (header["alg"], header["typ"]) == ("ES256", "at+jwt")
    assert {"iss", "aud", "sub", "client_id", "scope", "iat", "nbf", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert (claims["iss"], claims["aud"]) == (settings.auth.issuer, "ledger-api")


async def test_form_field_client_authentication_works_too(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings)

    response = await issuer.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client.client_id,
            "client_secret": client.secret,
        },
    )

    assert response.status_code == 200


async def test_an_owner_bound_client_gets_the_owner_claim(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    owner = uuid4()
    client = create_client(settings, owner=owner)

    principal = await verifier_for(settings, issuer).verify(await fetch_token(issuer.http, client))

    assert principal.owner_id == owner
    assert not principal.acts_for_any_owner


async def test_a_wrong_secret_is_401_invalid_client(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings)

    response = await request_token(issuer, client.client.client_id, "not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_an_unknown_client_is_401_invalid_client(issuer: InProcessIssuer) -> None:
    response = await request_token(issuer, str(uuid4()), "whatever")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_revoked_client_is_401_invalid_client(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings)
    ClientRegistry(connector(settings.postgres.url.get_secret_value())).revoke(
        client.client.client_id
    )

    response = await request_token(issuer, client.client.client_id, client.secret)

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "This client has been revoked.",
    }


async def test_the_scope_parameter_narrows_the_granted_scopes(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings, scopes="ledger:read ledger:write events:read")

    response = await request_token(
        issuer, client.client.client_id, client.secret, scope="ledger:read"
    )

    principal = await verifier_for(settings, issuer).verify(response.json()["access_token"])
    assert response.json()["scope"] == "ledger:read"
    assert principal.scopes == {"ledger:read"}


async def test_a_scope_the_client_lacks_is_400_invalid_scope(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings, scopes="ledger:read")

    response = await request_token(
        issuer, client.client.client_id, client.secret, scope="ledger:read ledger:write"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_another_grant_type_is_400_unsupported_grant_type(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    client = create_client(settings)

    response = await request_token(
        issuer, client.client.client_id, client.secret, grant_type="password"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_the_discovery_document_points_at_the_token_endpoint_and_jwks(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    document = (await issuer.http.get("/.well-known/openid-configuration")).json()

    assert document["issuer"] == settings.auth.issuer
    assert document["token_endpoint"] == f"{settings.auth.issuer}/oauth/token"
    assert document["jwks_uri"] == settings.auth.jwks_url
    assert document["grant_types_supported"] == ["client_credentials"]


async def jwks_kids(issuer: InProcessIssuer) -> list[str]:
    return [key["kid"] for key in (await issuer.http.get("/.well-known/jwks.json")).json()["keys"]]


def key_store(
    settings: Settings, clock: MovableClock, grace_seconds: int = 3600
) -> SigningKeyStore:
    return SigningKeyStore(
        connector(settings.postgres.url.get_secret_value()),
        settings.auth.key_encryption_key.get_secret_value(),
        grace_seconds=grace_seconds,
        clock=clock,
    )


async def test_first_start_publishes_one_es256_signing_key(issuer: InProcessIssuer) -> None:
    keys = (await issuer.http.get("/.well-known/jwks.json")).json()["keys"]

    assert len(keys) == 1
    assert (keys[0]["kty"], keys[0]["crv"], keys[0]["alg"], keys[0]["use"]) == (
        "EC",
        "P-256",
        "ES256",
        "sig",
    )
    assert "d" not in keys[0]


async def test_a_restart_keeps_the_signing_key(settings: Settings, clock: MovableClock) -> None:
    async with issuer_in_process(settings, clock=clock) as first:
        before = await jwks_kids(first)
    async with issuer_in_process(settings, clock=clock) as second:
        after = await jwks_kids(second)

    assert before == after


async def test_the_jwks_holds_the_new_and_the_rotated_key_in_grace(
    settings: Settings, issuer: InProcessIssuer, clock: MovableClock
) -> None:
    (old_kid,) = await jwks_kids(issuer)

    rotation = key_store(settings, clock).rotate()

    assert await jwks_kids(issuer) == [rotation.new_kid, old_kid]
    assert rotation.retired_kids == (old_kid,)


async def test_after_rotation_tokens_are_signed_by_the_new_key(
    settings: Settings, issuer: InProcessIssuer, clock: MovableClock
) -> None:
    client = create_client(settings)

    rotation = key_store(settings, clock).rotate()

    token = await fetch_token(issuer.http, client)
    assert jwt.get_unverified_header(token)["kid"] == rotation.new_kid
    assert (await verifier_for(settings, issuer).verify(token)).subject == client.client.client_id


async def test_a_rotated_key_leaves_the_jwks_after_its_grace_period(
    settings: Settings, issuer: InProcessIssuer, clock: MovableClock
) -> None:
    (old_kid,) = await jwks_kids(issuer)
    rotation = key_store(settings, clock, grace_seconds=600).rotate()

    clock.offset = timedelta(seconds=601)

    assert await jwks_kids(issuer) == [rotation.new_kid]
    assert old_kid not in await jwks_kids(issuer)


async def test_the_issuer_refuses_to_start_without_a_key_encryption_key(stack: Settings) -> None:
    settings = with_local_issuer(stack, key_encryption_key="")

    with pytest.raises(KeyEncryptionError, match="LEDGER_AUTH_KEY_ENCRYPTION_KEY"):
        create_app(settings)


async def test_the_issuer_refuses_to_start_with_the_wrong_key_encryption_key(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    wrong = with_local_issuer(settings, key_encryption_key="another-key")

    with pytest.raises(KeyEncryptionError, match="cannot decrypt"):
        async with issuer_in_process(wrong):
            pass


async def test_private_keys_are_stored_encrypted(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    with psycopg.connect(settings.postgres.url.get_secret_value()) as connection:
        (pem,) = connection.execute(
            "SELECT encrypted_private_key FROM auth_signing_keys"
        ).fetchone() or ("",)

    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
