"""The command API's answer when the event store cannot be reached: 503, never 500."""

from __future__ import annotations

import httpx
import pytest
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI

from command_api.problems import install_domain_problems
from infra.problems import PROBLEM_JSON, install_problem_handlers, problem_type


def _app_whose_store_fails(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_domain_problems(app)

    @app.post("/v1/transfers")
    def transfer() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("terminating connection due to administrator command"),
        InterfaceError("connection is closed"),
    ],
)
async def test_an_unreachable_event_store_is_a_503_with_retry_after(error: Exception) -> None:
    transport = httpx.ASGITransport(app=_app_whose_store_fails(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        response = await client.post("/v1/transfers")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("event-store-unavailable")
    assert response.headers["retry-after"] == "1"
