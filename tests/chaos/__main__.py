"""`python -m tests.chaos`: a Ledger of its own under a retrying workload and one fault after
another; prints the chaos table and exits 1 when any check fails."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import httpx

from tests.auth_fixtures import create_client
from tests.chaos.faults import FAULTS, FaultRun, run_faults
from tests.chaos.kafka_check import topic_problems
from tests.chaos.report import build_rows, render, unexpected_5xx
from tests.chaos.stack import SCOPES, UP_SECONDS, ChaosStack, own_stack
from tests.chaos.store_checks import (
    StoreAudit,
    conservation_problems,
    read_store,
    settle_read_models,
    store_problems,
)
from tests.chaos.workload import (
    REQUEST_TIMEOUT_SECONDS,
    Command,
    Workload,
    fetch_token,
    open_accounts,
)

SETTLE_SECONDS = 180.0
KAFKA_SECONDS = 120.0


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    commands: int
    clients: int
    seed: int
    accounts: int
    deadline: float


def parse(arguments: list[str]) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--commands", type=int, default=10_000, help="at least this many")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seed", type=int, default=1, help="seeds the workload's choices")
    parser.add_argument("--accounts", type=int, default=100, help="accounts opened first")
    parser.add_argument("--deadline", type=float, default=900.0, help="workload seconds, at most")
    namespace = parser.parse_args(arguments)
    return Options(
        namespace.commands,
        namespace.clients,
        namespace.seed,
        namespace.accounts,
        namespace.deadline,
    )


async def drive(stack: ChaosStack, options: Options) -> tuple[list[Command], list[FaultRun]]:
    """Open accounts, run the workload, inject every fault while it runs; return the record."""
    deadline = time.monotonic() + options.deadline
    issued = await asyncio.to_thread(create_client, stack.settings, scopes=SCOPES, name="chaos")
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        verify=stack.tls_context(),
        timeout=REQUEST_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_connections=options.clients + 4),
    ) as client:
        token = await fetch_token(client, issued.client.client_id, issued.secret)
        client.headers["Authorization"] = f"Bearer {token}"
        accounts, opening = await open_accounts(client, options.accounts, deadline)
        workload = Workload(accounts, options.seed)
        faults_done = asyncio.Event()

        def keep_going(issued: int) -> bool:
            return issued < options.commands or not faults_done.is_set()

        work = asyncio.create_task(workload.run(client, options.clients, keep_going, deadline))
        try:
            runs = await run_faults(stack, FAULTS, lambda: workload.commands)
        finally:
            faults_done.set()
        await work
    return opening + workload.commands, runs


def guarded(name: str, check: Callable[[], list[str]]) -> list[str]:
    """A check's problems; a check that crashes is a failed check, and the table still prints."""
    try:
        return check()
    except Exception as error:
        return [f"{name} could not run: {type(error).__name__}: {error}"]


def stored_versions(audit: StoreAudit) -> dict[str, dict[int, str]]:
    """Each aggregate's event ids by version, as the store holds them."""
    stored: dict[str, dict[int, str]] = {}
    for event in audit.events:
        versions = stored.setdefault(str(event.aggregate_id), {})
        versions[event.aggregate_version] = str(event.event_id)
    return stored


def check(stack: ChaosStack, commands: list[Command], runs: list[FaultRun]) -> str:
    """Wait for quiescence, run every check, and render the table."""
    settings = stack.settings
    read_models = guarded(
        "the read-model check", lambda: settle_read_models(settings, SETTLE_SECONDS)
    )
    audit = read_store(settings)
    duplicates: list[int] = []

    def kafka() -> list[str]:
        problems, seen = topic_problems(
            settings.kafka.bootstrap_servers,
            settings.kafka.topic,
            stored_versions(audit),
            KAFKA_SECONDS,
        )
        duplicates.append(seen)
        return problems

    on_kafka = guarded("the Kafka check", kafka)
    unanswered = [f"{c.kind} {c.key}" for c in commands if c.final_status is None]
    checks = {
        "every acknowledged command in the store exactly once": store_problems(commands, audit),
        "every command got a final answer": unanswered,
        f"every event on Kafka in aggregate order ({sum(duplicates)} duplicates)": on_kafka,
        "every read model equals a fresh fold of the store": read_models,
        "money is conserved": guarded(
            "the conservation check", lambda: conservation_problems(settings)
        ),
        "no 5xx but 503 while a dependency was down": unexpected_5xx(commands, runs),
    }
    table = render(build_rows(commands, runs, audit), checks)
    return table + ("\n\nRESULT: PASS" if not any(checks.values()) else "\n\nRESULT: FAIL")


def _give_up(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the chaos suite ran past its global deadline")


def main(arguments: list[str]) -> int:
    """Run the suite; 0 when every check passed."""
    options = parse(arguments)
    # A hard stop on top of every bounded wait: the stack is stopped on the way out.
    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(int(UP_SECONDS + options.deadline + SETTLE_SECONDS + KAFKA_SECONDS + 300))
    began = time.monotonic()
    with own_stack() as stack:
        print(f"chaos: stack up in {time.monotonic() - began:.0f}s at {stack.gateway_url}")
        commands, runs = asyncio.run(drive(stack, options))
        print(f"chaos: {len(commands)} commands sent; waiting for quiescence")
        table = check(stack, commands, runs)
    print(table)
    print(f"chaos: {time.monotonic() - began:.0f}s in all")
    return 0 if table.endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
