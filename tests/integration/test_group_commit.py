"""Group commit: concurrent commands share one transaction, yet each succeeds or fails alone.

To make batches deterministic, a test holds the events table's lock from another
connection while writers queue up behind it, then lets go: the queued writes land in one
transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from infra.eventstore.group_commit import GroupCommitRecorder
from infra.eventstore.idempotency import DuplicateIdempotencyKeyError, IdempotencyRecord
from infra.eventstore.library import open_ledger
from infra.eventstore.schema import EVENTS_TABLE
from infra.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def recorder(isolated_settings: Settings) -> Iterator[GroupCommitRecorder]:
    ledger = open_ledger(isolated_settings)
    assert isinstance(ledger.recorder, GroupCommitRecorder)
    yield ledger.recorder
    ledger.close()


def event(aggregate_id: UUID, version: int) -> StoredEvent:
    return StoredEvent(aggregate_id, version, "tests:Opaque", b'{"n": 1}')


def record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord(key, "fingerprint", 200, {}, ttl_seconds=60)


def behind_the_lock(
    settings: Settings,
    recorder: GroupCommitRecorder,
    writes: list[tuple[list[StoredEvent], IdempotencyRecord | None]],
) -> list[Future[object]]:
    """Start every write while another session holds the table lock, then release it."""
    with psycopg.connect(settings.postgres.url.get_secret_value()) as blocker:
        blocker.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
        pool = ThreadPoolExecutor(max_workers=len(writes))
        futures: list[Future[object]] = [
            pool.submit(recorder.insert_events, events, idempotency=idempotency)
            for events, idempotency in writes
        ]
        deadline = time.monotonic() + 10
        while len(recorder._queue) < len(writes) - 1:  # the leader waits on the lock
            assert time.monotonic() < deadline, "writers did not queue up"
            time.sleep(0.01)
        blocker.rollback()  # releases the lock
    pool.shutdown(wait=True)
    return futures


def test_queued_writes_commit_together_in_one_transaction(
    isolated_settings: Settings, recorder: GroupCommitRecorder
) -> None:
    writes = [([event(uuid4(), 1)], None) for _ in range(20)]

    futures = behind_the_lock(isolated_settings, recorder, writes)

    with psycopg.connect(isolated_settings.postgres.url.get_secret_value()) as conn:
        query = f"SELECT count(DISTINCT xmin::text) FROM {EVENTS_TABLE}"
        transactions = conn.execute(query).fetchone()
    assert all(len(f.result()) == 1 for f in futures)  # type: ignore[arg-type]
    assert transactions == (2,)  # the leader's own write, then the 19 that queued behind it


def test_a_conflict_fails_only_its_own_command_in_the_batch(
    isolated_settings: Settings, recorder: GroupCommitRecorder
) -> None:
    contested = uuid4()
    writes = [([event(uuid4(), 1)], None) for _ in range(5)]
    writes += [([event(contested, 1)], None), ([event(contested, 1)], None)]
    writes += [([event(uuid4(), 1)], None) for _ in range(5)]

    futures = behind_the_lock(isolated_settings, recorder, writes)

    outcomes = [f.exception() for f in futures]
    assert sum(isinstance(o, IntegrityError) for o in outcomes) == 1
    assert sum(o is None for o in outcomes) == len(writes) - 1


def test_a_reused_idempotency_key_fails_only_the_second_command(
    isolated_settings: Settings, recorder: GroupCommitRecorder
) -> None:
    writes = [([event(uuid4(), 1)], record("same-key")), ([event(uuid4(), 1)], record("same-key"))]
    writes += [([event(uuid4(), 1)], record(f"key-{n}")) for n in range(4)]

    futures = behind_the_lock(isolated_settings, recorder, writes)

    outcomes = [f.exception() for f in futures]
    assert sum(isinstance(o, DuplicateIdempotencyKeyError) for o in outcomes) == 1
    assert sum(o is None for o in outcomes) == len(writes) - 1


def test_commits_stay_durable(isolated_settings: Settings) -> None:
    with psycopg.connect(isolated_settings.postgres.url.get_secret_value()) as conn:
        setting = conn.execute("SHOW synchronous_commit").fetchone()

    assert setting == ("on",)


def test_many_threads_writing_at_once_all_succeed(
    isolated_settings: Settings, recorder: GroupCommitRecorder
) -> None:
    barrier = threading.Barrier(32)

    def write(_: int) -> object:
        barrier.wait()
        return recorder.insert_events([event(uuid4(), 1), event(uuid4(), 1)])

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(write, range(32)))

    positions = [p for result in results for p in result]  # type: ignore[attr-defined]
    assert len(positions) == len(set(positions)) == 64


def unique_event(aggregate_id: UUID, version: int) -> StoredEvent:
    """An event whose state is its own, as every domain event's is (it carries an event id)."""
    return StoredEvent(aggregate_id, version, "tests:Opaque", f'{{"id": "{uuid4()}"}}'.encode())


