"""The faults, one after another: SIGKILL a Ledger process, or stop a server the way
`ledger down` would; then measure until the supervisor has it back and commands flow."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tests.chaos.stack import ChaosStack
from tests.chaos.workload import Command

Kind = Literal["kill", "stop"]
RECOVERY_DEADLINE_SECONDS = 120.0
CALM_SECONDS = 3.0  # commands flow between faults, so each window starts from a working system


@dataclass(frozen=True)
class Fault:
    """What to break: a process to SIGKILL or a server to stop."""

    unit: str
    kind: Kind

    @property
    def label(self) -> str:
        """How the table names it."""
        return f"{'SIGKILL' if self.kind == 'kill' else 'stop'} {self.unit}"


FAULTS = (
    Fault("command-api", "kill"),
    Fault("relay", "kill"),
    Fault("transfer-process", "kill"),
    Fault("projector", "kill"),
    Fault("query-api", "kill"),
    Fault("postgres", "stop"),
    Fault("kafka", "stop"),
    Fault("mongodb", "stop"),
    Fault("redis", "stop"),
)


@dataclass
class FaultRun:
    """One injected fault: when, and how long until the unit and commands were back."""

    fault: Fault
    injected: float
    unit_back: float | None = None
    command_back: float | None = None
    ended: float | None = None

    @property
    def recovered(self) -> float | None:
        """When both the unit and the commands were back."""
        if self.unit_back is None or self.command_back is None:
            return None
        return max(self.unit_back, self.command_back)


def inject(stack: ChaosStack, fault: Fault) -> int:
    """Break the unit; return its restart count from before, to see the supervisor's."""
    unit = stack.unit(fault.unit)
    restarts = unit.restarts if unit else 0
    if fault.kind == "kill":
        pid = stack.pid(fault.unit)
        if pid is None:
            raise RuntimeError(f"{fault.unit} has no pid file to kill")
        os.kill(pid, signal.SIGKILL)
    else:
        stack.component(fault.unit).down()
    return restarts


def unit_is_back(stack: ChaosStack, name: str, restarts_before: int) -> bool:
    """The supervisor restarted it and reports it up."""
    unit = stack.unit(name)
    return unit is not None and unit.restarts > restarts_before and unit.state == "up"


def first_acknowledgement_after(commands: list[Command], moment: float) -> float | None:
    """When the first command sent after `moment` was acknowledged."""
    times = [
        attempt.answered
        for command in list(commands)
        for attempt in command.attempts[-1:]
        if command.acknowledged and attempt.sent >= moment
    ]
    return min(times, default=None)


async def run_faults(
    stack: ChaosStack, faults: tuple[Fault, ...], commands: Callable[[], list[Command]]
) -> list[FaultRun]:
    """Inject each fault in turn, once the previous one has recovered and calm returned."""
    runs: list[FaultRun] = []
    for fault in faults:
        await asyncio.sleep(CALM_SECONDS)
        # Taken before the fault: requests in flight when it strikes belong to its window.
        run = FaultRun(fault, time.monotonic())
        restarts = await asyncio.to_thread(inject, stack, fault)
        runs.append(run)
        give_up = run.injected + RECOVERY_DEADLINE_SECONDS
        while run.recovered is None and time.monotonic() < give_up:
            await asyncio.sleep(0.2)
            if run.unit_back is None and unit_is_back(stack, fault.unit, restarts):
                run.unit_back = time.monotonic()
            if run.command_back is None:
                run.command_back = first_acknowledgement_after(commands(), run.injected)
        run.ended = time.monotonic()
    await asyncio.sleep(CALM_SECONDS)
    return runs
