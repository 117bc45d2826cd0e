"""The projection catalog: which build of each projection is live, and what operators asked.

One document per projection in `projection_catalog` (ADR 0008):

- `version`, `generation`: the live build. Readers read its collections; the projector
  workers of that version write them, in the consumer group named after them.
- `paused`: an operator stopped the workers (`ledger projections pause`).
- `hold`: an operator command (a rebuild's switch, a reset) needs the workers stopped
  for a moment; they stand down while it is set, like for a pause.
- `rebuild`: a rebuild in progress: the build it writes, how far it got in the event
  store, its stage. Present from the start of a rebuild until its switch.
- `retired`: builds switched away from, kept for a grace period, then dropped.

Only operator commands write the catalog, each under a PostgreSQL advisory lock per
projection (`projectors.operations.operations`), so the document never has two writers.

Readers cache an entry only while no rebuild is in progress, and for at most
`READER_CACHE_SECONDS`: a rebuild waits twice that long after it is announced before it
switches, so by then every reader looks the live build up on each request, and the first
request that sees the new build is followed by no request that sees the old one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from projectors.engine.stores import CollectionStore
from projectors.projections.projection import Document, Projection, collection_name

COLLECTION = "projection_catalog"
READER_CACHE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Build:
    """One build of a projection: its code version and the generation of its collections."""

    name: str
    version: int
    generation: int = 1

    @property
    def collection(self) -> str:
        """The build's main collection (`<name>_v<version>[_g<generation>]`)."""
        return collection_name(self.name, self.version, self.generation)

    def group(self, base: str) -> str:
        """The consumer group of the workers writing this build."""
        return f"{base}.{self.collection}"

    def of(self, projection: Projection) -> Projection:
        """The projection's code, writing this build's collections."""
        if projection.name != self.name or projection.version != self.version:
            raise ValueError(f"{self} is not a build of {projection.name} v{projection.version}")
        return projection.build(self.generation)

    def __str__(self) -> str:
        return f"{self.name} v{self.version} (generation {self.generation})"

    def to_document(self) -> Document:
        """The build as stored."""
        return {"version": self.version, "generation": self.generation}


@dataclass(frozen=True, slots=True)
class RebuildState:
    """A rebuild in progress."""

    build: Build
    stage: str
    """`building` (from the event store) or `switching` (the workers are held)."""
    position: int
    """Every event up to this global position is in the new build."""
    head: int | None
    """The event store's last position when the rebuild last looked."""
    started_at: datetime
    updated_at: datetime
    announced_at: datetime
    """When readers were told a rebuild is on (the switch waits for their caches)."""


@dataclass(frozen=True, slots=True)
class Retired:
    """A build switched away from, dropped after `drop_after`."""

    build: Build
    retired_at: datetime
    drop_after: datetime


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What the catalog says about one projection."""

    live: Build
    paused: bool = False
    hold: str | None = None
    rebuild: RebuildState | None = None
    retired: tuple[Retired, ...] = ()
    changed_at: datetime | None = None

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.live.name

    @property
    def workers_run(self) -> bool:
        """Whether the live build's workers should be consuming."""
        return not self.paused and self.hold is None

    @property
    def settled(self) -> bool:
        """No rebuild or hold is under way: readers may cache the entry."""
        return self.rebuild is None and self.hold is None

    @property
    def state(self) -> str:
        """`rebuilding`, `paused`, `held` or `running` (workers may still report `failed`)."""
        if self.rebuild is not None:
            return "rebuilding"
        if self.paused:
            return "paused"
        if self.hold is not None:
            return "held"
        return "running"


def _build(name: str, document: Document) -> Build:
    return Build(name, int(document["version"]), int(document.get("generation", 1)))


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_entry(document: Document) -> CatalogEntry:
    """A catalog document as an entry."""
    name = str(document["_id"])
    rebuild = document.get("rebuild")
    return CatalogEntry(
        live=_build(name, document),
        paused=bool(document.get("paused", False)),
        hold=document.get("hold"),
        rebuild=(
            RebuildState(
                build=_build(name, rebuild),
                stage=str(rebuild["stage"]),
                position=int(rebuild["position"]),
                head=rebuild.get("head"),
                started_at=_aware(rebuild["started_at"]),
                updated_at=_aware(rebuild["updated_at"]),
                announced_at=_aware(rebuild["announced_at"]),
            )
            if rebuild
            else None
        ),
        retired=tuple(
            Retired(_build(name, item), _aware(item["retired_at"]), _aware(item["drop_after"]))
            for item in document.get("retired", [])
        ),
        changed_at=_aware(document["changed_at"]) if document.get("changed_at") else None,
    )


