"""The `ledger` command: everything an operator or analyst runs."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from infra.cli.auth import app as auth_app
from infra.cli.events import app as events_app
from infra.cli.projections import app as projections_app
from infra.cli.stack import app as stack_app
from infra.cli.support import errors
from infra.eventstore.library import prepare_event_store
from infra.messaging.kafka import ensure_topic
from infra.security.local_auth import apply_local_auth
from infra.settings import Settings
from infra.stack import control
from infra.stack.errors import StackError

app = typer.Typer(help="Ledger: an event-sourced money ledger.", no_args_is_help=True)
app.add_typer(
    stack_app,
    name="stack",
    help="The local servers: PostgreSQL, Kafka, MongoDB wire, Redis, nginx.",
)
app.add_typer(auth_app, name="auth", help="OAuth2 clients and signing keys of the local issuer.")
app.add_typer(events_app, name="events", help="Read, export and replay the event history.")
app.add_typer(
    projections_app, name="projections", help="See and steer the projections: status, rebuild…"
)


@app.command()
def up(
    detach: bool = typer.Option(False, "--detach", "-d", help="Return once everything is up."),
) -> None:
    """Start the local stack and every Ledger process on 127.0.0.1, and keep them running."""
    control.up(Settings(), detach=detach)


@app.command()
def migrate() -> None:
    """Create the event store's tables and the events topic (idempotent)."""
    settings = Settings()
    prepare_event_store(settings)
    asyncio.run(ensure_topic(settings.kafka))
    typer.echo("event store and topic are ready")


@app.command()
def down() -> None:
    """Stop the supervisor, every Ledger process and the local stack."""
    control.down(Settings())


@app.command()
def status() -> None:
    """Each server and process under `ledger up`: pid, uptime, restarts, state."""
    try:
        table = control.status(Settings())
    except StackError as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    Console().print(table)


def main() -> None:
    """Entry point of the `ledger` console script."""
    apply_local_auth()
    app()


if __name__ == "__main__":
    main()
