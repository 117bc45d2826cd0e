"""Requests the documents call valid are read as they mean, however a client spells them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiokafka.errors import CommitFailedError
from fastapi import FastAPI
from pydantic import ValidationError

from command_api.schemas import DepositIn, OpenAccountIn
from infra.http.openapi import without_null
from infra.problems import install_problem_handlers
from query_api.admin.problems import install_admin_problems
from query_api.admin.schemas import ResetIn
from tests.unit.test_openapi import APPS, SETTINGS


def test_a_whole_amount_spelled_with_a_decimal_point_is_that_amount() -> None:
    assert DepositIn.model_validate({"amount": 4161.0, "reference": "r"}).amount == 4161
    assert (
        OpenAccountIn.model_validate(
            {
                "owner_id": "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
                "currency": "EUR",
                "overdraft_limit": 5.0,
            }
        ).overdraft_limit
        == 5
    )


@pytest.mark.parametrize("amount", [10.5, "10", True])
def test_an_amount_that_is_no_whole_number_is_refused(amount: Any) -> None:
    with pytest.raises(ValidationError):
        DepositIn.model_validate({"amount": amount, "reference": "r"})


@pytest.mark.parametrize("position", [False, "5", 2**53])
def test_a_reset_position_is_a_json_safe_integer(position: Any) -> None:
    with pytest.raises(ValidationError):
        ResetIn.model_validate({"to_position": position})


def test_a_reset_position_spelled_with_a_decimal_point_is_that_position() -> None:
    assert ResetIn.model_validate({"to_position": 5.0}).to_position == 5


@pytest.mark.parametrize("name", sorted(APPS))
def test_no_parameter_is_documented_as_null(name: str) -> None:
    spec = APPS[name](SETTINGS).openapi()
    for path, item in spec["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), path


def test_without_null_keeps_the_description_of_the_remaining_schema() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "d"}

    assert without_null(schema) == {"type": "integer", "description": "d"}


async def test_a_body_that_is_not_utf8_is_the_documented_validation_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: DepositIn) -> None:
        """Takes a JSON body."""

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/things", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")


async def test_a_reset_racing_a_rebalance_is_a_documented_conflict_not_a_failure() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    install_admin_problems(app)

    @app.post("/reset")
    async def reset() -> None:
        """Commits offsets while a worker rejoins."""
        raise CommitFailedError("the group has already rebalanced")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/reset")

    assert response.status_code == 409
    assert response.json()["type"].endswith("/consumer-group-rebalanced")
