"""Judging requirements from one observation, without I/O."""

from __future__ import annotations

from query_api.consistency.requirements import (
    AnyOf,
    DocumentExists,
    DocumentVersion,
    Observation,
    ProjectionReached,
    TimelineHasPosition,
    is_met,
    plan_for,
    projection_reached,
)
from query_api.views.progress import PartitionProgress
from query_api.views.served import ACCOUNTS, PORTFOLIOS, STATEMENTS


def partition(number: int, next_offset: int, position: int) -> PartitionProgress:
    return PartitionProgress("accounts", 1, number, next_offset, next_offset, position, None, None)


def test_a_document_version_is_met_at_or_after_that_version() -> None:
    seen = Observation(documents={("accounts_v1", "a"): {"version": 3}})

    assert is_met(DocumentVersion("accounts_v1", "a", 3), seen)
    assert not is_met(DocumentVersion("accounts_v1", "a", 4), seen)
    assert not is_met(DocumentVersion("accounts_v1", "b", 1), seen)


def test_a_timeline_requirement_needs_that_exact_position() -> None:
    seen = Observation(
        documents={("transfers_v1", "t"): {"timeline": [{"position": 5}, {"position": 9}]}}
    )

    assert is_met(TimelineHasPosition("transfers_v1", "t", 9), seen)
    assert not is_met(TimelineHasPosition("transfers_v1", "t", 7), seen)


def test_any_of_is_met_by_one_option() -> None:
    requirement = AnyOf(
        (DocumentExists("lines", "a:0000000002"), ProjectionReached(STATEMENTS, 10))
    )

    assert is_met(requirement, Observation(documents={("lines", "a:0000000002"): {}}))
    assert not is_met(requirement, Observation())


def test_a_plan_reads_each_collection_once_with_the_fields_it_needs() -> None:
    plan = plan_for(
        [
            DocumentVersion("accounts_v1", "a", 1),
            DocumentVersion("accounts_v1", "b", 2),
            AnyOf((DocumentExists("lines", "x"), ProjectionReached(STATEMENTS, 7))),
            ProjectionReached(ACCOUNTS, 5),
        ]
    )

    assert plan.documents == {"accounts_v1": {"a", "b"}, "lines": {"x"}}
    assert plan.fields == {"accounts_v1": {"version"}, "lines": set()}
    assert plan.projections == {STATEMENTS, ACCOUNTS}
    assert plan.lowest_position == 5


def test_a_projection_has_not_reached_a_position_the_relay_has_not_published() -> None:
    assert not projection_reached(10, 9, {0: partition(0, 5, 100)}, {0: 5})


def test_a_projection_reaches_a_position_when_every_partition_applied_past_it() -> None:
    partitions = {0: partition(0, 8, 12), 1: partition(1, 3, 10)}

    assert projection_reached(10, 10, partitions, {0: 9, 1: 4})


def test_a_partition_behind_the_position_passes_only_when_it_applied_all_it_holds() -> None:
    partitions = {0: partition(0, 8, 12), 1: partition(1, 3, 4)}

    assert projection_reached(10, 10, partitions, {0: 9, 1: 3})
    assert not projection_reached(10, 10, partitions, {0: 9, 1: 4})


def test_an_idle_partition_that_looked_caught_up_before_our_event_is_not_trusted() -> None:
    # The progress document said "no lag" (offset == highwater == 3) before the relay
    # published our event into the partition; the broker now says the partition ends at 4.
    stale = PartitionProgress("accounts", 1, 0, 3, 3, 4, None, None)

    assert not projection_reached(10, 10, {0: stale}, {0: 4})


def test_a_partition_without_progress_passes_only_when_empty() -> None:
    assert projection_reached(10, 10, {}, {0: 0})
    assert not projection_reached(10, 10, {}, {0: 1})


def test_unknown_end_offsets_never_pass() -> None:
    assert not projection_reached(10, 10, {0: partition(0, 8, 12)}, None)
    assert not projection_reached(10, 10, {0: partition(0, 8, 12)}, {})


def test_a_routed_projection_needs_the_router_and_its_own_partitions_both_past_the_position() -> (
    None
):
    router_done = {0: partition(0, 5, 9)}
    routed_done = {0: PartitionProgress("owner_portfolios", 1, 0, 3, 3, 9, None, None)}
    routed_behind = {0: PartitionProgress("owner_portfolios", 1, 0, 2, 3, 7, None, None)}
    requirement = ProjectionReached(PORTFOLIOS, 8)

    def seen(
        router: dict[int, PartitionProgress], routed: dict[int, PartitionProgress]
    ) -> Observation:
        return Observation(
            relay_position=9,
            progress={PORTFOLIOS.router_stage: router, PORTFOLIOS: routed},
            end_offsets={0: 5},
            routing_end_offsets={0: 3},
        )

    assert is_met(requirement, seen(router_done, routed_done))
    assert not is_met(requirement, seen(router_done, routed_behind))
    assert not is_met(requirement, seen({0: partition(0, 4, 7)}, routed_done))
    assert PORTFOLIOS.router_stage in plan_for([requirement]).projections
