"""The issuer's public keys (its JWKS): fetched over HTTP, parsed, cached, refreshed by `kid`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from infra.security.auth.errors import KeySetUnavailableError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 512 * 1024
# With no keys at all every request fails anyway; retry sooner than the normal interval.
FIRST_FETCH_RETRY_SECONDS = 5.0


class KeySetSource(Protocol):
    """Somewhere a JWKS document comes from."""

    async def fetch(self) -> Mapping[str, Any]:
        """The current JWKS document; raises `KeySetUnavailableError` when it cannot."""
        ...


class HttpKeySetSource:
    """A JWKS served over HTTP(S), fetched with a short-lived `httpx.AsyncClient`."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("a JWKS URL must be http:// or https://")
        self._url = url
        self._timeout = timeout_seconds
        self._transport = transport

    async def fetch(self) -> Mapping[str, Any]:
        """GET the JWKS; any transport, status or JSON failure becomes one error."""
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout, follow_redirects=False
            ) as client:
                response = await client.get(self._url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise KeySetUnavailableError(f"the JWKS at {self._url} is implausibly large")
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise KeySetUnavailableError(f"cannot fetch the JWKS at {self._url}: {error}") from None
        if not isinstance(document, dict):
            raise KeySetUnavailableError(f"the JWKS at {self._url} is not a JSON object")
        return document


@dataclass(frozen=True)
class VerificationKey:
    """One public key and the single algorithm it may verify."""

    kid: str
    algorithm: str
    key: Any


def verification_keys(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """A JWKS's usable signing keys by `kid`; symmetric, encryption and weak keys are skipped."""
    entries = document.get("keys")
    keys: dict[str, VerificationKey] = {}
    for entry in entries if isinstance(entries, list) else []:
        key = _verification_key(entry) if isinstance(entry, dict) else None
        if key is not None:
            keys[key.kid] = key
    return keys


def _verification_key(entry: dict[str, Any]) -> VerificationKey | None:
    kid = entry.get("kid")
    algorithm = _algorithm_for(entry)
    if not isinstance(kid, str) or not kid or algorithm is None:
        return None
    try:
        key = PyJWK(entry, algorithm=algorithm).key
    except (PyJWKError, ValueError, TypeError):
        log.warning("skipping unreadable JWKS key %s", kid)
        return None
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        log.warning("skipping JWKS key %s: RSA key of %d bits", kid, key.key_size)
        return None
    return VerificationKey(kid=kid, algorithm=algorithm, key=key)


def _algorithm_for(entry: Mapping[str, Any]) -> str | None:
    """The one algorithm a key's own type allows, so a token cannot pick another."""
    if entry.get("use", "sig") != "sig":
        return None
    kty, curve = entry.get("kty"), entry.get("crv")
    if kty == "RSA":
        algorithm = "RS256"
    elif kty == "EC" and curve == "P-256":
        algorithm = "ES256"
    elif kty == "OKP" and curve == "Ed25519":
        algorithm = "EdDSA"
    else:
        return None
    declared = entry.get("alg")
    return algorithm if declared in (None, algorithm) else None


class KeySetCache:
    """The JWKS in memory: refreshed when stale, and once more when a `kid` is unknown.

    Refreshes are coalesced and at most one per `min_refresh_interval_seconds`, so a flood of
    tokens with made-up `kid`s cannot hammer the issuer. A failed refresh keeps the last keys.
    """

    def __init__(
        self,
        source: KeySetSource,
        *,
        max_age_seconds: float = 300.0,
        min_refresh_interval_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._max_age = max_age_seconds
        self._min_interval = min_refresh_interval_seconds
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._attempts = 0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> VerificationKey | None:
        """The key named `kid`, or None when the issuer does not publish it."""
        if self._fetched_at is None:
            if not self._may_refresh(min(self._min_interval, FIRST_FETCH_RETRY_SECONDS)):
                raise KeySetUnavailableError("the issuer's JWKS could not be fetched just now")
            await self._refresh(may_fail=False)
        elif self._clock() - self._fetched_at >= self._max_age and self._may_refresh():
            await self._refresh(may_fail=True)
        key = self._keys.get(kid)
        if key is None and self._may_refresh():
            await self._refresh(may_fail=True)
            key = self._keys.get(kid)
        return key

    def _may_refresh(self, interval: float | None = None) -> bool:
        wait = self._min_interval if interval is None else interval
        return self._attempted_at is None or self._clock() - self._attempted_at >= wait

    async def _refresh(self, *, may_fail: bool) -> None:
        attempts_seen = self._attempts
        async with self._lock:
            if self._attempts != attempts_seen:
                # Another request refreshed while this one waited; its result will do.
                if self._fetched_at is None and not may_fail:
                    raise KeySetUnavailableError("the issuer's JWKS could not be fetched")
                return
            self._attempts += 1
            self._attempted_at = self._clock()
            try:
                document = await self._source.fetch()
            except KeySetUnavailableError as error:
                if self._fetched_at is None and not may_fail:
                    raise
                log.warning("keeping the cached JWKS: %s", error)
                return
            self._keys = verification_keys(document)
            self._fetched_at = self._clock()
