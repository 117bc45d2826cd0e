"""A random workload on the in-memory Ledger, as the envelopes the relay would publish.

Commands are drawn with a seeded generator: opens, deposits, withdrawals, freezes,
unfreezes, closes and transfers, some refused by the domain as they would be in life.
The transfer process follows the log now and then, so transfers interleave with other
commands and some fail (insufficient funds, a target frozen meanwhile).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import Random
from uuid import UUID, uuid4

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification

from domain.context import CommandContext
from domain.envelope import EventEnvelope
from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.transfer_process import TransferProcess
from infra.eventstore.codec import envelope_from

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
CURRENCIES = ("EUR", "USD", "GBP")


@dataclass
class Workload:
    """The ledger after the commands, and its whole log as envelopes."""

    ledger: Ledger
    envelopes: list[EventEnvelope]
    accounts: list[UUID]
    transfers: list[UUID]


class _Driver:
    def __init__(self, ledger: Ledger, random: Random) -> None:
        self.ledger = ledger
        self.random = random
        self.process = TransferProcess(ledger)
        self.position = 0
        self.owners = [uuid4() for _ in range(15)]
        self.accounts: list[UUID] = []
        self.transfers: list[UUID] = []

    def context(self) -> CommandContext:
        return CommandContext(correlation_id=uuid4())

    def follow_the_log(self) -> None:
        """Run the transfer process over everything recorded since it last looked."""
        while page := self.ledger.notification_log.select(
            self.position + 1, self.ledger.log_section_size
        ):
            for notification in page:
                event = self.ledger.mapper.to_domain_event(notification)
                assert isinstance(event, DomainEvent)
                self.process.handle(event)
                self.position = notification.id

    def open(self) -> None:
        outcome = self.ledger.open_account(
            self.random.choice(self.owners),
            self.random.choice(CURRENCIES),
            self.random.choice((0, 0, 500)),
            context=self.context(),
        )
        self.accounts.append(outcome.aggregate_id)

    def deposit(self) -> None:
        amount = self.random.randint(100, 8_000)
        channel = self.random.choice(("api", "batch"))
        self.ledger.deposit(self.any_account(), amount, "in", channel, context=self.context())

    def withdraw(self) -> None:
        amount = self.random.randint(1, 3_000)
        self.ledger.withdraw(self.any_account(), amount, "out", context=self.context())

    def freeze(self) -> None:
        self.ledger.freeze(self.any_account(), "review", context=self.context())

    def unfreeze(self) -> None:
        self.ledger.unfreeze(self.any_account(), context=self.context())

    def close(self) -> None:
        empty = [a for a in self.accounts if self.ledger.get_account(a).balance.amount == 0]
        self.ledger.close_account(
            self.random.choice(empty or self.accounts), context=self.context()
        )

    def transfer(self) -> None:
        source = self.any_account()
        currency = self.ledger.get_account(source).currency
        targets = [
            a
            for a in self.accounts
            if a != source and self.ledger.get_account(a).currency == currency
        ]
        if not targets:
            self.open()
            return
        outcome = self.ledger.request_transfer(
            source,
            self.random.choice(targets),
            self.random.randint(1, 1_500),
            "pay",
            context=self.context(),
        )
        self.transfers.append(outcome.aggregate_id)

    def any_account(self) -> UUID:
        return self.random.choice(self.accounts)


def build_workload(commands: int = 1_000, seed: int = 20261128) -> Workload:
    """Run `commands` random commands (refusals included) and settle every transfer."""
    random = Random(seed)
    ledger = Ledger(env=IN_MEMORY)
    driver = _Driver(ledger, random)
    weighted: list[tuple[Callable[[], None], int]] = [
        (driver.open, 10),
        (driver.deposit, 30),
        (driver.withdraw, 12),
        (driver.transfer, 30),
        (driver.freeze, 6),
        (driver.unfreeze, 6),
        (driver.close, 6),
    ]
    actions = [action for action, _ in weighted]
    weights = [weight for _, weight in weighted]
    for _ in range(commands):
        action = driver.open if len(driver.accounts) < 4 else random.choices(actions, weights)[0]
        with contextlib.suppress(LedgerError):  # refused, as plenty of real commands are
            action()
        if random.random() < 0.2:
            driver.follow_the_log()
    driver.follow_the_log()
    return Workload(ledger, log_as_envelopes(ledger), driver.accounts, driver.transfers)


def log_as_envelopes(ledger: Ledger) -> list[EventEnvelope]:
    """Every notification of the ledger's log, in order, as an envelope."""
    notifications: list[Notification] = []
    while page := ledger.notification_log.select(len(notifications) + 1, ledger.log_section_size):
        notifications.extend(page)
    return [envelope_from(notification, ledger.mapper) for notification in notifications]


def delivered_twice_shuffled(
    envelopes: Sequence[EventEnvelope], random: Random
) -> list[EventEnvelope]:
    """Every event twice; aggregates interleaved at random, each aggregate in its own order.

    Half the aggregates see each event repeated at once (a retried send), the other half
    their whole history again after it (a consumer that restarted from an old offset).
    """
    by_aggregate: dict[UUID, list[EventEnvelope]] = defaultdict(list)
    for envelope in envelopes:
        by_aggregate[envelope.aggregate_id].append(envelope)
    streams: list[list[EventEnvelope]] = []
    for history in by_aggregate.values():
        if random.random() < 0.5:
            streams.append([event for event in history for event in (event, event)])
        else:
            streams.append(history + history)
    delivered: list[EventEnvelope] = []
    heads = [0] * len(streams)
    remaining = [index for index in range(len(streams))]
    while remaining:
        choice = random.randrange(len(remaining))
        stream = remaining[choice]
        delivered.append(streams[stream][heads[stream]])
        heads[stream] += 1
        if heads[stream] == len(streams[stream]):
            remaining[choice] = remaining[-1]
            remaining.pop()
    return delivered


def in_batches(
    events: Sequence[EventEnvelope], random: Random, largest: int
) -> list[list[EventEnvelope]]:
    """Cut events into consecutive batches of random sizes, up to `largest`."""
    batches: list[list[EventEnvelope]] = []
    start = 0
    while start < len(events):
        size = random.randint(1, largest)
        batches.append(list(events[start : start + size]))
        start += size
    return batches
