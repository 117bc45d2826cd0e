"""Sliding-window-counter arithmetic: what a client has left and when it may try again.

`limits` stores two counters per key in Redis: the current window's and the previous one's.
A request is admitted while `floor(previous * previous_ttl / window) + current + 1 <= limit`
(its Lua script), so the previous window's count fades out linearly as time passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Retry-After is rounded up to whole seconds; the margin keeps an exact boundary (admission
# needs the weighted count strictly below the limit) from rounding down onto a refusal.
_MARGIN_SECONDS = 0.001


@dataclass(frozen=True)
class WindowCounts:
    """One key's counters as Redis returns them (TTLs in seconds)."""

    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float


@dataclass(frozen=True)
class LimitState:
    """Where a client stands against one limit once this request was counted (or refused)."""

    amount: int
    window_seconds: int
    allowed: bool
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    @property
    def policy(self) -> str:
        """This limit as a `RateLimit-Policy` item, e.g. `100;w=1`."""
        return f"{self.amount};w={self.window_seconds}"


def weighted_count(window: int, counts: WindowCounts) -> int:
    """The requests the window holds: the previous window's faded by its TTL, plus the
    current one's (a request is admitted while this is below the limit)."""
    return math.floor(counts.previous_count * counts.previous_ttl / window) + counts.current_count


def limit_state(amount: int, window: int, counts: WindowCounts, *, allowed: bool) -> LimitState:
    """Remaining quota, seconds until quota returns, and Retry-After for one limit."""
    remaining = max(0, amount - weighted_count(window, counts))
    wait = seconds_until_admitted(amount, window, counts)
    admitted_in = math.ceil(wait + _MARGIN_SECONDS) if wait > 0 else 0
    # Exhausted: when the next request passes. Otherwise: when the current window rolls
    # over and its count starts to fade, i.e. when quota next comes back.
    reset = admitted_in if remaining == 0 else math.ceil(_current_window_left(window, counts))
    return LimitState(
        amount=amount,
        window_seconds=window,
        allowed=allowed,
        remaining=remaining,
        reset_seconds=reset,
        retry_after_seconds=0 if allowed else max(1, admitted_in),
    )


def seconds_until_admitted(amount: int, window: int, counts: WindowCounts) -> float:
    """How long until one more request would pass, if no other request is counted meanwhile."""
    previous, previous_ttl = counts.previous_count, counts.previous_ttl
    current = counts.current_count
    if current + 1 <= amount:
        if previous == 0:
            return 0.0
        # Wait until previous * (previous_ttl - t) / window < amount - current.
        return max(0.0, previous_ttl - (amount - current) * window / previous)
    # The current window is full: it must roll over into "previous" and fade enough.
    return _current_window_left(window, counts) + max(0.0, window * (1 - amount / current))


def _current_window_left(window: int, counts: WindowCounts) -> float:
    """Seconds until the current window ends (its key lives for two windows from its start)."""
    if counts.current_ttl > window:
        return counts.current_ttl - window
    return counts.previous_ttl
