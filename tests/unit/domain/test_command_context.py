from __future__ import annotations

from uuid import uuid4

import pytest

from domain.accounts import Account
from domain.context import (
    CommandContext,
    MissingCommandContextError,
    command_scope,
    current_event_metadata,
    trace_scope,
)


def test_an_event_cannot_be_triggered_outside_a_command_scope() -> None:
    with pytest.raises(MissingCommandContextError):
        Account.open(uuid4(), "EUR")


def test_a_given_causation_id_is_used_as_is() -> None:
    correlation_id, causation_id = uuid4(), uuid4()
    with command_scope(CommandContext(correlation_id, causation_id)) as metadata:
        assert (metadata.correlation_id, metadata.causation_id) == (correlation_id, causation_id)


def test_without_a_causation_id_the_command_gets_a_fresh_one() -> None:
    correlation_id = uuid4()
    with command_scope(CommandContext(correlation_id)) as first:
        pass
    with command_scope(CommandContext(correlation_id)) as second:
        pass
    assert first.causation_id not in (correlation_id, second.causation_id)


def test_the_scope_is_restored_after_the_command() -> None:
    outer = CommandContext(uuid4())
    with command_scope(outer):
        with command_scope(CommandContext(uuid4())):
            pass
        assert current_event_metadata().correlation_id == outer.correlation_id
    with pytest.raises(MissingCommandContextError):
        current_event_metadata()


def test_events_carry_the_trace_context_of_the_scope_they_were_triggered_in() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with trace_scope(traceparent), command_scope(CommandContext(uuid4())):
        traced = Account.open(uuid4(), "EUR")
    with command_scope(CommandContext(uuid4())):
        untraced = Account.open(uuid4(), "EUR")

    assert [event.traceparent for event in traced.collect_events()] == [traceparent]
    assert [event.traceparent for event in untraced.collect_events()] == [None]
