"""The read models this API serves, named as in docs/read-models.md (the contract)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServedProjection:
    """A projection by name and the version whose collection this API reads."""

    name: str
    version: int
    routed: bool = False
    """Fed through the projector's routing topic (documents of several aggregates)."""

    @property
    def collection(self) -> str:
        """Version N of a projection writes to `<name>_vN`."""
        return f"{self.name}_v{self.version}"


ACCOUNTS = ServedProjection("accounts", 1)
STATEMENTS = ServedProjection("account_statements", 1)
PORTFOLIOS = ServedProjection("owner_portfolios", 1, routed=True)
TRANSFERS = ServedProjection("transfers", 1, routed=True)
DAILY_VOLUME = ServedProjection("daily_volume", 1)

SERVED = (ACCOUNTS, STATEMENTS, PORTFOLIOS, TRANSFERS, DAILY_VOLUME)

PROGRESS_COLLECTION = "projection_progress"
