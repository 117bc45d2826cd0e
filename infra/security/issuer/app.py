"""The local token issuer's HTTP API: token endpoint, JWKS and discovery document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from infra.problems import install_problem_handlers, problem_response
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


@dataclass(frozen=True)
class Issuer:
    """What the routes share once the issuer has started: its URL, keys and token service."""

    url: str
    keys: SigningKeyStore
    tokens: TokenService


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FastAPI:
    """Build the issuer; it opens its pool, tables and first signing key on start-up."""
    encryption_key = settings.auth.key_encryption_key.get_secret_value()
    if not encryption_key:
        raise KeyEncryptionError(
            "LEDGER_AUTH_KEY_ENCRYPTION_KEY is not set; the token issuer refuses to start "
            "without a key to encrypt its signing keys with"
        )
    app = FastAPI(
        title="Ledger local token issuer",
        version="1",
        description="OAuth2 client-credentials grant for development and tests.",
        lifespan=partial(running, settings=settings, encryption_key=encryption_key, clock=clock),
    )
    install_problem_handlers(app)
    install_database_problems(app)
    app.add_exception_handler(OAuthError, _oauth_error)  # type: ignore[arg-type]
    app.include_router(router)
    return app


def install_database_problems(app: FastAPI) -> None:
    """Its database down or restarting is a 503 with Retry-After, never a 500."""
    for error_type in (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout):
        app.add_exception_handler(error_type, _database_unreachable)


async def _database_unreachable(request: Request, error: Exception) -> JSONResponse:
    return problem_response(
        503,
        "issuer-unavailable",
        "Token issuer unavailable",
        "The issuer's database did not answer; try again shortly.",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


@asynccontextmanager
async def running(
    app: FastAPI, *, settings: Settings, encryption_key: str, clock: Clock
) -> AsyncIterator[None]:
    """Open the pool, then the tables and a signing key; `app.state.issuer` until shut down."""
    pool: ConnectionPool[Connection] = ConnectionPool(
        settings.postgres.url.get_secret_value(), min_size=1, max_size=4, open=False
    )
    await run_in_threadpool(partial(pool.open, wait=True, timeout=10.0))
    try:
        app.state.issuer = await run_in_threadpool(
            start_issuer, pool, settings, encryption_key, clock
        )
        yield
    finally:
        await run_in_threadpool(pool.close)


def start_issuer(
    pool: ConnectionPool[Connection], settings: Settings, encryption_key: str, clock: Clock
) -> Issuer:
    """Create the tables and the first signing key when missing; the issuer's services."""
    keys = SigningKeyStore(
        pool.connection,
        encryption_key,
        grace_seconds=settings.auth.key_grace_seconds,
        clock=clock,
    )
    ensure_schema(pool.connection)
    keys.ensure_signing_key()
    url = settings.auth.local_issuer_url()
    policy = TokenPolicy(url, settings.auth.audience, settings.auth.token_lifetime_seconds)
    clients = ClientRegistry(pool.connection, clock=clock)
    return Issuer(url, keys, TokenService(clients, keys, policy, clock=clock))


async def started_issuer(request: Request) -> Issuer:
    """The issuer the lifespan started."""
    issuer: Issuer = request.app.state.issuer
    return issuer


StartedIssuer = Annotated[Issuer, Depends(started_issuer)]

router = APIRouter()


@router.post(TOKEN_PATH, tags=["oauth"])
async def token(request: Request, issuer: StartedIssuer) -> JSONResponse:
    """RFC 6749 §4.4: client credentials (HTTP Basic or form fields), optional `scope`."""
    token_request = parse_token_request(
        request.headers.get("content-type"),
        await request.body(),
        request.headers.get("authorization"),
    )
    issued = await run_in_threadpool(issuer.tokens.issue, token_request)
    return JSONResponse(issued.body(), headers=NO_STORE)


@router.get(JWKS_PATH, tags=["oauth"])
def jwks(issuer: StartedIssuer) -> JSONResponse:
    """The public keys tokens are verified with: the current one and those in grace."""
    return JSONResponse(
        {"keys": issuer.keys.published_keys()},
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )


@router.get(DISCOVERY_PATH, tags=["oauth"])
def discovery(issuer: StartedIssuer) -> dict[str, Any]:
    """Where the token endpoint and the keys are (a subset of OIDC discovery)."""
    base = issuer.url.rstrip("/")
    return {
        "issuer": issuer.url,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": [CLIENT_CREDENTIALS],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": ["token"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }


@router.get("/health", tags=["health"])
def health() -> dict[str, str]:
    """The issuer answers."""
    return {"status": "ok"}


async def _oauth_error(request: Request, error: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ledger-issuer"'
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, status_code=error.status, headers=headers)