class ProjectionCatalog(CollectionStore):
    """Reads and writes `projection_catalog`."""

    COLLECTION_NAME = COLLECTION

    async def ensure(self, projection: Projection) -> CatalogEntry:
        """The projection's entry, created at its code's version when there is none yet."""
        entry = await self.get(projection.name)
        if entry is not None:
            return entry
        with contextlib.suppress(DuplicateKeyError):  # another worker created it first
            await self._collection.insert_one(
                {
                    "_id": projection.name,
                    "version": projection.version,
                    "generation": 1,
                    "paused": False,
                    "hold": None,
                    "rebuild": None,
                    "retired": [],
                    "changed_at": self._clock(),
                }
            )
        entry = await self.get(projection.name)
        if entry is None:
            raise LookupError(f"the catalog entry of {projection.name} vanished")
        return entry

    async def get(self, name: str) -> CatalogEntry | None:
        """One projection's entry, if it has one."""
        document = await self._collection.find_one({"_id": name})
        return parse_entry(document) if document else None

    async def entries(self) -> list[CatalogEntry]:
        """Every entry, by name."""
        return [parse_entry(document) async for document in self._collection.find().sort("_id")]

    async def _set(self, name: str, fields: Document, unset: Sequence[str] = ()) -> None:
        update: Document = {"$set": {**fields, "changed_at": self._clock()}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        result = await self._collection.update_one({"_id": name}, update)
        if result.matched_count == 0:
            raise LookupError(f"no projection named {name!r} in the catalog")

    async def set_paused(self, name: str, paused: bool) -> None:
        """Stop (or let go) the live build's workers."""
        await self._set(name, {"paused": paused})

    async def set_hold(self, name: str, reason: str | None) -> None:
        """Make the workers stand down for an operator command (None lets them go)."""
        await self._set(name, {"hold": reason})

    async def start_rebuild(self, name: str, build: Build, position: int) -> RebuildState:
        """Announce a rebuild into `build`, starting after `position`."""
        now = self._clock()
        state = RebuildState(build, "building", position, None, now, now, now)
        await self._set(name, {"rebuild": _rebuild_document(state)})
        return state

    async def rebuild_progress(self, name: str, state: RebuildState) -> None:
        """Record how far the rebuild got (called after the writes it covers are durable)."""
        await self._set(
            name, {"rebuild": _rebuild_document(replace(state, updated_at=self._clock()))}
        )

    async def abandon_rebuild(self, name: str) -> None:
        """Forget the rebuild in progress (its collections are the caller's to drop)."""
        await self._set(name, {"rebuild": None})

    async def switch(self, name: str, to: Build, grace: timedelta) -> None:
        """Make `to` the live build in one write: readers and workers follow it from now."""
        entry = await self.get(name)
        if entry is None:
            raise LookupError(f"no projection named {name!r} in the catalog")
        now = self._clock()
        retired = [
            *(_retired_document(item) for item in entry.retired),
            _retired_document(Retired(entry.live, now, now + grace)),
        ]
        await self._set(
            name,
            {**to.to_document(), "rebuild": None, "hold": None, "retired": retired},
        )

    async def forget_retired(self, name: str, builds: Sequence[Build]) -> None:
        """Remove dropped builds from the entry."""
        entry = await self.get(name)
        if entry is None:
            return
        kept = [_retired_document(item) for item in entry.retired if item.build not in builds]
        await self._set(name, {"retired": kept})


def _rebuild_document(state: RebuildState) -> Document:
    return {
        **state.build.to_document(),
        "stage": state.stage,
        "position": state.position,
        "head": state.head,
        "started_at": state.started_at,
        "updated_at": state.updated_at,
        "announced_at": state.announced_at,
    }


def _retired_document(item: Retired) -> Document:
    return {
        **item.build.to_document(),
        "retired_at": item.retired_at,
        "drop_after": item.drop_after,
    }


@dataclass
class _Cached:
    entry: CatalogEntry
    read_at: float


@dataclass
class CachedCatalog:
    """The readers' view: the live build per projection, cached only while settled."""

    catalog: ProjectionCatalog
    defaults: dict[str, Build]
    """The build to read when a projection has no entry yet (its first version)."""
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, _Cached] = field(default_factory=dict)

    async def live(self, name: str) -> Build:
        """The build whose collections a request should read now."""
        cached = self._cache.get(name)
        now = self.clock()
        if cached and cached.entry.settled and now - cached.read_at < READER_CACHE_SECONDS:
            return cached.entry.live
        entry = await self.catalog.get(name)
        if entry is None:
            return self.defaults[name]
        self._cache[name] = _Cached(entry, now)
        return entry.live
