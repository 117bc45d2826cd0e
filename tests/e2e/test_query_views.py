"""Every view, fed by the real projector, read back with the tokens of the commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import wait_for_view

pytestmark = pytest.mark.e2e


def command(system: RunningSystem, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with system.client() as commands:
        response = commands.post(path, json=body)
    assert response.status_code in (200, 201, 202), response.text
    answer: dict[str, Any] = response.json()
    return answer


def query(system: RunningSystem, path: str, **params: Any) -> httpx.Response:
    with system.client() as queries:
        response = queries.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["x-consistency"] == "fresh", f"{path} was stale"
    return response


def test_every_view_reflects_the_commands_read_back_with_their_tokens(
    shared_system: RunningSystem,
) -> None:
    system = shared_system
    owner = str(uuid4())
    source = command(system, "/v1/accounts", {"owner_id": owner, "currency": "EUR"})
    target = command(system, "/v1/accounts", {"owner_id": owner, "currency": "EUR"})
    source_id, target_id = source["aggregate_id"], target["aggregate_id"]
    command(system, f"/v1/accounts/{source_id}/deposits", {"amount": 1000, "reference": "pay"})
    withdrawn = command(
        system, f"/v1/accounts/{source_id}/withdrawals", {"amount": 300, "reference": "cash"}
    )

    statement = query(
        system, f"/v1/accounts/{source_id}/statement", min_version=withdrawn["version"]
    ).json()
    assert [(line["kind"], line["balance_after"]) for line in statement["items"]] == [
        ("withdrawal", 700),
        ("deposit", 1000),
    ]

    portfolio = query(
        system, f"/v1/owners/{owner}/portfolio", min_position=withdrawn["position"]
    ).json()
    assert portfolio["totals"] == [{"currency": "EUR", "balance": 700, "accounts": 2}]

    requested = command(
        system,
        "/v1/transfers",
        {
            "source_account_id": source_id,
            "target_account_id": target_id,
            "amount": 200,
            "reference": "rent",
        },
    )
    transfer = query(
        system, f"/v1/transfers/{requested['aggregate_id']}", min_version=requested["version"]
    ).json()
    assert (transfer["source_account_id"], transfer["amount"]) == (source_id, 200)
    with system.client() as queries:
        done = wait_for_view(
            queries,
            f"/v1/transfers/{requested['aggregate_id']}",
            lambda body: body["status"] == "completed",
        )
    assert done["timeline"][0]["event_type"] == "TransferRequested"

    last = max(entry["position"] for entry in done["timeline"])
    today = datetime.now(UTC).date().isoformat()
    stats = query(
        system, "/v1/stats/daily", currency="EUR", min_position=last, **{"from": today}
    ).json()
    day = next(item for item in stats["items"] if item["day"] == today)
    assert day["deposits"]["amount"] >= 1000
    assert day["withdrawals"]["amount"] >= 300
    assert day["transfers"]["amount"] >= 200
