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
    """The JWKS in memory, shared by every request of a process.

    - One fetch at a time: a request that needs the keys while a fetch is in flight awaits
      that fetch (a burst on a cold cache costs the issuer one request, not one each, and
      no request is refused because another is fetching).
    - The last good keys stay until a fetch succeeds: a failed, slow or timed-out refresh
      never empties the cache. Only with no keys at all is a request refused (503).
    - Refreshed in the background once the keys are `REFRESH_AHEAD` of `max_age_seconds`
      old, so steady traffic never waits; a request that finds them older than that
      awaits the refresh (so a key removed from the JWKS stops verifying on time).
    - A token naming an unknown `kid` triggers one refresh, at most one per
      `min_refresh_interval_seconds`, so made-up `kid`s cannot hammer the issuer; a
      failed fetch is retried no sooner than that either.
    - Each fetch is bounded by `fetch_timeout_seconds`.
    """

    REFRESH_AHEAD = 0.8

    def __init__(
        self,
        source: KeySetSource,
        *,
        max_age_seconds: float = 300.0,
        min_refresh_interval_seconds: float = 30.0,
        fetch_timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._max_age = max_age_seconds
        self._min_interval = min_refresh_interval_seconds
        self._fetch_timeout = fetch_timeout_seconds
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetching: asyncio.Task[None] | None = None

    async def key(self, kid: str) -> VerificationKey | None:
        """The key named `kid`, or None when the issuer does not publish it."""
        if self._fetched_at is None:
            await self._first_keys()
        else:
            age = self._clock() - self._fetched_at
            if age >= self._max_age and self._may_refresh():
                await self._refresh()
            elif age >= self._max_age * self.REFRESH_AHEAD and self._may_refresh():
                self._start_fetch()  # serve these keys; the next requests get the new ones
        key = self._keys.get(kid)
        if key is None and (self._in_flight() is not None or self._may_refresh()):
            await self._refresh()
            key = self._keys.get(kid)
        return key

    async def _first_keys(self) -> None:
        """Fetch the keys, or wait for the fetch in flight; raise when there are none."""
        retry = min(self._min_interval, FIRST_FETCH_RETRY_SECONDS)
        if self._in_flight() is None and not self._may_refresh(retry):
            raise KeySetUnavailableError("the issuer's JWKS could not be fetched just now")
        await self._refresh()
        if self._fetched_at is None:
            raise KeySetUnavailableError("the issuer's JWKS could not be fetched")

    def _may_refresh(self, interval: float | None = None) -> bool:
        wait = self._min_interval if interval is None else interval
        return self._attempted_at is None or self._clock() - self._attempted_at >= wait

    def _in_flight(self) -> asyncio.Task[None] | None:
        """The fetch running on this event loop, if any."""
        fetching = self._fetching
        if fetching is None or fetching.done():
            return None
        if fetching.get_loop() is not asyncio.get_running_loop():
            return None  # left behind by a loop that has ended (tests run several)
        return fetching

    def _start_fetch(self) -> asyncio.Task[None]:
        """The fetch in flight, or a new one."""
        fetching = self._in_flight()
        if fetching is None:
            self._attempted_at = self._clock()
            fetching = asyncio.get_running_loop().create_task(self._fetch(), name="jwks-fetch")
            self._fetching = fetching
        return fetching

    async def _refresh(self) -> None:
        """Await a fetch (the one in flight, else a new one); its failure keeps the keys."""
        # Shielded: a request that gives up (client gone) does not cancel the others' fetch.
        await asyncio.shield(self._start_fetch())

    async def _fetch(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout):
                document = await self._source.fetch()
            keys = verification_keys(document)
        except KeySetUnavailableError as error:
            log.warning("keeping the cached JWKS: %s", error)
        except TimeoutError:
            log.warning("keeping the cached JWKS: no answer in %.1f s", self._fetch_timeout)
        except Exception:
            # Nobody may be awaiting this fetch: log it here, and keep the last good keys.
            log.exception("keeping the cached JWKS: unexpected failure fetching it")
        else:
            self._keys, self._fetched_at = keys, self._clock()
