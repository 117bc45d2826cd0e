"""Several Ledger instances over one in-memory store, to stage concurrent writers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from domain.ledger import Ledger
from tests.unit.domain.conftest import IN_MEMORY


class ObservableRecorder(POPOApplicationRecorder):
    """The in-memory recorder, noting save options and letting a test act just before."""

    def __init__(self) -> None:
        super().__init__()
        self.saved_options: list[dict[str, Any]] = []
        self.before_insert: Callable[[], object] | None = None
        self.interleave_every_time = False

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self.saved_options.append(kwargs)
        action, self.before_insert = self.before_insert, None
        if action is not None:
            try:
                action()  # another writer commits between our load and our save
            finally:
                if self.interleave_every_time:
                    self.before_insert = action
        return super().insert_events(stored_events, **kwargs)


class LedgerOnSharedStore(Ledger):
    """A Ledger whose recorder is given, so several instances share one store."""

    name = "Ledger"

    def __init__(self, recorder: ObservableRecorder, **settings: str) -> None:
        self._given_recorder = recorder
        super().__init__(env={**IN_MEMORY, **settings})

    def construct_recorder(self) -> ApplicationRecorder:
        return self._given_recorder
