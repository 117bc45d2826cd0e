"""`python -m infra.relay`: one relay process (active or standby), its composition root."""

from __future__ import annotations

from infra.eventstore.library import open_ledger
from infra.relay.publisher import run_with_probes
from infra.runtime.process import configure_logging, run_until_signalled
from infra.settings import Settings


def main() -> None:
    """Run one relay process (active or standby) until SIGTERM."""
    configure_logging("relay")
    settings = Settings()
    ledger = open_ledger(settings)
    try:
        run_until_signalled(lambda stop: run_with_probes(settings, ledger, stop))
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
