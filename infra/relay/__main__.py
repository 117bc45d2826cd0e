"""`python -m infra.relay`: one relay process (active or standby), its composition root."""

from __future__ import annotations

from infra.eventstore.library import open_ledger
from infra.relay.publisher import run_with_probes
from infra.runtime.process import run_closing
from infra.settings import Settings


def main() -> None:
    """Run one relay process (active or standby) until SIGTERM."""
    settings = Settings()
    run_closing(
        "relay",
        lambda: open_ledger(settings),
        lambda ledger, stop: run_with_probes(settings, ledger, stop),
    )


if __name__ == "__main__":
    main()
