"""Drives the transfer process over the Ledger's notification log, like the worker does."""

from __future__ import annotations

from eventsourcing.domain import DomainEvent

from domain.ledger import Ledger
from domain.transfer_process import TransferProcess


class ProcessRunner:
    """Follows the log from a position, handing each event to the process."""

    def __init__(self, ledger: Ledger, process: TransferProcess) -> None:
        self.ledger = ledger
        self.process = process
        self.position = 0  # last notification id handled (the checkpoint)

    def step(self, *, duplicate: bool = False) -> bool:
        """Handle the next event, if any; returns whether there was one.

        With ``duplicate`` the event is delivered twice, as when the worker
        crashed after handling it and before saving its checkpoint.
        """
        page = self.ledger.notification_log.select(self.position + 1, 1)
        if not page:
            return False
        event = self.ledger.mapper.to_domain_event(page[0])
        assert isinstance(event, DomainEvent)
        self.process.handle(event)
        if duplicate:
            self.process.handle(event)
        self.position = page[0].id
        return True

    def run(self, *, max_steps: int = 10_000) -> None:
        """Handle events until the log is exhausted (the process's own included)."""
        for _ in range(max_steps):
            if not self.step():
                return
        raise AssertionError("the transfer process did not settle")

    def rewind_to(self, position: int) -> None:
        """Restart from an older checkpoint, as after a crash before checkpointing."""
        self.position = position
