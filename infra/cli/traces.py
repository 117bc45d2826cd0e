"""`ledger trace ID`: which processes a command crossed, as a tree of spans, from Jaeger."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

import typer

from infra.cli.support import errors, settings_of
from infra.observability.spans import Trace
from infra.observability.traces import (
    TRACE_ID,
    TraceBackendUnavailableError,
    open_trace_reader,
)
from infra.settings import TracesSettings

Identifier = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="A trace id (32 hex digits) or a command's correlation id (a UUID)",
        show_default=False,
    ),
]


def trace(context: typer.Context, identifier: Identifier) -> None:
    """Print the span tree of a trace, or of every trace of a correlation id (newest first):
    one line per span, `service  span name  duration`, children indented under parents."""
    settings = settings_of(context).traces
    lookup = _lookup(identifier.strip().lower())
    try:
        traces = asyncio.run(_read(settings, lookup))
    except TraceBackendUnavailableError as error:
        errors.print(f"[red]error:[/] {error}", soft_wrap=True)
        raise typer.Exit(1) from None
    if not traces:
        errors.print(
            f"[red]error:[/] the trace backend at {settings.query_url} "
            f"has no trace of {identifier}",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    for index, found in enumerate(traces):
        if index:
            typer.echo("")
        typer.echo("\n".join(tree_lines(found)))


def tree_lines(found: Trace) -> list[str]:
    """A heading, then one line per span, indented two spaces per level below its root."""
    heading = (
        f"trace {found.trace_id}  {found.start.isoformat()}  "
        f"{len(found.spans)} spans  {found.duration_ms:.1f} ms"
    )
    lines = [heading]
    for depth, span in found.walk():
        failed = "  error" if span.status == "error" else ""
        lines.append(
            f"{'  ' * depth}{span.service}  {span.name}  {span.duration_ms:.1f} ms{failed}"
        )
    return lines


def _lookup(identifier: str) -> str | UUID:
    """A trace id as it is, a correlation id as a UUID; anything else is refused."""
    if TRACE_ID.fullmatch(identifier):
        return identifier
    try:
        return UUID(identifier)
    except ValueError:
        errors.print(
            f"[red]error:[/] {identifier!r} is neither a trace id (32 hex digits) "
            "nor a correlation id (a UUID)",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


async def _read(settings: TracesSettings, lookup: str | UUID) -> list[Trace]:
    async with open_trace_reader(settings) as reader:
        if isinstance(lookup, UUID):
            return await reader.find_traces(lookup)
        found = await reader.get_trace(lookup)
        return [] if found is None else [found]
