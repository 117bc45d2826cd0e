"""The projector's `/health`, `/ready` and `/metrics`, served next to its consumer loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from infra.runtime.probes import probes_app
from projectors.engine.dead_letters import DeadLetters
from projectors.engine.metrics import ProjectorStatus
from projectors.projections.projection import Document

PROBE_TIMEOUT_SECONDS = 3.0


class NotReadyError(RuntimeError):
    """The worker is not consuming (yet), so it is not ready."""


class ProjectorProbes:
    """What one projector worker reports about itself."""

    def __init__(
        self,
        group_id: str,
        status: ProjectorStatus,
        dead_letters: DeadLetters,
        database: AsyncDatabase[Document],
        consumer: Callable[[], AIOKafkaConsumer | None],
    ) -> None:
        self._group_id = group_id
        self._status = status
        self._dead_letters = dead_letters
        self._database = database
        self._consumer = consumer

    async def health(self) -> dict[str, Any]:
        """Partitions held and, per projection, position, lag, rate and letters pending."""
        try:
            pending: dict[str, int] | None = await asyncio.wait_for(
                self._dead_letters.pending_by_projection(), PROBE_TIMEOUT_SECONDS
            )
        except (PyMongoError, TimeoutError):
            pending = None  # the status still says how far the worker got
        return {"group_id": self._group_id, **self._status.report(pending)}

    async def readiness(self) -> dict[str, Any]:
        """Consuming, and both Kafka and the read store answer."""
        consumer = self._consumer()
        if consumer is None:
            raise NotReadyError("the projector is not consuming yet")
        await asyncio.wait_for(self._database.command("ping"), PROBE_TIMEOUT_SECONDS)
        await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT_SECONDS)
        return {"kafka": "ok", "mongodb": "ok"}

    def app(self) -> FastAPI:
        """The probes as an app for `infra.runtime.probes.serve_probes`."""
        return probes_app("projector", self.health, self.readiness)
