"""Fixtures for the domain tests: an in-memory Ledger and a command context."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from domain.context import CommandContext, EventMetadata, command_scope
from domain.ledger import Ledger
from domain.transfer_process import TransferProcess
from tests.unit.domain.process_runner import ProcessRunner

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def in_memory_ledger(**settings: str) -> Ledger:
    """A Ledger on the library's in-memory (POPO) persistence."""
    return Ledger(env={**IN_MEMORY, **settings})


@pytest.fixture
def ledger() -> Ledger:
    return in_memory_ledger()


@pytest.fixture
def context() -> CommandContext:
    return CommandContext(correlation_id=uuid4())


@pytest.fixture
def in_command(context: CommandContext) -> Iterator[EventMetadata]:
    """Lets a test call aggregate methods directly, as the Ledger would."""
    with command_scope(context) as metadata:
        yield metadata


@pytest.fixture
def process(ledger: Ledger) -> ProcessRunner:
    return ProcessRunner(ledger, TransferProcess(ledger))


@pytest.fixture
def owner_id() -> UUID:
    return uuid4()
