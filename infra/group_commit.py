"""Group commit: many concurrent commands' events appended in one PostgreSQL transaction.

The library's recorder takes an EXCLUSIVE table lock per transaction so that positions
become visible in commit order (ADR 1). That serialises commits: one command, one
fsync, one lock hand-over. This recorder keeps the lock and the schema, but lets
threads that arrive while a commit is in flight queue up; the next thread to get the
lock (the "leader") writes everything queued in one transaction, then wakes the rest.

Per-command isolation is kept: under the table lock (no one else can insert), the
leader checks each command's (aggregate id, version) pairs and idempotency key against
the table and against earlier commands of the same batch. A command that conflicts is
failed on its own, with the library's IntegrityError (so the application's retry
logic runs as before) or with DuplicateIdempotencyKeyError; the others still commit.
Durability is unchanged: the batch commits with synchronous_commit on.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from infra.idempotency import (
    CREATE_IDEMPOTENCY_TABLE,
    DuplicateIdempotencyKeyError,
    IdempotencyRecord,
)

MAX_BATCH_WRITES = 512
MAX_BATCH_ATTEMPTS = 3


@dataclass(eq=False)
class PendingWrite:
    """One command's events waiting for a group commit."""

    events: list[StoredEvent]
    idempotency: IdempotencyRecord | None
    notification_ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False

    def claims(self) -> list[tuple[str, int]]:
        """The (aggregate id, version) pairs this write claims."""
        return [(str(e.originator_id), e.originator_version) for e in self.events]


class GroupCommitRecorder(PostgresApplicationRecorder):
    """An application recorder that coalesces concurrent inserts into one transaction."""

    max_batch_writes = MAX_BATCH_WRITES

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(SQL(CREATE_IDEMPOTENCY_TABLE).format())
        self._condition = threading.Condition()
        self._queue: deque[PendingWrite] = deque()
        self._flushing = False
        self._select_claimed = SQL(
            "SELECT originator_id::text AS id, originator_version AS version FROM {}.{} "
            "WHERE (originator_id, originator_version) IN "
            "(SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        self.batches = 0
        self.batched_writes = 0

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Queue this command's events and return once a group commit has recorded them."""
        idempotency = kwargs.get("idempotency")
        write = PendingWrite(
            list(stored_events), idempotency if isinstance(idempotency, IdempotencyRecord) else None
        )
        if not write.events and write.idempotency is None:
            return []
        with self._condition:
            self._queue.append(write)
            while not write.done:
                if self._flushing:
                    self._condition.wait()
                    continue
                self._flushing = True
                batch = [
                    self._queue.popleft()
                    for _ in range(min(len(self._queue), self.max_batch_writes))
                ]
                self._condition.release()
                try:
                    self._flush(batch)
                finally:
                    self._condition.acquire()
                    self._flushing = False
                    self._condition.notify_all()
        if write.error is not None:
            raise write.error
        return write.notification_ids

    def _flush(self, batch: list[PendingWrite]) -> None:
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            try:
                self._commit(batch)
                break
            except (OperationalError, InterfaceError) as error:
                if attempt == MAX_BATCH_ATTEMPTS:
                    _fail_all(batch, error)
            except BaseException as error:  # every waiter must learn how its write ended
                _fail_all(batch, error)
                break
        self.batches += 1
        self.batched_writes += len(batch)
        for write in batch:
            write.done = True

    def _commit(self, batch: list[PendingWrite]) -> None:
        for write in batch:
            write.error, write.notification_ids = None, []
        with self.datastore.transaction(commit=True) as cursor:
            self._lock_table(cursor)
            accepted = self._without_conflicts(cursor, batch)
            if accepted:
                self._notify_channel(cursor)
                self._insert(cursor, accepted)

    def _without_conflicts(
        self, cursor: Cursor[DictRow], batch: list[PendingWrite]
    ) -> list[PendingWrite]:
        claimed = self._claimed_in_table(cursor, [key for write in batch for key in write.claims()])
        taken_keys = self._taken_idempotency_keys(cursor, batch)
        accepted = []
        for write in batch:
            keys = write.claims()
            if any(key in claimed for key in keys):
                write.error = IntegrityError(f"version conflict on {sorted(set(keys) & claimed)}")
                continue
            if write.idempotency is not None:
                if write.idempotency.key in taken_keys:
                    write.error = DuplicateIdempotencyKeyError(write.idempotency.key)
                    continue
                taken_keys.add(write.idempotency.key)
            claimed.update(keys)
            accepted.append(write)
        return accepted

    def _claimed_in_table(
        self, cursor: Cursor[DictRow], keys: list[tuple[str, int]]
    ) -> set[tuple[str, int]]:
        if not keys:
            return set()
        ids = [UUID(aggregate_id) for aggregate_id, _ in keys]
        versions = [version for _, version in keys]
        cursor.execute(self._select_claimed, (ids, versions))
        return {(row["id"], row["version"]) for row in cursor.fetchall()}

    @staticmethod
    def _taken_idempotency_keys(cursor: Cursor[DictRow], batch: list[PendingWrite]) -> set[str]:
        keys = [write.idempotency.key for write in batch if write.idempotency is not None]
        if not keys:
            return set()
        cursor.execute(
            "SELECT key FROM command_idempotency WHERE key = ANY(%s) AND expires_at > now()",
            (keys,),
        )
        return {row["key"] for row in cursor.fetchall()}

    def _insert(self, cursor: Cursor[DictRow], accepted: list[PendingWrite]) -> None:
        events = [event for write in accepted for event in write.events]
        if events:
            rows = [
                self.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in events
            ]
            cursor.execute(self.insert_events_statement, (rows,))
            ids = [row["notification_id"] for row in cursor.fetchall()]
            offset = 0
            for write in accepted:
                write.notification_ids = ids[offset : offset + len(write.events)]
                offset += len(write.events)
        for write in accepted:
            if write.idempotency is not None:
                _store_idempotency(cursor, write)


class SingleCommitRecorder(GroupCommitRecorder):
    """One command per transaction, as the library does: the baseline group commit is measured
    against, with the same conflict checks and idempotency support."""

    max_batch_writes = 1


def _store_idempotency(cursor: Cursor[DictRow], write: PendingWrite) -> None:
    record = write.idempotency
    assert record is not None
    last = write.events[-1] if write.events else None
    body = record.body_for(
        str(last.originator_id) if last else "",
        last.originator_version if last else 0,
        max(write.notification_ids, default=0),
    )
    cursor.execute(
        "INSERT INTO command_idempotency "
        "(key, fingerprint, status, body, created_at, expires_at) "
        "VALUES (%s, %s, %s, %s, now(), now() + make_interval(secs => %s)) "
        "ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
        "status = EXCLUDED.status, body = EXCLUDED.body, "
        "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        (record.key, record.fingerprint, record.status, Jsonb(body), record.ttl_seconds),
    )


def _fail_all(batch: list[PendingWrite], error: BaseException) -> None:
    for write in batch:
        write.error = error
        write.notification_ids = []
