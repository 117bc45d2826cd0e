"""`up`, `down` and `status` of the whole stack, the components handled side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from rich.console import Console
from rich.text import Text

from infra.settings import Settings
from infra.stack.component import Component, ComponentStatus, UpReport
from infra.stack.errors import StackError
from infra.stack.jaeger import Jaeger
from infra.stack.kafka_broker import Kafka
from infra.stack.layout import StackPaths, stack_lock
from infra.stack.mongo_wire import MongoWire
from infra.stack.nginx_gateway import NginxGateway
from infra.stack.postgres_server import PostgreSQL
from infra.stack.redis_server import Redis

Result = TypeVar("Result")


def stack_components(settings: Settings) -> list[Component]:
    """Every component of the stack, in display order."""
    paths = StackPaths.create(settings.stack.dir)
    kinds: list[type[Component]] = [PostgreSQL, Kafka, MongoWire, Redis, Jaeger, NginxGateway]
    return [kind(settings, paths) for kind in kinds]


def stack_up(settings: Settings, *, console: Console | None = None) -> None:
    """Install what is missing and start every component; one summary line when all were up."""
    began = time.monotonic()
    components = stack_components(settings)
    with stack_lock(components[0].paths):
        reports = _in_parallel(components, lambda component: component.up())
    _print_up_summary(console or Console(), reports, time.monotonic() - began)


def stack_down(settings: Settings, *, console: Console | None = None) -> None:
    """Stop every server `up` started (by pid file); external servers are left alone."""
    began = time.monotonic()
    components = stack_components(settings)
    with stack_lock(components[0].paths):
        stopped = _in_parallel(components, lambda component: component.down())
    names = [
        component.name for component, was_up in zip(components, stopped, strict=True) if was_up
    ]
    elapsed = time.monotonic() - began
    summary = f"stopped {', '.join(names)}" if names else "nothing of ours was running"
    (console or Console()).print(Text(f"stack: {summary} ({elapsed:.1f}s)"))


def stack_status(settings: Settings) -> list[ComponentStatus]:
    """Each component's address and state: up, down, unhealthy or external."""
    return _in_parallel(stack_components(settings), lambda component: component.status())


def _in_parallel(
    components: list[Component], action: Callable[[Component], Result]
) -> list[Result]:
    """Run `action` on every component at once; raise every failure together, by component."""
    with ThreadPoolExecutor(len(components), thread_name_prefix="stack") as pool:
        futures = [pool.submit(_attributed, action, component) for component in components]
    results: list[Result] = []
    errors: list[StackError] = []
    for future in futures:
        try:
            results.append(future.result())
        except StackError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        names = ", ".join(error.component for error in errors)
        raise StackError(names, "\n\n" + "\n\n".join(str(error) for error in errors))
    return results


def _attributed(action: Callable[[Component], Result], component: Component) -> Result:
    """Name the component in any failure, including ones we did not foresee."""
    try:
        return action(component)
    except StackError:
        raise
    except Exception as error:
        raise StackError(component.name, f"{type(error).__name__}: {error}") from error


def _print_up_summary(console: Console, reports: list[UpReport], elapsed: float) -> None:
    if all(report.outcome != "started" and not report.installed for report in reports):
        names = [
            f"{report.name} (external)" if report.outcome == "external" else report.name
            for report in reports
        ]
        console.print(Text(f"stack: already up: {', '.join(names)} ({elapsed:.1f}s)"))
        return
    for report in reports:
        steps = [f"installed in {report.install_seconds:.1f}s"] if report.installed else []
        if report.outcome == "started":
            steps.append(f"started in {report.start_seconds:.1f}s")
        console.print(Text(f"stack: {report.name:<8} {', '.join(steps) or report.outcome}"))
    installed = [report.name for report in reports if report.installed]
    kind = f"cold start, installed {', '.join(installed)}" if installed else "warm start"
    console.print(Text(f"stack: up in {elapsed:.1f}s ({kind})"))
