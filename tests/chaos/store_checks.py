"""What the event store holds against what the clients were told, and the read side after it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from domain.envelope import EventEnvelope
from infra.eventstore.history import EventFilter, open_history
from infra.eventstore.library import open_ledger
from infra.settings import Settings
from projectors.projections.registry import PROJECTIONS
from projectors.projections.transfers import PROJECTION as TRANSFERS
from tests.chaos.workload import Command
from tests.e2e.reference import (
    Models,
    comparable,
    differences,
    expected_read_models,
    listing,
    stored_read_models,
)

KEYED_EVENTS = {
    "deposit": "FundsDeposited",
    "withdrawal": "FundsWithdrawn",
    "transfer": "TransferRequested",
}
FINISHED = {"completed", "failed"}


@dataclass
class StoreAudit:
    """How many events carry each command's key, and what the store holds that nobody sent."""

    counts: Counter[str] = field(default_factory=Counter)
    transfer_ids: dict[str, str] = field(default_factory=dict)
    events: list[EventEnvelope] = field(default_factory=list)

    def applied(self, command: Command) -> int:
        """How many times the store applied this command."""
        return self.counts[f"{command.kind}:{command.key}"]


def read_store(settings: Settings) -> StoreAudit:
    """Every event of the store, with the keyed ones counted by command kind and reference."""

    async def read() -> list[EventEnvelope]:
        async with open_history(settings) as history:
            return [e async for e in history.stream(EventFilter(), page_size=5_000)]

    audit = StoreAudit(events=asyncio.run(read()))
    kinds = {event_type: kind for kind, event_type in KEYED_EVENTS.items()}
    for event in audit.events:
        kind = kinds.get(event.event_type)
        if kind is None:
            continue
        reference = str(event.data["reference"])
        audit.counts[f"{kind}:{reference}"] += 1
        if kind == "transfer":
            audit.transfer_ids[reference] = str(event.aggregate_id)
    return audit


def store_problems(commands: list[Command], audit: StoreAudit) -> list[str]:
    """Acknowledged commands applied other than once, refused ones applied, strangers stored."""
    problems = []
    sent = {f"{c.kind}:{c.key}" for c in commands}
    for command in commands:
        applied = audit.applied(command)
        if command.acknowledged and applied != 1:
            problems.append(f"{command.kind} {command.key}: acknowledged, applied {applied}x")
        elif command.final_status is not None and not command.acknowledged and applied:
            problems.append(f"{command.kind} {command.key}: refused, applied {applied}x")
        elif command.final_status is None and applied > 1:
            problems.append(f"{command.kind} {command.key}: unanswered, applied {applied}x")
        transfer_id = audit.transfer_ids.get(command.key)
        if (
            command.kind == "transfer"
            and command.acknowledged
            and transfer_id != command.aggregate_id
        ):
            problems.append(f"transfer {command.key}: answered id {command.aggregate_id}")
    strangers = [key for key in audit.counts if key not in sent]
    problems += [f"{key}: in the store, but no client sent it" for key in strangers]
    return problems


def conservation_problems(settings: Settings) -> list[str]:
    """The conservation law, per currency, from the whole log."""
    ledger = open_ledger(settings)
    try:
        report = ledger.conservation_report()
    finally:
        ledger.close()
    return [
        f"{currency}: {audit}" for currency, audit in report.currencies.items() if not audit.holds
    ]


def unfinished_transfers(expected: Models) -> list[str]:
    """Transfers in the fold that are neither completed nor failed."""
    transfers = expected.get(TRANSFERS.collection, {})
    return sorted(str(key) for key, doc in transfers.items() if doc["status"] not in FINISHED)


def settle_read_models(settings: Settings, deadline_seconds: float) -> list[str]:
    """Wait (bounded) for every transfer to finish and the projections to catch up; then
    the differences between a fresh fold of the store and the stored read models."""
    give_up = time.monotonic() + deadline_seconds
    while True:
        expected = {
            name: comparable(documents)
            for name, documents in expected_read_models(settings, PROJECTIONS.values()).items()
        }
        pending = unfinished_transfers(expected)
        out_of_time = time.monotonic() > give_up
        if out_of_time or not pending:
            stored = {
                name: comparable(documents)
                for name, documents in stored_read_models(settings, sorted(expected)).items()
            }
            if stored == expected or out_of_time:
                found = differences(expected, stored)
                unfinished = [f"transfer {key} never finished" for key in pending[:20]]
                return unfinished + ([listing(found)] if found else [])
        time.sleep(3.0)  # each poll folds the whole store: leave the projectors the CPU
