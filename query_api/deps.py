"""Dependencies of the query API's routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase


def read_models(request: Request) -> AsyncDatabase[dict[str, Any]]:
    """The read-model database opened by the app's lifespan."""
    database: AsyncDatabase[dict[str, Any]] = request.app.state.read_models
    return database


ReadModels = Annotated[AsyncDatabase[dict[str, Any]], Depends(read_models)]
