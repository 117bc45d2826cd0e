"""A failing batch is retried with backoff, then split until the poison stands alone."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

import pytest
from pymongo.errors import AutoReconnect

from domain.envelope import EventEnvelope
from projectors.engine.batches import BatchApplier
from projectors.projections.projection import Projection
from tests.unit.factories import envelope


class PoisonError(Exception):
    pass


class FakeWriter:
    """Applies events in order, all or nothing, refusing any event it was told is poison."""

    def __init__(self, name: str, poison: Sequence[EventEnvelope] = ()) -> None:
        self.projection = Projection(name=name, version=1)
        self.poison = {event.event_id for event in poison}
        self.applied: list[EventEnvelope] = []
        self.calls = 0

    async def prepare(self) -> None:
        pass

    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        self.calls += 1
        if any(event.event_id in self.poison for event in events):
            raise PoisonError("poison")
        self.applied.extend(events)
        return len(events)


class UnavailableWriter(FakeWriter):
    async def apply(self, events: Sequence[EventEnvelope]) -> int:
        raise AutoReconnect("store down")


class RecordedLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[str, EventEnvelope, int]] = []

    async def record_event(
        self, projection: str, event: EventEnvelope, error: BaseException, attempts: int
    ) -> None:
        self.letters.append((projection, event, attempts))


class RecordedSleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def events(count: int) -> list[EventEnvelope]:
    return [envelope("FundsDeposited", uuid4(), 1, position=i) for i in range(1, count + 1)]


def applier(
    *writers: FakeWriter, letters: RecordedLetters, sleeps: RecordedSleeps, attempts: int = 3
) -> BatchApplier:
    return BatchApplier(
        list(writers), letters, max_attempts=attempts, backoff_seconds=0.1, sleep=sleeps
    )


async def test_a_healthy_batch_is_applied_in_one_call() -> None:
    batch = events(5)
    writer, letters, sleeps = FakeWriter("p"), RecordedLetters(), RecordedSleeps()

    outcome = await applier(writer, letters=letters, sleeps=sleeps).apply(batch)

    assert writer.applied == batch
    assert writer.calls == 1
    assert (outcome["p"].applied, outcome["p"].dead_lettered) == (5, 0)


async def test_a_failing_batch_is_retried_with_growing_backoff_before_isolation() -> None:
    batch = events(4)
    writer = FakeWriter("p", poison=[batch[2]])
    letters, sleeps = RecordedLetters(), RecordedSleeps()

    await applier(writer, letters=letters, sleeps=sleeps, attempts=3).apply(batch)

    assert sleeps.delays == [pytest.approx(0.1), pytest.approx(0.2)]


async def test_only_the_poison_events_go_to_dead_letters_and_the_rest_apply_in_order() -> None:
    batch = events(10)
    writer = FakeWriter("p", poison=[batch[3], batch[7]])
    letters, sleeps = RecordedLetters(), RecordedSleeps()

    outcome = await applier(writer, letters=letters, sleeps=sleeps, attempts=2).apply(batch)

    assert [event for _, event, _ in letters.letters] == [batch[3], batch[7]]
    assert {attempts for _, _, attempts in letters.letters} == {3}
    assert writer.applied == [event for event in batch if event not in (batch[3], batch[7])]
    assert (outcome["p"].applied, outcome["p"].dead_lettered) == (8, 2)


async def test_a_poison_event_stops_only_the_projection_it_poisons() -> None:
    batch = events(3)
    poisoned, healthy = FakeWriter("poisoned", poison=[batch[1]]), FakeWriter("healthy")
    letters, sleeps = RecordedLetters(), RecordedSleeps()

    await applier(poisoned, healthy, letters=letters, sleeps=sleeps).apply(batch)

    assert healthy.applied == batch
    assert healthy.calls == 1
    assert [projection for projection, _, _ in letters.letters] == ["poisoned"]


async def test_an_unavailable_store_is_not_poison() -> None:
    letters, sleeps = RecordedLetters(), RecordedSleeps()

    with pytest.raises(AutoReconnect):
        await applier(UnavailableWriter("p"), letters=letters, sleeps=sleeps).apply(events(3))

    assert letters.letters == []


async def test_each_projection_gets_only_its_own_events() -> None:
    first_events, second_events = events(2), events(3)
    first, second = FakeWriter("first"), FakeWriter("second")
    letters, sleeps = RecordedLetters(), RecordedSleeps()

    await applier(first, second, letters=letters, sleeps=sleeps).apply_each(
        {"first": first_events, "second": second_events, "unknown": events(1)}
    )

    assert (first.applied, second.applied) == (first_events, second_events)
