"""`ledger stack up|down|status`: the local stack from the command line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.cli.support import settings_of
from infra.stack.component import ComponentStatus
from infra.stack.errors import StackError
from infra.stack.lifecycle import stack_down, stack_status, stack_up

__all__ = ["app", "stack_down", "stack_status", "stack_up"]

app = typer.Typer(
    help="Install, start, stop and inspect the local stack: PostgreSQL, Kafka, "
    "a MongoDB-wire server, Redis and the nginx gateway.",
    no_args_is_help=True,
)

_STATE_STYLES = {"up": "green", "down": "red", "unhealthy": "yellow", "external": "cyan"}


@app.callback()
def _quiet_client_libraries() -> None:
    # Health probes expect refusals while servers start; aiokafka would log each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@app.command()
def up(context: typer.Context) -> None:
    """Install what is missing, start every component and wait until each one answers."""
    settings = settings_of(context)
    _run(lambda: stack_up(settings))


@app.command()
def down(context: typer.Context) -> None:
    """Stop every server that `up` started."""
    settings = settings_of(context)
    _run(lambda: stack_down(settings))


@app.command()
def status(context: typer.Context) -> None:
    """Show each component's address and state (up, down, unhealthy, external)."""
    Console().print(status_table(stack_status(settings_of(context))))


def status_table(statuses: list[ComponentStatus]) -> Table:
    """The statuses as a Rich table."""
    table = Table(title="Ledger local stack")
    for column in ("component", "address", "state", "detail"):
        table.add_column(column)
    for row in statuses:
        state = Text(row.state, style=_STATE_STYLES[row.state])
        table.add_row(row.name, row.address, state, row.detail)
    return table


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except StackError as error:
        # Text, not markup: log lines such as "[2025-01-01 …] ERROR" are not Rich tags.
        Console(stderr=True, soft_wrap=True).print(Text(f"stack failed: {error}", style="red"))
        raise typer.Exit(code=1) from None
