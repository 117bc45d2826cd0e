"""Clients as a real one would write them: one key per command, retried with the same key
and body on timeouts, 5xx and connection errors, with backoff, until a final answer."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

OPENING_DEPOSIT = 1_000_000
REQUEST_TIMEOUT_SECONDS = 15.0
FIRST_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 2.0
# Deposits, withdrawals and transfers, in percent.
MIX = (("deposit", 45), ("withdrawal", 15), ("transfer", 40))


@dataclass
class Attempt:
    """One HTTP attempt: when it was sent and answered, and its status (None: no answer)."""

    sent: float
    answered: float
    status: int | None


@dataclass
class Command:
    """One command with its own idempotency key, and every attempt made to deliver it."""

    key: str
    kind: str
    path: str
    body: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)
    final_status: int | None = None
    aggregate_id: str | None = None

    @property
    def acknowledged(self) -> bool:
        """The API said it was done (2xx)."""
        return self.final_status is not None and 200 <= self.final_status < 300

    @property
    def first_sent(self) -> float:
        """When its first attempt left."""
        return self.attempts[0].sent if self.attempts else float("inf")


def retryable(status: int | None) -> bool:
    """Timeouts, connection errors, 5xx and 429 are worth retrying; any other answer is final."""
    return status is None or status >= 500 or status == 429


def retry_after(response: httpx.Response | None) -> float | None:
    """The server's Retry-After in seconds, when it sent a number."""
    value = response.headers.get("retry-after", "") if response is not None else ""
    return float(value) if value.isdigit() else None


async def deliver(client: httpx.AsyncClient, command: Command, deadline: float) -> None:
    """Send until a final answer, or until the global deadline (then it stays unanswered)."""
    backoff = FIRST_BACKOFF_SECONDS
    headers = {"Idempotency-Key": command.key}
    while time.monotonic() < deadline:
        sent, response = time.monotonic(), None
        try:
            response = await client.post(command.path, json=command.body, headers=headers)
            status: int | None = response.status_code
        except httpx.TransportError:
            status = None
        command.attempts.append(Attempt(sent, time.monotonic(), status))
        if not retryable(status) and response is not None:
            command.final_status = status
            if command.acknowledged:
                command.aggregate_id = str(response.json()["aggregate_id"])
            return
        wait = retry_after(response) or backoff
        await asyncio.sleep(min(wait, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0))
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


class Workload:
    """Generates commands over a fixed set of accounts and records every one of them."""

    def __init__(self, accounts: list[str], seed: int) -> None:
        self.accounts = accounts
        self.random = random.Random(seed)
        self.commands: list[Command] = []

    def next_command(self) -> Command:
        """A deposit, withdrawal or transfer between random accounts, keyed afresh."""
        kind = self.random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        key = str(uuid4())
        amount = self.random.randint(1, 2_000)
        if kind == "transfer":
            source, target = self.random.sample(self.accounts, 2)
            body: dict[str, Any] = {
                "source_account_id": source,
                "target_account_id": target,
                "amount": amount,
                "reference": key,
            }
            command = Command(key, kind, "/v1/transfers", body)
        else:
            account = self.random.choice(self.accounts)
            path = f"/v1/accounts/{account}/{kind}s"
            command = Command(key, kind, path, {"amount": amount, "reference": key})
        self.commands.append(command)
        return command

    async def run(
        self,
        client: httpx.AsyncClient,
        clients: int,
        keep_going: Callable[[int], bool],
        deadline: float,
    ) -> None:
        """`clients` concurrent senders, while `keep_going(commands issued so far)` holds."""

        async def sender() -> None:
            while keep_going(len(self.commands)) and time.monotonic() < deadline:
                await deliver(client, self.next_command(), deadline)

        await asyncio.gather(*(sender() for _ in range(clients)))


async def open_accounts(
    client: httpx.AsyncClient, count: int, deadline: float
) -> tuple[list[str], list[Command]]:
    """Open `count` accounts, each funded by an opening deposit; return ids and deposits."""
    ids, deposits = [], []
    for _ in range(count):
        key = str(uuid4())
        body = {"owner_id": str(uuid4()), "currency": "EUR", "overdraft_limit": 0}
        opened = Command(key, "open", "/v1/accounts", body)
        await deliver(client, opened, deadline)
        if not opened.acknowledged or opened.aggregate_id is None:
            raise RuntimeError(f"could not open an account: {opened.attempts[-1:]}")
        ids.append(opened.aggregate_id)
        funding_key = str(uuid4())
        funding = Command(
            funding_key,
            "deposit",
            f"/v1/accounts/{opened.aggregate_id}/deposits",
            {"amount": OPENING_DEPOSIT, "reference": funding_key},
        )
        await deliver(client, funding, deadline)
        deposits.append(funding)
    return ids, deposits


async def fetch_token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    """A bearer token from the issuer, through the gateway (client-credentials grant)."""
    answer = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])
