"""`ledger projections …`: see and steer the projections (for operators).

Every command works on the stores directly (MongoDB, Kafka, PostgreSQL), through
`projectors.operations.operations`, the same code the admin endpoints use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer
from pymongo.errors import ConnectionFailure
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table

from infra.cli.projection_display import RebuildBar, countdown, status_table
from infra.cli.support import ReadStoreUnavailableError, errors, run_command, settings_of
from infra.eventstore.history import open_history
from infra.readstore.client import close_client, maintenance_client, make_client, read_models
from infra.settings import Settings
from projectors.engine.groups import GroupStillActiveError
from projectors.engine.probes import READ_STORE_OK, ReadStorePing
from projectors.operations.indexes import serving_indexes
from projectors.operations.operations import (
    NotRetryableError,
    OperationInProgressError,
    ProjectionOperations,
    ProjectionReport,
    UnknownProjectionError,
)
from projectors.operations.rebuild import RebuildInterruptedError
from projectors.projections.registry import PROJECTIONS

app = typer.Typer(help="See and steer the projections.", no_args_is_help=True)
letters_app = typer.Typer(help="Events a projection could not apply.", no_args_is_help=True)
app.add_typer(letters_app, name="dead-letters")
console = Console()

NameArgument = Annotated[str, typer.Argument(help="The projection (see `status`)")]
# A wedged read store takes no time to refuse and forever to answer: ask it first, briefly.
STATUS_PING_SECONDS = 2.0
REFUSALS: tuple[type[Exception], ...] = (
    UnknownProjectionError,
    OperationInProgressError,
    NotRetryableError,
    GroupStillActiveError,
)


@asynccontextmanager
async def operations(
    settings: Settings, *, maintenance: bool = False
) -> AsyncIterator[ProjectionOperations]:
    """The operator commands over the configured stores (`maintenance`: with the longer
    deadline a rebuild's index builds need, see `infra.readstore.client`)."""
    client = maintenance_client(settings.mongodb) if maintenance else make_client(settings.mongodb)
    try:
        yield ProjectionOperations(settings, read_models(client, settings.mongodb), PROJECTIONS)
    finally:
        await close_client(client)


def _run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    run_command(work, REFUSALS)


# -- status -----------------------------------------------------------------------------


@app.command()
def status(
    context: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Every projection: version, state, position, lag, rate, workers, dead letters.

    Says within `STATUS_PING_SECONDS` when the read store does not answer (down or wedged),
    and exits 1; `--watch` shows it and keeps watching.
    """
    settings = settings_of(context)

    async def work() -> None:
        async with operations(settings) as ops:
            ping = ReadStorePing(ops.database, timeout_seconds=STATUS_PING_SECONDS, cache_seconds=0)
            if not watch:
                reports = await _reports(ops, ping)
                if as_json:
                    console.print_json(json.dumps([r.to_json() for r in reports], default=str))
                    return
                console.print(status_table(reports))
                for report in reports:
                    if report.message:
                        errors.print(f"[red]{report.name}:[/] {report.message}")
                return
            with Live(await _status_view(ops, ping), console=console) as live:
                while True:
                    await asyncio.sleep(interval)
                    live.update(await _status_view(ops, ping))

    with contextlib.suppress(KeyboardInterrupt):
        _run(work)


async def _reports(ops: ProjectionOperations, ping: ReadStorePing) -> list[ProjectionReport]:
    """Every projection's report, once the read store answers a ping in time."""
    answer = await ping.status()
    if answer != READ_STORE_OK:
        raise ReadStoreUnavailableError(answer)
    return await ops.status()


async def _status_view(ops: ProjectionOperations, ping: ReadStorePing) -> RenderableType:
    try:
        return status_table(await _reports(ops, ping))
    except ReadStoreUnavailableError as error:
        return f"[red]the read store is {error}[/]"
    except ConnectionFailure as error:  # it answered the ping, then stopped
        return f"[red]the read store is unavailable:[/] {str(error).splitlines()[0]}"


# -- pause, resume, reset ---------------------------------------------------------------


@app.command()
def pause(context: typer.Context, name: NameArgument) -> None:
    """Stop the projection's workers (others keep running); returns once none consumes."""
    settings = settings_of(context)

    async def work() -> None:
        async with operations(settings) as ops:
            await ops.pause(name)
        errors.print(f"{name} is paused: no worker consumes it (resume with `resume {name}`)")

    _run(work)


@app.command()
def resume(context: typer.Context, name: NameArgument) -> None:
    """Let the projection's workers consume again."""
    settings = settings_of(context)

    async def work() -> None:
        async with operations(settings) as ops:
            await ops.resume(name)
        errors.print(f"{name} is resumed")

    _run(work)


@app.command()
def reset(
    context: typer.Context,
    name: NameArgument,
    to: Annotated[int, typer.Option("--to", min=0, help="Apply again every event after this")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Make the workers apply every event after a position again (guards skip what is there)."""
    settings = settings_of(context)
    if not yes:
        typer.confirm(f"Reset {name} so its workers read again from position {to:,}?", abort=True)

    async def work() -> None:
        async with operations(settings) as ops:
            offsets = await ops.reset(name, to)
        shown = ", ".join(f"{partition}→{offset}" for partition, offset in sorted(offsets.items()))
        errors.print(f"{name} reset after position {to:,}: {shown}")

    _run(work)


# -- rebuild, retire --------------------------------------------------------------------


@app.command()
def rebuild(
    context: typer.Context,
    name: NameArgument,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds to keep the old build after the switch")
    ] = 60.0,
    wait: Annotated[
        bool, typer.Option(help="Wait out the grace period and drop the old build")
    ] = True,
    page_size: Annotated[int, typer.Option(min=100, max=50_000)] = 5_000,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, help="Events between checkpoints (where a resume starts)")
    ] = 100_000,
) -> None:
    """Rebuild into fresh collections from the event store and switch, with zero downtime.

    Stop it at any time (Ctrl-C): running it again continues where it stopped.
    """
    settings = settings_of(context)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with (
            operations(settings, maintenance=True) as ops,
            open_history(settings) as history,
        ):
            with RebuildBar(name) as bar:
                try:
                    report = await ops.rebuild(
                        name,
                        history,
                        serving_indexes=serving_indexes(name),
                        grace=timedelta(seconds=grace),
                        stop=stop,
                        on_progress=bar.update,
                        page_size=page_size,
                        checkpoint_every=checkpoint_every,
                    )
                except RebuildInterruptedError as error:
                    errors.print(f"interrupted ({error}): run the same command to continue")
                    raise typer.Exit(130) from None
            if report.resumed_from:
                errors.print(f"continued from position {report.resumed_from:,}")
            errors.print(
                f"{name}: {report.build.collection} is live ({report.applied:,} events in"
                f" {report.seconds:.1f} s, {report.events_per_second:,.0f} events/s; the"
                f" workers were held {report.hold_seconds * 1000:.0f} ms for the switch;"
                f" readers never waited)"
            )
            if wait and grace > 0:
                await countdown(grace, stop, f"dropping {report.previous.collection} in")
            if wait and not stop.is_set():
                dropped = await ops.retire(name)
                if dropped:
                    errors.print(f"dropped {', '.join(dropped)}")

    _run(work)


@app.command()
def retire(
    context: typer.Context,
    name: NameArgument,
    force: Annotated[
        bool, typer.Option(help="Drop retired builds before their grace ends")
    ] = False,
) -> None:
    """Drop the old builds a rebuild left behind, once their grace period is over."""
    settings = settings_of(context)

    async def work() -> None:
        async with operations(settings) as ops:
            dropped = await ops.retire(name, force=force)
        errors.print(f"dropped {', '.join(dropped)}" if dropped else "nothing to drop")

    _run(work)


# -- dead letters -----------------------------------------------------------------------


@letters_app.callback()
def letters(
    context: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The projection; `*` for records that were not events")
    ],
) -> None:
    """Events a projection could not apply: list, retry after a fix, discard."""
    # Its subcommands read the name here, and the settings (`settings_of`) further up.
    context.obj = name


@letters_app.command("list")
def list_letters(
    context: typer.Context,
    status: Annotated[str, typer.Option(help="pending, retried, discarded or all")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """The letters, oldest first."""
    name: str = context.obj
    settings = settings_of(context)
    if status not in ("pending", "retried", "discarded", "all"):
        raise typer.BadParameter("pending, retried, discarded or all", param_hint="--status")

    async def work() -> None:
        async with operations(settings) as ops:
            found = await ops.dead_letters(name, None if status == "all" else status, limit)
        table = Table("id", "status", "attempts", "event", "position", "error", title=name)
        for letter in found:
            event = letter["event"]
            table.add_row(
                str(letter["_id"]),
                str(letter["status"]),
                str(letter["attempts"]),
                str(event.get("event_type", event.get("topic", "?"))),
                str(event.get("position", event.get("offset", ""))),
                str(letter["error"]),
            )
        console.print(table)

    _run(work)


IdsOption = Annotated[
    list[str] | None, typer.Option("--id", help="Only this letter; repeat for several")
]


@letters_app.command()
def retry(context: typer.Context, ids: IdsOption = None) -> None:
    """Apply pending letters again (after a fix), in log order; the workers wait meanwhile."""
    name: str = context.obj
    settings = settings_of(context)

    async def work() -> None:
        async with operations(settings) as ops:
            outcome = await ops.retry(name, ids)
        errors.print(f"{outcome.retried} applied, {len(outcome.failed)} still failing")
        for letter_id, error in outcome.failed:
            errors.print(f"  {letter_id}: {error}")
        if outcome.failed:
            raise typer.Exit(1)

    _run(work)


@letters_app.command()
def discard(
    context: typer.Context,
    ids: IdsOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Give up on pending letters (kept for the record, never applied)."""
    name: str = context.obj
    settings = settings_of(context)
    if not yes:
        which = f"{len(ids)} letter(s)" if ids else "every pending letter"
        typer.confirm(f"Discard {which} of {name}?", abort=True)

    async def work() -> None:
        async with operations(settings) as ops:
            count = await ops.discard(name, ids)
        errors.print(f"{count} discarded")

    _run(work)
