"""The event history: pages and NDJSON streams of the log, an account's history and past states.

Read straight from the event store (never from the read models), so it is exact and
complete; the query API only ever reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from prometheus_client import Counter, Gauge
from pydantic import Field

from domain.envelope import EVENT_TOPICS, EventEnvelope
from infra.eventstore.history import (
    EventFilter,
    EventHistory,
    JsonPage,
    LogListener,
    UnknownEventTypeError,
)
from infra.eventstore.ranges import DEFAULT_WORKERS, encoded_ranges, json_lines
from infra.security.auth import Principal, Scope, require_scope
from projectors.projections import accounts as account_projection
from query_api.deps import History, Listener, visible_to
from query_api.errors import (
    AsOfPointError,
    HistoryNotFoundError,
    InvalidRangeError,
    UnknownEventTypeFilterError,
)
from query_api.parameters import Timestamp
from query_api.problems import query_responses
from query_api.schemas.accounts import AccountOut
from query_api.schemas.history import AccountHistory, EventOut, EventPage

router = APIRouter(tags=["history"])

HEARTBEAT_SECONDS = 5.0
STREAM_PAGE = 500
# From this many positions on, a stream's stretch up to the head is read in parallel; a
# smaller one costs less than starting the workers (tens of milliseconds).
PARALLEL_FROM = 50_000
RANGE_POSITIONS = 5_000
FOLLOWERS = Gauge("ledger_history_followers", "NDJSON streams currently open")
PARALLEL_STREAMS = Counter(
    "ledger_history_parallel_streams_total", "NDJSON streams whose stretch was read in parallel"
)

LogReader = Annotated[Principal, require_scope(Scope.EVENTS_READ, Scope.ALL_OWNERS)]
"""The global log spans every owner: it needs `events:read` and `ledger:all-owners`."""
HistoryReader = Annotated[Principal, require_scope(Scope.EVENTS_READ)]

# The document lists the ledger's event types, so a generated client offers only those; a
# name outside the list (sent anyway) is still answered with `unknown-event-type`, which
# says what is known. An empty name is refused by validation: it names no type at all.
EventTypeName = Annotated[
    str, Field(min_length=1, json_schema_extra={"enum": sorted(EVENT_TOPICS)})
]
TypeFilter = Annotated[
    list[EventTypeName] | None, Query(alias="type", description="Event type; repeat")
]
LOG_REFUSALS = (InvalidRangeError, UnknownEventTypeFilterError)
AfterFilter = Annotated[
    int, Query(ge=0, le=2**63 - 1, description="Only events after this position")
]
AggregateFilter = Annotated[UUID | None, Query(description="Only this aggregate's events")]
FromFilter = Annotated[
    Timestamp | None, Query(alias="from", description="Recorded at or after (RFC 3339)")
]
ToFilter = Annotated[Timestamp | None, Query(alias="to", description="Recorded before (RFC 3339)")]


def event_filter(
    after: int,
    types: list[str] | None,
    aggregate_id: UUID | None,
    start: datetime | None,
    end: datetime | None,
) -> EventFilter:
    """Validated filters (a range must run forwards)."""
    if start is not None and end is not None and start >= end:
        raise InvalidRangeError(f"from ({start.isoformat()}) is not before to ({end.isoformat()}).")
    return EventFilter(
        after=after,
        types=frozenset(types or ()),
        aggregate_id=aggregate_id,
        recorded_from=start,
        recorded_to=end,
    )


def event_out(event: EventEnvelope) -> EventOut:
    """The API shape of one envelope."""
    return EventOut.model_validate(event.to_json())


@router.get(
    "/v1/events",
    response_model=EventPage,
    responses=query_responses(422, refusals=LOG_REFUSALS),
    summary="Read a page of the global log",
)
async def events_page(
    principal: LogReader,
    history: History,
    after: AfterFilter = 0,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    types: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
    start: FromFilter = None,
    end: ToFilter = None,
) -> Response:
    """Events after a position, in log order, filtered by type, aggregate and recorded time."""
    wanted = event_filter(after, types, aggregate_id, start, end)
    try:
        page = await history.json_page(wanted, limit)
    except UnknownEventTypeError as error:
        raise UnknownEventTypeFilterError(str(error)) from None
    # Encoded as it is decoded, without a model per event: the envelope's JSON shape is
    # EventOut's (a test holds them equal), and validating each event again tripled the cost.
    body = orjson.dumps({"events": page.events, "next_after": page.next_after})
    return Response(body, media_type="application/json")


@router.get(
    "/v1/events/stream",
    responses={
        **query_responses(422, refusals=LOG_REFUSALS),
        200: {"content": {"application/x-ndjson": {"example": json.dumps({"position": 41})}}},
    },
    response_class=StreamingResponse,
    summary="Stream the global log as NDJSON (optionally following it live)",
)
async def events_stream(
    principal: LogReader,
    history: History,
    listener: Listener,
    after: AfterFilter = 0,
    types: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
    start: FromFilter = None,
    end: ToFilter = None,
    follow: Annotated[
        bool, Query(description="Keep streaming new events as they are recorded")
    ] = False,
) -> StreamingResponse:
    """One event per line. With `follow`, the stream stays open: new events arrive as they are
    recorded (woken by the store's NOTIFY), and a `{"heartbeat": …}` line every few seconds
    keeps idle connections alive. Ends when the client goes away."""
    wanted = event_filter(after, types, aggregate_id, start, end)
    if wanted.types:
        unknown = wanted.types - set(history.event_types)
        if unknown:
            raise UnknownEventTypeFilterError(str(UnknownEventTypeError(sorted(unknown))))
    lines = _lines(history, listener, wanted, follow)
    # X-Accel-Buffering: the gateway must pass lines on as they come, not buffer them.
    return StreamingResponse(
        lines, media_type="application/x-ndjson", headers={"X-Accel-Buffering": "no"}
    )


async def _lines(
    history: EventHistory, listener: LogListener, wanted: EventFilter, follow: bool
) -> AsyncIterator[bytes]:
    FOLLOWERS.inc()
    reading: asyncio.Task[JsonPage] | None = None
    try:
        cursor = wanted
        after, bound = await history.bounds(wanted)
        if bound - after >= PARALLEL_FROM:
            # A long stretch (an analyst reading the log): decoded by workers in parallel,
            # as `ledger events export` does (ADR 0018); then on page by page.
            PARALLEL_STREAMS.inc()
            chunks = encoded_ranges(
                history.conninfo,
                wanted,
                after,
                bound,
                json_lines,
                page_size=RANGE_POSITIONS,
                workers=DEFAULT_WORKERS,
            )
            async with aclosing(chunks):
                async for encoded in chunks:
                    yield encoded.chunk
            cursor = EventFilter(**{**vars(cursor), "after": bound})
        while True:
            seen = listener.generation
            page = await (reading or history.json_page(cursor, STREAM_PAGE))
            reading = None
            cursor = EventFilter(**{**vars(cursor), "after": page.next_after})
            if not page.exhausted:
                # The next page is read while this one is sent.
                reading = asyncio.create_task(history.json_page(cursor, STREAM_PAGE))
            if page.events:
                yield json_lines(page.events)
            if not page.exhausted:
                continue
            if not follow or (wanted.recorded_to and datetime.now(UTC) >= wanted.recorded_to):
                return
            listener.start()
            if not await listener.wait_for_news(seen, HEARTBEAT_SECONDS):
                beat = {"heartbeat": datetime.now(UTC).isoformat(), "after": cursor.after}
                yield orjson.dumps(beat) + b"\n"
    finally:
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
        FOLLOWERS.dec()


async def _account_events(
    history: EventHistory, principal: Principal, account_id: UUID, wanted: EventFilter
) -> list[EventEnvelope]:
    events = [e async for e in history.stream(wanted)]
    opened = events[0] if events and events[0].event_type == "AccountOpened" else None
    if opened is None:
        first = await history.page(EventFilter(aggregate_id=account_id), 1)
        opened = first.events[0] if first.events else None
    if opened is None or opened.event_type != "AccountOpened":
        raise HistoryNotFoundError(account_id)
    if not visible_to(principal, opened.data.get("owner_id")):
        raise HistoryNotFoundError(account_id)
    return events


@router.get(
    "/v1/accounts/{account_id}/history",
    response_model=AccountHistory,
    responses=query_responses(404, 422),
    summary="Read one account's events",
)
async def account_history(
    account_id: UUID, principal: HistoryReader, history: History
) -> AccountHistory:
    """Every event of the account, in version order, from the event store."""
    events = await _account_events(
        history, principal, account_id, EventFilter(aggregate_id=account_id)
    )
    return AccountHistory(account_id=account_id, events=[event_out(e) for e in events])


@router.get(
    "/v1/accounts/{account_id}/as-of",
    response_model=AccountOut,
    responses=query_responses(404, 422, refusals=(AsOfPointError,)),
    summary="Read an account's state at a past version or moment",
)
async def account_as_of(
    account_id: UUID,
    principal: HistoryReader,
    history: History,
    version: Annotated[
        int | None,
        Query(ge=1, description="State right after this version. Give this or `at`, not both."),
    ] = None,
    at: Annotated[
        Timestamp | None,
        Query(description="State at this moment (RFC 3339). Give this or `version`, not both."),
    ] = None,
) -> AccountOut:
    """The account as it was, computed from its events (recorded time for `at`).

    Exactly one of `version` and `at` names the point in time; none or both is refused
    with 422 `invalid-as-of-point` (OpenAPI cannot say "exactly one of two parameters").
    """
    if (version is None) == (at is None):
        raise AsOfPointError("Give exactly one of version and at: each alone names the point.")
    wanted = EventFilter(
        aggregate_id=account_id,
        recorded_to=at + timedelta(microseconds=1) if at is not None else None,
    )
    events = await _account_events(history, principal, account_id, wanted)
    if version is not None:
        events = [e for e in events if e.aggregate_version <= version]
    state: dict[str, Any] | None = None
    for event in events:
        state = account_projection.apply(state, event) or state
    if state is None or (version is not None and state["version"] < version):
        raise HistoryNotFoundError(account_id)
    return AccountOut.from_document(state)
