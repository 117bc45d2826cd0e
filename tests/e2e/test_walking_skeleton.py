"""One command through every arrow: HTTP, event store, relay, Kafka, projector, query."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import wait_for_view

pytestmark = pytest.mark.e2e


def test_an_account_opened_and_funded_over_http_shows_its_balance_in_the_query_api(
    system: RunningSystem,
) -> None:
    with system.client() as commands:
        opened = commands.post("/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"})
        assert opened.status_code == 201, opened.text
        account_id = opened.json()["aggregate_id"]
        for amount in (1000, 250, 5):
            deposited = commands.post(
                f"/v1/accounts/{account_id}/deposits", json={"amount": amount, "reference": "e2e"}
            )
            assert deposited.status_code == 200, deposited.text

    with system.client() as queries:
        view = wait_for_view(queries, f"/v1/accounts/{account_id}", lambda b: b["version"] == 4)

    assert view["balance"] == 1255
    assert view["currency"] == "EUR"
    assert deposited.json()["version"] == 4


def test_an_unknown_account_is_a_not_found_problem(system: RunningSystem) -> None:
    with system.client() as queries:
        response = queries.get(f"/v1/accounts/{uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/account-not-found")
