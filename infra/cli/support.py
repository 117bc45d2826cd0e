"""What every `ledger` subcommand shares: the settings, running async work, one-line errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import typer
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError
from rich.console import Console

from infra.settings import Settings

errors = Console(stderr=True)


def settings_of(context: typer.Context) -> Settings:
    """The settings the `ledger` root callback built for this command line, once."""
    settings = context.find_object(Settings)
    if settings is None:
        raise RuntimeError("no settings: subcommands run under `infra.cli.app.app`")
    return settings


class ReadStoreUnavailableError(Exception):
    """The read store did not answer a ping in time (down, or up but wedged)."""


class UsageError(Exception):
    """Bad input: shown as one line, exit status 2."""


def run_command(
    work: Callable[[], Coroutine[Any, Any, None]],
    usage_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Run an async command: bad input and refusals are one line and exit 2, an
    unreachable service one line and exit 1."""
    refusals: tuple[type[Exception], ...] = (UsageError, ValueError, OSError, *usage_errors)
    try:
        asyncio.run(work())
    except refusals as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    except psycopg.OperationalError as error:
        errors.print(f"[red]error:[/] cannot reach the event store: {str(error).splitlines()[0]}")
        raise typer.Exit(1) from None
    except ReadStoreUnavailableError as error:
        errors.print(f"[red]error:[/] the read store is {error}")
        raise typer.Exit(1) from None
    except PyMongoError as error:
        errors.print(f"[red]error:[/] cannot reach the read store: {str(error).splitlines()[0]}")
        raise typer.Exit(1) from None
    except KafkaError as error:
        errors.print(f"[red]error:[/] cannot reach Kafka: {error}")
        raise typer.Exit(1) from None
