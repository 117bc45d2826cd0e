"""FastAPI wiring: `require_scope(...)` on routes, `install_authentication(...)` on the app."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import SecurityScopes

from infra.security.auth.errors import (
    AuthConfigurationError,
    AuthenticationNotInstalledError,
    InsufficientScopeError,
    KeySetUnavailableError,
    OwnerAccessDeniedError,
    RejectionReason,
    TokenRejectedError,
)
from infra.security.auth.openapi import BEARER_SCHEME, document_authentication
from infra.security.auth.principal import Principal
from infra.security.auth.problems import install_auth_problems
from infra.security.auth.scopes import KNOWN_SCOPES, unknown_scopes
from infra.security.auth.verifier import TokenVerifier
from infra.settings import AuthSettings

log = logging.getLogger(__name__)

_STATE_ATTRIBUTE = "ledger_authenticator"

DEVELOPMENT_PRINCIPAL = Principal(
    subject="development", client_id="development", scopes=KNOWN_SCOPES
)


class Authenticator(Protocol):
    """Turns a request's `Authorization` header into a principal."""

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller; raises `TokenRejectedError` when there is none."""
        ...


class BearerAuthenticator:
    """Verifies `Authorization: Bearer <jwt>`, remembering recent verdicts briefly.

    A request is authenticated twice (by the rate limiter, which runs first, and by the
    route), and clients reuse a token for many requests: a small cache keyed by the token
    keeps that to one signature check. An entry lives until the token expires, and never
    longer than CACHE_SECONDS, so key rotation and grace periods still bite within that.
    """

    CACHE_SECONDS = 30.0
    CACHE_SIZE = 10_000

    def __init__(self, verifier: TokenVerifier, clock: Callable[[], float] = time.time) -> None:
        self._verifier = verifier
        self._clock = clock
        self._verdicts: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The verified principal of the bearer token."""
        token = bearer_token(authorization)
        now = self._clock()
        remembered = self._verdicts.get(token)
        if remembered is not None and remembered[0] > now:
            self._verdicts.move_to_end(token)
            return remembered[1]
        principal = await self._verifier.verify(token)
        until = min(principal.expires_at or now, now + self.CACHE_SECONDS)
        self._verdicts[token] = (until, principal)
        if len(self._verdicts) > self.CACHE_SIZE:
            self._verdicts.popitem(last=False)
        return principal


class DevelopmentAuthenticator:
    """Lets everyone in with every scope. Only with `LEDGER_AUTH_DISABLED_FOR_DEVELOPMENT`."""

    async def authenticate(self, authorization: str | None) -> Principal:
        """Always the all-powerful development principal."""
        return DEVELOPMENT_PRINCIPAL


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        # Another scheme (Basic, …) carries no bearer credentials: RFC 6750 treats it as none.
        raise TokenRejectedError(RejectionReason.MISSING_TOKEN)
    if not token.strip() or " " in token.strip():
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN)
    return token.strip()


async def _principal(
    request: Request,
    required: SecurityScopes,
    authorization: Annotated[str | None, Depends(BEARER_SCHEME)],
) -> Principal:
    authenticator: Authenticator | None = getattr(request.app.state, _STATE_ATTRIBUTE, None)
    if authenticator is None:
        raise AuthenticationNotInstalledError(
            f"{request.url.path} requires a scope but install_authentication was never called"
        )
    principal = await authenticator.authenticate(authorization)
    needed = frozenset(required.scopes)
    if not principal.has_scopes(*needed):
        raise InsufficientScopeError(principal.subject, needed, principal.scopes)
    return principal


async def principal_or_none(request: Request) -> Principal | None:
    """The caller of a request when its token is valid, else None (for rate limiting).

    When the issuer's keys cannot be fetched the caller cannot be told either: limit it as
    anonymous and let the route's own authentication answer 503, instead of failing the
    request before any handler can map the error.
    """
    authenticator: Authenticator | None = getattr(request.app.state, _STATE_ATTRIBUTE, None)
    if authenticator is None:
        return None
    try:
        return await authenticator.authenticate(request.headers.get("authorization"))
    except (TokenRejectedError, KeySetUnavailableError):
        return None


def require_scope(*scopes: str) -> Any:
    """A dependency returning the caller's `Principal`; 401 without a valid token, 403 without
    every one of `scopes`. Use as `principal: Annotated[Principal, require_scope(...)]` or in
    `dependencies=[require_scope(...)]`; the operation's OpenAPI `security` lists the scopes."""
    if not scopes:
        raise ValueError("require_scope needs at least one scope")
    unknown = unknown_scopes(frozenset(scopes))
    if unknown:
        raise ValueError(f"unknown scope(s): {' '.join(sorted(unknown))}")
    return Security(_principal, scopes=list(scopes))


def require_owner_access(principal: Principal, owner_id: UUID) -> None:
    """Refuse (403 `owner-forbidden`) unless `principal` may act for `owner_id`."""
    if not principal.may_act_for(owner_id):
        raise OwnerAccessDeniedError(principal.subject, owner_id)


def install_authentication(
    app: FastAPI, settings: AuthSettings, *, verifier: TokenVerifier | None = None
) -> None:
    """Verify bearer tokens on every route using `require_scope`; refuse to build the app when
    authentication is neither configured nor explicitly disabled for development."""
    setattr(app.state, _STATE_ATTRIBUTE, authenticator_for(settings, verifier))
    install_auth_problems(app)
    document_authentication(app, settings.advertised_token_url())


def authenticator_for(
    settings: AuthSettings, verifier: TokenVerifier | None = None
) -> Authenticator:
    """The authenticator the settings ask for."""
    if settings.disabled_for_development:
        log.warning(
            "AUTHENTICATION IS DISABLED (LEDGER_AUTH_DISABLED_FOR_DEVELOPMENT=true): every "
            "request is treated as an all-powerful caller. Never run like this outside a "
            "development machine."
        )
        return DevelopmentAuthenticator()
    if verifier is not None:
        return BearerAuthenticator(verifier)
    if not settings.issuer or not settings.jwks_url:
        raise AuthConfigurationError(
            "authentication is not configured: set LEDGER_AUTH_ISSUER and LEDGER_AUTH_JWKS_URL "
            "(see docs/auth.md), or LEDGER_AUTH_DISABLED_FOR_DEVELOPMENT=true on a development "
            "machine"
        )
    return BearerAuthenticator(TokenVerifier.from_settings(settings))
