"""Single-document reads: an owner's portfolio, a transfer."""

from __future__ import annotations

from uuid import UUID

from pymongo.asynchronous.database import AsyncDatabase

from query_api.views.pages import Document
from query_api.views.served import PORTFOLIOS, TRANSFERS


async def find_portfolio(database: AsyncDatabase[Document], owner_id: UUID) -> Document | None:
    """The owner's portfolio document."""
    return await database[PORTFOLIOS.collection].find_one({"_id": str(owner_id)})


async def find_transfer(database: AsyncDatabase[Document], transfer_id: UUID) -> Document | None:
    """The transfer's status document."""
    return await database[TRANSFERS.collection].find_one({"_id": str(transfer_id)})
