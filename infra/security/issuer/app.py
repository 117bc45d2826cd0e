"""The local token issuer's HTTP API: token endpoint, JWKS and discovery document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from infra.problems import install_problem_handlers
from infra.security.auth.scopes import KNOWN_SCOPES
from infra.security.issuer.clients import ClientRegistry
from infra.security.issuer.database import Clock, Connection, ensure_schema, utc_now
from infra.security.issuer.errors import KeyEncryptionError, OAuthError
from infra.security.issuer.signing_keys import ALGORITHM, SigningKeyStore
from infra.security.issuer.token_request import CLIENT_CREDENTIALS, parse_token_request
from infra.security.issuer.tokens import TokenPolicy, TokenService
from infra.settings import Settings

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)
JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JWKS_MAX_AGE_SECONDS = 60


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FastAPI:
    """Build the issuer; it opens its pool, tables and first signing key on start-up."""
    encryption_key = settings.auth.key_encryption_key.get_secret_value()
    if not encryption_key:
        raise KeyEncryptionError(
            "LEDGER_AUTH_KEY_ENCRYPTION_KEY is not set; the token issuer refuses to start "
            "without a key to encrypt its signing keys with"
        )
    issuer = settings.auth.local_issuer_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: ConnectionPool[Connection] = ConnectionPool(
            settings.postgres.url.get_secret_value(), min_size=1, max_size=4, open=False
        )
        await run_in_threadpool(partial(pool.open, wait=True, timeout=10.0))
        try:
            keys = SigningKeyStore(
                pool.connection,
                encryption_key,
                grace_seconds=settings.auth.key_grace_seconds,
                clock=clock,
            )
            await run_in_threadpool(ensure_schema, pool.connection)
            await run_in_threadpool(keys.ensure_signing_key)
            policy = TokenPolicy(
                issuer, settings.auth.audience, settings.auth.token_lifetime_seconds
            )
            clients = ClientRegistry(pool.connection, clock=clock)
            app.state.keys = keys
            app.state.tokens = TokenService(clients, keys, policy, clock=clock)
            yield
        finally:
            await run_in_threadpool(pool.close)

    app = FastAPI(
        title="Ledger local token issuer",
        version="1",
        description="OAuth2 client-credentials grant for development and tests.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_exception_handler(OAuthError, _oauth_error)  # type: ignore[arg-type]

    @app.post(TOKEN_PATH, tags=["oauth"])
    async def token(request: Request) -> JSONResponse:
        """RFC 6749 §4.4: client credentials (HTTP Basic or form fields), optional `scope`."""
        token_request = parse_token_request(
            request.headers.get("content-type"),
            await request.body(),
            request.headers.get("authorization"),
        )
        tokens: TokenService = request.app.state.tokens
        issued = await run_in_threadpool(tokens.issue, token_request)
        return JSONResponse(issued.body(), headers=NO_STORE)

    @app.get(JWKS_PATH, tags=["oauth"])
    def jwks(request: Request) -> JSONResponse:
        """The public keys tokens are verified with: the current one and those in grace."""
        keys: SigningKeyStore = request.app.state.keys
        return JSONResponse(
            {"keys": keys.published_keys()},
            headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
        )

    @app.get(DISCOVERY_PATH, tags=["oauth"])
    def discovery() -> dict[str, Any]:
        """Where the token endpoint and the keys are (a subset of OIDC discovery)."""
        base = issuer.rstrip("/")
        return {
            "issuer": issuer,
            "token_endpoint": base + TOKEN_PATH,
            "jwks_uri": base + JWKS_PATH,
            "grant_types_supported": [CLIENT_CREDENTIALS],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(KNOWN_SCOPES),
            "response_types_supported": ["token"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """The issuer answers."""
        return {"status": "ok"}

    return app


async def _oauth_error(request: Request, error: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ledger-issuer"'
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, status_code=error.status, headers=headers)
