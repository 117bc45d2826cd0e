"""The account endpoints against the real read store, with documents in the contract's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.settings import Settings
from tests.unit.query_api import documents
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def client(isolated_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with query_client(isolated_settings) as started:
        yield started


@pytest.fixture
def accounts(mongo_database: Database) -> Any:
    return mongo_database["accounts_v1"]


async def read_all_pages(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            path, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_an_account_is_read_with_every_field_of_its_summary(
    client: httpx.AsyncClient, accounts: Any
) -> None:
    account_id = uuid4()
    await accounts.insert_one(documents.account(account_id, balance=1234, version=5, position=77))

    response = await client.get(f"/v1/accounts/{account_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["account_id"], body["balance"], body["version"]) == (str(account_id), 1234, 5)
    assert body["position"] == 77
    assert response.headers["x-consistency"] == "fresh"
    assert response.headers["x-correlation-id"]


async def test_an_unknown_account_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/accounts/{uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/account-not-found")


async def test_accounts_are_listed_by_owner_status_and_currency(
    client: httpx.AsyncClient, accounts: Any
) -> None:
    owner = uuid4()
    mine = [
        documents.account(owner_id=owner, currency="EUR"),
        documents.account(owner_id=owner, currency="USD"),
        documents.account(owner_id=owner, currency="EUR", status="frozen"),
    ]
    await accounts.insert_many([*mine, documents.account(currency="EUR")])

    everything = await read_all_pages(client, "/v1/accounts", {"owner_id": str(owner)})
    open_euro = await read_all_pages(
        client, "/v1/accounts", {"owner_id": str(owner), "currency": "EUR", "status": "open"}
    )

    assert [a["account_id"] for a in everything] == sorted(d["_id"] for d in mine)
    assert [a["account_id"] for a in open_euro] == [mine[0]["_id"]]


async def test_pages_stay_stable_while_accounts_are_inserted_between_reads(
    client: httpx.AsyncClient, accounts: Any
) -> None:
    owner = uuid4()
    originals = [documents.account(owner_id=owner) for _ in range(23)]
    await accounts.insert_many(originals)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"owner_id": str(owner), "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/accounts", params=params)).json()
        seen.extend(item["account_id"] for item in body["items"])
        pages += 1
        # New accounts land before and after the cursor between every two reads.
        await accounts.insert_many([documents.account(owner_id=owner) for _ in range(3)])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)), "an account was repeated across pages"
    assert {d["_id"] for d in originals} <= set(seen), "an account was skipped"
    assert seen == sorted(seen)
    assert pages >= 5


async def test_a_page_holds_at_most_limit_items_and_says_when_more_exist(
    client: httpx.AsyncClient, accounts: Any
) -> None:
    owner = uuid4()
    await accounts.insert_many([documents.account(owner_id=owner) for _ in range(3)])

    first = (await client.get("/v1/accounts", params={"owner_id": str(owner), "limit": 2})).json()
    last = (
        await client.get(
            "/v1/accounts",
            params={"owner_id": str(owner), "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()

    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(last["items"]) == 1 and last["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"owner_id": "not-a-uuid"},
        {"status": "sleeping"},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"limit": 0},
        {"limit": "ten"},
    ],
)
async def test_invalid_filters_are_validation_problems(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/v1/accounts", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/validation-error")


async def test_a_page_larger_than_the_maximum_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/accounts", params={"limit": 501})

    assert response.status_code == 422
    assert response.json()["type"].endswith("/page-too-large")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "eyJ2IjoxfQ",  # {"v":1}: no scope, no key
        "bm90IGpzb24",  # "not json"
        "x" * 600,
    ],
)
async def test_a_tampered_cursor_is_an_invalid_cursor_problem(
    client: httpx.AsyncClient, cursor: str
) -> None:
    response = await client.get("/v1/accounts", params={"cursor": cursor})

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-cursor")


async def test_a_cursor_cannot_continue_a_query_with_other_filters(
    client: httpx.AsyncClient, accounts: Any
) -> None:
    owner = uuid4()
    await accounts.insert_many([documents.account(owner_id=owner) for _ in range(3)])
    first = (await client.get("/v1/accounts", params={"owner_id": str(owner), "limit": 1})).json()

    response = await client.get(
        "/v1/accounts", params={"currency": "USD", "cursor": first["next_cursor"]}
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-cursor")


async def test_a_version_token_on_a_list_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/accounts", headers={"X-Min-Version": "3"})

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-consistency-token")


async def test_indexes_behind_every_filter_exist_after_start_up(
    client: httpx.AsyncClient, mongo_database: Database
) -> None:
    info = await mongo_database["accounts_v1"].index_information()
    keys = {tuple(field for field, _ in index["key"]) for index in info.values()}

    assert {("owner_id", "_id"), ("status", "_id"), ("currency", "_id")} <= keys


@pytest.mark.parametrize(
    ("headers", "params", "slug"),
    [
        ({"X-Min-Version": "abc"}, {}, "validation-error"),
        ({"X-Min-Version": "0"}, {}, "validation-error"),
        ({}, {"min_position": "-4"}, "validation-error"),
        ({}, {"min_position": str(2**63)}, "validation-error"),
        ({"X-Min-Version": "3"}, {"min_version": "4"}, "invalid-consistency-token"),
        ({"X-Min-Version": "3"}, {"min_position": "4"}, "invalid-consistency-token"),
    ],
)
async def test_malformed_consistency_tokens_are_problems(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str], slug: str
) -> None:
    response = await client.get(f"/v1/accounts/{uuid4()}", headers=headers, params=params)

    assert response.status_code == 422
    assert response.json()["type"].endswith("/" + slug)


async def test_a_tampered_cursor_is_refused_before_any_wait(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/accounts", params={"cursor": "garbage", "min_position": str(2**62)}
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-cursor")
    assert "x-consistency" not in response.headers
