"""The transport-neutral shape of one recorded event, as every reader of the log sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """One domain event with its metadata and a JSON-native payload."""

    event_id: UUID
    event_type: str
    aggregate_id: UUID
    aggregate_version: int
    position: int
    occurred_at: datetime
    schema_version: int
    correlation_id: UUID | None
    causation_id: UUID | None
    data: Mapping[str, Any]
    traceparent: str | None = None
    """The W3C trace context the event was recorded in: the command's, or after the relay,
    the relay's span that published it (so consumers' spans hang under it)."""

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (the shape the history API and exports use)."""
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "aggregate_id": str(self.aggregate_id),
            "aggregate_version": self.aggregate_version,
            "position": self.position,
            "occurred_at": self.occurred_at.isoformat(),
            "schema_version": self.schema_version,
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "traceparent": self.traceparent,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> EventEnvelope:
        """The envelope back from `to_json`'s shape."""
        return cls(
            event_id=UUID(value["event_id"]),
            event_type=value["event_type"],
            aggregate_id=UUID(value["aggregate_id"]),
            aggregate_version=int(value["aggregate_version"]),
            position=int(value["position"]),
            occurred_at=datetime.fromisoformat(value["occurred_at"]),
            schema_version=int(value["schema_version"]),
            correlation_id=UUID(value["correlation_id"]) if value.get("correlation_id") else None,
            causation_id=UUID(value["causation_id"]) if value.get("causation_id") else None,
            data=value["data"],
            traceparent=value.get("traceparent"),
        )


# The topic the event store records with each public event type: the class path of the
# event, which the library resolves back to its class when it decodes. Topics are
# persistent identifiers: an event class may never move or be renamed without registering
# its old topic (STYLE.md). Readers of the log use this table to filter by type without
# importing the aggregates; a unit test proves it equals what the aggregates record.
EVENT_TOPICS: Mapping[str, str] = {
    "AccountOpened": "domain.accounts:Account.AccountOpened",
    "FundsDeposited": "domain.accounts:Account.FundsDeposited",
    "FundsWithdrawn": "domain.accounts:Account.FundsWithdrawn",
    "AccountFrozen": "domain.accounts:Account.AccountFrozen",
    "AccountUnfrozen": "domain.accounts:Account.AccountUnfrozen",
    "AccountClosed": "domain.accounts:Account.AccountClosed",
    "TransferDebited": "domain.accounts:Account.TransferDebited",
    "TransferCredited": "domain.accounts:Account.TransferCredited",
    "TransferDebitReversed": "domain.accounts:Account.TransferDebitReversed",
    "TransferRequested": "domain.transfers:Transfer.TransferRequested",
    "TransferCompleted": "domain.transfers:Transfer.TransferCompleted",
    "TransferFailed": "domain.transfers:Transfer.TransferFailed",
}

FieldType = Literal["uuid", "int", "str", "bool"]
"""How an event field is recorded: a UUID (as text), an integer, text or a flag."""

# Each public event type's own fields and their types, and the version of its shape that
# the code records now (the library's `class_version`; older shapes are upcast on read).
# Readers that decode the log without the write model (the fast history path, typed
# Parquet exports) rely on these; a unit test proves they equal the aggregates' classes.
EVENT_FIELDS: Mapping[str, Mapping[str, FieldType]] = {
    "AccountOpened": {"owner_id": "uuid", "currency": "str", "overdraft_limit": "int"},
    "FundsDeposited": {
        "amount": "int",
        "currency": "str",
        "reference": "str",
        "channel": "str",
        "balance_after": "int",
    },
    "FundsWithdrawn": {
        "amount": "int",
        "currency": "str",
        "reference": "str",
        "balance_after": "int",
    },
    "AccountFrozen": {"reason": "str"},
    "AccountUnfrozen": {},
    "AccountClosed": {},
    "TransferDebited": {
        "transfer_id": "uuid",
        "amount": "int",
        "currency": "str",
        "balance_after": "int",
    },
    "TransferCredited": {
        "transfer_id": "uuid",
        "amount": "int",
        "currency": "str",
        "balance_after": "int",
    },
    "TransferDebitReversed": {
        "transfer_id": "uuid",
        "amount": "int",
        "currency": "str",
        "balance_after": "int",
        "reason": "str",
    },
    "TransferRequested": {
        "source_id": "uuid",
        "target_id": "uuid",
        "amount": "int",
        "currency": "str",
        "reference": "str",
    },
    "TransferCompleted": {},
    "TransferFailed": {"reason": "str", "debit_reversed": "bool"},
}
EVENT_VERSIONS: Mapping[str, int] = {name: 1 for name in EVENT_TOPICS} | {"FundsDeposited": 2}
