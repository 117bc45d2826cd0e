"""Liveness (with each projection's progress) and readiness."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from query_api.deps import EventStore, ReadModels, Watcher
from query_api.schemas.health import HealthOut, PartitionOut, ProjectionHealthOut, ReadyOut
from query_api.views.progress import PartitionProgress, read_progress
from query_api.views.served import SERVED

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_SECONDS = 1.0


@router.get("/health", response_model=HealthOut, summary="Liveness, with projection lag")
async def health(store: ReadModels, events: EventStore, watcher: Watcher) -> HealthOut:
    """The process is up; each projection's position and lag, if the stores answer (the
    catalog is in the read store, progress in the event store)."""
    # Liveness depends on neither store: what does not answer is left out and said.
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            served = [await store.live(projection) for projection in SERVED]
    except Exception as error:
        return HealthOut(
            status="ok",
            projections=None,
            consistency_waiters=watcher.waiting,
            read_store=f"unavailable: {type(error).__name__}",
        )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            progress = await read_progress(events, store.database.name, served)
    except Exception:
        log.warning("projection progress unavailable from the event store", exc_info=True)
        projections = None
    else:
        projections = summarise(progress, datetime.now(UTC))
    return HealthOut(
        status="ok",
        projections=projections,
        consistency_waiters=watcher.waiting,
        read_store="ok",
    )


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A store does not answer"}},
    summary="Readiness: the read store and the event store answer",
)
async def ready(store: ReadModels, events: EventStore) -> JSONResponse:
    """Ready when MongoDB answers a ping and PostgreSQL a query."""
    mongodb, postgres = await asyncio.gather(
        _answers(store.database.command("ping")), _answers(events.ping())
    )
    status = "ok" if mongodb == postgres == "ok" else "unavailable"
    body = ReadyOut(status=status, mongodb=mongodb, postgres=postgres)
    return JSONResponse(body.model_dump(), status_code=200 if status == "ok" else 503)


def summarise(progress: list[PartitionProgress], now: datetime) -> list[ProjectionHealthOut]:
    """One entry per projection, partitions in order."""
    by_projection: dict[tuple[str, int], list[PartitionProgress]] = defaultdict(list)
    for partition in progress:
        by_projection[partition.projection, partition.version].append(partition)
    return [
        ProjectionHealthOut(
            projection=name,
            version=version,
            position=max(p.position for p in partitions),
            lag_events=sum(p.lag_events for p in partitions),
            lag_seconds=max(p.lag_seconds(now) for p in partitions),
            partitions=[
                PartitionOut(
                    partition=p.partition,
                    position=p.position,
                    lag_events=p.lag_events,
                    updated_at=p.updated_at,
                )
                for p in sorted(partitions, key=lambda p: p.partition)
            ],
        )
        for (name, version), partitions in sorted(by_projection.items())
    ]


async def _answers(check: Awaitable[object]) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS * 2):
            await check
    except Exception as error:
        return f"unavailable: {type(error).__name__}: {error}"
    return "ok"
