"""Which requirement each view's token turns into (event store and watcher faked)."""

from __future__ import annotations

import time
from uuid import UUID, uuid4

import pytest

from infra.eventstore.reader import RecordedEvent
from query_api.consistency.requirements import (
    AnyOf,
    DocumentExists,
    DocumentVersion,
    ProjectionReached,
    Requirement,
    TimelineHasPosition,
)
from query_api.consistency.service import Consistency
from query_api.consistency.tokens import PositionToken, VersionToken
from query_api.errors import ConsistencyTokenError
from query_api.views.served import ACCOUNTS, PORTFOLIOS, STATEMENTS


class FakeLog:
    """An aggregate's events as (version, position) pairs."""

    def __init__(self, events: dict[UUID, list[tuple[int, int]]]) -> None:
        self.events = events

    async def latest_at_or_before(self, aggregate_id: UUID, position: int) -> RecordedEvent | None:
        earlier = [e for e in self.events.get(aggregate_id, []) if e[1] <= position]
        return RecordedEvent(*max(earlier)) if earlier else None

    async def at_version(self, aggregate_id: UUID, version: int) -> RecordedEvent | None:
        found = [e for e in self.events.get(aggregate_id, []) if e[0] == version]
        return RecordedEvent(*found[0]) if found else None


class RecordingWaiter:
    """Says every requirement is met at once, and remembers them."""

    def __init__(self) -> None:
        self.requirements: list[Requirement] = []

    async def wait_for(self, requirement: Requirement, timeout_seconds: float) -> bool:
        self.requirements.append(requirement)
        return True


A = uuid4()
LOG = FakeLog({A: [(1, 10), (2, 14), (3, 20)]})


@pytest.fixture
def waiter() -> RecordingWaiter:
    return RecordingWaiter()


@pytest.fixture
def consistency(waiter: RecordingWaiter) -> Consistency:
    return Consistency(waiter, LOG, timeout_seconds=0.05)


async def test_without_a_token_a_view_is_fresh_without_waiting(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    assert await consistency.account(A, None) == "fresh"
    assert await consistency.projection(ACCOUNTS, None) == "fresh"
    assert waiter.requirements == []


async def test_an_account_version_token_waits_for_that_version(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    await consistency.account(A, VersionToken(7))

    assert waiter.requirements == [DocumentVersion("accounts_v1", str(A), 7)]


async def test_an_account_position_token_waits_for_its_last_version_at_that_position(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    await consistency.account(A, PositionToken(19))

    assert waiter.requirements == [DocumentVersion("accounts_v1", str(A), 2)]


async def test_a_position_before_the_account_existed_needs_no_wait(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    assert await consistency.account(A, PositionToken(9)) == "fresh"
    assert waiter.requirements == []


async def test_a_statement_waits_for_the_line_or_the_projection_passing_the_event(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    await consistency.statement(A, VersionToken(2))

    assert waiter.requirements == [
        AnyOf(
            (
                DocumentExists("account_statements_v1", f"{A}:0000000002"),
                ProjectionReached(STATEMENTS, 14),
            )
        )
    ]


async def test_a_transfer_token_waits_for_that_event_in_the_timeline(
    waiter: RecordingWaiter,
) -> None:
    transfer = uuid4()
    consistency = Consistency(waiter, FakeLog({transfer: [(1, 30), (2, 41)]}), 0.05)

    await consistency.transfer(transfer, PositionToken(45))

    assert waiter.requirements == [TimelineHasPosition("transfers_v1", str(transfer), 41)]


async def test_a_version_the_aggregate_never_reached_answers_stale_after_the_timeout(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    started = time.monotonic()

    assert await consistency.statement(A, VersionToken(99)) == "stale"
    assert time.monotonic() - started >= 0.05
    assert waiter.requirements == []


async def test_a_multi_aggregate_view_waits_for_the_projection_to_reach_the_position(
    consistency: Consistency, waiter: RecordingWaiter
) -> None:
    await consistency.projection(PORTFOLIOS, PositionToken(20))

    assert waiter.requirements == [ProjectionReached(PORTFOLIOS, 20)]


async def test_a_multi_aggregate_view_refuses_a_version_token(consistency: Consistency) -> None:
    with pytest.raises(ConsistencyTokenError, match="position token"):
        await consistency.projection(PORTFOLIOS, VersionToken(2))
