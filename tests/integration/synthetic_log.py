"""Large event logs for tests, written straight into the store with COPY (seconds, not minutes)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg

from domain.context import CommandContext
from domain.ledger import Ledger
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import Settings
from tests.chaos.workload import MIX

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(milliseconds=10)

Row = tuple[UUID, int, str, bytes, datetime]
"""One stored event: originator, version, topic, state, recorded at."""


def _templates() -> tuple[str, str, str, str]:
    """Real stored shapes of AccountOpened and FundsDeposited, from the library's mapper."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    context = CommandContext(correlation_id=uuid4())
    account_id = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    ledger.deposit(account_id, 7, "seed", context=context)
    opened, deposited = ledger.notification_log.select(1, 2)
    return opened.topic, opened.state.decode(), deposited.topic, deposited.state.decode()


def rows(events: int, accounts: int) -> Iterator[Row]:
    """Events spread round-robin over accounts, recorded 10 ms apart from START."""
    opened_topic, opened, deposit_topic, deposit = _templates()
    ids = [uuid4() for _ in range(accounts)]
    for index in range(events):
        version = index // accounts + 1
        topic, template = (opened_topic, opened) if version == 1 else (deposit_topic, deposit)
        state = json.loads(template)
        state["event_id"]["_data_"] = uuid4().hex
        state["timestamp"]["_data_"] = (START + index * STEP).isoformat()
        yield (
            ids[index % accounts],
            version,
            topic,
            json.dumps(state).encode(),
            START + index * STEP,
        )


ACCOUNT = "domain.accounts:Account"
TRANSFER = "domain.transfers:Transfer"
OPENING_DEPOSIT = 1_000_000


class _MixedLog:
    """Builds the stored state of each event the way the library records it (checked against
    a real `Ledger` by a unit test), tracking versions and balances so every fold succeeds."""

    def __init__(self, accounts: int, seed: int, step: timedelta = STEP) -> None:
        self.step = step
        self.random = random.Random(seed)
        self.accounts = [uuid4() for _ in range(accounts)]
        self.versions: dict[UUID, int] = {}
        self.balances: dict[UUID, int] = {}
        self.index = 0
        self.correlation = uuid4()

    def _row(self, originator: UUID, topic: str, fields: dict[str, object]) -> Row:
        version = self.versions.get(originator, 0) + 1
        self.versions[originator] = version
        recorded = START + self.index * self.step
        self.index += 1
        state = {
            "timestamp": {"_type_": "datetime_iso", "_data_": recorded.isoformat()},
            "event_id": self._uuid(),
            "correlation_id": _uuid(self.correlation),
            "causation_id": self._uuid(),
            **fields,
        }
        return originator, version, topic, json.dumps(state).encode(), recorded

    def _uuid(self) -> dict[str, str]:
        """A fresh random id, from the seeded generator (`uuid4` costs a system call)."""
        return _uuid(UUID(int=self.random.getrandbits(128), version=4))

    def open(self, account: UUID) -> Iterator[Row]:
        self.correlation = uuid4()
        self.balances[account] = OPENING_DEPOSIT
        yield self._row(
            account,
            f"{ACCOUNT}.AccountOpened",
            {
                "originator_topic": ACCOUNT,
                "owner_id": _uuid(uuid4()),
                "currency": "EUR",
                "overdraft_limit": 0,
            },
        )
        yield self._funds(account, "FundsDeposited", OPENING_DEPOSIT, OPENING_DEPOSIT)

    def _funds(self, account: UUID, kind: str, amount: int, balance: int) -> Row:
        fields: dict[str, object] = {"amount": amount, "currency": "EUR", "reference": "synthetic"}
        if kind == "FundsDeposited":
            fields.update(channel="api", balance_after=balance, class_version=2)
        else:
            fields.update(balance_after=balance)
        return self._row(account, f"{ACCOUNT}.{kind}", fields)

    def command(self) -> Iterator[Row]:
        self.correlation = uuid4()
        kind = self.random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        amount = self.random.randint(1, 2_000)
        if kind == "transfer":
            source, target = self.random.sample(self.accounts, 2)
            yield from self._transfer(source, target, amount)
            return
        account = self.random.choice(self.accounts)
        if kind == "withdrawal":
            amount = min(amount, self.balances[account])
            self.balances[account] -= amount
            yield self._funds(account, "FundsWithdrawn", amount, self.balances[account])
        else:
            self.balances[account] += amount
            yield self._funds(account, "FundsDeposited", amount, self.balances[account])

    def _transfer(self, source: UUID, target: UUID, amount: int) -> Iterator[Row]:
        transfer = uuid4()
        amount = min(amount, self.balances[source])
        yield self._row(
            transfer,
            f"{TRANSFER}.TransferRequested",
            {
                "originator_topic": TRANSFER,
                "source_id": _uuid(source),
                "target_id": _uuid(target),
                "amount": amount,
                "currency": "EUR",
                "reference": "synthetic",
            },
        )
        for account, kind, change in ((source, "Debited", -amount), (target, "Credited", amount)):
            self.balances[account] += change
            fields = {
                "transfer_id": _uuid(transfer),
                "amount": amount,
                "currency": "EUR",
                "balance_after": self.balances[account],
            }
            yield self._row(account, f"{ACCOUNT}.Transfer{kind}", fields)
        yield self._row(transfer, f"{TRANSFER}.TransferCompleted", {})


def _uuid(value: UUID) -> dict[str, str]:
    return {"_type_": "uuid_hex", "_data_": value.hex}


def mixed_rows(events: int, accounts: int, seed: int = 1, step: timedelta = STEP) -> Iterator[Row]:
    """About `events` events (a transfer's four stay together): every account opened and
    funded, then 45 % deposits, 15 % withdrawals and 40 % transfers between random accounts."""
    log = _MixedLog(accounts, seed, step)
    produced = 0
    for account in log.accounts:
        for row in log.open(account):
            produced += 1
            yield row
    while produced < events:
        for row in log.command():
            produced += 1
            yield row


def load(
    settings: Settings,
    events: int,
    accounts: int,
    *,
    mixed: bool = False,
    seed: int = 1,
    step: timedelta = STEP,
) -> None:
    """COPY a synthetic log into the store of `settings`: opens and deposits round-robin, or
    with `mixed` the whole-system mix (`mixed_rows`, its events `step` apart)."""
    source: Callable[[], Iterator[Row]] = (
        (lambda: mixed_rows(events, accounts, seed, step))
        if mixed
        else (lambda: rows(events, accounts))
    )
    columns = "originator_id, originator_version, topic, state, recorded_at"
    with psycopg.connect(settings.postgres.url.get_secret_value()) as conn:
        with conn.cursor().copy(f"COPY {EVENTS_TABLE} ({columns}) FROM STDIN") as copy:
            for row in source():
                copy.write_row(row)
        conn.execute(f"ANALYZE {EVENTS_TABLE}")
