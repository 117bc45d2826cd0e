"""Token attacks against the verifier, each refused with its own reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from infra.security.auth import Principal, RejectionReason, Scope, TokenRejectedError, TokenVerifier
from infra.security.auth.dependencies import BearerAuthenticator
from tests.auth_fixtures import (
    AUDIENCE,
    ISSUER,
    FakeClock,
    LocalKey,
    StaticKeySource,
    b64url,
    generate_key,
    local_verifier,
    mint,
    unsigned_token,
    valid_claims,
)

KEY = generate_key("ES256", kid="es-key")


@pytest.fixture
def verifier() -> TokenVerifier:
    return local_verifier(StaticKeySource(KEY))


async def rejection(verifier: TokenVerifier, token: str) -> TokenRejectedError:
    with pytest.raises(TokenRejectedError) as caught:
        await verifier.verify(token)
    assert token not in str(caught.value) or not token
    return caught.value


async def test_a_valid_token_yields_its_principal(verifier: TokenVerifier) -> None:
    owner = uuid4()
    claims = valid_claims(scope="ledger:read ledger:write", ledger_owner=str(owner))

    principal = await verifier.verify(mint(KEY, claims))

    assert principal == Principal(
        subject="client-1",
        client_id="client-1",
        scopes=frozenset({"ledger:read", "ledger:write"}),
        owner_id=owner,
        token_id="token-1",
        expires_at=float(claims["exp"]),
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_every_allowed_algorithm_verifies(algorithm: str) -> None:
    key = generate_key(algorithm)
    verifier = local_verifier(StaticKeySource(key))

    principal = await verifier.verify(mint(key, valid_claims()))

    assert principal.subject == "client-1"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....", "é.é.é"])
async def test_garbage_is_malformed(verifier: TokenVerifier, token: str) -> None:
    error = await rejection(verifier, token)

    assert error.reason is RejectionReason.MALFORMED_TOKEN


async def test_an_oversized_token_is_malformed(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(padding="x" * 10_000)))

    assert error.reason is RejectionReason.MALFORMED_TOKEN


async def test_an_expired_token_is_refused(verifier: TokenVerifier) -> None:
    now = int(time.time())

    error = await rejection(verifier, mint(KEY, valid_claims(iat=now - 900, exp=now - 60)))

    assert error.reason is RejectionReason.EXPIRED


async def test_expiry_within_the_leeway_is_tolerated(verifier: TokenVerifier) -> None:
    now = int(time.time())

    principal = await verifier.verify(mint(KEY, valid_claims(exp=now - 10)))

    assert principal.subject == "client-1"


async def test_a_token_not_yet_valid_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(nbf=int(time.time()) + 120)))

    assert error.reason is RejectionReason.NOT_YET_VALID


async def test_a_token_issued_in_the_future_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(iat=int(time.time()) + 120)))

    assert error.reason is RejectionReason.NOT_YET_VALID


async def test_a_token_from_another_issuer_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(iss="https://evil.test")))

    assert error.reason is RejectionReason.WRONG_ISSUER


async def test_an_issuer_that_merely_contains_ours_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(iss=ISSUER + ".evil")))

    assert error.reason is RejectionReason.WRONG_ISSUER


async def test_a_token_for_another_audience_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(aud="other-api")))

    assert error.reason is RejectionReason.WRONG_AUDIENCE


async def test_an_audience_list_naming_us_is_accepted(verifier: TokenVerifier) -> None:
    principal = await verifier.verify(mint(KEY, valid_claims(aud=["other-api", AUDIENCE])))

    assert principal.subject == "client-1"


@pytest.mark.parametrize("algorithm", ["none", "None", "NONE"])
async def test_alg_none_is_refused(verifier: TokenVerifier, algorithm: str) -> None:
    token = unsigned_token(valid_claims(), {"alg": algorithm, "typ": "JWT", "kid": KEY.kid})

    error = await rejection(verifier, token)

    assert error.reason is RejectionReason.ALGORITHM_NOT_ALLOWED


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_hs256_signed_with_the_public_key_is_refused(algorithm: str) -> None:
    key = generate_key(algorithm)
    verifier = local_verifier(StaticKeySource(key))
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64url(json.dumps(valid_claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()

    error = await rejection(verifier, f"{header}.{payload}.{b64url(mac)}")

    assert error.reason is RejectionReason.ALGORITHM_NOT_ALLOWED


async def test_an_algorithm_that_does_not_fit_the_key_type_is_refused() -> None:
    rsa_key = generate_key("RS256")
    verifier = local_verifier(StaticKeySource(KEY))
    # Signed with RSA, but naming the EC key of the JWKS.
    token = mint(LocalKey(KEY.kid, "RS256", rsa_key.private_key), valid_claims())

    error = await rejection(verifier, token)

    assert error.reason is RejectionReason.KEY_ALGORITHM_MISMATCH


async def test_a_tampered_payload_fails_the_signature(verifier: TokenVerifier) -> None:
    header, _, signature = mint(KEY, valid_claims()).split(".")
    escalated = b64url(json.dumps(valid_claims(scope="projections:admin")).encode())

    error = await rejection(verifier, f"{header}.{escalated}.{signature}")

    assert error.reason is RejectionReason.BAD_SIGNATURE


async def test_a_signature_by_another_key_with_our_kid_fails(verifier: TokenVerifier) -> None:
    impostor = generate_key("ES256", kid=KEY.kid)

    error = await rejection(verifier, mint(impostor, valid_claims()))

    assert error.reason is RejectionReason.BAD_SIGNATURE


async def test_an_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    error = await rejection(verifier, mint(generate_key("ES256", kid="nobody"), valid_claims()))

    assert error.reason is RejectionReason.UNKNOWN_KEY


async def test_a_token_without_kid_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(valid_claims(), KEY.private_key, algorithm="ES256")

    error = await rejection(verifier, token)

    assert error.reason is RejectionReason.UNKNOWN_KEY


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud", "nbf", "iat"])
async def test_a_missing_required_claim_is_named(verifier: TokenVerifier, claim: str) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(**{claim: None})))

    assert error.reason is RejectionReason.MISSING_CLAIM
    assert f"`{claim}`" in error.detail


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"sub": ""},
        {"sub": 42},
        {"aud": 7},
        {"scope": ["ledger:read", 3]},
        {"ledger_owner": "not-a-uuid"},
        {"ledger_owner": 12},
        {"ledger_owner": str(uuid4()), "scope": "ledger:read ledger:all-owners"},
    ],
)
async def test_a_claim_of_the_wrong_shape_is_refused(
    verifier: TokenVerifier, overrides: dict[str, object]
) -> None:
    error = await rejection(verifier, mint(KEY, valid_claims(**overrides)))

    assert error.reason is RejectionReason.INVALID_CLAIM


async def test_claims_that_are_not_an_object_are_malformed(verifier: TokenVerifier) -> None:
    token = jwt.PyJWS().encode(b"[1, 2]", KEY.private_key, "ES256", headers={"kid": KEY.kid})

    error = await rejection(verifier, token)

    assert error.reason is RejectionReason.MALFORMED_TOKEN


async def test_scopes_may_come_as_an_scp_list(verifier: TokenVerifier) -> None:
    claims = valid_claims(scope=None, scp=["ledger:read", "events:read"])

    principal = await verifier.verify(mint(KEY, claims))

    assert principal.scopes == frozenset({"ledger:read", "events:read"})


async def test_a_service_token_with_all_owners_acts_for_any_owner(verifier: TokenVerifier) -> None:
    claims = valid_claims(scope=f"ledger:read {Scope.ALL_OWNERS}")

    principal = await verifier.verify(mint(KEY, claims))

    assert principal.acts_for_any_owner
    assert principal.may_act_for(uuid4())


async def test_the_error_message_never_contains_the_token(verifier: TokenVerifier) -> None:
    token = mint(KEY, valid_claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 4000))

    error = await rejection(verifier, token)

    assert token not in str(error) and token not in repr(error.args)


async def test_an_authenticator_checks_a_reused_token_once_until_it_expires() -> None:
    calls: list[str] = []

    class CountingVerifier:
        async def verify(self, token: str) -> Principal:
            calls.append(token)
            return Principal("c", "c", frozenset({"ledger:read"}), expires_at=1_010.0)

    clock = FakeClock(1_000.0)
    authenticator = BearerAuthenticator(CountingVerifier(), clock=clock)  # type: ignore[arg-type]

    await authenticator.authenticate("Bearer abc")
    await authenticator.authenticate("Bearer abc")
    clock.advance(11)
    await authenticator.authenticate("Bearer abc")

    assert calls == ["abc", "abc"]
