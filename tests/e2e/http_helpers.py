"""Small HTTP conveniences for end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx


def wait_for_view(
    client: httpx.Client,
    path: str,
    condition: Callable[[dict[str, Any]], bool],
    deadline_seconds: float = 20.0,
) -> dict[str, Any]:
    """Read an eventually consistent view until `condition` holds or the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = client.get(path, timeout=5)
        if last.status_code == 200 and condition(last.json()):
            body: dict[str, Any] = last.json()
            return body
        time.sleep(0.05)
    raise AssertionError(f"view never satisfied the condition; last answer: {last and last.text}")


def open_account(
    commands: httpx.Client, currency: str = "EUR", deposit: int = 0, overdraft_limit: int = 0
) -> str:
    """Open an account (and fund it); returns its id."""
    opened = commands.post(
        "/v1/accounts",
        json={"owner_id": str(uuid4()), "currency": currency, "overdraft_limit": overdraft_limit},
    )
    assert opened.status_code == 201, opened.text
    account_id: str = opened.json()["aggregate_id"]
    if deposit:
        funded = commands.post(
            f"/v1/accounts/{account_id}/deposits", json={"amount": deposit, "reference": "funding"}
        )
        assert funded.status_code == 200, funded.text
    return account_id


def problem_slug(response: httpx.Response) -> str:
    """The last segment of a problem's `type`, after checking it is a problem document."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    slug: str = body["type"].rsplit("/", 1)[-1]
    return slug
