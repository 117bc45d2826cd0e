"""`python -m infra.transfer_process`: the transfer process manager, its composition root."""

from __future__ import annotations

from infra.eventstore.library import open_ledger
from infra.runtime.process import run_closing
from infra.settings import Settings
from infra.transfer_process.worker import run_with_probes


def main() -> None:
    """Run the transfer process (active or standby) until SIGTERM."""
    settings = Settings()
    run_closing(
        "transfer-process",
        lambda: open_ledger(settings),
        lambda ledger, stop: run_with_probes(settings, ledger, stop),
    )


if __name__ == "__main__":
    main()
