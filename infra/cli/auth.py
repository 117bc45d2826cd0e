"""`ledger auth …`: the local issuer's clients and signing keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar
from uuid import UUID

import psycopg
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.cli.support import settings_of
from infra.security.auth.errors import AuthError
from infra.security.auth.scopes import scope_text
from infra.security.issuer.clients import ClientRegistry, check_client_definition
from infra.security.issuer.database import Connect, connector, ensure_schema
from infra.security.issuer.signing_keys import SigningKeyStore
from infra.settings import Settings

app = typer.Typer(
    help="OAuth2 clients and signing keys of the local token issuer.", no_args_is_help=True
)

Result = TypeVar("Result")


@app.command("create-client")
def create_client(
    context: typer.Context,
    name: str = typer.Option(..., "--name", help="Who the client is, for humans."),
    scopes: str = typer.Option(..., "--scopes", help='Space-separated, e.g. "ledger:read".'),
    owner: str | None = typer.Option(None, "--owner", help="Bind its tokens to this owner."),
) -> None:
    """Register a client and print its id and secret (the secret is shown only now)."""
    owner_id = _run(lambda: _owner_id(owner))
    wanted = frozenset(scopes.replace(",", " ").split())
    _run(lambda: check_client_definition(name, wanted, owner_id))
    settings = settings_of(context)
    issued = _run(lambda: ClientRegistry(_connect(settings)).create(name, wanted, owner_id))
    typer.echo(f"client_id: {issued.client.client_id}")
    typer.echo(f"client_secret: {issued.secret}")
    _console().print("Store the secret now: it cannot be shown again.", style="yellow")


@app.command("list-clients")
def list_clients(context: typer.Context) -> None:
    """Show every client: id, name, scopes, owner, and whether it is revoked."""
    settings = settings_of(context)
    clients = _run(lambda: ClientRegistry(_connect(settings)).clients())
    table = Table(title="OAuth2 clients")
    for column in ("client id", "name", "scopes", "owner", "created", "revoked"):
        table.add_column(column)
    for client in clients:
        table.add_row(
            client.client_id,
            client.name,
            scope_text(client.scopes),
            str(client.owner_id or "-"),
            client.created_at.isoformat(timespec="seconds"),
            client.revoked_at.isoformat(timespec="seconds") if client.revoked_at else "-",
        )
    Console(width=200).print(table)


@app.command("revoke-client")
def revoke_client(
    context: typer.Context, client_id: str = typer.Argument(..., help="The client's id.")
) -> None:
    """Refuse new tokens to a client; tokens it already holds expire on their own."""
    settings = settings_of(context)
    client = _run(lambda: ClientRegistry(_connect(settings)).revoke(client_id))
    typer.echo(f"revoked {client.client_id} ({client.name})")


@app.command("rotate-keys")
def rotate_keys(
    context: typer.Context,
    grace_seconds: int | None = typer.Option(
        None, "--grace-seconds", min=0, help="Keep old keys published this long."
    ),
) -> None:
    """Sign with a new key from now on; old keys stay in the JWKS for the grace period."""
    settings = settings_of(context)

    def rotate() -> tuple[str, str, str]:
        store = SigningKeyStore(
            _connect(settings),
            settings.auth.key_encryption_key.get_secret_value(),
            grace_seconds=settings.auth.key_grace_seconds,
        )
        rotation = store.rotate(grace_seconds)
        until = rotation.published_until.isoformat(timespec="seconds")
        return rotation.new_kid, " ".join(rotation.retired_kids) or "-", until

    new_kid, retired, until = _run(rotate)
    typer.echo(f"signing key: {new_kid}")
    typer.echo(f"retired: {retired} (published until {until})")


def _connect(settings: Settings) -> Connect:
    connect = connector(settings.postgres.url.get_secret_value())
    ensure_schema(connect)
    return connect


def _owner_id(owner: str | None) -> UUID | None:
    if owner is None:
        return None
    try:
        return UUID(owner)
    except ValueError:
        raise _InputError(f"--owner must be a UUID, not {owner!r}") from None


class _InputError(AuthError):
    """A command-line value is not acceptable."""


def _run(action: Callable[[], Result]) -> Result:
    try:
        return action()
    except AuthError as error:
        _fail(str(error))
    except psycopg.Error as error:
        _fail(f"PostgreSQL: {str(error).splitlines()[0] if str(error) else type(error).__name__}")


def _fail(message: str) -> NoReturn:
    # Text, not markup: messages may contain brackets.
    _console().print(Text(f"auth: {message}", style="red"), soft_wrap=True)
    raise typer.Exit(code=1)


def _console() -> Console:
    return Console(stderr=True)
