"""The read models this API serves, named as in docs/read-models.md (the contract).

Which build of a projection is read is the catalog's to say (`projectors.operations.catalog`,
ADR 0008): a rebuild switches readers to fresh collections while the API runs. Every
read goes through a `ReadStore`, which looks the live build up (cached while no rebuild
is under way) and hands out its collections.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from projectors.engine.routing import router_stage_name
from projectors.operations.catalog import Build
from projectors.projections.projection import collection_name

Document = dict[str, Any]


@dataclass(frozen=True)
class ServedProjection:
    """A projection by name and the build (version, generation) whose collection is read."""

    name: str
    version: int
    routed: bool = False
    """Fed through the projector's routing topic (documents of several aggregates)."""
    generation: int = 1

    @property
    def collection(self) -> str:
        """`<name>_v<version>` for a first build, `<name>_v<version>_g<generation>` after."""
        return collection_name(self.name, self.version, self.generation)

    @property
    def router_stage(self) -> ServedProjection:
        """A routed projection's first stage: its router's progress on the events topic."""
        return ServedProjection(router_stage_name(self.name), self.version)

    def at(self, build: Build) -> ServedProjection:
        """This projection as served from `build`."""
        return replace(self, version=build.version, generation=build.generation)


ACCOUNTS = ServedProjection("accounts", 1)
STATEMENTS = ServedProjection("account_statements", 1)
PORTFOLIOS = ServedProjection("owner_portfolios", 1, routed=True)
TRANSFERS = ServedProjection("transfers", 1, routed=True)
DAILY_VOLUME = ServedProjection("daily_volume", 1)

SERVED = (ACCOUNTS, STATEMENTS, PORTFOLIOS, TRANSFERS, DAILY_VOLUME)


class LiveBuilds(Protocol):
    """Which build of a projection is live (`projectors.operations.catalog.CachedCatalog`)."""

    async def live(self, name: str) -> Build:
        """The build readers should read now."""
        ...


class ReadStore:
    """The read-model database, seen through the catalog's live builds."""

    def __init__(self, database: AsyncDatabase[Document], builds: LiveBuilds) -> None:
        self.database = database
        self._builds = builds

    async def live(self, served: ServedProjection) -> ServedProjection:
        """`served` at its live build."""
        return served.at(await self._builds.live(served.name))

    async def collection(self, served: ServedProjection) -> AsyncCollection[Document]:
        """The live build's collection of `served`."""
        return self.database[(await self.live(served)).collection]
