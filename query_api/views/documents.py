"""Single-document reads: an owner's portfolio, a transfer."""

from __future__ import annotations

from uuid import UUID

from query_api.views.served import PORTFOLIOS, TRANSFERS, Document, ReadStore


async def find_portfolio(store: ReadStore, owner_id: UUID) -> Document | None:
    """The owner's portfolio document."""
    return await (await store.collection(PORTFOLIOS)).find_one({"_id": str(owner_id)})


async def find_transfer(store: ReadStore, transfer_id: UUID) -> Document | None:
    """The transfer's status document."""
    return await (await store.collection(TRANSFERS)).find_one({"_id": str(transfer_id)})
