"""The JWKS cache: refresh on an unknown `kid` (rate-limited), rotation, unusable keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.security.auth import RejectionReason, TokenRejectedError
from infra.security.auth.errors import KeySetUnavailableError
from infra.security.auth.key_set import KeySetCache, verification_keys
from tests.auth_fixtures import (
    FakeClock,
    LocalKey,
    StaticKeySource,
    generate_key,
    local_verifier,
    mint,
    valid_claims,
)


class FailingSource:
    """A JWKS endpoint that is down."""

    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        raise KeySetUnavailableError("down")


async def test_an_unknown_kid_triggers_one_refresh_that_finds_a_new_key() -> None:
    old, new, clock = generate_key(), generate_key(), FakeClock()
    source = StaticKeySource(old)
    verifier = local_verifier(source, clock=clock, min_refresh_interval_seconds=30)
    await verifier.verify(mint(old, valid_claims()))
    source.keys.append(new.public_jwk())
    clock.advance(30)

    principal = await verifier.verify(mint(new, valid_claims()))

    assert principal.subject == "client-1"
    assert source.fetches == 2


async def test_unknown_kids_refresh_at_most_once_per_interval() -> None:
    key, clock = generate_key(), FakeClock()
    source = StaticKeySource(key)
    verifier = local_verifier(source, clock=clock, min_refresh_interval_seconds=30)
    await verifier.verify(mint(key, valid_claims()))

    for attempt in range(5):
        with pytest.raises(TokenRejectedError):
            await verifier.verify(mint(generate_key(kid=f"made-up-{attempt}"), valid_claims()))
        clock.advance(5)

    assert source.fetches == 1


async def test_an_unknown_kid_refreshes_again_once_the_interval_has_passed() -> None:
    key, stranger, clock = generate_key(), generate_key(), FakeClock()
    source = StaticKeySource(key)
    verifier = local_verifier(source, clock=clock, min_refresh_interval_seconds=30)
    await verifier.verify(mint(key, valid_claims()))
    clock.advance(31)

    with pytest.raises(TokenRejectedError) as caught:
        await verifier.verify(mint(stranger, valid_claims()))

    assert caught.value.reason is RejectionReason.UNKNOWN_KEY
    assert source.fetches == 2


async def test_a_key_removed_from_the_jwks_is_refused_once_the_cache_expires() -> None:
    rotated_out, current, clock = generate_key(), generate_key(), FakeClock()
    source = StaticKeySource(rotated_out, current)
    verifier = local_verifier(source, clock=clock, max_age_seconds=300)
    token = mint(rotated_out, valid_claims())
    await verifier.verify(token)
    source.keys = [current.public_jwk()]
    clock.advance(301)

    with pytest.raises(TokenRejectedError) as caught:
        await verifier.verify(token)

    assert caught.value.reason is RejectionReason.UNKNOWN_KEY


async def test_no_jwks_and_nothing_cached_is_an_outage_not_a_bad_token() -> None:
    verifier = local_verifier(FailingSource())

    with pytest.raises(KeySetUnavailableError):
        await verifier.verify(mint(generate_key(), valid_claims()))


async def test_an_unreachable_jwks_is_not_fetched_on_every_request() -> None:
    source, clock = FailingSource(), FakeClock()
    verifier = local_verifier(source, clock=clock)
    token = mint(generate_key(), valid_claims())

    for _ in range(3):
        with pytest.raises(KeySetUnavailableError):
            await verifier.verify(token)
    clock.advance(5)
    with pytest.raises(KeySetUnavailableError):
        await verifier.verify(token)

    assert source.fetches == 2


async def test_a_failed_refresh_keeps_the_cached_keys() -> None:
    key, clock = generate_key(), FakeClock()
    source = StaticKeySource(key)
    cache = KeySetCache(source, max_age_seconds=10, min_refresh_interval_seconds=0, clock=clock)
    assert await cache.key(key.kid) is not None
    cache._source = FailingSource()  # the issuer goes down
    clock.advance(60)

    assert await cache.key(key.kid) is not None


def test_symmetric_encryption_and_mismatched_keys_are_never_used() -> None:
    usable = generate_key("ES256")
    weak = LocalKey("weak", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    document = {
        "keys": [
            usable.public_jwk(),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
            {**generate_key("RS256").public_jwk(), "kid": "enc", "use": "enc"},
            {**generate_key("ES256").public_jwk(), "kid": "lies", "alg": "RS256"},
            {**generate_key("ES256").public_jwk(), "kid": None},
            weak.public_jwk(),
            "not a key",
        ]
    }

    assert set(verification_keys(document)) == {usable.kid}


@pytest.mark.parametrize("document", [{}, {"keys": "none"}, {"keys": [{}]}])
def test_a_jwks_without_usable_keys_yields_none(document: dict[str, Any]) -> None:
    assert verification_keys(document) == {}
