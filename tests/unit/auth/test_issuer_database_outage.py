"""The token issuer's answer while its database is down or restarting: 503, never 500."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import PoolTimeout

from infra.problems import PROBLEM_JSON, install_problem_handlers, problem_type
from infra.security.issuer.app import JWKS_PATH, install_database_problems


def _issuer_whose_database_fails(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_database_problems(app)

    @app.get(JWKS_PATH)
    def keys() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("terminating connection due to administrator command"),
        PoolTimeout("couldn't get a connection after 30.00 sec"),
    ],
)
async def test_an_unreachable_database_is_a_503_with_retry_after(error: Exception) -> None:
    app = _issuer_whose_database_fails(error)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer.test") as client:
        response = await client.get(JWKS_PATH)

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("issuer-unavailable")
    assert response.headers["retry-after"] == "1"
