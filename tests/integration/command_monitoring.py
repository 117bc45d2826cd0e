"""What a read-store client actually sent, from PyMongo's own command monitoring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from infra.readstore.client import DURABLE
from infra.settings import Settings


class SentCommands(monitoring.CommandListener):
    """Every command started, by name, with its body."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def named(self, name: str) -> list[dict[str, Any]]:
        """The bodies of the commands of that name, in the order they were sent."""
        return [body for sent, body in self.sent if sent == name]

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to record."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to record."""


@asynccontextmanager
async def monitored_read_models(
    settings: Settings, listener: SentCommands
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The test's read-model database, on a client that reports to `listener`."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb.url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[listener],
    )
    try:
        yield client.get_database(settings.mongodb.database, write_concern=DURABLE)
    finally:
        await client.close()
