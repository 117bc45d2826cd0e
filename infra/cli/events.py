"""`ledger events …`: export, follow, show and replay the event history (for analysts)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from domain.envelope import EventEnvelope
from infra.cli.support import UsageError, errors, run_command, settings_of
from infra.eventstore.export import ExportFile, ExportFormat, export_history
from infra.eventstore.history import EventFilter, EventHistory, UnknownEventTypeError, open_history
from infra.eventstore.ranges import DEFAULT_WORKERS
from infra.eventstore.schema import NOTIFY_CHANNEL
from infra.settings import Settings

app = typer.Typer(help="Read, export and replay the event history.", no_args_is_help=True)
console = Console()

Fold = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

FromOption = Annotated[
    datetime | None, typer.Option("--from", help="Recorded at or after (RFC 3339)")
]
ToOption = Annotated[datetime | None, typer.Option("--to", help="Recorded before (RFC 3339)")]
TypeOption = Annotated[
    list[str] | None, typer.Option("--type", help="Event type; repeat for several")
]
AggregateOption = Annotated[UUID | None, typer.Option("--aggregate", help="One aggregate's id")]
AfterOption = Annotated[int, typer.Option("--after", min=0, help="Start after this position")]


def _filter(
    after: int,
    types: list[str] | None,
    aggregate: UUID | None,
    recorded_from: datetime | None,
    recorded_to: datetime | None,
) -> EventFilter:
    for moment in (recorded_from, recorded_to):
        if moment is not None and moment.tzinfo is None:
            raise UsageError("times need a timezone, e.g. 2026-11-28T09:00:00Z")
    if recorded_from and recorded_to and recorded_from >= recorded_to:
        raise UsageError("--from must be earlier than --to")
    return EventFilter(
        after=after,
        types=frozenset(types or ()),
        aggregate_id=aggregate,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )


def _run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    run_command(work, (UnknownEventTypeError,))


@app.command()
def export(
    context: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="File to write", dir_okay=False)],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.JSONL,
    recorded_from: FromOption = None,
    recorded_to: ToOption = None,
    types: TypeOption = None,
    aggregate: AggregateOption = None,
    after: AfterOption = 0,
    append: Annotated[bool, typer.Option(help="Append to an existing JSONL/CSV file")] = False,
    page_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Positions per range a worker reads")
    ] = 5_000,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="Processes decoding ranges in parallel")
    ] = DEFAULT_WORKERS,
) -> None:
    """Export events to JSONL, CSV or Parquet (typed columns); resumable with --after (and
    --append)."""
    settings = settings_of(context)

    async def work() -> None:
        wanted = _filter(after, types, aggregate, recorded_from, recorded_to)
        if out.exists() and not append:
            raise UsageError(f"{out} exists; choose another file or pass --append")
        if append and export_format is ExportFormat.PARQUET:
            raise UsageError("Parquet files cannot be appended to; write a new file")
        async with open_history(settings) as history:
            await _export(history, wanted, out, export_format, append, page_size, workers)

    _run(work)


async def _export(
    history: EventHistory,
    wanted: EventFilter,
    out: Path,
    export_format: ExportFormat,
    append: bool,
    page_size: int,
    workers: int,
) -> None:
    if wanted.types:
        unknown = wanted.types - history.event_types
        if unknown:
            raise UnknownEventTypeError(sorted(unknown))
    head = await history.head()
    last = wanted.after
    columns = (
        TextColumn("[bold]export"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("positions · {task.fields[events]:,} events · {task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        ExportFile(out, export_format, append=append) as writer,
        Progress(*columns, console=errors) as bar,
    ):
        task = bar.add_task("export", total=max(head - wanted.after, 0), events=0, rate="")

        def progress(through: int, events: int) -> None:
            nonlocal last
            last = through
            speed = bar.tasks[task].speed
            rate = f"{speed:,.0f} positions/s" if speed else ""
            bar.update(task, completed=through - wanted.after, events=events, rate=rate)

        try:
            exported, last = await export_history(
                history,
                wanted,
                writer,
                export_format,
                page_size=page_size,
                workers=workers,
                progress=progress,
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            errors.print(f"interrupted: resume with --after {last} --append")
            raise
    errors.print(f"exported {exported:,} events to {out} (through position {last})")


@app.command()
def show(context: typer.Context, aggregate_id: UUID) -> None:
    """One aggregate's history as a table."""
    settings = settings_of(context)

    async def work() -> None:
        async with open_history(settings) as history:
            events = [e async for e in history.stream(EventFilter(aggregate_id=aggregate_id))]
        if not events:
            raise UsageError(f"no events for aggregate {aggregate_id}")
        table = Table("version", "position", "recorded", "type", "data")
        for event in events:
            table.add_row(
                str(event.aggregate_version),
                str(event.position),
                event.occurred_at.isoformat(timespec="seconds"),
                event.event_type,
                json.dumps(dict(event.data), sort_keys=True),
            )
        console.print(table)

    _run(work)