def lose_answers(
    monkeypatch: pytest.MonkeyPatch, recorder: GroupCommitRecorder, *, after_commit: bool
) -> list[int]:
    """Make the next commit attempt fail as a dropped connection does, once, either
    after the transaction committed (its answer lost) or before it reached the server."""
    original = recorder._commit
    attempts: list[int] = []

    def commit(batch: list[Any], *, retrying: bool = False) -> None:
        attempts.append(len(batch))
        if len(attempts) == 1:
            if after_commit:
                original(batch, retrying=retrying)
            raise OperationalError("server closed the connection unexpectedly")
        original(batch, retrying=retrying)

    monkeypatch.setattr(recorder, "_commit", commit)
    return attempts


def stored_positions(settings: Settings, aggregate_id: UUID) -> list[int]:
    with psycopg.connect(settings.postgres.url.get_secret_value()) as conn:
        rows = conn.execute(
            f"SELECT notification_id FROM {EVENTS_TABLE} WHERE originator_id = %s "
            "ORDER BY originator_version",
            (aggregate_id,),
        ).fetchall()
    return [row[0] for row in rows]


def test_a_commit_whose_answer_was_lost_is_recognised_not_refused(
    isolated_settings: Settings, recorder: GroupCommitRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_id = uuid4()
    attempts = lose_answers(monkeypatch, recorder, after_commit=True)

    positions = recorder.insert_events(
        [unique_event(aggregate_id, 1), unique_event(aggregate_id, 2)],
        idempotency=record("lost-answer"),
    )

    assert len(attempts) == 2  # the retry ran, and found the events recorded
    assert list(positions or []) == stored_positions(isolated_settings, aggregate_id)
    assert len(stored_positions(isolated_settings, aggregate_id)) == 2


def test_a_retry_still_refuses_a_version_taken_by_another_write(
    isolated_settings: Settings, recorder: GroupCommitRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregate_id = uuid4()
    recorder.insert_events([unique_event(aggregate_id, 1)])
    lose_answers(monkeypatch, recorder, after_commit=False)

    with pytest.raises(IntegrityError):
        recorder.insert_events([unique_event(aggregate_id, 1)])

    assert len(stored_positions(isolated_settings, aggregate_id)) == 1


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"gt": 2}, [3, 4, 5]),
        ({"lte": 3}, [1, 2, 3]),
        ({"gt": 1, "lte": 4, "desc": True}, [4, 3, 2]),
        ({"desc": True, "limit": 2}, [5, 4]),
        ({"gt": 1, "limit": 2}, [2, 3]),
    ],
)
def test_selecting_an_aggregates_events_honours_every_bound(
    recorder: GroupCommitRecorder, bounds: dict[str, Any], expected: list[int]
) -> None:
    aggregate_id = uuid4()
    recorder.insert_events([event(aggregate_id, version) for version in range(1, 6)])
    recorder.insert_events([event(uuid4(), 1)])

    # Twice: the second call runs the statement composed by the first.
    for _ in range(2):
        selected = recorder.select_events(aggregate_id, **bounds)
        assert [e.originator_version for e in selected] == expected
        assert {e.originator_id for e in selected} == {aggregate_id}
        assert selected[0].state == b'{"n": 1}'
