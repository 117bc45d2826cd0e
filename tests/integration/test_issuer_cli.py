"""`ledger auth …` on real PostgreSQL: create a client, get a token with it, revoke, rotate."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from typer.testing import CliRunner, Result

from infra.cli.app import app
from infra.settings import Settings, settings_environment
from tests.auth_fixtures import InProcessIssuer, fetch_token, issuer_in_process, with_local_issuer
from tests.conftest import isolated

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings) -> Iterator[Settings]:
    with isolated(stack) as base:
        yield with_local_issuer(base)


@pytest.fixture
async def issuer(settings: Settings) -> AsyncIterator[InProcessIssuer]:
    async with issuer_in_process(settings) as running:
        yield running


def ledger(settings: Settings, *arguments: str) -> Result:
    return CliRunner().invoke(app, ["auth", *arguments], env=settings_environment(settings))


def created(result: Result) -> tuple[str, str]:
    """The (client id, secret) `create-client` printed."""
    client_id = re.search(r"client_id: (\S+)", result.output)
    secret = re.search(r"client_secret: (\S+)", result.output)
    assert client_id and secret, result.output
    return client_id.group(1), secret.group(1)


async def test_a_client_created_on_the_command_line_gets_a_token(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    result = ledger(settings, "create-client", "--name", "reports", "--scopes", "ledger:read")

    assert result.exit_code == 0, result.output
    token = await fetch_token(issuer.http, created(result))
    assert token.count(".") == 2


async def test_list_clients_shows_the_client_and_never_its_secret(settings: Settings) -> None:
    client_id, secret = created(
        ledger(settings, "create-client", "--name", "reports", "--scopes", "ledger:read")
    )

    result = ledger(settings, "list-clients")

    assert result.exit_code == 0
    assert client_id in result.output
    assert secret not in result.output


async def test_a_revoked_client_gets_no_token(settings: Settings, issuer: InProcessIssuer) -> None:
    client_id, secret = created(
        ledger(settings, "create-client", "--name", "gone", "--scopes", "ledger:read")
    )

    result = ledger(settings, "revoke-client", client_id)

    assert result.exit_code == 0
    response = await issuer.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.json()["error"] == "invalid_client"


def test_revoking_an_unknown_client_is_one_line_and_exit_1(settings: Settings) -> None:
    result = ledger(settings, "revoke-client", "no-such-client")

    assert result.exit_code == 1
    assert result.output.strip() == "auth: no client has the id 'no-such-client'"


async def test_rotate_keys_publishes_the_new_key_beside_the_old(
    settings: Settings, issuer: InProcessIssuer
) -> None:
    (old,) = [k["kid"] for k in (await issuer.http.get("/.well-known/jwks.json")).json()["keys"]]

    result = ledger(settings, "rotate-keys")

    assert result.exit_code == 0, result.output
    new = re.search(r"signing key: (\S+)", result.output)
    assert new is not None
    kids = [k["kid"] for k in (await issuer.http.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [new.group(1), old]


def test_rotate_keys_without_a_key_encryption_key_is_refused(settings: Settings) -> None:
    result = ledger(with_local_issuer(settings, key_encryption_key=""), "rotate-keys")

    assert result.exit_code == 1
    assert "LEDGER_AUTH_KEY_ENCRYPTION_KEY is not set" in result.output
