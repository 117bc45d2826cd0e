"""Operator commands on projections: status, pause, resume, reset, rebuild, dead letters.

The same commands as `ledger projections …` (`projectors.operations.operations`), for
operators who hold a `projections:admin` token rather than a shell on the servers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from infra.security.auth import Scope, require_scope
from projectors.engine.dead_letters import EVERY_PROJECTION
from projectors.operations.operations import NotRetryableError, ProjectionOperations
from query_api.admin.problems import admin_responses
from query_api.admin.rebuilds import Rebuilds
from query_api.admin.schemas import (
    DeadLetterList,
    DeadLetterOut,
    DiscardOut,
    LetterIdsIn,
    LetterStatus,
    ProjectionList,
    ProjectionOut,
    RebuildAcceptedOut,
    RebuildIn,
    RebuildTaskOut,
    ResetIn,
    ResetOut,
    RetryOut,
)
from query_api.admin.services import BackgroundRebuilds, Operations

router = APIRouter(
    prefix="/v1/admin/projections",
    tags=["admin"],
    dependencies=[require_scope(Scope.PROJECTIONS_ADMIN)],
)

# Below the gateway's read timeout, so a pause that waits for slow workers still answers.
STAND_DOWN_WAIT_SECONDS = 8.0
MAX_LETTERS = 1_000


Name = Annotated[str, Path(description="The projection's name", examples=["accounts"])]
LetterOwner = Annotated[
    str,
    Path(
        description="The projection's name, or `*` for records that were not Ledger events",
        examples=["accounts"],
    ),
]


def _task(name: str, rebuilds: Rebuilds) -> RebuildTaskOut | None:
    # Read before the report: a rebuild said to have ended here has made its switch
    # already, so the report read next shows the build it made live.
    return rebuilds.reports().get(name)


async def _report(name: str, operations: ProjectionOperations, rebuilds: Rebuilds) -> ProjectionOut:
    task = _task(name, rebuilds)
    return ProjectionOut.from_report(await operations.report(name), task)


@router.get(
    "",
    response_model=ProjectionList,
    responses=admin_responses(),
    summary="Every projection's status",
)
async def list_projections(operations: Operations, rebuilds: BackgroundRebuilds) -> ProjectionList:
    """Each projection's live build, state, position, lag, rate, workers and dead letters."""
    tasks = rebuilds.reports()  # before the reports, as in `_task`
    reports = await operations.status()
    return ProjectionList(
        items=[ProjectionOut.from_report(report, tasks.get(report.name)) for report in reports]
    )


@router.get(
    "/{name}",
    response_model=ProjectionOut,
    responses=admin_responses(404, 422),
    summary="One projection's status",
)
async def get_projection(
    name: Name, operations: Operations, rebuilds: BackgroundRebuilds
) -> ProjectionOut:
    """The projection's status; while this replica rebuilds it, the rebuild's rate and ETA."""
    return await _report(name, operations, rebuilds)


@router.post(
    "/{name}/pause",
    response_model=ProjectionOut,
    responses=admin_responses(404, 409, 422),
    summary="Stop a projection's workers",
)
async def pause_projection(
    name: Name, operations: Operations, rebuilds: BackgroundRebuilds
) -> ProjectionOut:
    """Stop the workers and answer once none consumes; the views keep serving, frozen.

    409 `workers-still-consuming` when they did not stand down in time: the pause is
    recorded, so they will; ask again to wait for it.
    """
    await operations.pause(name, wait_seconds=STAND_DOWN_WAIT_SECONDS)
    return await _report(name, operations, rebuilds)


@router.post(
    "/{name}/resume",
    response_model=ProjectionOut,
    responses=admin_responses(404, 422),
    summary="Let a projection's workers consume again",
)
async def resume_projection(
    name: Name, operations: Operations, rebuilds: BackgroundRebuilds
) -> ProjectionOut:
    """Undo a pause; the workers pick up where they stopped within a second or so."""
    await operations.resume(name)
    return await _report(name, operations, rebuilds)


@router.post(
    "/{name}/reset",
    response_model=ResetOut,
    responses=admin_responses(404, 409, 413, 422),
    summary="Replay a projection from a position",
)
async def reset_projection(name: Name, body: ResetIn, operations: Operations) -> ResetOut:
    """Make the workers apply again every event after `to_position`.

    The projections' guards skip what a view already has, so this repairs a view without
    emptying it. 409 while another operator command (a rebuild) holds the projection.
    """
    offsets = await operations.reset(name, body.to_position, STAND_DOWN_WAIT_SECONDS)
    return ResetOut(name=name, to_position=body.to_position, offsets=offsets)


@router.post(
    "/{name}/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RebuildAcceptedOut,
    responses=admin_responses(404, 409, 413, 422),
    summary="Rebuild a projection with zero downtime",
)
async def rebuild_projection(
    name: Name,
    request: Request,
    response: Response,
    rebuilds: BackgroundRebuilds,
    body: RebuildIn | None = None,
) -> RebuildAcceptedOut:
    """Start building the projection afresh from the event store, then switch readers to it.

    Runs in the background: follow it at `Location` (state `rebuilding`, progress, rate,
    ETA). The old build keeps serving until the switch and stays `grace_seconds` after.
    A rebuild interrupted (the API stopped) continues from its checkpoint when started
    again. 409 while a rebuild or another operator command holds the projection.
    """
    grace_seconds = (body or RebuildIn()).grace_seconds
    await rebuilds.start(name, timedelta(seconds=grace_seconds))
    location = request.app.url_path_for("get_projection", name=name)
    response.headers["Location"] = location
    return RebuildAcceptedOut(name=name, grace_seconds=grace_seconds, location=location)


@router.get(
    "/{name}/dead-letters",
    response_model=DeadLetterList,
    responses=admin_responses(404, 422),
    summary="List a projection's dead letters",
)
async def list_dead_letters(
    name: LetterOwner,
    operations: Operations,
    letter_status: Annotated[
        LetterStatus, Query(alias="status", description="Which letters to list")
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=MAX_LETTERS, description="At most this many")] = 100,
) -> DeadLetterList:
    """Events the projection could not apply after its retries, oldest failure first."""
    letters = await operations.dead_letters(name, letter_status, limit)
    return DeadLetterList(items=[DeadLetterOut.from_document(letter) for letter in letters])


@router.post(
    "/{name}/dead-letters/retry",
    response_model=RetryOut,
    responses=admin_responses(404, 409, 413, 422),
    summary="Apply dead letters again",
)
async def retry_dead_letters(
    name: LetterOwner, operations: Operations, body: LetterIdsIn | None = None
) -> RetryOut:
    """Apply the pending letters (those in `ids`, or all) again, in log order, after a fix.

    The projection's workers are held meanwhile. Letters that still fail stay pending with
    their new error. 422 `dead-letter-not-retryable` for records that were not events.
    """
    if name == EVERY_PROJECTION:
        raise NotRetryableError(
            "the letters of `*` are records that were not Ledger events: nothing to apply "
            "(discard them)"
        )
    report = await operations.retry(name, body.ids if body else None, STAND_DOWN_WAIT_SECONDS)
    return RetryOut.from_report(report)


@router.post(
    "/{name}/dead-letters/discard",
    response_model=DiscardOut,
    responses=admin_responses(404, 413, 422),
    summary="Discard dead letters",
)
async def discard_dead_letters(
    name: LetterOwner, operations: Operations, body: LetterIdsIn | None = None
) -> DiscardOut:
    """Mark pending letters (those in `ids`, or all) discarded: kept, never applied."""
    return DiscardOut(discarded=await operations.discard(name, body.ids if body else None))
