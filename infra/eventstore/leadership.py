"""Active/standby by advisory lock: one holder per key, released when its session ends."""

from __future__ import annotations

# Every process of one role contends for the same key.
RELAY_LOCK = 0x1ED6E4
TRANSFER_PROCESS_LOCK = 0x1ED6E5

TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
