"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from command_api.deps import LedgerApp

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the event store answers")
def ready(ledger: LedgerApp) -> JSONResponse:
    """Ready when the event store answers a query."""
    try:
        ledger.recorder.max_notification_id()
    except Exception as error:
        return JSONResponse({"status": "unavailable", "postgres": str(error)}, status_code=503)
    return JSONResponse({"status": "ok"})
