"""A trace's spans by start, its roots, its tree, and the tree as `ledger trace` prints it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.cli.traces import tree_lines
from infra.observability.spans import Span, Trace

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def span(
    span_id: str, parent: str | None, begin_ms: float, duration_ms: float, service: str = "api"
) -> Span:
    return Span(
        trace_id=TRACE_ID,
        span_id=span_id,
        parent_span_id=parent,
        name=f"op-{span_id}",
        service=service,
        kind="internal",
        start=START + timedelta(milliseconds=begin_ms),
        duration_ms=duration_ms,
        status="unset",
    )


def test_spans_are_kept_in_order_of_start_whatever_order_they_came_in() -> None:
    trace = Trace(TRACE_ID, (span("c", "a", 5, 1), span("a", None, 0, 10), span("b", "a", 1, 1)))

    assert [s.span_id for s in trace.spans] == ["a", "b", "c"]


def test_a_span_whose_parent_is_not_in_the_trace_is_a_root() -> None:
    trace = Trace(TRACE_ID, (span("a", None, 0, 10), span("orphan", "lost", 3, 1)))

    assert [s.span_id for s in trace.roots] == ["a", "orphan"]


def test_children_are_listed_under_their_parent_in_order_of_start() -> None:
    trace = Trace(
        TRACE_ID, (span("a", None, 0, 10), span("late", "a", 6, 1), span("early", "a", 2, 1))
    )

    assert [s.span_id for s in trace.children["a"]] == ["early", "late"]


def test_the_walk_visits_each_subtree_before_the_next_sibling() -> None:
    trace = Trace(
        TRACE_ID,
        (
            span("root", None, 0, 20),
            span("first", "root", 1, 5),
            span("grandchild", "first", 2, 1),
            span("second", "root", 8, 5),
        ),
    )

    assert [(depth, s.span_id) for depth, s in trace.walk()] == [
        (0, "root"),
        (1, "first"),
        (2, "grandchild"),
        (1, "second"),
    ]


def test_a_traces_duration_runs_from_the_first_start_to_the_last_end() -> None:
    trace = Trace(TRACE_ID, (span("a", None, 0, 10), span("b", "a", 8, 7)))

    assert (trace.start, trace.duration_ms) == (START, 15.0)


def test_the_printed_tree_indents_each_span_under_its_parent() -> None:
    trace = Trace(
        TRACE_ID,
        (span("a", None, 0, 12.5, "ledger-command-api"), span("b", "a", 1, 3.0, "ledger-relay")),
    )

    assert tree_lines(trace)[1:] == [
        "ledger-command-api  op-a  12.5 ms",
        "  ledger-relay  op-b  3.0 ms",
    ]
