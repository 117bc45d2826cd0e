"""Every refusal of the command API is a problem document with a stable type."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import RunningSystem
from tests.e2e.http_helpers import open_account, problem_slug

pytestmark = pytest.mark.e2e


@pytest.fixture
def commands(shared_system: RunningSystem) -> Iterator[httpx.Client]:
    with shared_system.client(timeout=10) as client:
        yield client


def test_a_deposit_to_an_unknown_account_is_not_found(commands: httpx.Client) -> None:
    response = commands.post(
        f"/v1/accounts/{uuid4()}/deposits", json={"amount": 1, "reference": "x"}
    )

    assert (response.status_code, problem_slug(response)) == (404, "account-not-found")


def test_a_withdrawal_beyond_the_overdraft_is_insufficient_funds(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=100, overdraft_limit=50)

    response = commands.post(
        f"/v1/accounts/{account}/withdrawals", json={"amount": 151, "reference": "x"}
    )

    assert (response.status_code, problem_slug(response)) == (409, "insufficient-funds")


def test_a_withdrawal_from_a_frozen_account_is_refused(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=100)
    assert (
        commands.post(f"/v1/accounts/{account}/freeze", json={"reason": "audit"}).status_code == 200
    )

    response = commands.post(
        f"/v1/accounts/{account}/withdrawals", json={"amount": 1, "reference": "x"}
    )

    assert (response.status_code, problem_slug(response)) == (409, "account-frozen")


def test_a_deposit_to_a_closed_account_is_refused(commands: httpx.Client) -> None:
    account = open_account(commands)
    assert commands.post(f"/v1/accounts/{account}/close").status_code == 200

    response = commands.post(
        f"/v1/accounts/{account}/deposits", json={"amount": 1, "reference": "x"}
    )

    assert (response.status_code, problem_slug(response)) == (409, "account-closed")


def test_closing_an_account_with_money_in_it_is_refused(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=5)

    response = commands.post(f"/v1/accounts/{account}/close")

    assert (response.status_code, problem_slug(response)) == (409, "account-not-empty")


def test_a_transfer_between_currencies_is_a_currency_mismatch(commands: httpx.Client) -> None:
    source, target = open_account(commands, "EUR", deposit=100), open_account(commands, "USD")

    response = commands.post(
        "/v1/transfers",
        json={
            "source_account_id": source,
            "target_account_id": target,
            "amount": 10,
            "reference": "x",
        },
    )

    assert (response.status_code, problem_slug(response)) == (422, "currency-mismatch")


def test_a_transfer_to_the_same_account_is_refused(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=100)

    response = commands.post(
        "/v1/transfers",
        json={
            "source_account_id": account,
            "target_account_id": account,
            "amount": 1,
            "reference": "x",
        },
    )

    assert (response.status_code, problem_slug(response)) == (422, "same-account-transfer")


def test_an_unknown_currency_is_refused(commands: httpx.Client) -> None:
    response = commands.post("/v1/accounts", json={"owner_id": str(uuid4()), "currency": "XXY"})

    assert (response.status_code, problem_slug(response)) == (422, "unknown-currency")


def test_a_stale_if_match_is_a_version_mismatch(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=10)

    response = commands.post(
        f"/v1/accounts/{account}/deposits",
        json={"amount": 1, "reference": "x"},
        headers={"If-Match": '"1"'},
    )

    assert (response.status_code, problem_slug(response)) == (412, "version-mismatch")


def test_a_current_if_match_succeeds_and_returns_the_next_etag(commands: httpx.Client) -> None:
    account = open_account(commands, deposit=10)

    response = commands.post(
        f"/v1/accounts/{account}/deposits",
        json={"amount": 1, "reference": "x"},
        headers={"If-Match": '"2"'},
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 10.5, "reference": "float"},
        {"amount": "10", "reference": "string"},
        {"amount": 0, "reference": "zero"},
        {"amount": -5, "reference": "negative"},
        {"amount": 10**16, "reference": "too large"},
        {"amount": 10, "reference": ""},
        {"amount": 10, "reference": "x" * 141},
        {"amount": 10, "reference": "x", "colour": "blue"},
        {"reference": "missing amount"},
    ],
    ids=[
        "float",
        "string",
        "zero",
        "negative",
        "too-large",
        "empty-reference",
        "long-reference",
        "unknown-field",
        "missing",
    ],
)
def test_an_invalid_deposit_is_a_validation_error(
    commands: httpx.Client, body: dict[str, object]
) -> None:
    account = open_account(commands)

    response = commands.post(f"/v1/accounts/{account}/deposits", json=body)

    assert (response.status_code, problem_slug(response)) == (422, "validation-error")
    assert response.json()["errors"]


def test_a_malformed_account_id_is_a_validation_error(commands: httpx.Client) -> None:
    response = commands.post(
        "/v1/accounts/not-a-uuid/deposits", json={"amount": 1, "reference": "x"}
    )

    assert (response.status_code, problem_slug(response)) == (422, "validation-error")


def test_a_lowercase_currency_code_is_a_validation_error(commands: httpx.Client) -> None:
    response = commands.post("/v1/accounts", json={"owner_id": str(uuid4()), "currency": "eur"})

    assert (response.status_code, problem_slug(response)) == (422, "validation-error")


def test_a_body_over_the_size_limit_is_refused(commands: httpx.Client) -> None:
    response = commands.post(
        "/v1/accounts",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"content-type": "application/json"},
    )

    assert (response.status_code, problem_slug(response)) == (413, "content-too-large")


def test_a_body_that_is_not_json_is_a_validation_error(commands: httpx.Client) -> None:
    response = commands.post(
        "/v1/accounts", content=b"owner=me", headers={"content-type": "application/json"}
    )

    assert (response.status_code, problem_slug(response)) == (422, "validation-error")


def test_the_correlation_id_is_echoed_and_a_missing_one_is_generated(
    commands: httpx.Client,
) -> None:
    correlation_id = str(uuid4())

    given = commands.post(
        "/v1/accounts",
        json={"owner_id": str(uuid4()), "currency": "EUR"},
        headers={"X-Correlation-Id": correlation_id},
    )
    generated = commands.post("/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"})

    assert given.headers["X-Correlation-Id"] == correlation_id == given.json()["correlation_id"]
    assert generated.headers["X-Correlation-Id"] == generated.json()["correlation_id"]
