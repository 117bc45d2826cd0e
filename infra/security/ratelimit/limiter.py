"""Per-client, per-route-class limits counted in Redis, so every replica shares them.

Strategy: `limits`' sliding window counter. Each (client, route class, limit) is two
integers in Redis and one Lua call per request, whatever the limit's size; the moving
window is exact but keeps one list entry per request and re-counts that list on every
read (O(limit) work inside Redis per request), and the fixed window lets a client send
twice its limit across a window boundary. The sliding counter's approximation (it assumes
the previous window's requests were spread evenly) is harmless for abuse protection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal, Self

import limits
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from infra.security.ratelimit.window import LimitState, WindowCounts, limit_state
from infra.settings import ROUTE_CLASSES, RateLimitSettings, RouteClass

log = logging.getLogger(__name__)

KEY_PREFIX = "ledger-ratelimit"
# After Redis fails, requests skip it for this long, and then one request alone tries it
# again: a black-holed Redis would otherwise cost every request the full timeout.
STORE_RETRY_SECONDS = 1.0
WARNING_INTERVAL_SECONDS = 10.0

LIMITED = Counter(
    "ledger_ratelimit_limited",
    "Requests refused with 429 because the client exceeded its limit",
    ["route_class"],
)
STORE_FAILURES = Counter(
    "ledger_ratelimit_redis_failures",
    "Requests whose limit could not be checked because Redis failed or timed out",
    ["route_class", "mode"],
)

Outcome = Literal["allowed", "limited", "unchecked", "refused-unchecked"]


@dataclass(frozen=True)
class Decision:
    """What to do with one request, and the numbers for its `RateLimit-*` headers."""

    route_class: RouteClass
    outcome: Outcome
    # The limit closest to refusing (or the one that refused); None when Redis was down.
    binding: LimitState | None = None
    policy: str = ""


class RateLimiter:
    """Counts requests per client and route class in Redis and decides on each one."""

    def __init__(
        self, settings: RateLimitSettings, storage: RedisStorage, pool: ConnectionPool
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._pool = pool
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._defaults = {
            name: limits.parse_many(getattr(settings, name)) for name in ROUTE_CLASSES
        }
        self._overrides = {
            client: {name: limits.parse_many(text) for name, text in per_class.items()}
            for client, per_class in settings.overrides().items()
        }
        self._fail_open = settings.fail_open_classes()
        self._breaker = _Breaker(STORE_RETRY_SECONDS)
        self._warnings = _ThrottledWarning(WARNING_INTERVAL_SECONDS)

    @classmethod
    def from_url(cls, settings: RateLimitSettings, redis_url: str) -> Self:
        """A limiter on the Redis at `redis_url`, with short timeouts and no retries."""
        timeout = settings.redis_timeout_seconds
        pool = ConnectionPool.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry, on a connection error only: after Redis restarts, every
            # pooled connection is dead and fails once; the retry reconnects. (redis-py's
            # default, retries with backoff and on timeouts too, would make a dead Redis slow.)
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        # `limits` types its options as scalars, but hands `connection_pool` to redis-py.
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
            **options,
        )
        return cls(settings, storage, pool)

    def limits_for(
        self, route_class: RouteClass, client_id: str | None
    ) -> list[limits.RateLimitItem]:
        """The client's own limits for this class when it has an override, else the class's."""
        override = self._overrides.get(client_id, {}) if client_id is not None else {}
        return override.get(route_class, self._defaults[route_class])

    async def check(
        self, route_class: RouteClass, client_id: str | None, remote_address: str | None = None
    ) -> Decision:
        """Count one request of `client_id`, or of `remote_address` when it is anonymous."""
        items = self.limits_for(route_class, client_id)
        # Prefixes keep a client id that looks like an address apart from that address.
        client_key = f"client:{client_id}" if client_id else f"address:{remote_address}"
        policy = ", ".join(f"{item.amount};w={item.get_expiry()}" for item in items)
        if not self._breaker.admits():
            return self._unchecked(route_class, "Redis failed moments ago")
        try:
            async with asyncio.timeout(self.settings.redis_timeout_seconds):
                states = await self._count(items, route_class, client_key)
        except (StorageError, RedisError, OSError, TimeoutError) as error:
            self._breaker.failed()
            return self._unchecked(route_class, f"{type(error).__name__}: {error}")
        except BaseException:  # cancelled (the client left): another request may probe
            self._breaker.abandoned()
            raise
        self._breaker.answered()
        refused = [state for state in states if not state.allowed]
        if refused:
            LIMITED.labels(route_class).inc()
            binding = max(refused, key=lambda state: state.retry_after_seconds)
            return Decision(route_class, "limited", binding, policy)
        binding = min(states, key=lambda state: (state.remaining, -state.reset_seconds))
        return Decision(route_class, "allowed", binding, policy)

    async def aclose(self) -> None:
        """Close the Redis connections."""
        await self._pool.disconnect()

    async def _count(
        self, items: list[limits.RateLimitItem], route_class: RouteClass, client_key: str
    ) -> list[LimitState]:
        identifiers = (route_class, client_key)
        admitted = await asyncio.gather(*(self._strategy.hit(item, *identifiers) for item in items))
        windows = await asyncio.gather(
            *(
                self._storage.get_sliding_window(item.key_for(*identifiers), item.get_expiry())
                for item in items
            )
        )
        return [
            limit_state(item.amount, item.get_expiry(), WindowCounts(*window), allowed=allowed)
            for item, allowed, window in zip(items, admitted, windows, strict=True)
        ]

    def _unchecked(self, route_class: RouteClass, reason: str) -> Decision:
        fails_open = route_class in self._fail_open
        mode = "open" if fails_open else "closed"
        STORE_FAILURES.labels(route_class, mode).inc()
        self._warnings.warn(
            "rate limiting cannot reach Redis (%s); failing %s for %s", reason, mode, route_class
        )
        return Decision(route_class, "unchecked" if fails_open else "refused-unchecked")


class _Breaker:
    """Keeps requests off a Redis that just failed, then lets one request alone probe it.

    Hand-written: it is a dozen lines, the usual libraries (pybreaker, aiobreaker) wrap
    the call itself and count failures over windows, and here one failure must open it
    (a dead Redis would otherwise cost every request the timeout) while only one request
    at a time may pay that timeout to find out whether Redis is back.
    """

    def __init__(self, retry_seconds: float) -> None:
        self._retry_seconds = retry_seconds
        self._open_until: float | None = None  # None: closed
        self._probing = False

    def admits(self) -> bool:
        """Whether this request may ask Redis (closed, or the one probe once the wait is up)."""
        if self._open_until is None:
            return True
        if self._probing or time.monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    def answered(self) -> None:
        self._open_until, self._probing = None, False

    def abandoned(self) -> None:
        self._probing = False

    def failed(self) -> None:
        self._open_until, self._probing = time.monotonic() + self._retry_seconds, False


class _ThrottledWarning:
    """Logs at most one warning per interval, saying how many were held back."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = float("-inf")
        self._held_back = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._held_back += 1
            return
        suffix = f" ({self._held_back} more since the last warning)" if self._held_back else ""
        log.warning(message + suffix, *args)
        self._last, self._held_back = now, 0
