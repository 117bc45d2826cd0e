"""The history's fast decoding gives exactly what the library's mapper gives, or uses it."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from domain.context import CommandContext
from domain.envelope import EVENT_TOPICS
from domain.ledger import Ledger
from infra.eventstore.codec import (
    LeanDecoder,
    StoredRow,
    envelope_from,
    event_mapper,
    notification_of,
)
from tests.unit.domain.test_schema_evolution import store_v1_deposit
from tests.unit.projectors.workload import Workload, build_workload


@pytest.fixture(scope="module")
def workload() -> Workload:
    return build_workload(commands=300, seed=5)


def stored_rows(ledger: Ledger) -> list[StoredRow]:
    """The ledger's whole log as the history selects it."""
    return [
        (e.id, str(e.originator_id), e.originator_version, e.topic, e.state)
        for e in ledger.recorder.select_notifications(1, 100_000)
    ]


def through_the_mapper(row: StoredRow) -> dict[str, Any]:
    return envelope_from(notification_of(row), event_mapper()).to_json()


def test_every_event_type_decodes_as_the_mapper_decodes_it(workload: Workload) -> None:
    rows = stored_rows(workload.ledger)
    decoder = LeanDecoder(event_mapper())

    decoded = [decoder.to_json(r) for r in rows]

    assert decoded == [through_the_mapper(r) for r in rows]
    assert decoder.mapped == 0
    # Every type the workload records (all but an account's reopening leg kinds it skips).
    assert {e["event_type"] for e in decoded} >= set(EVENT_TOPICS) - {"TransferDebitReversed"}


def test_an_old_shape_is_upcast_by_the_mapper() -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    context = CommandContext(correlation_id=uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    store_v1_deposit(ledger, account_id, version=2, amount=70)

    decoder = LeanDecoder(event_mapper())
    deposited = decoder.to_json(stored_rows(ledger)[-1])

    assert deposited["schema_version"] == 2
    assert deposited["data"]["channel"] == "unknown"
    assert deposited == through_the_mapper(stored_rows(ledger)[-1])
    assert decoder.mapped == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s | {"note": {"_type_": "decimal_str", "_data_": "1.5"}}, id="tag"),
        pytest.param(lambda s: s | {"tags": ["a", "b"]}, id="list"),
        pytest.param(lambda s: s | {"_private": 1}, id="private"),
        pytest.param(lambda s: {k: v for k, v in s.items() if k != "event_id"}, id="no-event-id"),
    ],
)
def test_a_shape_it_does_not_know_goes_through_the_mapper(change: Any) -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ledger.open_account(uuid4(), "EUR", context=CommandContext(correlation_id=uuid4()))
    position, aggregate_id, version, topic, state = stored_rows(ledger)[0]
    row = (position, aggregate_id, version, topic, json.dumps(change(json.loads(state))).encode())

    decoder = LeanDecoder(event_mapper())

    assert decoder.to_json(row) == through_the_mapper(row)
    assert decoder.mapped == 1
