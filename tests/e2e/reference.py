"""Read models as a fresh fold of the event store says they should be, and as stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from infra.eventstore.history import EventFilter, open_history
from infra.readstore.client import make_client, read_models
from infra.settings import Settings
from projectors.projections.projection import Projection
from tests.unit.projectors.in_memory_read_models import InMemoryReadModels

Models = dict[str, dict[str, Any]]
"""Read models by collection name, then documents by id."""

MAX_DIFFERENCES_SHOWN = 20


def expected_read_models(settings: Settings, projections: Iterable[Projection]) -> Models:
    """Every read model of `projections` folded afresh, in memory, from the whole event store."""

    async def fold() -> Models:
        models = InMemoryReadModels(projections)
        async with open_history(settings) as history:
            models.apply([e async for e in history.stream(EventFilter(), page_size=5_000)])
        return {name: dict(documents) for name, documents in models.collections.items()}

    return asyncio.run(fold())


def stored_read_models(settings: Settings, names: Iterable[str]) -> Models:
    """The documents of these collections, as the projectors stored them."""

    async def read() -> Models:
        client = make_client(settings.mongodb)
        try:
            database = read_models(client, settings.mongodb)
            return {name: {d["_id"]: d async for d in database[name].find({})} for name in names}
        finally:
            await client.close()

    return asyncio.run(read())


def comparable(value: Any) -> Any:
    """MongoDB keeps milliseconds; compare times at that precision, everything else as is."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def differences(expected: Models, stored: Models) -> list[str]:
    """One line per document that differs, naming each field whose value differs."""
    lines = []
    for name in sorted(expected.keys() | stored.keys()):
        wanted, found = expected.get(name, {}), stored.get(name, {})
        for key in sorted(wanted.keys() | found.keys(), key=str):
            if key not in found:
                lines.append(f"{name}[{key}]: missing from the read store")
            elif key not in wanted:
                lines.append(f"{name}[{key}]: stored, but no event yields it")
            elif wanted[key] != found[key]:
                fields = sorted(wanted[key].keys() | found[key].keys())
                changed = [
                    f"{field}: expected {wanted[key].get(field, '<absent>')!r}, "
                    f"stored {found[key].get(field, '<absent>')!r}"
                    for field in fields
                    if wanted[key].get(field, "<absent>") != found[key].get(field, "<absent>")
                ]
                lines.append(f"{name}[{key}]: " + "; ".join(changed))
    return lines


def listing(lines: list[str]) -> str:
    """The first lines, and how many more there are."""
    shown = lines[:MAX_DIFFERENCES_SHOWN]
    more = len(lines) - len(shown)
    return "\n".join([*shown, f"... and {more} more"] if more else shown)
