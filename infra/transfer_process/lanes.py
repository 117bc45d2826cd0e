"""Events handled on several threads, in log order per key, with a checkpoint that never
passes an event still in hand.

The transfer process spends most of a transfer waiting on PostgreSQL: three saves, one
after the other, each a transaction of its own when handled one event at a time. On
lanes, the saves of different transfers overlap, and the group-commit recorder writes
those that meet in one transaction.

Written here because neither the standard library nor the eventsourcing library has it:
`concurrent.futures` runs tasks in any order, and the library's process applications
follow a log one event at a time. A single-thread executor per lane gives the order; the
rest is the bookkeeping of which positions are done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Lanes(Generic[Item]):
    """Hands each item to `handle` on the lane of its key, at most `limit` items in hand.

    Items of one key are handled in the order submitted; items of different keys may be
    handled in any order. `done_through` is the highest position at and below which every
    submitted item has been handled: a checkpoint there replays nothing twice that
    matters, and skips nothing. After a handler fails, the items not yet started are
    dropped, `on_failure` is called once, and `submit` and `close` raise the error.
    """

    def __init__(
        self,
        count: int,
        handle: Callable[[Item], None],
        *,
        limit: int,
        on_done: Callable[[int, Item], None],
        on_failure: Callable[[], None],
        start_after: int,
    ) -> None:
        if count < 1 or limit < 1:
            raise ValueError("a lane count and an in-flight limit of at least 1 are needed")
        self._handle = handle
        self._on_done = on_done
        self._on_failure = on_failure
        self._lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-{number}")
            for number in range(count)
        ]
        self._room = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._in_hand: set[int] = set()
        self._submitted_through = start_after
        self.done_through = start_after
        self.error: BaseException | None = None

    def submit(self, key: int, position: int, item: Item) -> None:
        """Queue `item` (at log `position`, above every earlier one) on the lane of `key`;
        waits while `limit` items are in hand."""
        self._room.acquire()
        if self.error is not None:
            self._room.release()
            raise self.error
        with self._lock:
            self._in_hand.add(position)
            self._submitted_through = position
        future = self._lanes[key % len(self._lanes)].submit(self._run, position, item)
        future.add_done_callback(self._release)

    def close(self) -> None:
        """Wait for every lane to finish what it holds; raise the first handler's error."""
        for lane in self._lanes:
            lane.shutdown(wait=True)
        if self.error is not None:
            raise self.error

    def _run(self, position: int, item: Item) -> None:
        if self.error is not None:
            return  # dropped: the worker replays from its checkpoint, which is below this
        try:
            self._handle(item)
        except BaseException as error:
            with self._lock:
                first = self.error is None
                if first:
                    self.error = error
            if first:
                self._on_failure()
            return
        with self._lock:  # `on_done` included: the positions it sees never go back
            self._in_hand.discard(position)
            self.done_through = min(self._in_hand) - 1 if self._in_hand else self._submitted_through
            self._on_done(self.done_through, item)

    def _release(self, _future: Future[None]) -> None:
        self._room.release()
