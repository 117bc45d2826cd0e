"""Reusable auth helpers for tests: local keys and tokens, an in-memory JWKS, the issuer.

Plain functions and context managers, so any test module (or conftest) can wrap them:

    async with issuer_in_process(settings) as issuer:        # settings = with_local_issuer(...)
        client = create_client(settings, scopes="ledger:read")
        token = await fetch_token(issuer.http, client)
        app = protected_app(settings.auth, transport=issuer.transport)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jwt
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI

from infra.problems import install_problem_handlers
from infra.security.auth import Principal, TokenVerifier, install_authentication, require_scope
from infra.security.auth.claims import ClaimExpectations
from infra.security.auth.key_set import KeySetCache, KeySetSource
from infra.security.issuer.app import create_app as create_issuer_app
from infra.security.issuer.clients import ClientRegistry, IssuedClient
from infra.security.issuer.database import Clock, connector, ensure_schema, utc_now
from infra.security.issuer.signing_keys import SigningKeyStore
from infra.settings import PROJECT_ROOT, AuthSettings, Settings, settings_environment
from tests.network import free_port

ISSUER = "https://issuer.test"
AUDIENCE = "ledger-api"
KEY_ENCRYPTION_KEY = "test-key-encryption-key"
_PROTECTED = "/protected"


# --- local keys and hand-made tokens (no issuer) -------------------------------------------


@dataclass(frozen=True)
class LocalKey:
    """A key pair made in the test, with the JWK a JWKS would publish for it."""

    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK carrying `kid`, `use` and `alg`."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def generate_key(algorithm: str = "ES256", kid: str | None = None) -> LocalKey:
    """A fresh RS256, ES256 or EdDSA key pair."""
    private_key: Any
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(algorithm)
    return LocalKey(kid or f"{algorithm.lower()}-{os.urandom(4).hex()}", algorithm, private_key)


def valid_claims(
    issuer: str = ISSUER, audience: str = AUDIENCE, /, **overrides: Any
) -> dict[str, Any]:
    """Claims that pass every check now; `name=None` removes a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": "client-1",
        "client_id": "client-1",
        "scope": "ledger:read",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "token-1",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def mint(key: LocalKey, claims: Mapping[str, Any], **headers: Any) -> str:
    """A token signed by `key`, with its `kid` unless `headers` says otherwise."""
    return jwt.encode(
        dict(claims), key.private_key, algorithm=key.algorithm, headers={"kid": key.kid, **headers}
    )


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
    """`header.payload.` with an empty signature, for `alg=none` attacks."""
    encode = json.dumps
    return f"{b64url(encode(dict(header)).encode())}.{b64url(encode(dict(claims)).encode())}."


class StaticKeySource:
    """An in-memory JWKS the test edits; counts fetches."""

    def __init__(self, *keys: LocalKey | Mapping[str, Any]) -> None:
        self.keys = [k.public_jwk() if isinstance(k, LocalKey) else dict(k) for k in keys]
        self.fetches = 0

    async def fetch(self) -> Mapping[str, Any]:
        """The current keys."""
        self.fetches += 1
        return {"keys": list(self.keys)}


class FakeClock:
    """A monotonic clock the test advances."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def local_verifier(
    source: KeySetSource,
    *,
    clock: FakeClock | None = None,
    max_age_seconds: float = 300.0,
    min_refresh_interval_seconds: float = 30.0,
) -> TokenVerifier:
    """A verifier for `ISSUER`/`AUDIENCE` over an in-memory JWKS."""
    cache = KeySetCache(
        source,
        max_age_seconds=max_age_seconds,
        min_refresh_interval_seconds=min_refresh_interval_seconds,
        clock=clock or FakeClock(),
    )
    return TokenVerifier(cache, ClaimExpectations(issuer=ISSUER, audience=AUDIENCE))


# --- a tiny protected API --------------------------------------------------------------------


def protected_app(
    auth: AuthSettings,
    *,
    verifier: TokenVerifier | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    scope: str = "ledger:read",
) -> FastAPI:
    """An app with one route, `GET /protected`, requiring `scope`; it echoes the principal."""
    app = FastAPI()
    install_problem_handlers(app)
    if verifier is None and transport is not None:
        verifier = TokenVerifier.from_settings(auth, transport=transport)
    install_authentication(app, auth, verifier=verifier)

    @app.get(_PROTECTED)
    # A default, not `Annotated[...]`: postponed annotations cannot see the local `scope`.
    async def protected(principal: Principal = require_scope(scope)) -> dict[str, Any]:  # noqa: B008
        return {
            "subject": principal.subject,
            "client_id": principal.client_id,
            "scopes": sorted(principal.scopes),
            "owner_id": str(principal.owner_id) if principal.owner_id else None,
        }

    return app


@asynccontextmanager
async def http_client(
    app: FastAPI, base_url: str = "http://api.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `app` in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The `Authorization` header for `token`."""
    return {"Authorization": f"Bearer {token}"}


