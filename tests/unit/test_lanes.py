"""Lanes: order per key, a checkpoint that never passes an item in hand, and failure."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from infra.transfer_process.lanes import Lanes

WAIT_SECONDS = 10.0


class Recorder:
    """What the lanes reported, and a way to hold one item in hand."""

    def __init__(self, hold: int | None = None, fail: int | None = None) -> None:
        self.handled: dict[int, list[int]] = defaultdict(list)
        self.done: list[int] = []
        self.failures = 0
        self.hold = hold
        self.fail = fail
        self.holding = threading.Event()
        self.release = threading.Event()
        self.handled_109 = threading.Event()

    def handle(self, item: tuple[int, int]) -> None:
        key, position = item
        if position == self.hold:
            self.holding.set()
            assert self.release.wait(WAIT_SECONDS)
        if position == self.fail:
            raise RuntimeError(f"item {position} failed")
        self.handled[key].append(position)
        if position == 109:
            self.handled_109.set()

    def on_done(self, done_through: int, item: tuple[int, int]) -> None:
        self.done.append(done_through)

    def on_failure(self) -> None:
        self.failures += 1


def lanes_for(recorder: Recorder, *, count: int = 4, limit: int = 64) -> Lanes[tuple[int, int]]:
    return Lanes(
        count,
        recorder.handle,
        limit=limit,
        on_done=recorder.on_done,
        on_failure=recorder.on_failure,
        start_after=100,
    )


def test_items_of_one_key_are_handled_in_the_order_submitted() -> None:
    recorder = Recorder()
    lanes = lanes_for(recorder)

    for position in range(101, 401):
        lanes.submit(position % 7, position, (position % 7, position))
    lanes.close()

    assert all(handled == sorted(handled) for handled in recorder.handled.values())
    assert sum(len(handled) for handled in recorder.handled.values()) == 300
    assert lanes.done_through == 400
    assert recorder.done == sorted(recorder.done)  # never goes back


def test_the_checkpoint_stops_below_an_item_still_in_hand() -> None:
    recorder = Recorder(hold=102)
    lanes = lanes_for(recorder, count=2)

    lanes.submit(0, 101, (0, 101))
    lanes.submit(0, 102, (0, 102))  # held in hand on lane 0
    assert recorder.holding.wait(WAIT_SECONDS)
    for position in (103, 105, 107):
        lanes.submit(1, position, (1, position))
    lanes.submit(1, 109, (1, 109))  # a lane handles in order: once it is done, so are those
    assert recorder.handled_109.wait(WAIT_SECONDS)
    held_at = lanes.done_through
    recorder.release.set()
    lanes.close()

    assert held_at == 101
    assert lanes.done_through == 109


def test_a_failure_stops_the_lanes_and_is_raised_once_they_have() -> None:
    recorder = Recorder(hold=101, fail=103)
    lanes = lanes_for(recorder, count=1)

    for position in range(101, 106):  # all queued before the first is let go
        lanes.submit(0, position, (0, position))
    recorder.release.set()
    with pytest.raises(RuntimeError, match="item 103 failed"):
        lanes.close()

    assert recorder.handled[0] == [101, 102]  # the items after it were dropped
    assert recorder.failures == 1
    assert lanes.done_through == 102
    with pytest.raises(RuntimeError, match="item 103 failed"):
        lanes.submit(0, 106, (0, 106))


def test_there_is_no_room_to_submit_while_the_limit_is_in_hand() -> None:
    recorder = Recorder(hold=101)
    lanes = lanes_for(recorder, count=2, limit=1)
    lanes.submit(0, 101, (0, 101))
    assert recorder.holding.wait(WAIT_SECONDS)

    room_while_held = lanes._room.acquire(blocking=False)  # what `submit` waits on
    recorder.release.set()
    lanes.submit(1, 102, (1, 102))  # room again once the first is done
    lanes.close()

    assert not room_while_held
    assert lanes.done_through == 102


def test_a_lane_count_or_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        lanes_for(Recorder(), count=0)
