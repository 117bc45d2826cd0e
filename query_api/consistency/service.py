"""Turning a view's consistency token into a requirement, and waiting for it, bounded.

Single-aggregate views (an account, its statement, a transfer) wait for that aggregate's
events. A position token is first turned into the aggregate's own last event at or before
that position, read from the event store; events of other aggregates do not matter to
the view. Multi-aggregate views (lists, portfolios, daily volume) wait until the
projection has applied every event up to the position (see `projection_reached`); a
version token names one aggregate, which says nothing about them, so they refuse it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol
from uuid import UUID

from infra.eventstore.reader import RecordedEvent
from query_api.consistency.requirements import (
    AnyOf,
    DocumentExists,
    DocumentVersion,
    ProjectionReached,
    Requirement,
    TimelineHasPosition,
)
from query_api.consistency.tokens import (
    FRESH,
    STALE,
    ConsistencyToken,
    Freshness,
    PositionToken,
    VersionToken,
)
from query_api.errors import ConsistencyTokenError
from query_api.metrics import CONSISTENCY_WAIT_SECONDS
from query_api.views.accounts import statement_line_id
from query_api.views.served import ACCOUNTS, STATEMENTS, TRANSFERS, ServedProjection


class EventLookup(Protocol):
    """Where an aggregate's events sit in the log (`infra.eventstore.reader`)."""

    async def latest_at_or_before(self, aggregate_id: UUID, position: int) -> RecordedEvent | None:
        """The aggregate's last event at or before `position`."""
        ...

    async def at_version(self, aggregate_id: UUID, version: int) -> RecordedEvent | None:
        """The aggregate's event at `version`."""
        ...


class RequirementWaiter(Protocol):
    """Waits for requirements (`ConsistencyWatcher`)."""

    async def wait_for(self, requirement: Requirement, timeout_seconds: float) -> bool:
        """True once met, False after the timeout."""
        ...


class BuildResolver(Protocol):
    """Which build of a projection is read now (`ReadStore`)."""

    async def live(self, served: ServedProjection) -> ServedProjection:
        """`served` at its live build."""
        ...


class _AsDeclared:
    """Every projection at the build declared in `served.py` (for tests without a catalog)."""

    async def live(self, served: ServedProjection) -> ServedProjection:
        return served


SERVED_AS_DECLARED = _AsDeclared()


class _NothingToWaitFor:
    """The aggregate had no events by the token's position: any answer reflects it."""


class _Unreachable:
    """The token names a version the aggregate has not reached: wait out the timeout."""


NOTHING_TO_WAIT_FOR = _NothingToWaitFor()
UNREACHABLE = _Unreachable()


class Consistency:
    """Waits, at most `timeout_seconds`, until a view reflects a client's token."""

    def __init__(
        self,
        watcher: RequirementWaiter,
        events: EventLookup,
        timeout_seconds: float,
        builds: BuildResolver = SERVED_AS_DECLARED,
    ) -> None:
        self._watcher = watcher
        self._events = events
        self._timeout = timeout_seconds
        self._builds = builds

    async def account(self, account_id: UUID, token: ConsistencyToken | None) -> Freshness:
        """The account summary has applied the account's version named by the token."""
        if isinstance(token, VersionToken):
            version = token.version
        elif isinstance(token, PositionToken):
            event = await self._events.latest_at_or_before(account_id, token.position)
            if event is None:
                return FRESH
            version = event.version
        else:
            return FRESH
        accounts = await self._builds.live(ACCOUNTS)
        return await self._wait(DocumentVersion(accounts.collection, str(account_id), version))

    async def statement(self, account_id: UUID, token: ConsistencyToken | None) -> Freshness:
        """The statement shows the movement at the token's version, or has passed it.

        Not every account event is a movement (freezing writes no line), so the line's
        existence is the quick answer and the statements projection having reached the
        event's position the general one.
        """
        event = await self._event_named(account_id, token)
        if not isinstance(event, RecordedEvent):
            return await self._settle(event)
        statements = await self._builds.live(STATEMENTS)
        line = DocumentExists(statements.collection, statement_line_id(account_id, event.version))
        return await self._wait(AnyOf((line, ProjectionReached(statements, event.position))))

    async def transfer(self, transfer_id: UUID, token: ConsistencyToken | None) -> Freshness:
        """The transfer's timeline lists the transfer's event named by the token.

        The view also shows the legs (events of the two accounts); a token waits only for
        the transfer's own events, which is what a client that wrote to it has seen.
        """
        event = await self._event_named(transfer_id, token)
        if not isinstance(event, RecordedEvent):
            return await self._settle(event)
        transfers = await self._builds.live(TRANSFERS)
        return await self._wait(
            TimelineHasPosition(transfers.collection, str(transfer_id), event.position)
        )

    async def projection(
        self, projection: ServedProjection, token: ConsistencyToken | None
    ) -> Freshness:
        """The whole projection has applied every event up to the token's position."""
        if token is None:
            return FRESH
        if isinstance(token, VersionToken):
            raise ConsistencyTokenError(
                "This view spans many aggregates: give a position token "
                "(X-Min-Position or min_position), not a version."
            )
        live = await self._builds.live(projection)
        return await self._wait(ProjectionReached(live, token.position))

    async def _event_named(
        self, aggregate_id: UUID, token: ConsistencyToken | None
    ) -> RecordedEvent | _NothingToWaitFor | _Unreachable:
        if isinstance(token, VersionToken):
            event = await self._events.at_version(aggregate_id, token.version)
            return UNREACHABLE if event is None else event
        if isinstance(token, PositionToken):
            event = await self._events.latest_at_or_before(aggregate_id, token.position)
            return NOTHING_TO_WAIT_FOR if event is None else event
        return NOTHING_TO_WAIT_FOR

    async def _settle(self, outcome: _NothingToWaitFor | _Unreachable) -> Freshness:
        if isinstance(outcome, _Unreachable):
            started = time.monotonic()
            await asyncio.sleep(self._timeout)
            CONSISTENCY_WAIT_SECONDS.labels(STALE).observe(time.monotonic() - started)
            return STALE
        return FRESH

    async def _wait(self, requirement: Requirement) -> Freshness:
        started = time.monotonic()
        met = await self._watcher.wait_for(requirement, self._timeout)
        freshness = FRESH if met else STALE
        CONSISTENCY_WAIT_SECONDS.labels(freshness).observe(time.monotonic() - started)
        return freshness