# --- the local issuer -----------------------------------------------------------------------


def with_local_issuer(
    settings: Settings, issuer_url: str = ISSUER, **auth_overrides: Any
) -> Settings:
    """`settings` whose APIs trust a local issuer at `issuer_url` (JWKS never cached), and
    which can run that issuer."""
    values = settings.auth.model_dump() | {
        "issuer": issuer_url,
        "jwks_url": f"{issuer_url.rstrip('/')}/.well-known/jwks.json",
        "key_encryption_key": KEY_ENCRYPTION_KEY,
        "jwks_cache_seconds": 0,
        "jwks_min_refresh_seconds": 0,
    }
    return settings.model_copy(update={"auth": AuthSettings(**(values | auth_overrides))})


@dataclass
class InProcessIssuer:
    """The issuer app running in this process: an httpx client and a transport to reach it."""

    app: FastAPI
    http: httpx.AsyncClient
    transport: httpx.ASGITransport


@asynccontextmanager
async def issuer_in_process(
    settings: Settings, *, clock: Clock = utc_now
) -> AsyncIterator[InProcessIssuer]:
    """Start the issuer app (its lifespan included) on `settings`' database."""
    app = create_issuer_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url=settings.auth.local_issuer_url()) as http,
    ):
        yield InProcessIssuer(app, http, transport)


@contextmanager
def issuer_process(settings: Settings, *, log_path: Path | None = None) -> Iterator[Settings]:
    """Run `python -m infra.security.issuer` on a free port; yields settings that trust it."""
    port = free_port()
    running = with_local_issuer(settings, f"http://127.0.0.1:{port}", issuer_port=port)
    environment = {**os.environ, **settings_environment(running)}
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.security.issuer"],
        env=environment,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/health", process)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], deadline_seconds: float = 60.0
) -> None:
    # Generous: on a busy machine the interpreter alone has taken 20 s to import the app.
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the issuer exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the issuer did not answer {url}")


def create_client(
    settings: Settings,
    *,
    scopes: str = "ledger:read",
    name: str = "test client",
    owner: UUID | None = None,
) -> IssuedClient:
    """Register a client directly in the issuer's tables (as `ledger auth create-client` does)."""
    connect = connector(settings.postgres.url.get_secret_value())
    ensure_schema(connect)
    return ClientRegistry(connect).create(name, frozenset(scopes.split()), owner)


async def fetch_token(
    http: httpx.AsyncClient, client: IssuedClient | tuple[str, str], scope: str | None = None
) -> str:
    """A token from the issuer's client-credentials grant (HTTP Basic); `client` is a created
    client or a `(client_id, secret)` pair."""
    credentials = (
        (client.client.client_id, client.secret) if isinstance(client, IssuedClient) else client
    )
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    response = await http.post("/oauth/token", data=form, auth=credentials)
    response.raise_for_status()
    return str(response.json()["access_token"])


def issuer_signing_key(settings: Settings) -> LocalKey:
    """The issuer's current private signing key, to forge tokens a trusted key signed."""
    store = SigningKeyStore(
        connector(settings.postgres.url.get_secret_value()),
        settings.auth.key_encryption_key.get_secret_value(),
        grace_seconds=settings.auth.key_grace_seconds,
    )
    key = store.signing_key()
    return LocalKey(key.kid, "ES256", key.private_key)
