"""`python -m infra.security.issuer` as a real process; an API verifying its tokens over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests.auth_fixtures import bearer, create_client, http_client, issuer_process, protected_app
from tests.conftest import isolated

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    log_path = Path(tmp_path_factory.mktemp("issuer")) / "issuer.log"
    with isolated(stack) as base, issuer_process(base, log_path=log_path) as settings:
        yield settings


def token_for(settings: Settings, scopes: str) -> str:
    client = create_client(settings, scopes=scopes)
    response = httpx.post(
        f"{settings.auth.issuer}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client.client_id, client.secret),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_the_process_serves_its_discovery_document(running: Settings) -> None:
    document = httpx.get(f"{running.auth.issuer}/.well-known/openid-configuration").json()

    assert document["jwks_uri"] == running.auth.jwks_url


async def test_an_api_verifies_its_tokens_with_the_jwks_over_http(running: Settings) -> None:
    app = protected_app(running.auth)

    async with http_client(app) as client:
        response = await client.get("/protected", headers=bearer(token_for(running, "ledger:read")))

    assert response.status_code == 200


async def test_an_api_refuses_its_tokens_without_the_scope(running: Settings) -> None:
    app = protected_app(running.auth, scope="ledger:write")

    async with http_client(app) as client:
        response = await client.get("/protected", headers=bearer(token_for(running, "ledger:read")))

    assert response.status_code == 403
