"""Per-client, per-route-class limits counted in Redis, so every replica shares them.

Strategy: a sliding window counter, as `limits` defines it. Each (client, route class,
limit) is two integers in Redis; the moving window is exact but keeps one list entry per
request and re-counts that list on every read (O(limit) work inside Redis per request),
and the fixed window lets a client send twice its limit across a window boundary. The
sliding counter's approximation (it assumes the previous window's requests were spread
evenly) is harmless for abuse protection.

One round trip per request: `limits` admits a request with one script and reads the
windows for the `RateLimit-*` headers with another, per limit. Our script (`_ADMIT`)
does both for every limit of the request at once, and counts the request only when every
limit admits it. `limits` still parses the limit strings. Written by hand because no
library offers the combined call; the profile of the command API under load had the two
calls at 17 % of its CPU (ADR 0019).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal, Self

import limits
from prometheus_client import Counter
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from infra.security.ratelimit.window import LimitState, WindowCounts, limit_state, weighted_count
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

# KEYS: each limit's previous and current window keys; ARGV: each limit's window in
# seconds and its amount. Times in milliseconds. For each limit, a current window older
# than one window becomes the previous one; the request is admitted when, for every limit,
# floor(previous * previous_ttl / window) + current + 1 <= amount, and then counted in
# every current window (set to live two windows when new). Returns 1 or 0, then each
# limit's previous count, previous TTL, current count and current TTL.
_ADMIT = """
local limits = #KEYS / 2
local counts = {}
local admitted = 1
for i = 1, limits do
  local previous, current = KEYS[2 * i - 1], KEYS[2 * i]
  local window = tonumber(ARGV[2 * i - 1]) * 1000
  local amount = tonumber(ARGV[2 * i])
  local current_ttl = tonumber(redis.call('pttl', current))
  if current_ttl > 0 and current_ttl < window then
    redis.call('rename', current, previous)
    redis.call('set', current, 0, 'PX', current_ttl + window)
  end
  local previous_count = tonumber(redis.call('get', previous)) or 0
  local previous_ttl = math.max(tonumber(redis.call('pttl', previous)), 0)
  local current_count = tonumber(redis.call('get', current)) or 0
  current_ttl = math.max(tonumber(redis.call('pttl', current)), 0)
  if math.floor(previous_count * previous_ttl / window) + current_count + 1 > amount then
    admitted = 0
  end
  counts[i] = {previous_count, previous_ttl, current_count, current_ttl}
end
if admitted == 1 then
  for i = 1, limits do
    local current = KEYS[2 * i]
    if redis.call('exists', current) == 1 then
      counts[i][3] = redis.call('incr', current)
    else
      local window = tonumber(ARGV[2 * i - 1]) * 1000
      redis.call('set', current, 1, 'PX', window * 2)
      counts[i][3] = 1
      counts[i][4] = window * 2
    end
  end
end
local answer = {admitted}
for i = 1, limits do
  for j = 1, 4 do answer[#answer + 1] = counts[i][j] end
end
return answer
"""


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

    def __init__(self, settings: RateLimitSettings, pool: ConnectionPool) -> None:
        self.settings = settings
        self._pool = pool
        self._admit = Redis(connection_pool=pool).register_script(_ADMIT)
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
        return cls(settings, pool)

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
        except (RedisError, OSError, TimeoutError) as error:
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
        keys: list[str] = []
        arguments: list[int] = []
        for item in items:
            current = f"{KEY_PREFIX}:{item.key_for(route_class, client_key)}"
            keys += [f"{current}/previous", current]
            arguments += [item.get_expiry(), item.amount]
        answer: list[Any] = await self._admit(keys=keys, args=arguments)
        admitted = answer[0] == 1
        states = []
        for index, item in enumerate(items):
            counts = WindowCounts(
                previous_count=int(answer[1 + 4 * index]),
                previous_ttl=int(answer[2 + 4 * index]) / 1000,
                current_count=int(answer[3 + 4 * index]),
                current_ttl=int(answer[4 + 4 * index]) / 1000,
            )
            # Refused: each limit says whether it was one that refused (it had no room).
            allowed = admitted or weighted_count(item.get_expiry(), counts) < item.amount
            states.append(limit_state(item.amount, item.get_expiry(), counts, allowed=allowed))
        return states

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
