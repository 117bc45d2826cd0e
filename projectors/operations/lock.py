"""The operator lock: one PostgreSQL advisory lock per projection, held for a whole command.

Operator commands on one projection share a lock key; the relay and the transfer process
use keys of their own (`infra.eventstore.leadership`). The lock belongs to the session, so
it is released when the command ends, even when its process is killed.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from infra.eventstore.leadership import TRY_LOCK
from infra.settings import Settings
from projectors.operations.errors import OperationInProgressError

LOCK_NAMESPACE = 0x1ED6F0


def lock_key(name: str) -> int:
    """The advisory lock key of a projection (a stable 32-bit hash in our namespace)."""
    return (LOCK_NAMESPACE << 32) | zlib.crc32(name.encode())


@asynccontextmanager
async def operator_lock(settings: Settings, name: str) -> AsyncIterator[None]:
    """Hold the projection's operator lock; `OperationInProgressError` at once when taken."""
    url = settings.postgres.url.get_secret_value()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(TRY_LOCK, (lock_key(name),))
        row = await cursor.fetchone()
        if row is None or row[0] is not True:
            raise OperationInProgressError(
                f"another operator command (a rebuild, a reset…) is running on {name}"
            )
        yield
