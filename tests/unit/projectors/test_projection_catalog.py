"""The catalog's rules without a server: which build comes next, and when readers may cache."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from projectors.operations.catalog import (
    READER_CACHE_SECONDS,
    Build,
    CachedCatalog,
    CatalogEntry,
    RebuildState,
    Retired,
)
from projectors.operations.rebuild import next_build
from projectors.projections import accounts

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def rebuilding(entry: CatalogEntry) -> CatalogEntry:
    state = RebuildState(Build("accounts", 1, 2), "building", 0, None, NOW, NOW, NOW)
    return CatalogEntry(entry.live, rebuild=state)


class FakeCatalog:
    """Answers `get` with whatever entry the test set, counting the reads."""

    def __init__(self, entry: CatalogEntry) -> None:
        self.entry = entry
        self.reads = 0

    async def get(self, name: str) -> CatalogEntry | None:
        self.reads += 1
        return self.entry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cached(catalog: FakeCatalog, clock: Clock) -> CachedCatalog:
    return CachedCatalog(catalog, {"accounts": Build("accounts", 1)}, clock)  # type: ignore[arg-type]


def test_builds_are_named_by_version_then_generation() -> None:
    assert Build("accounts", 1).collection == "accounts_v1"
    assert Build("accounts", 1, 3).collection == "accounts_v1_g3"
    assert Build("accounts", 2, 3).group("ledger-projector") == "ledger-projector.accounts_v2_g3"
    assert accounts.PROJECTION.build(2).collection == "accounts_v1_g2"


def test_the_next_build_never_reuses_a_live_or_retired_generation_of_its_version() -> None:
    live = Build("accounts", 1, 2)
    retired = Retired(Build("accounts", 1, 3), NOW, NOW + timedelta(minutes=1))
    entry = CatalogEntry(live, retired=(retired,))
    assert next_build(entry, accounts.PROJECTION) == Build("accounts", 1, 4)


def test_a_new_version_starts_at_its_first_generation() -> None:
    entry = CatalogEntry(Build("accounts", 1, 5))
    bumped = dataclasses.replace(accounts.PROJECTION, version=2)
    assert next_build(entry, bumped) == Build("accounts", 2, 1)


async def test_a_settled_entry_is_cached_for_at_most_the_reader_cache_time() -> None:
    catalog, clock = FakeCatalog(CatalogEntry(Build("accounts", 1))), Clock()
    readers = cached(catalog, clock)
    await readers.live("accounts")
    clock.now += READER_CACHE_SECONDS / 2
    await readers.live("accounts")
    assert catalog.reads == 1
    clock.now += READER_CACHE_SECONDS
    await readers.live("accounts")
    assert catalog.reads == 2


async def test_while_a_rebuild_is_on_every_read_looks_the_live_build_up() -> None:
    catalog, clock = FakeCatalog(rebuilding(CatalogEntry(Build("accounts", 1)))), Clock()
    readers = cached(catalog, clock)
    for _ in range(3):
        assert await readers.live("accounts") == Build("accounts", 1)
    assert catalog.reads == 3
    catalog.entry = CatalogEntry(Build("accounts", 1, 2))  # the switch: one write
    assert await readers.live("accounts") == Build("accounts", 1, 2)


async def test_a_reader_that_cached_before_the_announcement_follows_within_two_cache_times() -> (
    None
):
    """The rebuild waits twice READER_CACHE_SECONDS after announcing before it switches."""
    catalog, clock = FakeCatalog(CatalogEntry(Build("accounts", 1))), Clock()
    readers = cached(catalog, clock)
    await readers.live("accounts")  # cached while settled
    catalog.entry = rebuilding(catalog.entry)  # announced now
    clock.now += 2 * READER_CACHE_SECONDS  # the earliest the switch may happen
    catalog.entry = CatalogEntry(Build("accounts", 1, 2))
    assert await readers.live("accounts") == Build("accounts", 1, 2)


def test_an_entry_says_whether_the_workers_may_run() -> None:
    entry = CatalogEntry(Build("accounts", 1))
    assert (entry.state, entry.workers_run, entry.settled) == ("running", True, True)
    assert CatalogEntry(Build("accounts", 1), paused=True).state == "paused"
    assert not CatalogEntry(Build("accounts", 1), hold="rebuild").workers_run
