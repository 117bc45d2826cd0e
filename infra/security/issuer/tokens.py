"""Issuing access tokens: authenticate the client, settle the scopes, sign the JWT."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import uuid4

import jwt

from infra.security.auth.claims import OWNER_CLAIM
from infra.security.auth.scopes import scope_text
from infra.security.issuer.clients import Client, ClientRegistry
from infra.security.issuer.database import Clock, utc_now
from infra.security.issuer.errors import InvalidScopeError
from infra.security.issuer.signing_keys import ALGORITHM, SigningKey, SigningKeyStore
from infra.security.issuer.token_request import TokenRequest


@dataclass(frozen=True)
class IssuedToken:
    """An RFC 6749 §5.1 access-token response."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str

    def body(self) -> dict[str, str | int]:
        """The JSON response body."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class TokenPolicy:
    """What every token says about its issuer and audience, and how long it lives."""

    issuer: str
    audience: str
    lifetime_seconds: int


class TokenService:
    """The client-credentials grant."""

    def __init__(
        self,
        clients: ClientRegistry,
        keys: SigningKeyStore,
        policy: TokenPolicy,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._clients = clients
        self._keys = keys
        self._policy = policy
        self._clock = clock

    def issue(self, request: TokenRequest) -> IssuedToken:
        """A token for an authenticated client with the scopes it asked for (default: all)."""
        client = self._clients.authenticate(request.client_id, request.client_secret)
        scopes = granted_scopes(client, request.scopes)
        token = self.mint(self._keys.signing_key(), client, scopes)
        return IssuedToken(token, self._policy.lifetime_seconds, scope_text(scopes))

    def mint(self, key: SigningKey, client: Client, scopes: frozenset[str]) -> str:
        """A signed access token (RFC 9068 shape) for `client`."""
        now = self._clock()
        claims: dict[str, object] = {
            "iss": self._policy.issuer,
            "aud": self._policy.audience,
            "sub": client.client_id,
            "client_id": client.client_id,
            "scope": scope_text(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self._policy.lifetime_seconds),
            "jti": str(uuid4()),
        }
        if client.owner_id is not None:
            claims[OWNER_CLAIM] = str(client.owner_id)
        headers = {"kid": key.kid, "typ": "at+jwt"}
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers=headers)


def granted_scopes(client: Client, requested: frozenset[str] | None) -> frozenset[str]:
    """The requested scopes when the client holds them all; every scope it holds by default."""
    if requested is None:
        return client.scopes
    refused = requested - client.scopes
    if refused:
        raise InvalidScopeError(f"This client may not request: {' '.join(sorted(refused))}.")
    return requested
