"""Statements, portfolios, transfers and daily volume against the real read store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from tests.unit.query_api import documents
from tests.unit.query_api.documents import EPOCH

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def client(isolated_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from tests.unit.query_api.harness import query_client

    async with query_client(isolated_settings) as started:
        yield started


async def funded_account(database: Database, movements: int) -> Any:
    account_id = uuid4()
    await database["accounts_v1"].insert_one(
        documents.account(account_id, balance=100 * movements, version=movements + 1)
    )
    lines = [
        documents.statement_line(account_id, version, balance_after=100 * (version - 1))
        for version in range(2, movements + 2)
    ]
    if lines:
        await database["account_statements_v1"].insert_many(lines)
    return account_id


async def test_a_statement_lists_movements_newest_first_with_running_balances(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account_id = await funded_account(mongo_database, 4)

    body = (await client.get(f"/v1/accounts/{account_id}/statement")).json()

    assert [line["version"] for line in body["items"]] == [5, 4, 3, 2]
    assert [line["balance_after"] for line in body["items"]] == [400, 300, 200, 100]
    assert body["next_cursor"] is None


async def test_a_statement_is_filtered_to_a_half_open_time_range(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account_id = await funded_account(mongo_database, 6)  # lines at EPOCH + 2..7 minutes

    response = await client.get(
        f"/v1/accounts/{account_id}/statement",
        params={
            "from": (EPOCH + timedelta(minutes=3)).isoformat(),
            "to": (EPOCH + timedelta(minutes=6)).isoformat(),
        },
    )

    assert [line["version"] for line in response.json()["items"]] == [5, 4, 3]


async def test_statement_pages_stay_stable_while_lines_are_added(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account_id = await funded_account(mongo_database, 12)
    lines = mongo_database["account_statements_v1"]
    seen: list[int] = []
    cursor = None
    next_version = 14
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"/v1/accounts/{account_id}/statement", params=params)).json()
        seen.extend(line["version"] for line in body["items"])
        # A new movement arrives between page reads (newer than everything listed).
        await lines.insert_one(documents.statement_line(account_id, next_version))
        next_version += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == list(range(13, 1, -1))


async def test_lines_of_the_same_instant_are_ordered_by_version_across_pages(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    account_id = uuid4()
    await mongo_database["accounts_v1"].insert_one(documents.account(account_id))
    await mongo_database["account_statements_v1"].insert_many(
        [documents.statement_line(account_id, v, occurred_at=EPOCH) for v in range(2, 9)]
    )
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"/v1/accounts/{account_id}/statement", params=params)).json()
        seen.extend(line["version"] for line in body["items"])
        if (cursor := body["next_cursor"]) is None:
            break

    assert seen == [8, 7, 6, 5, 4, 3, 2]


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "invalid-range"),
        ({"from": "2026-11-02"}, "validation-error"),
        ({"from": "2026-11-02T00:00:00"}, "validation-error"),
        ({"to": "1700000000"}, "validation-error"),
        ({"cursor": "eyJ2IjoxLCJzIjoiYSIsImsiOlsiMjAyNiJdfQ"}, "invalid-cursor"),
    ],
)
async def test_statement_parameters_are_validated(
    client: httpx.AsyncClient, mongo_database: Database, params: dict[str, str], slug: str
) -> None:
    account_id = await funded_account(mongo_database, 1)

    response = await client.get(f"/v1/accounts/{account_id}/statement", params=params)

    assert response.status_code == 422
    assert response.json()["type"].endswith("/" + slug)


async def test_a_statement_cursor_with_a_forged_key_is_an_invalid_cursor(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    from query_api.cursors import encode_cursor

    account_id = await funded_account(mongo_database, 3)
    first = (await client.get(f"/v1/accounts/{account_id}/statement", params={"limit": 1})).json()
    scope = _scope_of(first["next_cursor"])
    forged = encode_cursor(["yesterday", 3], scope)  # the right scope, a broken key

    response = await client.get(
        f"/v1/accounts/{account_id}/statement", params={"cursor": forged, "limit": 1}
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-cursor")


def _scope_of(cursor: str) -> str:
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    scope: str = payload["s"]
    return scope


async def test_the_statement_of_an_unknown_account_is_a_not_found_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/accounts/{uuid4()}/statement")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/account-not-found")


async def test_a_portfolio_lists_accounts_and_totals_per_currency(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    owner, euro, dollar, closed = uuid4(), uuid4(), uuid4(), uuid4()
    entries = {
        euro: documents.portfolio_entry("EUR", 1500),
        dollar: documents.portfolio_entry("USD", 700),
        closed: documents.portfolio_entry("EUR", 0, status="closed"),
    }
    await mongo_database["owner_portfolios_v1"].insert_one(documents.portfolio(owner, entries))

    body = (await client.get(f"/v1/owners/{owner}/portfolio")).json()

    assert [a["account_id"] for a in body["accounts"]] == sorted(map(str, entries))
    assert body["totals"] == [
        {"currency": "EUR", "balance": 1500, "accounts": 1},
        {"currency": "USD", "balance": 700, "accounts": 1},
    ]


async def test_an_owner_without_a_portfolio_is_a_not_found_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/owners/{uuid4()}/portfolio")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/owner-not-found")


async def test_a_transfer_shows_its_status_and_timeline_in_log_order(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    transfer_id, source, target = uuid4(), uuid4(), uuid4()
    document = documents.transfer(transfer_id, source, target, positions=(12, 10, 13, 11))
    await mongo_database["transfers_v1"].insert_one(document)

    body = (await client.get(f"/v1/transfers/{transfer_id}")).json()

    assert body["status"] == "completed"
    assert (body["source_account_id"], body["amount"]) == (str(source), 5000)
    assert [entry["position"] for entry in body["timeline"]] == [10, 11, 12, 13]


async def test_a_transfer_whose_request_is_not_applied_yet_has_no_accounts(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    transfer_id = uuid4()
    document = documents.transfer(transfer_id, uuid4(), uuid4(), status="debited")
    document.update(source_account_id=None, target_account_id=None, amount=None, currency=None)
    await mongo_database["transfers_v1"].insert_one(document)

    body = (await client.get(f"/v1/transfers/{transfer_id}")).json()

    assert body["status"] == "debited"
    assert body["source_account_id"] is None


async def test_an_unknown_transfer_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/transfers/{uuid4()}")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/transfer-not-found")


async def test_daily_volume_sums_the_parts_of_every_account_per_currency_and_day(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    await mongo_database["daily_volume_v1"].insert_many(
        [
            documents.daily_volume("EUR", "2026-11-02", deposits=(2, 300), transfers=(1, 50)),
            documents.daily_volume(
                "EUR", "2026-11-02", withdrawals=(1, 40), transfers=(2, 70), reversals=(1, 20)
            ),
            documents.daily_volume("EUR", "2026-11-03", deposits=(1, 5)),
            documents.daily_volume("USD", "2026-11-02", deposits=(9, 900)),
            documents.daily_volume("EUR", "2026-11-09", deposits=(1, 1)),  # outside the range
        ]
    )

    response = await client.get(
        "/v1/stats/daily", params={"currency": "EUR", "from": "2026-11-01", "to": "2026-11-05"}
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["currency"], i["day"]) for i in items] == [
        ("EUR", "2026-11-02"),
        ("EUR", "2026-11-03"),
    ]
    assert items[0]["deposits"] == {"count": 2, "amount": 300}
    assert items[0]["withdrawals"] == {"count": 1, "amount": 40}
    assert items[0]["transfers"] == {"count": 3, "amount": 120}
    assert items[0]["reversals"] == {"count": 1, "amount": 20}
    assert items[0]["net_transfer_volume"] == 100


async def test_daily_volume_without_a_currency_covers_every_currency(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    await mongo_database["daily_volume_v1"].insert_many(
        [
            documents.daily_volume("USD", "2026-11-02", deposits=(1, 10)),
            documents.daily_volume("EUR", "2026-11-02", deposits=(1, 20)),
        ]
    )

    response = await client.get(
        "/v1/stats/daily", params={"from": "2026-11-02", "to": "2026-11-02"}
    )

    items = response.json()["items"]
    assert [(i["currency"], i["deposits"]["amount"]) for i in items] == [("EUR", 20), ("USD", 10)]


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"from": "2026-11-05", "to": "2026-11-01"}, "invalid-range"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "invalid-range"),
        ({"from": "2026-11-5"}, "validation-error"),
        ({"from": "2026-02-30"}, "validation-error"),
        ({"to": "2026-11-01T00:00:00Z"}, "validation-error"),
        ({"currency": "Eur"}, "validation-error"),
    ],
)
async def test_daily_volume_parameters_are_validated(
    client: httpx.AsyncClient, params: dict[str, str], slug: str
) -> None:
    response = await client.get("/v1/stats/daily", params=params)

    assert response.status_code == 422
    assert response.json()["type"].endswith("/" + slug)
