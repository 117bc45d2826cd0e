"""`python -m infra.transfer_process`: the transfer process manager, its composition root."""

from __future__ import annotations

import signal
from types import FrameType

from infra.eventstore.library import open_ledger
from infra.runtime.probes import ProbesThread
from infra.runtime.process import configure_logging
from infra.settings import Settings
from infra.transfer_process.worker import TransferWorker, probes_for


def main() -> None:
    """Run the transfer process (active or standby) until SIGTERM."""
    configure_logging("transfer-process")
    settings = Settings()
    ledger = open_ledger(settings)
    worker = TransferWorker(settings, ledger)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    probes = ProbesThread(
        probes_for(worker, ledger), settings.transfers.host, settings.transfers.port
    )
    probes.start()
    try:
        worker.run()
    finally:
        probes.stop()
        ledger.close()


if __name__ == "__main__":
    main()