@app.command()
def tail(
    context: typer.Context, types: TypeOption = None, aggregate: AggregateOption = None
) -> None:
    """Follow the log live (from now on), until Ctrl-C."""
    settings = settings_of(context)

    async def work() -> None:
        async with open_history(settings) as history:
            wanted = _filter(await history.head(), types, aggregate, None, None)
            await _follow(settings, history, wanted)

    try:
        _run(work)
    except KeyboardInterrupt:
        errors.print("stopped")


async def _follow(settings: Settings, history: EventHistory, wanted: EventFilter) -> None:
    url = settings.postgres.url.get_secret_value()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as listener:
        await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
        errors.print(f"following after position {wanted.after} (Ctrl-C stops)")
        cursor = wanted
        while True:
            page = await history.page(cursor, 1_000)
            for event in page.events:
                _print_event(event)
            cursor = EventFilter(**{**vars(cursor), "after": page.next_after})
            if page.exhausted:
                # Woken by the store's NOTIFY; the timeout is only a safety net.
                async for _ in listener.notifies(timeout=5.0, stop_after=1):
                    break


def _print_event(event: EventEnvelope) -> None:
    console.print(
        f"[dim]{event.occurred_at.isoformat(timespec='milliseconds')}[/] "
        f"[cyan]#{event.position}[/] [bold]{event.event_type}[/] "
        f"{event.aggregate_id} v{event.aggregate_version} "
        f"{json.dumps(dict(event.data), sort_keys=True)}"
    )


@app.command()
def replay(
    context: typer.Context,
    projection: Annotated[
        str, typer.Option(help="module:function or path/to/file.py:function folding events")
    ],
    recorded_from: FromOption = None,
    recorded_to: ToOption = None,
    types: TypeOption = None,
    aggregate: AggregateOption = None,
    out: Annotated[Path | None, typer.Option(help="Write the result as JSON here")] = None,
) -> None:
    """Fold the history through your own function: fold(state: dict, event: dict) -> dict."""
    settings = settings_of(context)

    async def work() -> None:
        fold = load_fold(projection)
        wanted = _filter(0, types, aggregate, recorded_from, recorded_to)
        async with open_history(settings) as history:
            state = await replay_events(history, wanted, fold)
        text = json.dumps(state, indent=2, sort_keys=True, default=str)
        if out is None:
            console.print_json(text)
        else:
            out.write_text(text + "\n")
            errors.print(f"wrote {out}")

    _run(work)


async def replay_events(history: EventHistory, wanted: EventFilter, fold: Fold) -> dict[str, Any]:
    """Fold every matching event (as its JSON shape) into a state, starting from {}."""
    state: dict[str, Any] = {}
    async for event in history.stream(wanted):
        state = fold(state, event.to_json())
    return state


def load_fold(reference: str) -> Fold:
    """Import `module:function` or `path/to/file.py:function`."""
    target, _, name = reference.rpartition(":")
    if not target or not name:
        raise UsageError("--projection must look like module:function or file.py:function")
    if target.endswith(".py"):
        path = Path(target)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.exists():
            raise UsageError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise UsageError(f"cannot import {target}: {error}") from None
    fold = getattr(module, name, None)
    if not callable(fold):
        raise UsageError(f"{target} has no function {name}")
    return fold  # type: ignore[no-any-return]
