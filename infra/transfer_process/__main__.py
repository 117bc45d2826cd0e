"""`python -m infra.transfer_process`: the transfer process manager, its composition root."""

from __future__ import annotations

import asyncio

from infra.eventstore.library import open_ledger
from infra.runtime.process import run_process
from infra.settings import Settings
from infra.transfer_process.worker import run_with_probes


def main() -> None:
    """Run the transfer process (active or standby) until SIGTERM."""
    settings = Settings()

    async def work(stop: asyncio.Event) -> None:
        ledger = open_ledger(settings)
        try:
            await run_with_probes(settings, ledger, stop)
        finally:
            ledger.close()

    run_process("transfer-process", work)


if __name__ == "__main__":
    main()
