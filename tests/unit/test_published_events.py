"""The names readers of the log rely on equal what the write model records."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from eventsourcing.utils import get_topic

from domain.accounts import Account
from domain.context import CommandContext
from domain.envelope import EVENT_FIELDS, EVENT_TOPICS, EVENT_VERSIONS
from domain.ledger import Ledger
from domain.transfers import Transfer
from infra.eventstore.codec import envelope_from, event_mapper
from infra.eventstore.schema import EVENTS_TABLE, NOTIFY_CHANNEL


def recorded_event_classes() -> dict[str, type[Any]]:
    """Every event class the aggregates define, by name (the library's bases left out)."""
    classes: dict[str, type[Any]] = {}
    for aggregate in (Account, Transfer):
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, aggregate.Event):
                classes[value.__name__] = value
    # The library's base and default creation event: never recorded, ours are named.
    classes.pop("Event", None)
    classes.pop("Created", None)
    return classes


def test_the_topic_table_names_every_event_class_at_its_recorded_topic() -> None:
    expected = {name: get_topic(cls) for name, cls in recorded_event_classes().items()}
    assert dict(EVENT_TOPICS) == expected


RECORDED_TYPES = {"UUID": "uuid", "int": "int", "str": "str", "bool": "bool"}


def test_the_field_table_names_every_event_field_with_its_recorded_type() -> None:
    expected = {
        name: {
            field: RECORDED_TYPES[hint]
            for field, hint in vars(cls).get("__annotations__", {}).items()
        }
        for name, cls in recorded_event_classes().items()
    }
    assert {name: dict(fields) for name, fields in EVENT_FIELDS.items()} == expected


def test_the_version_table_gives_each_event_class_its_current_version() -> None:
    expected = {
        name: getattr(cls, "class_version", 1) for name, cls in recorded_event_classes().items()
    }
    assert dict(EVENT_VERSIONS) == expected


def test_a_field_name_means_one_type_in_every_event() -> None:
    types: dict[str, set[str]] = {}
    for fields in EVENT_FIELDS.values():
        for field, recorded in fields.items():
            types.setdefault(field, set()).add(recorded)
    assert {field: kinds for field, kinds in types.items() if len(kinds) > 1} == {}


def test_the_events_table_and_channel_are_the_ones_the_library_names() -> None:
    assert f"{Ledger.name.lower()}_events" == EVENTS_TABLE
    assert NOTIFY_CHANNEL == "ledger_events"


def test_readers_decode_stored_events_exactly_as_the_ledger_does() -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    context = CommandContext(correlation_id=uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(account_id, 1_250, "salary", context=context)
    notifications = ledger.notification_log.select(start=1, limit=10)

    ours = [envelope_from(n, event_mapper()) for n in notifications]
    theirs = [envelope_from(n, ledger.mapper) for n in notifications]

    assert ours == theirs
    assert [e.event_type for e in ours] == ["AccountOpened", "FundsDeposited"]


def test_a_published_event_carries_no_detail_of_the_event_store_library() -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    context = CommandContext(correlation_id=uuid4())
    ledger.open_account(uuid4(), "EUR", overdraft_limit=500, context=context)
    [opened] = ledger.notification_log.select(start=1, limit=1)

    envelope = envelope_from(opened, event_mapper())

    assert set(envelope.data) == {"owner_id", "currency", "overdraft_limit"}
