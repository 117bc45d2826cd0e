"""Rate limits per client, shared by two query API replicas behind the gateway."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from infra.settings import RateLimitSettings, Settings
from tests.e2e.conftest import RunningSystem, running

pytestmark = pytest.mark.e2e

LIMIT = 20
BURST = 60


@pytest.fixture(scope="module")
def limited(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    limits = RateLimitSettings(queries=f"{LIMIT}/5 seconds", commands="1000/second")
    with running(
        module_settings, tmp_path_factory.mktemp("limited"), replicas=2, ratelimit=limits
    ) as system:
        yield system


def burst(client: httpx.Client, count: int) -> list[httpx.Response]:
    return [client.get("/v1/accounts") for _ in range(count)]


def test_a_burst_over_the_limit_is_refused_with_429_and_the_headers(limited: RunningSystem) -> None:
    with limited.client(token=limited.token("ledger:read ledger:all-owners")) as client:
        responses = burst(client, BURST)

    statuses = Counter(r.status_code for r in responses)
    refused = next(r for r in responses if r.status_code == 429)
    assert statuses[200] == LIMIT  # one budget, though two replicas served the burst
    assert statuses[429] == BURST - LIMIT
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == str(LIMIT)
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) >= 1
    first = responses[0]
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == (
        str(LIMIT),
        str(LIMIT - 1),
    )


def test_another_client_is_unaffected_by_a_noisy_one(limited: RunningSystem) -> None:
    with limited.client(token=limited.token("ledger:read ledger:all-owners")) as noisy:
        burst(noisy, LIMIT + 5)
    with limited.client(token=limited.token("ledger:read ledger:all-owners")) as quiet:
        response = quiet.get("/v1/accounts")

    assert response.status_code == 200


def test_the_limit_recovers_after_the_window(limited: RunningSystem) -> None:
    with limited.client(token=limited.token("ledger:read ledger:all-owners")) as client:
        refused = burst(client, LIMIT + 1)[-1]
        assert refused.status_code == 429
        deadline = time.monotonic() + 15
        while (answer := client.get("/v1/accounts")).status_code == 429:
            assert time.monotonic() < deadline, "the limit never recovered"
            time.sleep(float(answer.headers["retry-after"]))

    assert answer.status_code == 200


def test_both_replicas_answered_the_burst(limited: RunningSystem) -> None:
    with limited.client(token=limited.token("ledger:read ledger:all-owners")) as client:
        burst(client, 6)
    metrics = [
        httpx.get(f"http://127.0.0.1:{port}/metrics").text
        for replica, port in limited.replica_ports.items()
        if replica.startswith("query-api")
    ]

    assert len(metrics) == 2
    assert all('route="/v1/accounts"' in text for text in metrics)
