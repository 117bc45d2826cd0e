"""Process plumbing shared by every Ledger process: JSON logs, and one way to start and stop.

Every process's `__main__` builds its settings, then hands its work to `run_process`: the
work gets a `stop` event, set by SIGTERM, SIGINT or SIGHUP, and the process ends when the
work returns. HTTP servers run inside the work with `serve_app`; a blocking worker runs on
a thread with `run_in_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

import uvicorn
from fastapi import FastAPI
from opentelemetry import trace

from infra.runtime.tracing import (
    TraceContextMiddleware,
    configure_tracing,
    instrument_api,
    shutdown_tracing,
)

log = logging.getLogger(__name__)

Work = Callable[[asyncio.Event], Awaitable[None]]


class _Closable(Protocol):
    def close(self) -> None: ...


Closing = TypeVar("Closing", bound=_Closable)
EventLoop = Literal["asyncio", "uvloop"]
# How long an HTTP server keeps an idle keep-alive connection: longer than the gateway
# keeps its idle upstream connections (30 s in nginx.conf.template), so the gateway always
# closes first and never reuses a connection the server is closing (uvicorn's default, 5 s,
# raced it).
KEEP_ALIVE_SECONDS = 65

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying the request's correlation id when there is one,
    and the trace and span ids of the span it was logged in (W3C hex, as trace backends
    show them)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = correlation_id_var.get()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = f"{span_context.trace_id:032x}"
            entry["span_id"] = f"{span_context.span_id:016x}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def serve_api(service: str, app: FastAPI, host: str, port: int) -> None:
    """Serve one HTTP process (uvloop, httptools) until SIGTERM, SIGINT or SIGHUP.

    With tracing on, every request gets a server span; with it off, the client's
    `traceparent` is still taken as the request's context (see `infra.runtime.tracing`).
    """
    if configure_tracing(service):
        instrument_api(app)
    else:
        app.add_middleware(TraceContextMiddleware)
    run_process(
        service, lambda stop: serve_app(app, host, port, stop, http="httptools"), loop="uvloop"
    )


def run_closing(
    service: str,
    resource: Callable[[], Closing],
    work: Callable[[Closing, asyncio.Event], Awaitable[None]],
) -> None:
    """Open `resource()` on the process's loop, run `work(resource, stop)`, close it at the end."""

    async def body(stop: asyncio.Event) -> None:
        with contextlib.closing(resource()) as opened:
            await work(opened, stop)

    run_process(service, body)


def run_process(service: str, work: Work, *, loop: EventLoop = "asyncio") -> None:
    """Run `work(stop)` on one event loop, logging as JSON; return when the work returns.

    SIGTERM, SIGINT and SIGHUP set `stop` (these handlers are the process's only ones);
    the work is expected to wind down and return, and the process then exits with 0.
    """
    configure_logging(service)
    configure_tracing(service)
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        import uvloop  # only the HTTP servers run on it

        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_until_signalled(work))
    finally:
        shutdown_tracing()


async def _until_signalled(work: Work) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if not stop.is_set():
            log.info("received %s; stopping", signum.name)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await work(stop)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `run_process`.

    `uvicorn.Server.serve` wraps itself in `capture_signals`, which replaces the SIGINT and
    SIGTERM handlers with its own and, once shut down, raises the signal again so that the
    process dies of it. Here `stop` is the only way to end a server.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_app(
    app: FastAPI,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    lifespan: Literal["auto", "on", "off"] = "auto",
    http: Literal["auto", "h11", "httptools"] = "auto",
) -> None:
    """Serve `app` on the running event loop until `stop` is set, then shut down gracefully.

    Returns early if the server ends on its own; a server that cannot start (port taken,
    lifespan start-up failed) exits the process, as `uvicorn.run` would.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan=lifespan,
        http=http,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((serving, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        if serving.done() and not serving.cancelled():
            # Retrieved here, else asyncio logs it again: a SystemExit from a server that
            # could not start has left the loop already and is ending the process.
            serving.exception()
    await serving


async def run_in_thread(
    run: Callable[[], None], request_stop: Callable[[], None], stop: asyncio.Event
) -> None:
    """Run a blocking `run()` on a thread; when `stop` is set, call `request_stop()`.

    Returns when `run()` returns (its exception, if any, is raised here).
    """
    running = asyncio.ensure_future(asyncio.to_thread(run))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((running, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not running.done():
            request_stop()
    await running
