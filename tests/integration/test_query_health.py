"""Health with projection lag, readiness, metrics and correlation ids of the query API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from infra.settings import MongodbSettings, PostgresSettings, Settings
from tests.integration.progress_rows import store_progress
from tests.unit.query_api.harness import query_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(isolated_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with query_client(isolated_settings) as started:
        yield started


async def test_health_shows_each_projections_position_and_lag(
    client: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    await store_progress(isolated_settings, "accounts", 0, offset=10, highwater=10, position=40)
    await store_progress(isolated_settings, "accounts", 1, offset=7, highwater=9, position=35)
    await store_progress(isolated_settings, "transfers", 0, offset=3, highwater=3, position=38)

    body = (await client.get("/health")).json()

    assert body["status"] == "ok"
    by_name = {p["projection"]: p for p in body["projections"]}
    assert (by_name["accounts"]["position"], by_name["accounts"]["lag_events"]) == (40, 2)
    assert by_name["accounts"]["lag_seconds"] > 0
    assert [p["partition"] for p in by_name["accounts"]["partitions"]] == [0, 1]
    assert by_name["transfers"]["lag_events"] == 0


async def test_health_without_projection_progress_lists_no_projections(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/health")).json()

    assert body["projections"] == []


async def test_ready_when_both_stores_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mongodb": "ok", "postgres": "ok"}


async def test_not_ready_when_the_stores_do_not_answer(isolated_settings: Settings) -> None:
    unreachable = isolated_settings.model_copy(
        update={
            "mongodb": MongodbSettings(url="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"),
            "postgres": PostgresSettings(url="postgresql://ledger:ledger@127.0.0.1:9/ledger"),
        }
    )
    async with query_client(unreachable) as client:
        ready = await client.get("/ready")
        alive = await client.get("/health")
        read = await client.get(f"/v1/accounts/{uuid4()}")

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert alive.status_code == 200 and alive.json()["projections"] is None
    assert read.status_code == 503
    assert read.json()["type"].endswith("/read-store-unavailable")


async def test_metrics_count_requests_per_route_template(client: httpx.AsyncClient) -> None:
    await client.get(f"/v1/accounts/{uuid4()}")

    text = (await client.get("/metrics")).text

    assert (
        'ledger_http_requests_total{method="GET",route="/v1/accounts/{account_id}",'
        'service="query-api",status="404"}' in text
    )
    assert "ledger_http_request_seconds_bucket" in text


async def test_a_correlation_id_is_echoed(client: httpx.AsyncClient) -> None:
    correlation_id = str(uuid4())

    response = await client.get("/health", headers={"X-Correlation-Id": correlation_id})

    assert response.headers["x-correlation-id"] == correlation_id
