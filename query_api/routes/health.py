"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from query_api.deps import ReadModels

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the read store answers")
async def ready(database: ReadModels) -> JSONResponse:
    """Ready when the read store answers a ping."""
    try:
        await database.command("ping")
    except Exception as error:
        return JSONResponse({"status": "unavailable", "mongodb": str(error)}, status_code=503)
    return JSONResponse({"status": "ok"})
