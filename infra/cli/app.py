"""The `ledger` command: everything an operator or analyst runs; its composition root."""

from __future__ import annotations

import asyncio
import enum

import typer
from rich.console import Console

from infra.cli.auth import app as auth_app
from infra.cli.events import app as events_app
from infra.cli.projections import app as projections_app
from infra.cli.stack import app as stack_app
from infra.cli.support import errors, settings_of
from infra.cli.traces import trace
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
    help="The local servers: PostgreSQL, Kafka, MongoDB wire, Redis, Jaeger, nginx.",
)
app.add_typer(auth_app, name="auth", help="OAuth2 clients and signing keys of the local issuer.")
app.add_typer(events_app, name="events", help="Read, export and replay the event history.")
app.add_typer(
    projections_app, name="projections", help="See and steer the projections: status, rebuild…"
)
app.command(name="trace")(trace)


class _Entry(enum.Enum):
    """How the command line was entered, handed to the root callback as `obj`."""

    # `ledger` or `python -m infra.cli`: the APIs trust the local issuer out of the box.
    CONSOLE = "console"


@app.callback()
def _compose(context: typer.Context) -> None:
    # The settings, built once here, reach every subcommand as `context.obj`
    # (`settings_of(context)`). The local issuer's wiring is exported before any process
    # is started, so that those processes read it too.
    settings = Settings()
    if context.obj is _Entry.CONSOLE:
        settings = apply_local_auth(settings)
    context.obj = settings


@app.command()
def up(
    context: typer.Context,
    detach: bool = typer.Option(False, "--detach", "-d", help="Return once everything is up."),
) -> None:
    """Start the local stack and every Ledger process on 127.0.0.1, and keep them running."""
    control.up(settings_of(context), detach=detach)


@app.command()
def migrate(context: typer.Context) -> None:
    """Create the event store's tables and the events topic (idempotent)."""
    settings = settings_of(context)
    prepare_event_store(settings)
    asyncio.run(ensure_topic(settings.kafka))
    typer.echo("event store and topic are ready")


@app.command()
def down(context: typer.Context) -> None:
    """Stop the supervisor, every Ledger process and the local stack."""
    control.down(settings_of(context))


@app.command()
def status(context: typer.Context) -> None:
    """Each server and process under `ledger up`: pid, uptime, restarts, state."""
    try:
        table = control.status(settings_of(context))
    except StackError as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    Console().print(table)


def main() -> None:
    """Entry point of the `ledger` console script."""
    app(obj=_Entry.CONSOLE)


if __name__ == "__main__":
    main()
