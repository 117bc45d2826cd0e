"""The operator endpoints' services, with a lifecycle of their own.

Apart from the read side's (`query_api.services`): their own MongoDB client for the short
commands (status, pause, resume, reset, dead letters), which run on the request loop, and
the rebuild worker, a thread with its own loop and stores, for the long ones; and a reader
of the trace backend (an HTTP client that connects on first use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from infra.observability.traces import TraceReader, open_trace_reader
from infra.readstore.client import close_client, make_client, read_models
from infra.settings import Settings
from projectors.operations.operations import ProjectionOperations
from projectors.projections.registry import PROJECTIONS
from query_api.admin.rebuilds import Rebuilds
from query_api.admin.worker import running_worker


@dataclass(frozen=True)
class AdminServices:
    """Everything the operator routes use, open for the life of the process."""

    operations: ProjectionOperations
    rebuilds: Rebuilds
    traces: TraceReader


@asynccontextmanager
async def open_admin_services(settings: Settings) -> AsyncIterator[AdminServices]:
    """Open the operator commands and start the rebuild worker; stop and close them on exit."""
    async with AsyncExitStack() as stack:
        client = make_client(settings.mongodb)
        stack.push_async_callback(close_client, client)
        database = read_models(client, settings.mongodb)
        operations = ProjectionOperations(settings, database, PROJECTIONS)
        worker = await stack.enter_async_context(running_worker(settings))
        traces = await stack.enter_async_context(open_trace_reader(settings.traces))
        yield AdminServices(operations, Rebuilds(operations, worker), traces)


def admin_services(request: Request) -> AdminServices:
    """The operator services, as the app's lifespan opened them (its state's one entry)."""
    services: AdminServices = request.state.admin_services
    return services


Services = Annotated[AdminServices, Depends(admin_services)]


def projection_operations(services: Services) -> ProjectionOperations:
    """The operator commands run on the request loop."""
    return services.operations


def background_rebuilds(services: Services) -> Rebuilds:
    """This process's background rebuilds."""
    return services.rebuilds


def trace_reader(services: Services) -> TraceReader:
    """The trace backend's reader."""
    return services.traces


Operations = Annotated[ProjectionOperations, Depends(projection_operations)]
BackgroundRebuilds = Annotated[Rebuilds, Depends(background_rebuilds)]
Traces = Annotated[TraceReader, Depends(trace_reader)]
