"""`python -m infra.relay`: one relay process (active or standby), its composition root."""

from __future__ import annotations

import asyncio

from infra.eventstore.library import open_ledger
from infra.relay.publisher import run_with_probes
from infra.runtime.process import run_process
from infra.settings import Settings


def main() -> None:
    """Run one relay process (active or standby) until SIGTERM."""
    settings = Settings()

    async def work(stop: asyncio.Event) -> None:
        ledger = open_ledger(settings)
        try:
            await run_with_probes(settings, ledger, stop)
        finally:
            ledger.close()

    run_process("relay", work)


if __name__ == "__main__":
    main()
