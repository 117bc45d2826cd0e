"""Bearer JWT verification against the issuer's JWKS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from jwt.exceptions import InvalidSignatureError, PyJWTError

from infra.security.auth.claims import ClaimExpectations, principal_from_claims
from infra.security.auth.errors import RejectionReason, TokenRejectedError
from infra.security.auth.key_set import ALLOWED_ALGORITHMS, HttpKeySetSource, KeySetCache
from infra.security.auth.principal import Principal
from infra.settings import AuthSettings

MAX_TOKEN_BYTES = 8 * 1024

# A JWS decoder that knows no other algorithm: `none` and every HMAC are not even registered.
_SIGNATURES = jwt.PyJWS(algorithms=sorted(ALLOWED_ALGORITHMS))


class TokenVerifier:
    """Checks a token's signature (allow-listed asymmetric algorithms only) and claims."""

    def __init__(
        self,
        keys: KeySetCache,
        expected: ClaimExpectations,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._expected = expected
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> TokenVerifier:
        """A verifier for `LEDGER_AUTH_ISSUER`, with keys from `LEDGER_AUTH_JWKS_URL`."""
        source = HttpKeySetSource(settings.jwks_url, transport=transport)
        keys = KeySetCache(
            source,
            max_age_seconds=settings.jwks_cache_seconds,
            min_refresh_interval_seconds=settings.jwks_min_refresh_seconds,
        )
        expected = ClaimExpectations(
            issuer=settings.issuer,
            audience=settings.audience,
            leeway_seconds=settings.leeway_seconds,
        )
        return cls(keys, expected)

    async def verify(self, token: str) -> Principal:
        """The principal the token speaks for; raises `TokenRejectedError` with the reason."""
        algorithm, kid = _algorithm_and_kid(token)
        key = await self._keys.key(kid)
        if key is None:
            raise TokenRejectedError(RejectionReason.UNKNOWN_KEY)
        if key.algorithm != algorithm:
            raise TokenRejectedError(RejectionReason.KEY_ALGORITHM_MISMATCH)
        try:
            payload = _SIGNATURES.decode(token, key=key.key, algorithms=[key.algorithm])
        except InvalidSignatureError:
            raise TokenRejectedError(RejectionReason.BAD_SIGNATURE) from None
        except PyJWTError:
            raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN) from None
        return principal_from_claims(_claims(payload), self._expected, self._clock())


def _algorithm_and_kid(token: str) -> tuple[str, str]:
    if not token or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN)
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError:
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN) from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str):
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN, "The token names no algorithm.")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise TokenRejectedError(
            RejectionReason.ALGORITHM_NOT_ALLOWED,
            f"Tokens must be signed with one of {', '.join(sorted(ALLOWED_ALGORITHMS))}.",
        )
    if not isinstance(kid, str) or not kid:
        raise TokenRejectedError(RejectionReason.UNKNOWN_KEY, "The token names no key (`kid`).")
    return algorithm, kid


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except ValueError:
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN) from None
    if not isinstance(claims, dict):
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN, "The claims are not an object.")
    return claims
