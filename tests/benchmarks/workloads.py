"""The deposit workloads: spread over many accounts, or all on one hot account."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import uuid4

import httpx

from tests.benchmarks.load import JSON_HEADERS, REQUEST_TIMEOUT_SECONDS, Request, run_on_uvloop

OPENING_CLIENTS = 32
DEPOSIT_BODY = json.dumps({"amount": 100, "reference": "benchmark"}).encode()


@dataclass(frozen=True)
class Workload:
    """A named way of choosing the next command."""

    name: str
    next_request: Callable[[], Request]


def spread(account_ids: list[str], seed: int = 1) -> Workload:
    """Each deposit goes to an account drawn at random: commands rarely share an aggregate."""
    paths = [deposit_path(account_id) for account_id in account_ids]
    # Seeded so that runs draw the same sequence of accounts.
    draw = random.Random(seed).choice
    return Workload("spread", lambda: Request(draw(paths), DEPOSIT_BODY))


def hot(account_id: str) -> Workload:
    """Every deposit goes to one account: commands on it can only take turns."""
    request = Request(deposit_path(account_id), DEPOSIT_BODY)
    return Workload("hot", lambda: request)


def deposit_path(account_id: str) -> str:
    """Where a deposit into the account is posted."""
    return f"/v1/accounts/{account_id}/deposits"


def open_funded_accounts(base_url: str, count: int) -> list[str]:
    """Open `count` accounts through the API and make one deposit into each.

    The deposit loads each account once, so the server's aggregate cache holds them all
    before measuring starts, and no cell pays for cache misses the others do not.
    """
    return run_on_uvloop(_open_all(base_url, count))


async def _open_all(base_url: str, count: int) -> list[str]:
    opened: list[str] = []
    pending = iter(range(count))
    await asyncio.gather(
        *(_open_some(base_url, pending, opened) for _ in range(min(OPENING_CLIENTS, count)))
    )
    return opened


async def _open_some(base_url: str, pending: Iterator[int], opened: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for _ in pending:
            response = await client.post(
                "/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"}
            )
            _expect_success(response)
            account_id = str(response.json()["aggregate_id"])
            response = await client.post(
                deposit_path(account_id), content=DEPOSIT_BODY, headers=JSON_HEADERS
            )
            _expect_success(response)
            opened.append(account_id)


def _expect_success(response: httpx.Response) -> None:
    if not response.is_success:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
