"""One measured cell of the HTTP benchmark: load, then what it cost and how it was committed."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, replace
from typing import NamedTuple

from infra.stack.processes import wait_until
from tests.benchmarks import cpu
from tests.benchmarks.command_server import CommandServer
from tests.benchmarks.databases import database_name, last_position, write_transactions
from tests.benchmarks.load import LoadResult, Request, generate_load
from tests.benchmarks.workloads import Workload

TIMINGS_SECONDS = 5.0


class Probe(NamedTuple):
    """What is read as the measured window opens and closes."""

    cpu: cpu.CpuSnapshot
    position: int


@dataclass(frozen=True)
class CellResult:
    """The figures of one recorder, workload and concurrency cell."""

    recorder: str
    workload: str
    concurrency: int
    seconds: float
    commands: int
    commands_per_second: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    events: int
    write_transactions: int
    commits_per_command: float | None
    server_cpu_ms_per_command: float
    postgres_cpu_ms_per_command: float
    load_generator_cpu_ms_per_command: float
    machine_busy_percent: float
    others_cpu_percent: float
    recorder_transactions: dict[str, float] | None = None


@dataclass(frozen=True)
class CellPlan:
    """How long each cell warms up and then measures."""

    warmup: float
    duration: float


def measure_cell(
    recorder: str,
    workload: Workload,
    concurrency: int,
    *,
    server: CommandServer,
    database_url: str,
    plan: CellPlan,
) -> CellResult:
    """Drive one workload at one concurrency and read back what it did."""
    database = database_name(database_url)
    timings = server.commit_timings_path
    # An instrumented server starts timing its transactions at SIGUSR1, reports at SIGUSR2.
    window_signals = iter((signal.SIGUSR1, signal.SIGUSR2))
    if timings is not None:
        timings.unlink(missing_ok=True)

    def probe() -> Probe:
        if timings is not None:
            os.kill(server.pid, next(window_signals))
        return Probe(cpu.snapshot(server.pid, database), last_position(database_url))

    load = generate_load(
        server.url,
        workload.next_request,
        probe,
        concurrency=concurrency,
        warmup=plan.warmup,
        duration=plan.duration,
    )
    result = summarise(recorder, workload.name, load, database_url)
    if timings is None:
        return result
    wait_until(timings.exists, TIMINGS_SECONDS, f"the server's report in {timings}")
    return replace(result, recorder_transactions=json.loads(timings.read_text()))


def summarise(
    recorder: str, workload: str, load: LoadResult[Probe], database_url: str | None
) -> CellResult:
    """Turn a load result and its probes into the cell's figures."""
    assert load.before is not None and load.after is not None
    used = cpu.used_between(load.before.cpu, load.after.cpu)
    written = (
        write_transactions(database_url, load.before.position, load.after.position)
        if database_url is not None
        else None
    )
    commands = max(load.succeeded, 1)
    return CellResult(
        recorder=recorder,
        workload=workload,
        concurrency=load.concurrency,
        seconds=load.seconds,
        commands=load.succeeded,
        commands_per_second=load.per_second,
        p50_ms=load.latency_percentile(0.50),
        p99_ms=load.latency_percentile(0.99),
        errors=dict(load.failures),
        events=written.events if written else 0,
        write_transactions=written.transactions if written else 0,
        commits_per_command=(
            written.transactions / written.events if written and written.events else None
        ),
        server_cpu_ms_per_command=1000 * used.server / commands,
        postgres_cpu_ms_per_command=1000 * used.postgres / commands,
        load_generator_cpu_ms_per_command=1000 * used.load_generator / commands,
        machine_busy_percent=100 * used.machine_busy_fraction,
        others_cpu_percent=100 * used.others_fraction,
    )


def measure_ceiling(
    server: CommandServer, database_url: str, concurrency: int, plan: CellPlan
) -> CellResult:
    """The load generator against `GET /health`: the most it can drive while sharing the CPUs."""
    health = Request("/health")

    def probe() -> Probe:
        return Probe(cpu.snapshot(server.pid, database_name(database_url)), 0)

    load = generate_load(
        server.url,
        lambda: health,
        probe,
        concurrency=concurrency,
        warmup=plan.warmup,
        duration=plan.duration,
    )
    return summarise("none", "GET /health", load, None)
