"""Fault injection for crash tests: a named point can kill its own process, for real.

Inert unless `LEDGER_FAILPOINTS` names the point, e.g.
`LEDGER_FAILPOINTS=transfers.after_handle:TransferRequested`. Crash-recovery tests use it
to stop a worker at an exact step (between a debit and its credit), which a kill from
outside could only hit by chance.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "LEDGER_FAILPOINTS"


def reached(point: str) -> None:
    """SIGKILL this process if `point` is armed in the environment."""
    armed = {name.strip() for name in os.environ.get(VARIABLE, "").split(",") if name.strip()}
    if point in armed:
        os.kill(os.getpid(), signal.SIGKILL)
